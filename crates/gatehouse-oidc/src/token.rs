//! The token endpoint (RFC 6749 §3.2): authorization_code, refresh_token, client_credentials,
//! password.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use gatehouse_core::{Account, LoginDecision, Resolver, Secret};
use gatehouse_store::{AccessTokenRecord, CodeUse, RefreshTokenRecord, RefreshUse};
use serde::Serialize;

use crate::clients::{Client, ClientCredentials};
use crate::crypto::{random_token, token_hash};
use crate::error::{ErrorCode, OAuthError, OidcError};
use crate::jwt;
use crate::pkce;
use crate::provider::OidcProvider;
use crate::settings::{GrantType, STANDARD_SCOPES};
use crate::tokens::{AccessClaims, IdTokenInput, id_token};

/// RFC 6749 §5.1. `Debug` shows no token: they are bearer secrets.
#[derive(Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    pub scope: String,
}

impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redacted = |t: &Option<String>| t.as_ref().map(|_| "[redacted]");
        f.debug_struct("TokenResponse")
            .field("access_token", &"[redacted]")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .field("refresh_token", &redacted(&self.refresh_token))
            .field("id_token", &redacted(&self.id_token))
            .field("scope", &self.scope)
            .finish()
    }
}

/// What a grant established, to be turned into tokens.
struct Issue<'a> {
    client: &'a Client,
    account: Option<Account>,
    scope: String,
    auth_time: Option<DateTime<Utc>>,
    amr: Vec<String>,
    acr: String,
    session_id_hash: Option<String>,
    nonce: Option<String>,
    code_hash: Option<String>,
    /// Continue this refresh-token family (rotation) or start one when `Some(None)`.
    refresh_family: Option<Option<String>>,
}

/// Form fields, refusing repeated parameters (RFC 6749 §3.2).
pub fn form_map(form: Vec<(String, String)>) -> Result<HashMap<String, String>, OAuthError> {
    let mut map = HashMap::new();
    for (k, v) in form {
        if map.insert(k.clone(), v).is_some() {
            return Err(OAuthError::invalid_request(format!(
                "parameter `{k}` is repeated"
            )));
        }
    }
    Ok(map)
}

impl OidcProvider {
    pub async fn token(
        &self,
        authorization: Option<&str>,
        form: Vec<(String, String)>,
        resolver: &Resolver,
    ) -> Result<TokenResponse, OAuthError> {
        let form = form_map(form)?;
        let credentials = ClientCredentials::from_request(authorization, &form)?;
        let client = self.clients.authenticate(&credentials).await?;
        let grant = match form.get("grant_type").map(String::as_str) {
            Some("authorization_code") => GrantType::AuthorizationCode,
            Some("refresh_token") => GrantType::RefreshToken,
            Some("client_credentials") => GrantType::ClientCredentials,
            Some("password") => GrantType::Password,
            Some(_) => {
                return Err(OAuthError::new(
                    ErrorCode::UnsupportedGrantType,
                    "unsupported grant_type",
                ));
            }
            None => return Err(OAuthError::invalid_request("grant_type is missing")),
        };
        if !client.allows(grant) {
            return Err(OAuthError::new(
                ErrorCode::UnauthorizedClient,
                format!("this client may not use the {} grant", grant.as_str()),
            ));
        }
        let issue = match grant {
            GrantType::AuthorizationCode => self.code_grant(client, &form).await?,
            GrantType::RefreshToken => self.refresh_grant(client, &form).await?,
            GrantType::ClientCredentials => self.client_credentials_grant(client, &form)?,
            GrantType::Password => self.password_grant(client, &form, resolver).await?,
        };
        Ok(self.issue(issue).await?)
    }

    async fn code_grant<'a>(
        &self,
        client: &'a Client,
        form: &HashMap<String, String>,
    ) -> Result<Issue<'a>, OAuthError> {
        let code = form
            .get("code")
            .ok_or_else(|| OAuthError::invalid_request("code is missing"))?;
        let code_hash = token_hash(code);
        let stored = match self
            .store
            .consume_code(&self.realm, &code_hash, Utc::now())
            .await
            .map_err(OidcError::from)?
        {
            CodeUse::Fresh(c) => c,
            CodeUse::Replayed(c) => {
                // RFC 6749 §4.1.2: the store revoked what the code issued in the transaction
                // that saw the replay.
                tracing::warn!(realm = %self.realm, client = %c.client_id, "authorization code replayed; its tokens are revoked");
                return Err(OAuthError::invalid_grant(
                    "the authorization code was already used",
                ));
            }
            CodeUse::Expired(_) => {
                return Err(OAuthError::invalid_grant(
                    "the authorization code has expired",
                ));
            }
            CodeUse::Missing => {
                return Err(OAuthError::invalid_grant("unknown authorization code"));
            }
        };
        if stored.client_id != client.id() {
            return Err(OAuthError::invalid_grant(
                "the code was issued to another client",
            ));
        }
        if form.get("redirect_uri") != Some(&stored.redirect_uri) {
            return Err(OAuthError::invalid_grant(
                "redirect_uri does not match the authorization request",
            ));
        }
        match (&stored.code_challenge, form.get("code_verifier")) {
            (Some(challenge), Some(verifier)) if pkce::verify_s256(verifier, challenge) => {}
            (Some(_), Some(_)) => {
                return Err(OAuthError::invalid_grant(
                    "code_verifier does not match the code_challenge",
                ));
            }
            (Some(_), None) => return Err(OAuthError::invalid_grant("code_verifier is missing")),
            (None, Some(_)) => {
                return Err(OAuthError::invalid_grant(
                    "no code_challenge was sent for this code",
                ));
            }
            (None, None) => {}
        }
        let account = self.active_account(stored.account_id).await?;
        Ok(Issue {
            client,
            account: Some(account),
            scope: stored.scope,
            auth_time: Some(stored.auth_time),
            amr: stored.amr,
            acr: stored.acr,
            session_id_hash: stored.session_id_hash,
            nonce: stored.nonce,
            code_hash: Some(stored.code_hash),
            refresh_family: client.allows(GrantType::RefreshToken).then_some(None),
        })
    }

    async fn refresh_grant<'a>(
        &self,
        client: &'a Client,
        form: &HashMap<String, String>,
    ) -> Result<Issue<'a>, OAuthError> {
        let token = form
            .get("refresh_token")
            .ok_or_else(|| OAuthError::invalid_request("refresh_token is missing"))?;
        let now = Utc::now();
        let stored = match self
            .store
            .use_refresh_token(&self.realm, &token_hash(token), now)
            .await
            .map_err(OidcError::from)?
        {
            RefreshUse::Fresh(t) => t,
            RefreshUse::Reused(t) => {
                // A rotated token came back: it was stolen, or the client is broken. Either way
                // the whole family went, in the store's transaction that saw the reuse.
                tracing::warn!(realm = %self.realm, client = %t.client_id, "refresh token reused; family revoked");
                return Err(OAuthError::invalid_grant(
                    "the refresh token was already used",
                ));
            }
            RefreshUse::Revoked(_) => {
                return Err(OAuthError::invalid_grant("the refresh token was revoked"));
            }
            RefreshUse::Expired(_) => {
                return Err(OAuthError::invalid_grant("the refresh token has expired"));
            }
            RefreshUse::Missing => return Err(OAuthError::invalid_grant("unknown refresh token")),
        };
        if stored.client_id != client.id() {
            return Err(OAuthError::invalid_grant(
                "the refresh token was issued to another client",
            ));
        }
        let scope = match form.get("scope") {
            Some(requested) => {
                let granted: Vec<&str> = stored.scope.split(' ').collect();
                if let Some(extra) = requested
                    .split(' ')
                    .find(|s| !s.is_empty() && !granted.contains(s))
                {
                    return Err(OAuthError::new(
                        ErrorCode::InvalidScope,
                        format!("scope `{extra}` was not granted"),
                    ));
                }
                requested
                    .split(' ')
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
                    .join(" ")
            }
            None => stored.scope.clone(),
        };
        let account = match self.active_account(stored.account_id).await {
            Ok(a) => a,
            // The store went away: the account may well be active, its tokens stay.
            Err(e) if e.code == ErrorCode::TemporarilyUnavailable => return Err(e),
            Err(e) => {
                self.store
                    .revoke_family(&stored.family_id, now)
                    .await
                    .map_err(OidcError::from)?;
                return Err(e);
            }
        };
        Ok(Issue {
            client,
            account: Some(account),
            scope,
            auth_time: Some(stored.auth_time),
            amr: stored.amr,
            acr: stored.acr,
            session_id_hash: stored.session_id_hash,
            nonce: None,
            code_hash: None,
            refresh_family: Some(Some(stored.family_id)),
        })
    }

    fn client_credentials_grant<'a>(
        &self,
        client: &'a Client,
        form: &HashMap<String, String>,
    ) -> Result<Issue<'a>, OAuthError> {
        // Scopes about a user make no sense for a client acting for itself.
        let default: Vec<&str> = client
            .settings
            .scopes
            .iter()
            .map(String::as_str)
            .filter(|s| !STANDARD_SCOPES.contains(s))
            .collect();
        let scope = requested_scope(client, form.get("scope"), &default)?;
        Ok(Issue {
            client,
            account: None,
            scope,
            auth_time: None,
            amr: vec![],
            acr: "0".into(),
            session_id_hash: None,
            nonce: None,
            code_hash: None,
            refresh_family: None,
        })
    }

    async fn password_grant<'a>(
        &self,
        client: &'a Client,
        form: &HashMap<String, String>,
        resolver: &Resolver,
    ) -> Result<Issue<'a>, OAuthError> {
        let username = form
            .get("username")
            .ok_or_else(|| OAuthError::invalid_request("username is missing"))?;
        let password = Secret::new(form.get("password").cloned().unwrap_or_default());
        let default: Vec<&str> = client.settings.scopes.iter().map(String::as_str).collect();
        let scope = requested_scope(client, form.get("scope"), &default)?;
        let result = resolver
            .resolve(username, &password)
            .await
            .map_err(OidcError::from)?;
        let account = match (result.decision, result.account) {
            (LoginDecision::Success, Some(account)) => account,
            (LoginDecision::Refused(r), _) if r.is_temporary() => {
                return Err(OAuthError::new(
                    ErrorCode::TemporarilyUnavailable,
                    r.public_message(),
                ));
            }
            _ => {
                return Err(OAuthError::invalid_grant(
                    gatehouse_core::Refusal::InvalidCredentials.public_message(),
                ));
            }
        };
        Ok(Issue {
            client,
            account: Some(account),
            scope,
            auth_time: Some(Utc::now()),
            amr: vec!["pwd".into()],
            acr: "1".into(),
            session_id_hash: None,
            nonce: None,
            code_hash: None,
            refresh_family: client.allows(GrantType::RefreshToken).then_some(None),
        })
    }

    async fn active_account(&self, id: gatehouse_core::AccountId) -> Result<Account, OAuthError> {
        let found = self.store.get_account(id).await.map_err(OidcError::from)?;
        match found.map(|a| a.account) {
            Some(a) if a.disabled_reason.is_none() && !a.is_locked_at(Utc::now()) => Ok(a),
            _ => Err(OAuthError::invalid_grant("the account is disabled or gone")),
        }
    }

    async fn issue(&self, issue: Issue<'_>) -> Result<TokenResponse, OidcError> {
        let now = Utc::now();
        let settings = &issue.client.settings;
        let access_s = settings
            .access_token_s
            .unwrap_or(self.tokens.access_token_s);
        let signer = self.keys.signer().await?;
        let jti = random_token();
        let family = issue.refresh_family.map(|f| f.unwrap_or_else(random_token));
        let sub = match &issue.account {
            Some(a) => a.id.to_string(),
            None => issue.client.id().to_owned(),
        };
        let claims = AccessClaims {
            iss: self.issuer.clone(),
            sub,
            aud: issue.client.id().to_owned(),
            exp: now.timestamp() + access_s as i64,
            iat: now.timestamp(),
            jti: jti.clone(),
            client_id: issue.client.id().to_owned(),
            scope: issue.scope.clone(),
            auth_time: issue.auth_time.map(|t| t.timestamp()),
            sid: issue.session_id_hash.clone(),
            acr: issue.account.as_ref().map(|_| issue.acr.clone()),
            amr: issue.account.as_ref().map(|_| issue.amr.clone()),
        };
        let access_token = jwt::sign(&signer, "at+jwt", &claims)?;
        if let Some(account) = &issue.account {
            // User tokens are recorded so that a replayed code, a reused refresh token or a logout
            // can revoke them; client_credentials tokens stay off the write path.
            self.store
                .record_access_token(&AccessTokenRecord {
                    jti,
                    realm: self.realm.clone(),
                    client_id: issue.client.id().to_owned(),
                    account_id: Some(account.id),
                    family_id: family.clone(),
                    code_hash: issue.code_hash.clone(),
                    session_id_hash: issue.session_id_hash.clone(),
                    expires_at: now + Duration::seconds(access_s as i64),
                    revoked_at: None,
                })
                .await?;
        }
        let id_token = match &issue.account {
            Some(account) if issue.scope.split(' ').any(|s| s == "openid") => Some(id_token(
                &signer,
                IdTokenInput {
                    issuer: &self.issuer,
                    client_id: issue.client.id(),
                    account,
                    scope: &issue.scope,
                    now,
                    lifetime_s: settings.id_token_s.unwrap_or(self.tokens.id_token_s),
                    auth_time: issue.auth_time.unwrap_or(now),
                    nonce: issue.nonce.as_deref(),
                    sid: issue.session_id_hash.as_deref(),
                    amr: &issue.amr,
                    acr: &issue.acr,
                    access_token: Some(&access_token),
                },
            )?),
            _ => None,
        };
        let refresh_token = match (&family, &issue.account) {
            (Some(family), Some(account)) => {
                let token = random_token();
                let refresh_s = settings
                    .refresh_token_s
                    .unwrap_or(self.tokens.refresh_token_s);
                self.store
                    .insert_refresh_token(&RefreshTokenRecord {
                        token_hash: token_hash(&token),
                        family_id: family.clone(),
                        realm: self.realm.clone(),
                        client_id: issue.client.id().to_owned(),
                        account_id: account.id,
                        session_id_hash: issue.session_id_hash.clone(),
                        scope: issue.scope.clone(),
                        auth_time: issue.auth_time.unwrap_or(now),
                        amr: issue.amr.clone(),
                        acr: issue.acr.clone(),
                        created_at: now,
                        expires_at: now + Duration::seconds(refresh_s as i64),
                        used_at: None,
                        revoked_at: None,
                    })
                    .await?;
                if let Some(code_hash) = &issue.code_hash {
                    self.store.set_code_family(code_hash, family).await?;
                }
                Some(token)
            }
            _ => None,
        };
        Ok(TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in: access_s,
            refresh_token,
            id_token,
            scope: issue.scope,
        })
    }
}

fn requested_scope(
    client: &Client,
    requested: Option<&String>,
    default: &[&str],
) -> Result<String, OAuthError> {
    let Some(requested) = requested else {
        return Ok(default.join(" "));
    };
    let mut scopes: Vec<&str> = Vec::new();
    for s in requested.split(' ').filter(|s| !s.is_empty()) {
        if !client.allows_scope(s) {
            return Err(OAuthError::new(
                ErrorCode::InvalidScope,
                format!("scope `{s}` is not allowed for this client"),
            ));
        }
        if !scopes.contains(&s) {
            scopes.push(s);
        }
    }
    Ok(scopes.join(" "))
}

#[cfg(test)]
mod debug_tests {
    use super::TokenResponse;

    #[test]
    fn tokens_stay_out_of_debug() {
        let response = TokenResponse {
            access_token: "at-secret-value".into(),
            token_type: "Bearer",
            expires_in: 300,
            refresh_token: Some("rt-secret-value".into()),
            id_token: Some("id-secret-value".into()),
            scope: "openid".into(),
        };
        let printed = format!("{response:?}");
        assert!(!printed.contains("secret-value"), "{printed}");
        assert!(
            printed.contains("openid") && printed.contains("[redacted]"),
            "{printed}"
        );
    }
}
