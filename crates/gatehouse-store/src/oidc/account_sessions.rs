//! An account's browser sessions, all at once: what the account page lists and ends.

use chrono::{DateTime, Utc};
use gatehouse_core::AccountId;
use sea_orm::prelude::TextUuid;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

use super::BrowserSession;
use super::sessions::session_from_model;
use crate::entities::browser_session;
use crate::error::StoreError;
use crate::store::{Store, stamp};

impl Store {
    /// The account's sessions in the realm that have not expired by `now`, most recently used
    /// first.
    pub async fn account_sessions(
        &self,
        realm: &str,
        account: AccountId,
        now: DateTime<Utc>,
    ) -> Result<Vec<BrowserSession>, StoreError> {
        use browser_session::Column as C;
        browser_session::Entity::find()
            .filter(C::Realm.eq(realm))
            .filter(C::AccountId.eq(TextUuid(account.0)))
            .filter(C::ExpiresAt.gt(stamp(now)))
            .order_by_desc(C::LastSeenAt)
            .all(&self.db)
            .await?
            .into_iter()
            .map(session_from_model)
            .collect()
    }

    /// Ends every session of the account in the realm, expired or not, and returns them (each
    /// once, even when two instances do this at once: the DELETE of each row decides).
    pub async fn delete_account_sessions(
        &self,
        realm: &str,
        account: AccountId,
    ) -> Result<Vec<BrowserSession>, StoreError> {
        use browser_session::Column as C;
        let found = browser_session::Entity::find()
            .filter(C::Realm.eq(realm))
            .filter(C::AccountId.eq(TextUuid(account.0)))
            .all(&self.db)
            .await?;
        let mut ended = Vec::new();
        for row in found {
            if let Some(session) = self.delete_session(realm, &row.id_hash).await? {
                ended.push(session);
            }
        }
        Ok(ended)
    }
}
