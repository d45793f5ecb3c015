//! What the resolver needs from the store. Implemented by `gatehouse-store`; in-memory in tests.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use thiserror::Error;
use uuid::Uuid;

use crate::account::{Account, AccountId, AccountWithLinks, Profile};
use crate::provider::PasswordOutcome;

/// The error a source keeps: the store's own error, with its chain.
pub type RepoSource = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A failure of the store behind [`AccountRepository`], by kind: callers answer a conflict or a
/// missing record themselves and an outage with "try again later".
#[derive(Debug, Error)]
pub enum RepoError {
    /// A uniqueness rule was broken (say, the account was created meanwhile).
    #[error("{0}")]
    Conflict(String),
    /// The named record does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// The store cannot serve now; retrying later may succeed.
    #[error("{0}")]
    Unavailable(#[source] RepoSource),
    /// The store holds data it cannot read back.
    #[error("{0}")]
    Corrupt(#[source] RepoSource),
    #[error("{0}")]
    Other(#[source] RepoSource),
}

impl RepoError {
    /// The store is away for now (a temporary failure, not a refusal).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, RepoError::Unavailable(_))
    }
}

/// A link to create with a just-in-time account.
#[derive(Clone)]
pub struct NewLink {
    pub provider_id: String,
    pub external_id: Option<String>,
    /// For `database` links, the PHC hash: redacted in `Debug`.
    pub secret: Option<String>,
    pub protected: bool,
}

impl std::fmt::Debug for NewLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewLink")
            .field("provider_id", &self.provider_id)
            .field("external_id", &self.external_id)
            .field("secret", &self.secret.as_ref().map(|_| "[redacted]"))
            .field("protected", &self.protected)
            .finish()
    }
}

/// The outcome of one provider attempt, as the audit log keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "outcome", content = "detail")]
pub enum AttemptOutcome {
    Verified,
    Rejected,
    Unavailable(String),
    Disabled(String),
}

impl From<&PasswordOutcome> for AttemptOutcome {
    fn from(outcome: &PasswordOutcome) -> Self {
        match outcome {
            PasswordOutcome::Verified(_) => AttemptOutcome::Verified,
            PasswordOutcome::Rejected => AttemptOutcome::Rejected,
            PasswordOutcome::Unavailable(why) => AttemptOutcome::Unavailable(why.clone()),
            PasswordOutcome::Disabled(why) => AttemptOutcome::Disabled(why.clone()),
        }
    }
}

impl AttemptOutcome {
    pub fn label(&self) -> &'static str {
        match self {
            AttemptOutcome::Verified => "verified",
            AttemptOutcome::Rejected => "rejected",
            AttemptOutcome::Unavailable(_) => "unavailable",
            AttemptOutcome::Disabled(_) => "disabled",
        }
    }
}

/// One provider tried during a login.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    pub provider: String,
    #[serde(flatten)]
    pub outcome: AttemptOutcome,
    #[serde(with = "duration_ms", rename = "duration_ms")]
    pub duration: Duration,
}

/// Everything recorded of one login attempt: one audit event, and the account's statistics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginRecord {
    pub realm: String,
    pub login: String,
    pub account_id: Option<AccountId>,
    pub success: bool,
    /// `success`, or the refusal code.
    pub result: String,
    pub attempts: Vec<Attempt>,
    pub at: DateTime<Utc>,
    /// Through a redirect provider's callback rather than a password: a separate audit kind, so
    /// the trail says how the user came in.
    pub redirect: bool,
    /// Where the attempt came from, as far as the caller knows.
    #[serde(flatten)]
    pub origin: LoginOrigin,
}

/// Where a login attempt came from: the relying party it was for and the address of the
/// browser or application that sent it, each when known.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginOrigin {
    /// The OAuth client id of the relying party the login was for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    /// The peer's IP address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
}

#[async_trait]
pub trait AccountRepository: Send + Sync {
    /// The account whose username key is `login_key`; else, when `by_email`, the one account whose
    /// email matches (several matches find nothing).
    async fn find_for_login(
        &self,
        realm: &str,
        login_key: &str,
        by_email: bool,
    ) -> Result<Option<AccountWithLinks>, RepoError>;

    /// Create an account with its first link (just-in-time provisioning).
    async fn provision(
        &self,
        realm: &str,
        username: &str,
        username_key: &str,
        profile: &Profile,
        link: NewLink,
    ) -> Result<AccountWithLinks, RepoError>;

    async fn update_link_secret(&self, link_id: Uuid, secret: &str) -> Result<(), RepoError>;

    /// Store what a provider says of the account (email, name, groups, provider-granted roles)
    /// and return the account as it now is, effective roles included.
    async fn update_profile(
        &self,
        account_id: AccountId,
        profile: &Profile,
    ) -> Result<Account, RepoError>;

    /// Write the audit event and update the account's login statistics.
    async fn record_login(&self, record: &LoginRecord) -> Result<(), RepoError>;
}

/// What redirect logins and supersession need of the store beyond the resolver's
/// [`AccountRepository`]: links by external id, links made on the way, the realm's accounts,
/// supersession's disabled reason, and the replay cache of single-use upstream answers.
#[async_trait]
pub trait FederationRepository: AccountRepository {
    /// The account of `realm` whose link to `provider` carries `external_id`.
    async fn find_by_external_id(
        &self,
        realm: &str,
        provider: &str,
        external_id: &str,
    ) -> Result<Option<AccountWithLinks>, RepoError>;

    async fn get_account(&self, id: AccountId) -> Result<Option<AccountWithLinks>, RepoError>;

    /// Creates the account's link to `link.provider_id`, or replaces the one it has.
    async fn upsert_link(&self, account: AccountId, link: NewLink) -> Result<(), RepoError>;

    /// Every account of `realm` with its links.
    async fn list_accounts(&self, realm: &str) -> Result<Vec<AccountWithLinks>, RepoError>;

    /// Sets (or with `None` clears) the disabled reason supersession manages, with one audit
    /// event of kind `supersession` whose result is `result`, in one transaction.
    async fn set_superseded(
        &self,
        realm: &str,
        account: AccountId,
        username: &str,
        reason: Option<String>,
        result: &str,
    ) -> Result<(), RepoError>;

    /// Records the first use of a single-use upstream answer id (a SAML assertion id), kept
    /// until `until`. True for exactly one caller however many instances race; false for a
    /// replay.
    async fn first_use(
        &self,
        realm: &str,
        provider: &str,
        id: &str,
        until: DateTime<Utc>,
    ) -> Result<bool, RepoError>;
}

mod duration_ms {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64() * 1000.0)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let ms = f64::deserialize(d)?;
        Ok(Duration::from_secs_f64(ms.max(0.0) / 1000.0))
    }
}
