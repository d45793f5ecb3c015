//! What redirect logins and supersession need of the store
//! ([`gatehouse_core::FederationRepository`]), over the store's own account operations.

use async_trait::async_trait;
use aws_lc_rs::digest::{SHA256, digest};
use chrono::{DateTime, Utc};
use gatehouse_core::{AccountId, AccountWithLinks, FederationRepository, NewLink, RepoError};

use crate::store::Store;
use crate::types::AuditEvent;

/// The replay cache's key: a digest of realm, provider and the upstream's id, so an id of any
/// length is a fixed-size key and one realm's ids never clash with another's.
fn replay_key(realm: &str, provider: &str, id: &str) -> String {
    digest(&SHA256, format!("{realm}\n{provider}\n{id}").as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[async_trait]
impl FederationRepository for Store {
    async fn find_by_external_id(
        &self,
        realm: &str,
        provider: &str,
        external_id: &str,
    ) -> Result<Option<AccountWithLinks>, RepoError> {
        Ok(Store::find_by_external_id(self, realm, provider, external_id).await?)
    }

    async fn get_account(&self, id: AccountId) -> Result<Option<AccountWithLinks>, RepoError> {
        Ok(Store::get_account(self, id).await?)
    }

    async fn upsert_link(&self, account: AccountId, link: NewLink) -> Result<(), RepoError> {
        Ok(Store::upsert_link(self, account, link).await.map(|_| ())?)
    }

    async fn list_accounts(&self, realm: &str) -> Result<Vec<AccountWithLinks>, RepoError> {
        Ok(Store::list_accounts(self, realm).await?)
    }

    async fn set_superseded(
        &self,
        realm: &str,
        account: AccountId,
        username: &str,
        reason: Option<String>,
        result: &str,
    ) -> Result<(), RepoError> {
        Ok(self
            .set_disabled_audited(
                realm,
                account,
                username,
                reason,
                AuditEvent::SUPERSESSION,
                result,
            )
            .await?)
    }

    async fn first_use(
        &self,
        realm: &str,
        provider: &str,
        id: &str,
        until: DateTime<Utc>,
    ) -> Result<bool, RepoError> {
        let key = replay_key(realm, provider, id);
        Ok(self.use_replay_guard(realm, provider, &key, until).await?)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_replay_key_is_the_digest_earlier_versions_wrote() {
        // The broker hashed `realm\nprovider\nid` (SHA-256, hex) before this moved here:
        // entries an older instance wrote still catch a replay at a newer one.
        assert_eq!(
            super::replay_key("main", "corp", "id-1"),
            "932c672fa3ab283b33ccc053b544a8a8220a743aaad6c285c947a195a1a516f8"
        );
    }
}
