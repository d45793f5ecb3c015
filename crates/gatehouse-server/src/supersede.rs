//! DESIGN.md, superseded account types: while a provider that `supersedes` others is enabled,
//! accounts left without a live link are disabled with the reason `superseded by <provider>`;
//! switching it off restores them. The state is derived from the configuration by core's
//! `plan::superseded_by`; what is persisted is the account's disabled reason and one audit event
//! per account changed. The dry run and the real run compute the same [`Change`] list.

use gatehouse_core::plan::{link_state, superseded_by};
use gatehouse_core::{AccountId, LinkState};
use gatehouse_store::AuditEvent;

use crate::app::{Gatehouse, RealmRuntime};
use crate::error::ServerError;

/// The start of the disabled reason supersession writes (and only it clears).
pub const PREFIX: &str = "superseded by ";

/// What supersession does (or would do) to one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub account: AccountId,
    pub username: String,
    pub action: Action,
    /// The account's links that are inert because a provider supersedes them: (provider, by).
    pub inert_links: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Disable with the reason `superseded by <provider>`.
    Disable { by: String },
    /// Clear a `superseded by …` reason: the account has a live link again.
    Restore,
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.action {
            Action::Disable { by } => write!(f, "disable {}: superseded by {by}", self.username)?,
            Action::Restore => write!(f, "restore {}", self.username)?,
        }
        for (provider, by) in &self.inert_links {
            write!(f, "\n  link {provider}: inert (superseded by {by})")?;
        }
        Ok(())
    }
}

/// The changes the current configuration calls for in `runtime`'s realm. An account disabled for
/// any other reason is left alone (an administrator's decision wins).
pub async fn plan(g: &Gatehouse, runtime: &RealmRuntime) -> Result<Vec<Change>, ServerError> {
    let policy = &runtime.policy;
    let mut changes = Vec::new();
    for found in g.store.list_accounts(&runtime.name).await? {
        let current = found.account.disabled_reason.as_deref();
        let by_supersession = current.and_then(|r| r.strip_prefix(PREFIX));
        let action = match (superseded_by(policy, &found), current) {
            (Some(by), None) => Action::Disable { by },
            (Some(by), Some(_)) if by_supersession.is_some_and(|old| old != by) => {
                Action::Disable { by }
            }
            (None, Some(_)) if by_supersession.is_some() => Action::Restore,
            _ => continue,
        };
        let inert_links = found
            .links
            .iter()
            .filter_map(|l| match link_state(policy, l) {
                LinkState::Inert { superseded_by } => Some((l.provider_id.clone(), superseded_by)),
                _ => None,
            })
            .collect();
        changes.push(Change {
            account: found.account.id,
            username: found.account.username.clone(),
            action,
            inert_links,
        });
    }
    Ok(changes)
}

/// Computes the plan and applies it: one audit event per account changed.
pub async fn apply(g: &Gatehouse, runtime: &RealmRuntime) -> Result<Vec<Change>, ServerError> {
    let changes = plan(g, runtime).await?;
    for change in &changes {
        let (reason, result) = match &change.action {
            Action::Disable { by } => (Some(format!("{PREFIX}{by}")), format!("{PREFIX}{by}")),
            Action::Restore => (None, "restored".to_owned()),
        };
        g.store
            .set_disabled_audited(
                &runtime.name,
                change.account,
                &change.username,
                reason,
                AuditEvent::SUPERSESSION,
                &result,
            )
            .await?;
        tracing::info!(realm = %runtime.name, account = %change.username, result, "supersession");
    }
    Ok(changes)
}

/// At `serve` start: bring every realm in line with the configuration.
pub async fn apply_all(g: &Gatehouse) -> Result<(), ServerError> {
    for runtime in g.realms() {
        apply(g, runtime).await?;
    }
    Ok(())
}
