//! RP-Initiated Logout 1.0.

use chrono::Utc;
use gatehouse_core::Secret;
use gatehouse_store::SessionUpstream;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::crypto::{b64, b64_decode, token_hash};
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

/// The redirect provider a browser logged in through, and what it needs at logout (the
/// connector's `logout_hint`: an upstream ID token, a SAML NameID + SessionIndex).
#[derive(Debug, Clone)]
pub struct UpstreamLogin {
    pub provider: String,
    pub logout_hint: Option<Secret>,
}

/// Associated data of the sealed values below. Kids (the vault's other associated data) are
/// base64url and hold no `\0`, so neither kind of sealed value opens as the other, and a hint is
/// bound to its session row.
fn hint_aad(session_id_hash: &str) -> String {
    format!("browser_session.logout_hint\0{session_id_hash}")
}
fn return_aad(realm: &str) -> String {
    format!("logout_return\0{realm}")
}

/// How long the browser may take at the upstream's logout before coming back.
const RETURN_TTL_S: i64 = 600;

/// The content of the logout-return cookie.
#[derive(Serialize, Deserialize)]
struct LogoutReturn {
    /// `None`: the logged-out page.
    to: Option<String>,
    /// Unix seconds.
    exp: i64,
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
    /// tokens outlive the session by design). Returns the redirect provider the session came
    /// through, if any, for the upstream logout.
    pub async fn end_session(
        &self,
        cookie: Option<&str>,
    ) -> Result<Option<UpstreamLogin>, OidcError> {
        let Some(cookie) = cookie.filter(|c| !c.is_empty()) else {
            return Ok(None);
        };
        let id_hash = token_hash(cookie);
        let Some(ended) = self.store.delete_session(&self.realm, &id_hash).await? else {
            return Ok(None);
        };
        self.store
            .revoke_session_tokens(&id_hash, Utc::now(), Some("offline_access"))
            .await?;
        Ok(ended.upstream.map(|u| self.open_upstream(&id_hash, u)))
    }

    /// The upstream ID token is a credential the RP never sees (it was issued to the broker):
    /// it is kept encrypted, like the signing keys.
    pub(crate) fn seal_upstream(
        &self,
        session_id_hash: &str,
        upstream: UpstreamLogin,
    ) -> Result<SessionUpstream, OidcError> {
        let logout_hint = upstream
            .logout_hint
            .map(|h| {
                self.vault
                    .seal(&hint_aad(session_id_hash), h.expose().as_bytes())
            })
            .transpose()?;
        Ok(SessionUpstream {
            provider: upstream.provider,
            logout_hint,
        })
    }

    /// A hint that does not open (the key-encryption secret changed) is dropped: the upstream
    /// logout then goes without it, and the upstream asks the user to confirm.
    fn open_upstream(&self, session_id_hash: &str, upstream: SessionUpstream) -> UpstreamLogin {
        let logout_hint = upstream.logout_hint.and_then(|sealed| {
            match self.vault.open(&hint_aad(session_id_hash), &sealed) {
                Ok(plain) => String::from_utf8(plain).ok().map(Secret::new),
                Err(_) => {
                    tracing::warn!(realm = %self.realm, provider = %upstream.provider,
                        "the session's upstream logout hint does not decrypt; logging out upstream without it");
                    None
                }
            }
        });
        UpstreamLogin {
            provider: upstream.provider,
            logout_hint,
        }
    }

    /// The value of the cookie that carries, across the upstream's logout, where the broker's
    /// logout goes afterwards. Sealed (not a store row) because it is the browser's own, already
    /// checked destination: no instance has to find it, and nobody else can forge or read it.
    pub fn seal_logout_return(&self, after: &AfterLogout) -> Result<String, OidcError> {
        let kept = LogoutReturn {
            to: match after {
                AfterLogout::Redirect(url) => Some(url.clone()),
                AfterLogout::Page => None,
            },
            exp: Utc::now().timestamp() + RETURN_TTL_S,
        };
        let json = serde_json::to_vec(&kept).map_err(|e| OidcError::Config(e.to_string()))?;
        Ok(b64(&self.vault.seal(&return_aad(&self.realm), &json)?))
    }

    /// Where a browser back from the upstream's logout goes: its cookie's destination, or the
    /// logged-out page when the cookie is missing, forged or stale.
    pub fn open_logout_return(&self, cookie: Option<&str>) -> AfterLogout {
        cookie
            .and_then(b64_decode)
            .and_then(|sealed| self.vault.open(&return_aad(&self.realm), &sealed).ok())
            .and_then(|json| serde_json::from_slice::<LogoutReturn>(&json).ok())
            .filter(|r| r.exp >= Utc::now().timestamp())
            .and_then(|r| r.to)
            .map_or(AfterLogout::Page, AfterLogout::Redirect)
    }

    /// Where the upstream sends the browser back after its own logout: the address to register
    /// at the upstream as post-logout redirect URI.
    pub fn logged_out_url(&self) -> String {
        self.endpoint("logged-out")
    }
}
