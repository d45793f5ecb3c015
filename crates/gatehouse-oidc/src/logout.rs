//! RP-Initiated Logout 1.0.

use chrono::Utc;
use serde::Deserialize;
use url::Url;

use crate::crypto::token_hash;
use crate::error::{OAuthError, OidcError};
use crate::jwt;
use crate::provider::OidcProvider;

#[derive(Deserialize)]
struct HintClaims {
    iss: String,
    aud: serde_json::Value,
    #[serde(default)]
    sid: Option<String>,
}

/// Where to send the browser after the session ends.
#[derive(Debug, PartialEq, Eq)]
pub enum AfterLogout {
    /// `post_logout_redirect_uri` (with `state`), checked against the client.
    Redirect(String),
    /// The logged-out page.
    Page,
}

impl OidcProvider {
    /// Checks an end-session request. An `id_token_hint` must be one of ours (an expired one is
    /// fine); a `post_logout_redirect_uri` must be registered for the client the hint names.
    pub async fn check_logout(
        &self,
        params: &[(String, String)],
    ) -> Result<(AfterLogout, bool), OAuthError> {
        let get = |k: &str| {
            params
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
                .filter(|v| !v.is_empty())
        };
        let hint_client = match get("id_token_hint") {
            Some(hint) => {
                let claims = jwt::verify::<HintClaims>(&self.keys, hint, None)
                    .await?
                    .filter(|c| c.iss == self.issuer)
                    .ok_or_else(|| {
                        OAuthError::invalid_request(
                            "id_token_hint is not an ID token of this realm",
                        )
                    })?;
                let aud = match &claims.aud {
                    serde_json::Value::String(s) => Some(s.clone()),
                    serde_json::Value::Array(a) => {
                        a.first().and_then(|v| v.as_str()).map(str::to_owned)
                    }
                    _ => None,
                };
                let _ = claims.sid;
                aud
            }
            None => None,
        };
        let client_id = match (get("client_id"), &hint_client) {
            (Some(given), Some(hinted)) if given != hinted => {
                return Err(OAuthError::invalid_request(
                    "client_id does not match id_token_hint",
                ));
            }
            (Some(given), _) => Some(given.to_owned()),
            (None, hinted) => hinted.clone(),
        };
        let Some(target) = get("post_logout_redirect_uri") else {
            return Ok((AfterLogout::Page, hint_client.is_some()));
        };
        let client = client_id
            .and_then(|id| self.clients.get(&id))
            .ok_or_else(|| {
                OAuthError::invalid_request(
                    "post_logout_redirect_uri needs id_token_hint or client_id",
                )
            })?;
        if !client.has_post_logout_redirect_uri(target) {
            return Err(OAuthError::invalid_request(
                "post_logout_redirect_uri is not registered for this client",
            ));
        }
        let mut url = Url::parse(target)
            .map_err(|_| OAuthError::invalid_request("bad post_logout_redirect_uri"))?;
        if let Some(state) = get("state") {
            url.query_pairs_mut().append_pair("state", state);
        }
        Ok((AfterLogout::Redirect(url.into()), hint_client.is_some()))
    }

    /// Ends the browser session for every instance, with the tokens bound to it (offline_access
    /// tokens outlive the session by design).
    pub async fn end_session(&self, cookie: Option<&str>) -> Result<(), OidcError> {
        let Some(cookie) = cookie.filter(|c| !c.is_empty()) else {
            return Ok(());
        };
        let id_hash = token_hash(cookie);
        if self
            .store
            .delete_session(&self.realm, &id_hash)
            .await?
            .is_some()
        {
            self.store
                .revoke_session_tokens(&id_hash, Utc::now(), Some("offline_access"))
                .await?;
        }
        Ok(())
    }
}
