//! The realm's resolver without its audit write: not a way to run Gatehouse, a phase that shows
//! what the audit event and statistics write costs a login.

use std::sync::Arc;

use async_trait::async_trait;
use gatehouse_connector_ldap::LdapProvider;
use gatehouse_core::{
    Account, AccountId, AccountRepository, AccountWithLinks, LoginRecord, NewLink, Profile,
    RepoError, Resolver,
};
use gatehouse_server::Config;
use gatehouse_server::config::ProviderSettings;
use gatehouse_store::Store;
use gatehouse_store::testing::TestStore;

use crate::config_text;

/// The store with `record_login` doing nothing: not a way to run Gatehouse, a way to show what the
/// audit event and statistics write costs a login.
struct WithoutAuditWrite(Store);

#[async_trait]
impl AccountRepository for WithoutAuditWrite {
    async fn find_for_login(
        &self,
        realm: &str,
        login_key: &str,
        by_email: bool,
    ) -> Result<Option<AccountWithLinks>, RepoError> {
        self.0.find_for_login(realm, login_key, by_email).await
    }

    async fn provision(
        &self,
        realm: &str,
        username: &str,
        username_key: &str,
        profile: &Profile,
        link: NewLink,
    ) -> Result<AccountWithLinks, RepoError> {
        self.0
            .provision(realm, username, username_key, profile, link)
            .await
    }

    async fn update_link_secret(&self, link_id: uuid::Uuid, secret: &str) -> Result<(), RepoError> {
        self.0.update_link_secret(link_id, secret).await
    }

    async fn update_profile(
        &self,
        account_id: AccountId,
        profile: &Profile,
    ) -> Result<Account, RepoError> {
        self.0.update_profile(account_id, profile).await
    }

    async fn record_login(&self, _: &LoginRecord) -> Result<(), RepoError> {
        Ok(())
    }
}

/// A resolver built as Gatehouse builds the realm's, on the store `gatehouse` provisioned, minus
/// the audit write.
pub async fn resolver_without_audit_write(url: &str, c: usize, store: &TestStore) -> Arc<Resolver> {
    let text = config_text(url, c, &store.url());
    let config = Config::from_toml(&text, "bench", Vec::new()).expect("config");
    let realm = &config.realms["main"];
    let provider = &realm.providers[0];
    let ProviderSettings::Ldap(settings) = &provider.settings else {
        unreachable!("the bench configures an ldap provider");
    };
    let ldap = LdapProvider::new(provider.descriptor(), (**settings).clone()).expect("provider");
    Arc::new(
        Resolver::new(
            Arc::new(realm.policy("main")),
            vec![Arc::new(ldap)],
            Arc::new(WithoutAuditWrite(store.store().clone())),
        )
        .expect("resolver"),
    )
}
