//! Levels of authentication on the OpenID side: the `acr_values` / `claims` / `max_age` /
//! `prompt=login` of a request, the browser session that records each mechanism and level
//! with its time ([`SessionGrant`]), and the step-up decision (core's `auth::step_up`) applied
//! to them.

use chrono::{DateTime, Duration, Utc};
use gatehouse_core::AccountId;
use gatehouse_core::auth::step_up::{self, IssueLevel};
use gatehouse_core::auth::{
    AchievedLevel, Completed, DEFAULT_ACR, DEFAULT_POLICY, LevelRequest, MechanismRef,
    PassedMechanism, SessionAuth, StepUp,
};
use gatehouse_store::{AuthorizationCode, BrowserSession};
use serde_json::Value;
use url::Url;

use crate::authorize::{AuthorizeRequest, NewSession, error_redirect};
use crate::crypto::{random_token, token_hash};
use crate::error::{ErrorCode, OAuthError, OidcError};
use crate::logout::UpstreamLogin;
use crate::provider::OidcProvider;

/// The largest `claims` parameter taken (a JSON object naming a few claims).
pub const MAX_CLAIMS_BYTES: usize = 4096;
/// The most `acr` values one request may name, and the longest value.
pub const MAX_ACR_VALUES: usize = 16;
pub const MAX_ACR_BYTES: usize = 256;

/// The `acr` a request asks for: `acr_values` (voluntary, OIDC Core §3.1.2.1) and the `acr`
/// member of the `claims` request (§5.5.1.1) in `id_token` or `userinfo`, `essential` or not,
/// with `value` or `values`. Returns the values in the order of preference and whether they
/// are essential; an error names the parameter at fault.
pub fn requested_acr(
    acr_values: Option<&str>,
    claims: Option<&str>,
) -> Result<(Vec<String>, bool), String> {
    let mut values: Vec<String> = Vec::new();
    let mut essential = false;
    let mut add = |v: &str, key: &str| -> Result<(), String> {
        if v.is_empty() || v.len() > MAX_ACR_BYTES {
            return Err(format!(
                "{key}: an acr value is 1 to {MAX_ACR_BYTES} characters"
            ));
        }
        if !values.iter().any(|x| x == v) {
            values.push(v.to_owned());
        }
        if values.len() > MAX_ACR_VALUES {
            return Err(format!("{key}: at most {MAX_ACR_VALUES} acr values"));
        }
        Ok(())
    };
    if let Some(claims) = claims {
        if claims.len() > MAX_CLAIMS_BYTES {
            return Err(format!("claims: at most {MAX_CLAIMS_BYTES} bytes"));
        }
        let parsed: Value = serde_json::from_str(claims)
            .map_err(|_| "claims: must be a JSON object (OIDC Core §5.5)".to_owned())?;
        let Some(members) = parsed.as_object() else {
            return Err("claims: must be a JSON object (OIDC Core §5.5)".to_owned());
        };
        for target in ["id_token", "userinfo"] {
            let Some(acr) = members.get(target).and_then(|t| t.get("acr")) else {
                continue;
            };
            let key = format!("claims.{target}.acr");
            match acr {
                Value::Null => {}
                Value::Object(request) => {
                    match request.get("essential") {
                        None | Some(Value::Null) => {}
                        Some(Value::Bool(b)) => essential |= b,
                        Some(_) => return Err(format!("{key}.essential: true or false")),
                    }
                    if let Some(v) = request.get("value") {
                        let v = v.as_str().ok_or_else(|| format!("{key}.value: a string"))?;
                        add(v, &key)?;
                    }
                    if let Some(vs) = request.get("values") {
                        let vs = vs
                            .as_array()
                            .ok_or_else(|| format!("{key}.values: a list of strings"))?;
                        for v in vs {
                            let v = v
                                .as_str()
                                .ok_or_else(|| format!("{key}.values: a list of strings"))?;
                            add(v, &key)?;
                        }
                    }
                }
                _ => return Err(format!("{key}: null or an object")),
            }
        }
    }
    for v in acr_values
        .unwrap_or_default()
        .split(' ')
        .filter(|v| !v.is_empty())
    {
        add(v, "acr_values")?;
    }
    // `essential` without a value asks for nothing in particular.
    Ok((values.clone(), essential && !values.is_empty()))
}

/// What a finished authentication gives the browser session: the level reached, each
/// mechanism with its time, the upstream (for logout), and what a stepped-up session carries.
#[derive(Debug)]
pub struct SessionGrant {
    pub account: AccountId,
    pub level: AchievedLevel,
    pub passed: Vec<PassedMechanism>,
    pub upstream: Option<UpstreamLogin>,
    /// Levels of the session this one replaces (a step-up), kept while they hold.
    pub carried_levels: Vec<AchievedLevel>,
}

impl SessionGrant {
    /// A flow through a policy that succeeded.
    pub fn from_completed(done: &Completed, upstream: Option<UpstreamLogin>) -> Self {
        Self {
            account: done.account.id,
            level: AchievedLevel {
                policy_id: done.policy_id.clone(),
                acr: done.acr.clone(),
                at: done.auth_time,
            },
            passed: done.passed.clone(),
            upstream,
            carried_levels: Vec::new(),
        }
    }

    /// The login page's password step or a redirect provider's callback: the implicit
    /// `default` policy's one factor. `amr` is `pwd`, `fed`, or the upstream's own values.
    pub fn single_factor(
        account: AccountId,
        amr: Vec<String>,
        upstream: Option<UpstreamLogin>,
        at: DateTime<Utc>,
    ) -> Self {
        let (mechanism, provider) = match &upstream {
            Some(u) => (
                MechanismRef::with_provider("federated", &u.provider),
                Some(u.provider.clone()),
            ),
            None => (MechanismRef::new("password"), None),
        };
        Self {
            account,
            level: AchievedLevel {
                policy_id: DEFAULT_POLICY.to_owned(),
                acr: DEFAULT_ACR.to_owned(),
                at,
            },
            passed: vec![PassedMechanism {
                mechanism,
                provider,
                amr,
                at,
            }],
            upstream,
            carried_levels: Vec::new(),
        }
    }

    /// A step-up of `previous` (the same account): its levels and mechanisms come along, the
    /// new ones win where both name the same mechanism.
    pub fn stepping_up(mut self, previous: &BrowserSession) -> Self {
        if previous.account_id != self.account {
            return self;
        }
        self.carried_levels = levels_of(previous);
        let mut passed: Vec<PassedMechanism> = previous
            .passed
            .iter()
            .filter(|p| !self.passed.iter().any(|n| n.mechanism == p.mechanism))
            .cloned()
            .collect();
        passed.append(&mut self.passed);
        self.passed = passed;
        self
    }
}

/// The session's levels; a session made before levels were recorded holds the one its `acr`
/// and `auth_time` say, under the default policy.
pub fn levels_of(session: &BrowserSession) -> Vec<AchievedLevel> {
    if session.levels.is_empty() {
        return vec![AchievedLevel {
            policy_id: DEFAULT_POLICY.to_owned(),
            acr: session.acr.clone(),
            at: session.auth_time,
        }];
    }
    session.levels.clone()
}

/// Each amr value once, in the order the mechanisms passed.
fn amr_of(passed: &[PassedMechanism]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for value in passed.iter().flat_map(|p| &p.amr) {
        if !out.contains(value) {
            out.push(value.clone());
        }
    }
    out
}

impl AuthorizeRequest {
    pub fn level_request(&self) -> LevelRequest {
        LevelRequest {
            acr: self.acr_values.clone(),
            essential: self.acr_essential,
            max_age: self.max_age.and_then(|m| u64::try_from(m).ok()),
            force: self.forces_login(),
        }
    }
}

impl OidcProvider {
    /// Whether the session answers the request, or which policy must run first (step-up) with
    /// which of the session's mechanisms, or that an essential `acr` cannot be met.
    pub fn step_up(
        &self,
        request: &AuthorizeRequest,
        session: Option<&BrowserSession>,
        now: DateTime<Utc>,
    ) -> StepUp {
        let levels = session.map(levels_of).unwrap_or_default();
        let auth = session.map(|s| SessionAuth {
            levels: &levels,
            passed: &s.passed,
        });
        step_up::decide(&self.policies, auth, &request.level_request(), now)
    }

    /// `redirect_uri?error=unmet_authentication_requirements`.
    pub fn unmet_requirements(&self, request: &AuthorizeRequest) -> String {
        error_redirect(
            &request.redirect_uri,
            request.state.as_deref(),
            &OAuthError::new(
                ErrorCode::UnmetAuthenticationRequirements,
                "no authentication this realm offers achieves the essential acr",
            ),
        )
    }

    /// The browser session of a finished authentication; a new cookie every time (a step-up
    /// replaces the session, it never upgrades one in place).
    pub async fn open_session(&self, grant: SessionGrant) -> Result<NewSession, OidcError> {
        let cookie = random_token();
        let now = Utc::now();
        let id_hash = token_hash(&cookie);
        let upstream = grant
            .upstream
            .map(|u| self.seal_upstream(&id_hash, u))
            .transpose()?;
        let mut levels = grant.carried_levels;
        levels.retain(|l| l.policy_id != grant.level.policy_id);
        levels.push(grant.level.clone());
        let session = BrowserSession {
            upstream,
            id_hash,
            realm: self.realm.clone(),
            account_id: grant.account,
            auth_time: grant.level.at,
            amr: amr_of(&grant.passed),
            acr: grant.level.acr,
            created_at: now,
            expires_at: now + Duration::seconds(self.tokens.session_s as i64),
            last_seen_at: now,
            passed: grant.passed,
            levels,
        };
        self.store.create_session(&session).await?;
        Ok(NewSession { cookie, session })
    }

    /// A single-factor login (the login page, a redirect provider's callback). `upstream`: the
    /// redirect provider the user logged in through, remembered (its logout hint sealed) so
    /// that a logout can end the upstream session too.
    pub async fn create_session(
        &self,
        account: AccountId,
        amr: Vec<String>,
        upstream: Option<UpstreamLogin>,
    ) -> Result<NewSession, OidcError> {
        self.open_session(SessionGrant::single_factor(
            account,
            amr,
            upstream,
            Utc::now(),
        ))
        .await
    }

    /// A single-use code for the session's account at the level the request is answered with;
    /// returns the redirect to the client. A session that does not reach an essential `acr`
    /// gets `unmet_authentication_requirements` instead of a code.
    pub async fn issue_code(
        &self,
        request: &AuthorizeRequest,
        session: &BrowserSession,
    ) -> Result<String, OidcError> {
        let now = Utc::now();
        let (acr, auth_time) = match self.step_up(request, Some(session), now) {
            StepUp::Satisfied(level) => (level.acr, level.at),
            // Right after a login (prompt=login and max_age sent the user there).
            _ => match step_up::level_to_issue(
                &self.policies,
                &levels_of(session),
                &request.level_request(),
                now,
            ) {
                IssueLevel::At(level) => (level.acr, level.at),
                IssueLevel::AsRecorded => (session.acr.clone(), session.auth_time),
                IssueLevel::Unmet => return Ok(self.unmet_requirements(request)),
            },
        };
        let code = random_token();
        self.store
            .insert_code(&AuthorizationCode {
                code_hash: token_hash(&code),
                realm: self.realm.clone(),
                client_id: request.client_id.clone(),
                redirect_uri: request.redirect_uri.clone(),
                account_id: session.account_id,
                session_id_hash: Some(session.id_hash.clone()),
                scope: request.scope.clone(),
                nonce: request.nonce.clone(),
                code_challenge: request.code_challenge.clone(),
                code_challenge_method: request.code_challenge.as_ref().map(|_| "S256".to_owned()),
                auth_time,
                amr: session.amr.clone(),
                acr,
                created_at: now,
                expires_at: now + Duration::seconds(self.tokens.authorization_code_s as i64),
                used_at: None,
                family_id: None,
            })
            .await?;
        let mut url =
            Url::parse(&request.redirect_uri).map_err(|e| OidcError::Config(e.to_string()))?;
        url.query_pairs_mut().append_pair("code", &code);
        if let Some(state) = &request.state {
            url.query_pairs_mut().append_pair("state", state);
        }
        Ok(url.into())
    }
}

#[cfg(test)]
mod tests {
    use super::requested_acr;

    #[test]
    fn acr_values_and_the_claims_request_combine_in_order() {
        assert_eq!(
            requested_acr(Some("urn:a  urn:b"), None).unwrap(),
            (vec!["urn:a".into(), "urn:b".into()], false)
        );
        let claims = r#"{"id_token":{"acr":{"essential":true,"values":["urn:x","urn:a"]}}}"#;
        assert_eq!(
            requested_acr(Some("urn:a"), Some(claims)).unwrap(),
            (vec!["urn:x".into(), "urn:a".into()], true)
        );
        let single = r#"{"userinfo":{"acr":{"value":"urn:y"}},"id_token":{"acr":null}}"#;
        assert_eq!(
            requested_acr(None, Some(single)).unwrap(),
            (vec!["urn:y".into()], false)
        );
        // Essential without a value asks for nothing in particular.
        let bare = r#"{"id_token":{"acr":{"essential":true}}}"#;
        assert_eq!(requested_acr(None, Some(bare)).unwrap(), (vec![], false));
    }

    #[test]
    fn a_malformed_or_oversized_request_names_its_parameter() {
        for (acr_values, claims, key) in [
            (None, Some("not json"), "claims"),
            (None, Some("[1]"), "claims"),
            (
                None,
                Some(r#"{"id_token":{"acr":{"values":"x"}}}"#),
                "claims.id_token.acr.values",
            ),
            (
                None,
                Some(r#"{"id_token":{"acr":{"essential":"yes"}}}"#),
                "claims.id_token.acr.essential",
            ),
            (
                None,
                Some(r#"{"userinfo":{"acr":3}}"#),
                "claims.userinfo.acr",
            ),
            (Some(&*"x".repeat(300)), None, "acr_values"),
        ] {
            let err = requested_acr(acr_values, claims).unwrap_err();
            assert!(err.starts_with(key), "{err}");
        }
        let many = (0..20)
            .map(|i| format!("v{i}"))
            .collect::<Vec<_>>()
            .join(" ");
        assert!(requested_acr(Some(&many), None).is_err());
        let big = format!(r#"{{"x":"{}"}}"#, "y".repeat(5000));
        assert!(requested_acr(None, Some(&big)).is_err());
    }
}
