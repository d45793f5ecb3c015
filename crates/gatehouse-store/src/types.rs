//! Records the store returns beside the core domain types.

use chrono::{DateTime, Utc};
use gatehouse_core::{AccountId, Attempt};

/// An account an administrator creates.
#[derive(Debug, Clone, Default)]
pub struct NewAccount {
    pub realm: String,
    /// As given.
    pub username: String,
    /// Normalised by the caller (`RealmPolicy::normalize_login`).
    pub username_key: String,
    pub email: Option<String>,
    pub name: Option<String>,
    pub roles: Vec<String>,
}

/// An account's login counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginStats {
    pub account_id: AccountId,
    pub success_count: u64,
    pub failure_count: u64,
    pub last_success_at: Option<DateTime<Utc>>,
    pub last_failure_at: Option<DateTime<Utc>>,
}

/// One entry of the audit trail.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    pub id: i64,
    pub realm: String,
    pub at: DateTime<Utc>,
    /// What happened, e.g. [`AuditEvent::PASSWORD_LOGIN`].
    pub kind: String,
    pub login: String,
    /// `None` when no account matched the login (or for events not about an account).
    pub account_id: Option<AccountId>,
    pub success: bool,
    /// `success`, or the refusal code.
    pub result: String,
    /// Every provider tried, in order.
    pub attempts: Vec<Attempt>,
    /// The OAuth client id the login was for, when known.
    pub client: Option<String>,
    /// The peer's IP address, when known.
    pub ip: Option<String>,
}

/// Which audit events to read ([`crate::Store::audit_events`]): those of `realm` matching every
/// filter given, newest first, at most `limit`.
#[derive(Debug, Clone)]
pub struct AuditQuery {
    pub realm: String,
    /// The login as recorded (normalised), exactly.
    pub login: Option<String>,
    pub account_id: Option<AccountId>,
    /// At or after this time.
    pub since: Option<DateTime<Utc>>,
    /// The result code, exactly (`success`, `invalid_credentials`, …).
    pub result: Option<String>,
    pub limit: u64,
}

impl AuditQuery {
    /// Every event of `realm`, up to `limit`.
    pub fn realm(realm: &str, limit: u64) -> Self {
        Self {
            realm: realm.to_owned(),
            login: None,
            account_id: None,
            since: None,
            result: None,
            limit,
        }
    }
}

impl AuditEvent {
    pub const PASSWORD_LOGIN: &'static str = "password_login";
    /// A login through a redirect provider's callback (`oidc`, `oauth2`).
    pub const REDIRECT_LOGIN: &'static str = "redirect_login";
    /// Supersession disabled an account (`result` `superseded by <provider>`) or restored it
    /// (`result` `restored`).
    pub const SUPERSESSION: &'static str = "supersession";
}
