//! The account repository the resolvers use, timed: every write the login path waits for is a
//! store-write latency sample, and every login record a login for the counters. Wrapping the
//! repository (rather than the store) keeps the store as it is and sees password logins from every
//! route (the JSON API, the login page, the password grant).

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use gatehouse_core::{
    Account, AccountId, AccountRepository, AccountWithLinks, LoginRecord, NewLink, Profile,
    RepoError,
};
use uuid::Uuid;

use super::{Metrics, store_write};

pub struct MeteredRepo {
    inner: Arc<dyn AccountRepository>,
    metrics: Arc<Metrics>,
}

impl MeteredRepo {
    pub fn new(inner: Arc<dyn AccountRepository>, metrics: Arc<Metrics>) -> Self {
        Self { inner, metrics }
    }

    fn timed<T>(
        &self,
        operation: &'static str,
        started: Instant,
        result: Result<T, RepoError>,
    ) -> Result<T, RepoError> {
        if self.metrics.enabled() {
            let answered = !matches!(&result, Err(e) if e.is_unavailable());
            store_write(operation, started.elapsed(), answered);
        }
        result
    }
}

#[async_trait]
impl AccountRepository for MeteredRepo {
    async fn find_for_login(
        &self,
        realm: &str,
        login_key: &str,
        by_email: bool,
    ) -> Result<Option<AccountWithLinks>, RepoError> {
        self.inner.find_for_login(realm, login_key, by_email).await
    }

    async fn provision(
        &self,
        realm: &str,
        username: &str,
        username_key: &str,
        profile: &Profile,
        link: NewLink,
    ) -> Result<AccountWithLinks, RepoError> {
        let started = Instant::now();
        let result = self
            .inner
            .provision(realm, username, username_key, profile, link)
            .await;
        self.timed("provision", started, result)
    }

    async fn update_link_secret(&self, link_id: Uuid, secret: &str) -> Result<(), RepoError> {
        let started = Instant::now();
        let result = self.inner.update_link_secret(link_id, secret).await;
        self.timed("update_link_secret", started, result)
    }

    async fn update_profile(
        &self,
        account_id: AccountId,
        profile: &Profile,
    ) -> Result<Account, RepoError> {
        let started = Instant::now();
        let result = self.inner.update_profile(account_id, profile).await;
        self.timed("update_profile", started, result)
    }

    async fn record_login(&self, record: &LoginRecord) -> Result<(), RepoError> {
        self.metrics.login(record);
        let started = Instant::now();
        let result = self.inner.record_login(record).await;
        self.timed("record_login", started, result)
    }
}
