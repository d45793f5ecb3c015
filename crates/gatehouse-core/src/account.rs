use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::secret::Secret;

/// The stable identifier of an account: the `sub` of the tokens issued for it. Never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AccountId(pub Uuid);

impl AccountId {
    /// Time-ordered ids keep the store's primary-key index compact.
    pub fn generate() -> Self {
        Self(Uuid::now_v7())
    }
}

impl std::fmt::Display for AccountId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// The broker's own user record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Account {
    pub id: AccountId,
    pub realm: String,
    pub username: String,
    pub email: Option<String>,
    pub name: Option<String>,
    /// `Some(reason)` when an administrator disabled the account.
    pub disabled_reason: Option<String>,
    pub locked_until: Option<DateTime<Utc>>,
    pub roles: Vec<String>,
    pub groups: Vec<String>,
    pub attributes: serde_json::Map<String, serde_json::Value>,
    pub created_at: DateTime<Utc>,
}

impl Account {
    pub fn is_locked_at(&self, now: DateTime<Utc>) -> bool {
        self.locked_until.is_some_and(|until| until > now)
    }
}

/// The per-user provider field: (account, provider) → external id, or the password hash for a
/// `database` provider.
#[derive(Debug, Clone)]
pub struct Link {
    pub id: Uuid,
    pub account_id: AccountId,
    pub provider_id: String,
    pub external_id: Option<String>,
    /// PHC string of a `database` link.
    pub secret: Option<Secret>,
    /// The break-glass administrator's database link: never made inert by supersession.
    pub protected: bool,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct AccountWithLinks {
    pub account: Account,
    pub links: Vec<Link>,
}

impl AccountWithLinks {
    pub fn link_to(&self, provider_id: &str) -> Option<&Link> {
        self.links.iter().find(|l| l.provider_id == provider_id)
    }
}

/// Profile data a provider returns with a verified identity (directory attributes, claims).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Profile {
    pub email: Option<String>,
    pub name: Option<String>,
    pub groups: Vec<String>,
    /// Roles the provider grants (a directory's `group_roles`). They replace the roles the
    /// provider granted before, so a role goes with the group membership that gave it; roles an
    /// administrator assigned are kept apart and never removed by a login.
    pub roles: Vec<String>,
}
