//! A realm's redirect-login decisions (core's [`Federation`]) wired to the configuration and the
//! store: every transport that matches upstream identities (the broker's callback, the policy
//! engine's `federated` mechanism) takes its matcher from here.

use std::sync::Arc;

use gatehouse_core::{Federation, LinkExisting as CoreLinkExisting, MatchRules};

use crate::app::{Gatehouse, RealmRuntime};
use crate::config::{LinkExisting, RedirectOptions};

fn rules(options: RedirectOptions) -> MatchRules {
    MatchRules {
        jit: options.jit,
        link_existing: match options.link_existing {
            LinkExisting::Never => CoreLinkExisting::Never,
            LinkExisting::Username => CoreLinkExisting::Username,
            LinkExisting::VerifiedEmail => CoreLinkExisting::VerifiedEmail,
        },
    }
}

/// The realm's federation: its policy, each provider's `jit` / `link_existing`, the store.
pub fn federation(g: &Gatehouse, runtime: &RealmRuntime) -> Federation {
    let rules = g
        .config
        .realms
        .get(&runtime.name)
        .map(|realm| {
            realm
                .providers
                .iter()
                .map(|p| (p.id.clone(), rules(p.redirect)))
                .collect()
        })
        .unwrap_or_default();
    Federation::new(runtime.policy.clone(), rules, Arc::new(g.store.clone()))
}
