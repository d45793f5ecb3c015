//! The realm's own first-party client, `account`: the account page logs in through `/authorize`
//! with PKCE like any public client (as Keycloak's account console does), so it sees exactly the
//! login pages, policies and sessions an application sees. Built in: it is not in the
//! configuration and has no secret.
//!
//! Two sealed cookies carry its state, so any instance can continue what another began:
//! - during the login, the `state`, `nonce` and PKCE verifier of the authorization request;
//! - afterwards, the broker session the code was issued for (`sid`, a hash), its account and the
//!   page's CSRF token. The account page lives exactly as long as that broker session: a logout
//!   anywhere (or "log out everywhere") ends it too, since every page view looks the session up.

use chrono::Utc;
use serde::{Deserialize, Serialize};

use crate::crypto::{b64, b64_decode, ct_eq, random_token};
use crate::error::{OAuthError, OidcError};
use crate::pkce;
use crate::provider::OidcProvider;
use crate::settings::{ClientSettings, GrantType};

/// The built-in client's id; a configured client may not take it.
pub const ACCOUNT_CLIENT_ID: &str = "account";

/// How long the browser may take on the login pages before coming back to the account page.
const LOGIN_TTL_S: i64 = 1800;

fn login_aad(realm: &str) -> String {
    format!("account_login\0{realm}")
}
fn session_aad(realm: &str) -> String {
    format!("account_session\0{realm}")
}

/// The built-in `account` client of the realm whose issuer is `issuer`.
pub fn account_client(issuer: &str) -> ClientSettings {
    ClientSettings {
        client_id: ACCOUNT_CLIENT_ID.into(),
        name: Some("Account".into()),
        client_secret: None,
        redirect_uris: vec![format!("{issuer}/account/callback")],
        post_logout_redirect_uris: vec![format!("{issuer}/account")],
        grant_types: vec![GrantType::AuthorizationCode],
        scopes: vec!["openid".into(), "profile".into(), "email".into()],
        access_token_s: None,
        id_token_s: None,
        refresh_token_s: None,
        require_auth_time: false,
    }
}

#[derive(Serialize, Deserialize)]
struct PendingLogin {
    state: String,
    verifier: String,
    exp: i64,
}

/// Who the account page shows, and the token its forms carry.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccountPageSession {
    /// The account id (`sub`).
    pub sub: String,
    /// The broker session's id hash (the `sid` claim).
    pub sid: String,
    /// Double-submit token of the page's forms.
    pub csrf: String,
}

impl OidcProvider {
    /// The authorization request of the account page, and the sealed cookie that remembers it.
    pub fn start_account_login(&self) -> Result<(String, String), OidcError> {
        let pending = PendingLogin {
            state: random_token(),
            verifier: random_token(),
            exp: Utc::now().timestamp() + LOGIN_TTL_S,
        };
        let mut url = url::Url::parse(&self.endpoint("authorize"))
            .map_err(|e| OidcError::Config(e.to_string()))?;
        url.query_pairs_mut()
            .append_pair("client_id", ACCOUNT_CLIENT_ID)
            .append_pair("redirect_uri", &self.account_callback())
            .append_pair("response_type", "code")
            .append_pair("scope", "openid profile email")
            .append_pair("state", &pending.state)
            .append_pair("code_challenge", &pkce::s256_challenge(&pending.verifier))
            .append_pair("code_challenge_method", "S256");
        let json = serde_json::to_vec(&pending).map_err(|e| OidcError::Config(e.to_string()))?;
        let sealed = b64(&self.vault.seal(&login_aad(&self.realm), &json)?);
        Ok((url.into(), sealed))
    }

    pub fn account_callback(&self) -> String {
        self.endpoint("account/callback")
    }

    /// Back from `/authorize`: the code is redeemed at the token endpoint's logic (in process,
    /// with the PKCE verifier) and its access token names the session. `None` when the cookie or
    /// `state` does not match (a stale or forged callback): the caller starts again.
    pub async fn finish_account_login(
        &self,
        pending_cookie: Option<&str>,
        state: &str,
        code: &str,
        resolver: &gatehouse_core::Resolver,
    ) -> Result<Option<AccountPageSession>, OAuthError> {
        let Some(pending) = pending_cookie
            .and_then(b64_decode)
            .and_then(|sealed| self.vault.open(&login_aad(&self.realm), &sealed).ok())
            .and_then(|json| serde_json::from_slice::<PendingLogin>(&json).ok())
            .filter(|p| p.exp >= Utc::now().timestamp() && ct_eq(&p.state, state))
        else {
            return Ok(None);
        };
        let form = vec![
            ("grant_type".to_owned(), "authorization_code".to_owned()),
            ("code".to_owned(), code.to_owned()),
            ("redirect_uri".to_owned(), self.account_callback()),
            ("client_id".to_owned(), ACCOUNT_CLIENT_ID.to_owned()),
            ("code_verifier".to_owned(), pending.verifier),
        ];
        let tokens = self.token(None, form, resolver).await?;
        let claims = self
            .active_access_token(&tokens.access_token)
            .await?
            .ok_or_else(|| OAuthError::invalid_grant("the access token is not valid"))?;
        let Some(sid) = claims.sid else {
            return Ok(None);
        };
        Ok(Some(AccountPageSession {
            sub: claims.sub,
            sid,
            csrf: random_token(),
        }))
    }

    pub fn seal_account_session(&self, session: &AccountPageSession) -> Result<String, OidcError> {
        let json = serde_json::to_vec(session).map_err(|e| OidcError::Config(e.to_string()))?;
        Ok(b64(&self.vault.seal(&session_aad(&self.realm), &json)?))
    }

    /// The cookie's content, when it opens; whether its session still runs is the caller's to
    /// check (in the store).
    pub fn open_account_session(&self, cookie: Option<&str>) -> Option<AccountPageSession> {
        cookie
            .and_then(b64_decode)
            .and_then(|sealed| self.vault.open(&session_aad(&self.realm), &sealed).ok())
            .and_then(|json| serde_json::from_slice(&json).ok())
    }

    /// "Log out everywhere": ends every browser session of the account in this realm, with the
    /// tokens bound to each, as a logout of each would (offline_access tokens survive, as they
    /// do a logout). Upstream sessions are left alone: only this browser could be sent there.
    /// Returns how many sessions ended.
    pub async fn end_account_sessions(
        &self,
        account: gatehouse_core::AccountId,
    ) -> Result<usize, OidcError> {
        let ended = self
            .store
            .delete_account_sessions(&self.realm, account)
            .await?;
        for session in &ended {
            self.store
                .revoke_session_tokens(&session.id_hash, Utc::now(), Some("offline_access"))
                .await?;
        }
        Ok(ended.len())
    }
}
