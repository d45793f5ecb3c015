//! The authorization endpoint: request validation, browser sessions and login transactions
//! (sessions are made and codes issued in `step_up.rs`, at the level the request is answered at).

use std::collections::HashSet;

use chrono::{Duration, Utc};
use gatehouse_store::{BrowserSession, LoginTransaction};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::crypto::{random_token, token_hash};
use crate::error::{ErrorCode, OAuthError, OidcError};
use crate::pkce;
use crate::provider::OidcProvider;
use crate::settings::GrantType;

/// A validated authorization request; kept in the login transaction while the user logs in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuthorizeRequest {
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub prompt: Option<String>,
    pub max_age: Option<i64>,
    pub login_hint: Option<String>,
    /// `acr_values` and the `claims` request's `acr`, in the order of preference.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub acr_values: Vec<String>,
    /// The `claims` request marked the `acr` essential.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub acr_essential: bool,
}

impl AuthorizeRequest {
    pub fn forces_login(&self) -> bool {
        self.prompt.as_deref() == Some("login")
    }
    pub fn forbids_login_page(&self) -> bool {
        self.prompt.as_deref() == Some("none")
    }
}

#[derive(Debug)]
pub enum AuthorizeRejection {
    /// The client or redirect URI cannot be trusted with a redirect: shown to the user (HTTP 400).
    Page(OAuthError),
    /// Returned to the client at its redirect URI.
    Redirect(String),
}

/// A browser session and the cookie value that names it.
pub struct NewSession {
    pub cookie: String,
    pub session: BrowserSession,
}

impl OidcProvider {
    /// RFC 6749 §4.1.1, OIDC Core §3.1.2.1 and RFC 7636, with this realm's clients.
    pub fn validate_authorize(
        &self,
        params: &[(String, String)],
    ) -> Result<AuthorizeRequest, AuthorizeRejection> {
        let mut seen = HashSet::new();
        if let Some((dup, _)) = params.iter().find(|(k, _)| !seen.insert(k.as_str())) {
            return Err(AuthorizeRejection::Page(OAuthError::invalid_request(
                format!("parameter `{dup}` is repeated"),
            )));
        }
        let get = |k: &str| {
            params
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
                .filter(|v| !v.is_empty())
        };
        let page = |d: &str| AuthorizeRejection::Page(OAuthError::invalid_request(d));
        let client_id = get("client_id").ok_or_else(|| page("client_id is missing"))?;
        let client = self
            .clients
            .get(&client_id)
            .ok_or_else(|| page("unknown client_id"))?;
        let redirect_uri = get("redirect_uri").ok_or_else(|| page("redirect_uri is missing"))?;
        if !client.has_redirect_uri(&redirect_uri) {
            return Err(page("redirect_uri is not registered for this client"));
        }
        let state = get("state");
        let back = |code: ErrorCode, d: &str| {
            AuthorizeRejection::Redirect(error_redirect(
                &redirect_uri,
                state.as_deref(),
                &OAuthError::new(code, d),
            ))
        };
        match get("response_type").as_deref() {
            Some("code") => {}
            Some(_) => {
                return Err(back(
                    ErrorCode::UnsupportedResponseType,
                    "only response_type=code is supported",
                ));
            }
            None => return Err(back(ErrorCode::InvalidRequest, "response_type is missing")),
        }
        if get("response_mode").is_some_and(|m| m != "query") {
            return Err(back(
                ErrorCode::InvalidRequest,
                "only response_mode=query is supported",
            ));
        }
        if get("request").is_some() || get("request_uri").is_some() {
            return Err(back(
                ErrorCode::InvalidRequest,
                "request objects are not supported",
            ));
        }
        if !client.allows(GrantType::AuthorizationCode) {
            return Err(back(
                ErrorCode::UnauthorizedClient,
                "this client may not use the authorization code grant",
            ));
        }
        // Without a scope the client gets its scopes but offline access, which must be asked for.
        let scope = match get("scope") {
            Some(s) => s,
            None => client
                .settings
                .scopes
                .iter()
                .filter(|s| *s != "offline_access")
                .cloned()
                .collect::<Vec<_>>()
                .join(" "),
        };
        let mut scopes: Vec<&str> = Vec::new();
        for s in scope.split(' ').filter(|s| !s.is_empty()) {
            if !client.allows_scope(s) {
                return Err(back(
                    ErrorCode::InvalidScope,
                    &format!("scope `{s}` is not allowed for this client"),
                ));
            }
            if !scopes.contains(&s) {
                scopes.push(s);
            }
        }
        let code_challenge = get("code_challenge");
        match (&code_challenge, get("code_challenge_method").as_deref()) {
            (None, _) if client.is_public() => {
                return Err(back(
                    ErrorCode::InvalidRequest,
                    "PKCE (code_challenge with S256) is required",
                ));
            }
            (Some(_), Some(m)) if m != "S256" => {
                return Err(back(
                    ErrorCode::InvalidRequest,
                    "only code_challenge_method=S256 is supported",
                ));
            }
            (Some(_), None) => {
                return Err(back(
                    ErrorCode::InvalidRequest,
                    "code_challenge_method=S256 is required",
                ));
            }
            (Some(c), _) if !pkce::well_formed(c) => {
                return Err(back(
                    ErrorCode::InvalidRequest,
                    "code_challenge is malformed",
                ));
            }
            _ => {}
        }
        let prompt = get("prompt");
        if let Some(p) = &prompt {
            let values: Vec<&str> = p.split(' ').collect();
            if values.contains(&"none") && values.len() > 1 {
                return Err(back(
                    ErrorCode::InvalidRequest,
                    "prompt=none cannot be combined",
                ));
            }
            if values
                .iter()
                .any(|v| !["none", "login", "consent", "select_account"].contains(v))
            {
                return Err(back(ErrorCode::InvalidRequest, "unknown prompt value"));
            }
        }
        let prompt = prompt.map(|p| {
            if p.split(' ').any(|v| v == "login") {
                "login".to_owned()
            } else {
                p
            }
        });
        let max_age = match get("max_age") {
            Some(m) => Some(m.parse::<i64>().ok().filter(|v| *v >= 0).ok_or_else(|| {
                back(
                    ErrorCode::InvalidRequest,
                    "max_age must be a number of seconds",
                )
            })?),
            None => None,
        };
        let (acr_values, acr_essential) =
            crate::step_up::requested_acr(get("acr_values").as_deref(), get("claims").as_deref())
                .map_err(|e| back(ErrorCode::InvalidRequest, &e))?;
        Ok(AuthorizeRequest {
            acr_values,
            acr_essential,
            client_id,
            redirect_uri,
            scope: scopes.join(" "),
            state,
            nonce: get("nonce"),
            code_challenge,
            prompt,
            max_age,
            login_hint: get("login_hint"),
        })
    }

    /// The redirect for `prompt=none` without a usable session.
    pub fn login_required(&self, request: &AuthorizeRequest) -> String {
        error_redirect(
            &request.redirect_uri,
            request.state.as_deref(),
            &OAuthError::new(ErrorCode::LoginRequired, "the user must log in"),
        )
    }

    /// The browser's session, while it lasts and its account may still log in.
    pub async fn current_session(
        &self,
        cookie: Option<&str>,
    ) -> Result<Option<BrowserSession>, OidcError> {
        let Some(cookie) = cookie.filter(|c| !c.is_empty()) else {
            return Ok(None);
        };
        let now = Utc::now();
        let Some(session) = self
            .store
            .find_session(&self.realm, &token_hash(cookie), now)
            .await?
        else {
            return Ok(None);
        };
        // Disabling or locking ends the account's sessions; this re-check holds even for a
        // session that outlived its account's change some other way (a row edited by hand).
        let usable = self
            .store
            .get_account(session.account_id)
            .await?
            .is_some_and(|a| a.account.disabled_reason.is_none() && !a.account.is_locked_at(now));
        Ok(usable.then_some(session))
    }

    /// Record a login transaction; returns its id (for the URL) and its CSRF token.
    pub async fn start_login(
        &self,
        request: &AuthorizeRequest,
    ) -> Result<(String, String), OidcError> {
        let (tx, csrf) = (random_token(), random_token());
        let now = Utc::now();
        self.store
            .create_login_transaction(&LoginTransaction {
                id_hash: token_hash(&tx),
                realm: self.realm.clone(),
                request: serde_json::to_value(request)
                    .map_err(|e| OidcError::Config(e.to_string()))?,
                csrf_hash: token_hash(&csrf),
                username: None,
                created_at: now,
                // Long enough to type a password, short enough not to pile up.
                expires_at: now + Duration::minutes(30),
            })
            .await?;
        Ok((tx, csrf))
    }

    /// The login transaction `tx`, when it exists and the CSRF token (when given) is its own.
    pub async fn load_login(
        &self,
        tx: &str,
        csrf: Option<&str>,
    ) -> Result<Option<(LoginTransaction, AuthorizeRequest)>, OidcError> {
        let Some(found) = self
            .store
            .find_login_transaction(&self.realm, &token_hash(tx), Utc::now())
            .await?
        else {
            return Ok(None);
        };
        if csrf.is_some_and(|c| !crate::crypto::ct_eq(&token_hash(c), &found.csrf_hash)) {
            return Ok(None);
        }
        let Ok(request) = serde_json::from_value(found.request.clone()) else {
            return Ok(None);
        };
        Ok(Some((found, request)))
    }

    pub async fn set_login_username(
        &self,
        tx: &LoginTransaction,
        username: Option<String>,
    ) -> Result<(), OidcError> {
        self.store
            .set_login_transaction_username(&tx.id_hash, username)
            .await?;
        Ok(())
    }

    /// Ends the transaction; true only for the one caller that ended it (a double submit of the
    /// password form issues one code).
    pub async fn finish_login(&self, tx: &LoginTransaction) -> Result<bool, OidcError> {
        Ok(self.store.delete_login_transaction(&tx.id_hash).await?)
    }
}

/// `redirect_uri?error=…&error_description=…&state=…`
pub fn error_redirect(redirect_uri: &str, state: Option<&str>, error: &OAuthError) -> String {
    let Ok(mut url) = Url::parse(redirect_uri) else {
        return redirect_uri.to_owned();
    };
    url.query_pairs_mut()
        .append_pair("error", error.code.as_str())
        .append_pair("error_description", &error.description);
    if let Some(state) = state {
        url.query_pairs_mut().append_pair("state", state);
    }
    url.into()
}
