//! A realm's redirect-login decisions (core's [`Federation`]) wired to the configuration and the
//! store: every transport that matches upstream identities (the broker's callback, the policy
//! engine's `federated` mechanism) takes its matcher from here.

use std::sync::Arc;

use gatehouse_core::{Federation, LinkExisting as CoreLinkExisting, MatchRules};
use gatehouse_store::Store;

use crate::app::{Gatehouse, RealmRuntime};
use crate::config::{LinkExisting, RealmConfig, RedirectOptions};

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
    match g.config.realms.get(&runtime.name) {
        Some(realm) => federation_of(realm, runtime, &g.store),
        None => Federation::new(
            runtime.policy.clone(),
            Default::default(),
            Arc::new(g.store.clone()),
        ),
    }
}

/// [`federation`] before the [`Gatehouse`] exists (the policy engine is built with it).
pub fn federation_of(realm: &RealmConfig, runtime: &RealmRuntime, store: &Store) -> Federation {
    let rules = realm
        .providers
        .iter()
        .map(|p| (p.id.clone(), rules(p.redirect)))
        .collect();
    Federation::new(runtime.policy.clone(), rules, Arc::new(store.clone()))
}
