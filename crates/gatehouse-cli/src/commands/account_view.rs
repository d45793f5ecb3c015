//! How accounts read on the terminal.

use chrono::Utc;
use gatehouse_core::plan::{self, link_state};
use gatehouse_core::{AccountWithLinks, RealmPolicy};

/// The account's effective state: disabled, locked, superseded, or active.
pub fn status(policy: &RealmPolicy, account: &AccountWithLinks) -> String {
    if let Some(reason) = &account.account.disabled_reason {
        return format!("disabled ({reason})");
    }
    if account.account.is_locked_at(Utc::now())
        && let Some(until) = account.account.locked_until
    {
        return format!("locked until {}", until.to_rfc3339());
    }
    if let Some(by) = plan::superseded_by(policy, account) {
        return format!("disabled (superseded by {by})");
    }
    "active".into()
}

pub fn links_line(policy: &RealmPolicy, account: &AccountWithLinks) -> String {
    let links: Vec<_> = account
        .links
        .iter()
        .map(|l| match link_state(policy, l) {
            plan::LinkState::Live => l.provider_id.clone(),
            _ => format!("{} (inert)", l.provider_id),
        })
        .collect();
    if links.is_empty() {
        "-".into()
    } else {
        links.join(", ")
    }
}

pub fn print_links(policy: &RealmPolicy, account: &AccountWithLinks) {
    if account.links.is_empty() {
        println!("links:     none");
        return;
    }
    println!("links:");
    for link in &account.links {
        let kind = policy
            .provider(&link.provider_id)
            .map(|p| p.kind.as_str())
            .unwrap_or("?");
        let mut facts = vec![link_state(policy, link).to_string()];
        if let Some(id) = &link.external_id {
            facts.push(format!("external id {id}"));
        }
        if kind == "database" {
            facts.push(
                if link.secret.is_some() {
                    "password set"
                } else {
                    "no password"
                }
                .into(),
            );
        }
        if link.protected {
            facts.push("protected (break-glass admin)".into());
        }
        println!("  {} ({kind}): {}", link.provider_id, facts.join("; "));
    }
}
