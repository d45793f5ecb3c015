//! Redirect providers (`oidc`, `oauth2`, `saml`): they send the browser to an upstream and take a
//! callback. A connector turns the callback into an [`ExternalIdentity`]; matching it to an account
//! (by link, `link_existing`, or just-in-time creation) is the broker's business, not the
//! connector's.

use async_trait::async_trait;
use thiserror::Error;

use crate::account::Profile;
use crate::provider::ProviderDescriptor;

/// Where to send the browser, and what to keep until the callback.
#[derive(Debug, Clone)]
pub struct RedirectStart {
    /// The upstream URL the browser goes to.
    pub location: String,
    /// The value of the `state` (OIDC/OAuth 2.0) or `RelayState`/request id (SAML) that the
    /// callback must carry: the broker finds the pending login by it.
    pub state: String,
    /// Everything the connector needs back at the callback (PKCE verifier, nonce, request id…).
    /// Kept server-side in the store by the broker, never sent to the browser.
    pub pending: serde_json::Value,
    /// `Some` when the browser must POST these fields to `location` (SAML HTTP-POST binding)
    /// instead of following a redirect to it.
    pub form: Option<Vec<(String, String)>>,
}

/// An id the upstream promises never to repeat (a SAML assertion ID), and the time after which the
/// answer carrying it is refused anyway. The broker records it in the store, shared by every
/// instance, and refuses a second callback that carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayGuard {
    pub id: String,
    pub not_after: chrono::DateTime<chrono::Utc>,
}

/// Who the upstream says the user is.
#[derive(Clone, PartialEq)]
pub struct ExternalIdentity {
    /// The stable id at the upstream (OIDC `sub`, SAML NameID, the OAuth 2.0 profile id claim).
    pub external_id: String,
    /// The local username the provider's `username_claim` + `username_regex` mapped to.
    pub username: Option<String>,
    /// Whether the upstream vouches for the email (OIDC `email_verified`); `link_existing =
    /// "verified_email"` only trusts such emails.
    pub email_verified: bool,
    pub profile: Profile,
    /// An id token or session index the upstream needs at logout (`id_token_hint`, SAML
    /// SessionIndex).
    pub logout_hint: Option<String>,
    /// For upstreams whose answers must be used once (SAML): what the broker records against replay.
    pub replay_guard: Option<ReplayGuard>,
}

/// `logout_hint` can be an ID token: it never reaches a log line.
impl std::fmt::Debug for ExternalIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExternalIdentity")
            .field("external_id", &self.external_id)
            .field("username", &self.username)
            .field("email_verified", &self.email_verified)
            .field("profile", &self.profile)
            .field(
                "logout_hint",
                &self.logout_hint.as_ref().map(|_| "[redacted]"),
            )
            .field("replay_guard", &self.replay_guard)
            .finish()
    }
}

/// Why a callback was refused. The message names the check that failed and never carries a token
/// or secret; it goes to the audit log, the user sees a generic page.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CallbackError {
    #[error("the upstream returned an error: {0}")]
    Upstream(String),
    #[error("state mismatch")]
    State,
    #[error("invalid response: {0}")]
    Invalid(String),
    #[error("upstream unavailable: {0}")]
    Unavailable(String),
}

#[async_trait]
pub trait RedirectProvider: Send + Sync {
    fn descriptor(&self) -> &ProviderDescriptor;

    /// Skip the login page when the realm offers nothing else (`auto_redirect`).
    fn auto_redirect(&self) -> bool {
        false
    }

    /// Begin a login; `callback_url` is the broker's URL the upstream must send the browser back to.
    async fn begin(&self, callback_url: &str) -> Result<RedirectStart, CallbackError>;

    /// Finish it: check the callback's parameters (query or form) against `pending`.
    async fn complete(
        &self,
        pending: &serde_json::Value,
        callback_url: &str,
        params: &[(String, String)],
    ) -> Result<ExternalIdentity, CallbackError>;

    /// Called by the broker's logout just before [`RedirectProvider::logout_location`], which
    /// cannot wait for I/O: the place to fetch what it needs (the OIDC discovery document with the
    /// `end_session_endpoint`, when this instance has not seen a login through the provider yet).
    async fn prepare_logout(&self) {}

    /// Where to send the browser after a broker logout (`global_logout`), if anywhere.
    /// `logout_hint` is the one of the [`ExternalIdentity`] the session was created from;
    /// `return_to` is the broker's URL the upstream should send the browser back to.
    fn logout_location(&self, _logout_hint: Option<&str>, _return_to: &str) -> Option<String> {
        None
    }
}
