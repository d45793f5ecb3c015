//! What the broker keeps between sending the browser to a redirect provider and its callback:
//! a record of its own (not the authorization request's), found by the digest of the upstream
//! `state` (or SAML RelayState), bound to the browser that started it and to the login it
//! belongs to, and consumed once.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::repository::RepoError;

/// A redirect login between its start and its callback.
#[derive(Clone, PartialEq)]
pub struct PendingRedirect {
    pub realm: String,
    /// The redirect provider the browser was sent to; a callback at another is refused.
    pub provider: String,
    /// The digest of the login transaction this redirect belongs to (never its id).
    pub login_hash: String,
    /// The digest of the CSRF cookie of the browser that started it: only that browser finishes.
    pub csrf_hash: String,
    /// The connector's own state (PKCE verifier, nonce, request id): never sent to the browser,
    /// never printed.
    pub connector_state: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// The connector's state can hold a PKCE verifier: `Debug` leaves it out.
impl std::fmt::Debug for PendingRedirect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingRedirect")
            .field("realm", &self.realm)
            .field("provider", &self.provider)
            .field("login_hash", &self.login_hash)
            .field("connector_state", &"[redacted]")
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// Where pending redirects live: the store, shared by every instance (a callback may reach
/// another instance than the start).
#[async_trait]
pub trait PendingRedirectRepository: Send + Sync {
    /// Stores `pending` under `state_hash`; a hash already taken is [`RepoError::Conflict`].
    async fn create_pending_redirect(
        &self,
        state_hash: &str,
        pending: &PendingRedirect,
    ) -> Result<(), RepoError>;

    /// The realm's pending redirect under `state_hash`, unless it expired by `now`.
    async fn find_pending_redirect(
        &self,
        realm: &str,
        state_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<PendingRedirect>, RepoError>;

    /// Consumes it: true only for the one caller whose delete removed it, so of two callbacks
    /// carrying the same state only one goes on.
    async fn take_pending_redirect(&self, state_hash: &str) -> Result<bool, RepoError>;
}
