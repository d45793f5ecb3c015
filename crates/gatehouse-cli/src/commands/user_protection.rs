//! The account-protection side of `gatehouse user` (issue #24): a password set under the
//! provider's policy and history, `unlock`, and the lock state `show` prints.

use chrono::Utc;
use gatehouse_connector_database::{DatabaseError, DatabaseProvider};
use gatehouse_core::protection::{Gate, ThrottleScope};
use gatehouse_core::{AccountWithLinks, Secret};
use gatehouse_server::{Gatehouse, RealmRuntime};
use gatehouse_store::PasswordChange;

use crate::Failure;

/// Checks the password against the provider's policy and the link's history, stores it with its
/// history entry, and ends the account's sessions and tokens.
pub async fn change_password(
    gatehouse: &Gatehouse,
    db: &DatabaseProvider,
    provider: &str,
    account: &AccountWithLinks,
    password: &Secret,
    protected: bool,
) -> Result<(), Failure> {
    let keep = db.policy().history();
    let history = gatehouse
        .store
        .password_history(account.account.id, provider, keep)
        .await?;
    // The current password counts among the last ones even when it predates the history.
    let current = account
        .link_to(provider)
        .and_then(|l| l.secret.clone())
        .filter(|s| keep > 0 && !history.iter().any(|h| h.expose() == s.expose()));
    let history: Vec<Secret> = current.into_iter().chain(history).collect();
    let phc = db
        .hash_new_password(password, &history)
        .await
        .map_err(|e| match e {
            DatabaseError::Policy(rule) => Failure::Other(format!(
                "password refused by the policy of provider `{provider}`: {rule}"
            )),
            other => Failure::Other(other.to_string()),
        })?;
    gatehouse
        .store
        .change_link_password(PasswordChange {
            realm: &account.account.realm,
            username: &account.account.username,
            account: account.account.id,
            provider,
            phc: &phc,
            protected,
            // At least the new one: its date is the password's age.
            keep: keep.max(1),
            end_sessions: true,
        })
        .await?;
    Ok(())
}

pub async fn unlock(
    gatehouse: &Gatehouse,
    realm: &str,
    found: &AccountWithLinks,
) -> Result<(), Failure> {
    let removed = gatehouse
        .store
        .unlock_account(realm, found.account.id, &found.account.username)
        .await?;
    println!(
        "unlocked {}: {removed} failure counter(s) forgotten",
        found.account.username
    );
    Ok(())
}

/// `lock:` — locked (until when), delayed (from which IPs), or not.
pub async fn print_lock_state(
    gatehouse: &Gatehouse,
    runtime: &RealmRuntime,
    found: &AccountWithLinks,
) -> Result<(), Failure> {
    let counters = gatehouse
        .store
        .account_counters(&runtime.name, found.account.id)
        .await?;
    let Some(protection) = runtime.resolver.protection() else {
        return Ok(());
    };
    let now = Utc::now();
    let mut lines = Vec::new();
    for c in &counters {
        let state = match protection.gate(std::slice::from_ref(c), now) {
            Gate::Open => "open".to_owned(),
            Gate::Wait(d) => format!("delayed {} s", d.as_secs()),
            Gate::Locked(Some(d)) => format!(
                "LOCKED until {}",
                (now + chrono::Duration::seconds(d.as_secs() as i64)).to_rfc3339()
            ),
            Gate::Locked(None) => "LOCKED until `gatehouse user unlock`".to_owned(),
        };
        let from = match c.key.scope {
            ThrottleScope::Login => "all IPs".to_owned(),
            _ => c
                .key
                .subject
                .rsplit_once('|')
                .map_or("-", |(_, ip)| ip)
                .to_owned(),
        };
        lines.push(format!(
            "{} {} failure(s) from {from} (last {}): {state}",
            c.key.kind,
            c.failures,
            c.last_failure_at.to_rfc3339()
        ));
    }
    if lines.is_empty() {
        println!("lock:      not locked, no recent failures");
    } else {
        let locked = lines.iter().any(|l| l.contains("LOCKED"));
        println!(
            "lock:      {}",
            if locked { "LOCKED" } else { "not locked" }
        );
        for line in lines {
            println!("           {line}");
        }
    }
    Ok(())
}
