//! DESIGN.md, redirect providers in the chain: which redirect providers the login page offers,
//! whether it is skipped (`auto_redirect`), and which one identifier-first login sends a known
//! account to. Pure decisions over the realm's policy and its connectors.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::account::AccountWithLinks;
use crate::plan::{LinkState, link_state};
use crate::realm::RealmPolicy;
use crate::redirect::RedirectProvider;
use crate::repository::{AccountRepository, RepoError};

/// A realm's redirect connectors by provider id, enabled or not.
pub type RedirectConnectors = BTreeMap<String, Arc<dyn RedirectProvider>>;

/// The enabled, chained redirect providers of the realm, in chain order: what the login page
/// offers, and the only ones a login may start at.
pub fn offered<'a>(
    policy: &'a RealmPolicy,
    connectors: &'a RedirectConnectors,
) -> Vec<(&'a str, &'a Arc<dyn RedirectProvider>)> {
    policy
        .chain
        .iter()
        .filter_map(|id| Some((id.as_str(), connectors.get(id)?)))
        .filter(|(_, p)| p.descriptor().enabled)
        .collect()
}

/// The offered redirect provider `id`, if the realm offers it.
pub fn offered_provider(
    policy: &RealmPolicy,
    connectors: &RedirectConnectors,
    id: &str,
) -> Option<Arc<dyn RedirectProvider>> {
    offered(policy, connectors)
        .into_iter()
        .find(|(p, _)| *p == id)
        .map(|(_, p)| p.clone())
}

/// `auto_redirect`: the realm's only chained, enabled provider is a redirect provider that asks
/// to skip the login page.
pub fn auto_redirect<'a>(
    policy: &'a RealmPolicy,
    connectors: &RedirectConnectors,
) -> Option<&'a str> {
    let enabled: Vec<&String> = policy
        .chain
        .iter()
        .filter(|id| policy.provider(id).is_some_and(|p| p.enabled))
        .collect();
    match enabled.as_slice() {
        [only] => connectors
            .get(*only)
            .filter(|p| p.auto_redirect())
            .map(|_| only.as_str()),
        _ => None,
    }
}

/// Identifier first: the redirect provider `account` logs in at, when its first live link in
/// chain order belongs to an offered one.
pub fn redirect_for_account(
    policy: &RealmPolicy,
    connectors: &RedirectConnectors,
    account: &AccountWithLinks,
) -> Option<String> {
    let first = policy.chain.iter().find(|id| {
        account
            .links
            .iter()
            .any(|l| &l.provider_id == *id && link_state(policy, l) == LinkState::Live)
    })?;
    offered(policy, connectors)
        .iter()
        .any(|(p, _)| p == first)
        .then(|| first.clone())
}

/// [`redirect_for_account`] for the account `login` names (by username, and by email where the
/// realm allows); `None` for an unknown login, which is asked for a password like any other.
pub async fn redirect_for(
    policy: &RealmPolicy,
    connectors: &RedirectConnectors,
    repo: &dyn AccountRepository,
    login: &str,
) -> Result<Option<String>, RepoError> {
    let found = repo
        .find_for_login(
            &policy.name,
            &policy.normalize_login(login),
            policy.login_with_email,
        )
        .await?;
    Ok(found.and_then(|account| redirect_for_account(policy, connectors, &account)))
}

#[cfg(test)]
mod tests {
    use async_trait::async_trait;

    use super::*;
    use crate::federation::memory::{Memory, descriptor, policy};
    use crate::provider::{ProviderDescriptor, ProviderKind};
    use crate::redirect::{CallbackError, ExternalIdentity, RedirectStart};

    struct Connector {
        descriptor: ProviderDescriptor,
        auto: bool,
    }

    #[async_trait]
    impl RedirectProvider for Connector {
        fn descriptor(&self) -> &ProviderDescriptor {
            &self.descriptor
        }
        fn auto_redirect(&self) -> bool {
            self.auto
        }
        async fn begin(&self, _: &str) -> Result<RedirectStart, CallbackError> {
            Err(CallbackError::State)
        }
        async fn complete(
            &self,
            _: &serde_json::Value,
            _: &str,
            _: &[(String, String)],
        ) -> Result<ExternalIdentity, CallbackError> {
            Err(CallbackError::State)
        }
    }

    fn connectors(policy: &RealmPolicy, auto: bool) -> RedirectConnectors {
        policy
            .providers
            .iter()
            .filter(|p| !p.kind.is_password())
            .map(|p| {
                let c: Arc<dyn RedirectProvider> = Arc::new(Connector {
                    descriptor: p.clone(),
                    auto,
                });
                (p.id.clone(), c)
            })
            .collect()
    }

    fn ids<'a>(offered: &[(&'a str, &Arc<dyn RedirectProvider>)]) -> Vec<&'a str> {
        offered.iter().map(|(id, _)| *id).collect()
    }

    #[test]
    fn the_login_page_offers_enabled_chained_redirect_providers_in_chain_order() {
        let mut off = descriptor("off", ProviderKind::Oidc, &[]);
        off.enabled = false;
        let mut realm = policy(vec![
            descriptor("saml", ProviderKind::Saml, &[]),
            descriptor("local", ProviderKind::Database, &[]),
            off,
            descriptor("unchained", ProviderKind::Oauth2, &[]),
            descriptor("oidc", ProviderKind::Oidc, &[]),
        ]);
        realm.chain.retain(|id| id != "unchained");
        let c = connectors(&realm, false);
        assert_eq!(ids(&offered(&realm, &c)), ["saml", "oidc"]);
        assert!(offered_provider(&realm, &c, "unchained").is_none());
        assert!(offered_provider(&realm, &c, "off").is_none());
        assert!(offered_provider(&realm, &c, "oidc").is_some());
    }

    #[test]
    fn auto_redirect_needs_the_only_enabled_provider_to_ask_for_it() {
        let mut off = descriptor("local", ProviderKind::Database, &[]);
        off.enabled = false;
        let only = policy(vec![descriptor("corp", ProviderKind::Oidc, &[]), off]);
        assert_eq!(auto_redirect(&only, &connectors(&only, true)), Some("corp"));
        assert_eq!(auto_redirect(&only, &connectors(&only, false)), None);
        let two = policy(vec![
            descriptor("corp", ProviderKind::Oidc, &[]),
            descriptor("local", ProviderKind::Database, &[]),
        ]);
        assert_eq!(auto_redirect(&two, &connectors(&two, true)), None);
    }

    #[tokio::test]
    async fn identifier_first_sends_an_account_to_its_first_live_link_in_chain_order() {
        let realm = policy(vec![
            descriptor("corp", ProviderKind::Oidc, &["old"]),
            descriptor("local", ProviderKind::Database, &[]),
            descriptor("old", ProviderKind::Saml, &[]),
        ]);
        let c = connectors(&realm, false);
        let memory = Memory::default();
        memory.add(
            "alice",
            Some("alice@example.org"),
            &[("local", ""), ("corp", "a")],
        );
        memory.add("bob", None, &[("local", "")]);
        memory.add("carol", None, &[("old", "c"), ("local", "")]);
        let to = |login: &'static str| redirect_for(&realm, &c, &memory, login);
        assert_eq!(to("ALICE").await.unwrap().as_deref(), Some("corp"));
        assert_eq!(
            to("alice@example.org").await.unwrap().as_deref(),
            Some("corp"),
            "by email where the realm allows"
        );
        assert_eq!(to("bob").await.unwrap(), None, "a password account");
        assert_eq!(
            to("carol").await.unwrap(),
            None,
            "an inert link sends nowhere"
        );
        assert_eq!(to("nobody").await.unwrap(), None);
    }
}
