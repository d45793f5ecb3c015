//! DESIGN.md, superseded account types: while a provider that `supersedes` others is enabled,
//! accounts left without a live link are disabled with the reason `superseded by <provider>`;
//! switching it off restores them. The state is derived from the configuration by
//! [`plan::superseded_by`]; what is persisted is the account's disabled reason and one audit
//! event per account changed. The dry run and the real run compute the same [`Change`] list.

use std::fmt;

use crate::account::{Account, AccountId, AccountWithLinks};
use crate::plan::{self, LinkState, link_state};
use crate::realm::RealmPolicy;
use crate::repository::{FederationRepository, RepoError};

/// The start of the disabled reason supersession writes (and only it clears).
pub const PREFIX: &str = "superseded by ";

/// The audit result of a restored account.
pub const RESTORED: &str = "restored";

/// Whether the account's disabled reason is supersession's (an administrator's is never
/// cleared by it).
pub fn disabled_by_supersession(account: &Account) -> bool {
    account
        .disabled_reason
        .as_deref()
        .is_some_and(|r| r.starts_with(PREFIX))
}

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

impl Action {
    /// The disabled reason it writes (none: cleared) and the audit result.
    pub fn reason_and_result(&self) -> (Option<String>, String) {
        match self {
            Action::Disable { by } => (Some(format!("{PREFIX}{by}")), format!("{PREFIX}{by}")),
            Action::Restore => (None, RESTORED.to_owned()),
        }
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
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

/// The change the configuration calls for in one account, if any. An account disabled for any
/// other reason is left alone (an administrator's decision wins).
pub fn change_for(policy: &RealmPolicy, found: &AccountWithLinks) -> Option<Change> {
    let current = found.account.disabled_reason.as_deref();
    let by_supersession = current.and_then(|r| r.strip_prefix(PREFIX));
    let action = match (plan::superseded_by(policy, found), current) {
        (Some(by), None) => Action::Disable { by },
        (Some(by), Some(_)) if by_supersession.is_some_and(|old| old != by) => {
            Action::Disable { by }
        }
        (None, Some(_)) if by_supersession.is_some() => Action::Restore,
        _ => return None,
    };
    let inert_links = found
        .links
        .iter()
        .filter_map(|l| match link_state(policy, l) {
            LinkState::Inert { superseded_by } => Some((l.provider_id.clone(), superseded_by)),
            _ => None,
        })
        .collect();
    Some(Change {
        account: found.account.id,
        username: found.account.username.clone(),
        action,
        inert_links,
    })
}

/// The changes the configuration calls for in the realm of `policy`.
pub async fn plan(
    policy: &RealmPolicy,
    repo: &dyn FederationRepository,
) -> Result<Vec<Change>, RepoError> {
    Ok(repo
        .list_accounts(&policy.name)
        .await?
        .iter()
        .filter_map(|found| change_for(policy, found))
        .collect())
}

/// Computes the plan and applies it: one audit event per account changed.
pub async fn apply(
    policy: &RealmPolicy,
    repo: &dyn FederationRepository,
) -> Result<Vec<Change>, RepoError> {
    let changes = plan(policy, repo).await?;
    for change in &changes {
        let (reason, result) = change.action.reason_and_result();
        repo.set_superseded(
            &policy.name,
            change.account,
            &change.username,
            reason,
            &result,
        )
        .await?;
        tracing::info!(realm = %policy.name, account = %change.username, result, "supersession");
    }
    Ok(changes)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::federation::memory::{Memory, descriptor, policy};
    use crate::provider::ProviderKind;

    /// `corp` supersedes every `ldap` provider.
    fn realm(corp_enabled: bool) -> RealmPolicy {
        let mut corp = descriptor("corp", ProviderKind::Oidc, &["ldap"]);
        corp.enabled = corp_enabled;
        policy(vec![
            corp,
            descriptor("dir", ProviderKind::Ldap, &[]),
            descriptor("local", ProviderKind::Database, &[]),
        ])
    }

    #[tokio::test]
    async fn accounts_left_without_a_live_link_are_disabled_and_restored_with_the_config() {
        let memory = Arc::new(Memory::default());
        let only_dir = memory.add("alice", None, &[("dir", "uid=alice")]);
        memory.add("bob", None, &[("dir", "uid=bob"), ("local", "")]);
        memory.add("carol", None, &[("dir", "uid=carol")]);
        memory.edit("carol", |a| a.disabled_reason = Some("on leave".into()));

        let dry = plan(&realm(true), memory.as_ref()).await.unwrap();
        assert_eq!(
            dry.len(),
            1,
            "bob keeps a live link, carol is the admin's: {dry:?}"
        );
        assert_eq!(dry[0].account, only_dir);
        assert_eq!(dry[0].action, Action::Disable { by: "corp".into() });
        assert_eq!(
            dry[0].to_string(),
            "disable alice: superseded by corp\n  link dir: inert (superseded by corp)"
        );
        assert!(
            memory.superseded.lock().unwrap().is_empty(),
            "a dry run writes nothing"
        );

        assert_eq!(apply(&realm(true), memory.as_ref()).await.unwrap(), dry);
        assert_eq!(
            memory
                .get("alice")
                .unwrap()
                .account
                .disabled_reason
                .as_deref(),
            Some("superseded by corp")
        );
        assert!(
            plan(&realm(true), memory.as_ref())
                .await
                .unwrap()
                .is_empty(),
            "in line"
        );

        // Switching `corp` off restores alice only.
        let back = apply(&realm(false), memory.as_ref()).await.unwrap();
        assert_eq!(back.len(), 1);
        assert_eq!(back[0].action, Action::Restore);
        assert_eq!(memory.get("alice").unwrap().account.disabled_reason, None);
        assert_eq!(
            memory
                .get("carol")
                .unwrap()
                .account
                .disabled_reason
                .as_deref(),
            Some("on leave")
        );
        let written = memory.superseded.lock().unwrap().clone();
        assert_eq!(
            written,
            [
                (
                    only_dir,
                    Some("superseded by corp".into()),
                    "superseded by corp".into()
                ),
                (only_dir, None, RESTORED.to_owned()),
            ]
        );
    }

    #[test]
    fn a_new_superseder_rewrites_the_reason() {
        let memory = Memory::default();
        memory.add("alice", None, &[("dir", "uid=alice")]);
        memory.edit("alice", |a| {
            a.disabled_reason = Some(format!("{PREFIX}old-sso"))
        });
        let found = memory.get("alice").unwrap();
        let change = change_for(&realm(true), &found).unwrap();
        assert_eq!(change.action, Action::Disable { by: "corp".into() });
        assert!(disabled_by_supersession(&found.account));
    }
}
