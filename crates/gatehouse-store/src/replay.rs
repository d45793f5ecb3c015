//! The replay cache of single-use upstream answers (SAML assertion ids). Every instance on the
//! store shares it, so an answer accepted by one instance is refused by all the others.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, EntityTrait};

use crate::entities::replay_guard::{self, Column as C};
use crate::error::StoreError;
use crate::store::{Store, stamp};

impl Store {
    /// Records the first use of an upstream id (`id_hash`: the caller's digest of realm, provider
    /// and id), kept until `expires_at`. True for exactly one caller however many instances race;
    /// false when the id was seen before (a replay), expired row or not: only the purge forgets.
    pub async fn use_replay_guard(
        &self,
        realm: &str,
        provider: &str,
        id_hash: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        // One INSERT … ON CONFLICT DO NOTHING: the primary key decides, nothing is read first.
        let inserted = replay_guard::Entity::insert(replay_guard::ActiveModel {
            id_hash: Set(id_hash.to_owned()),
            realm: Set(realm.to_owned()),
            provider: Set(provider.to_owned()),
            expires_at: Set(stamp(expires_at)),
        })
        .on_conflict(OnConflict::column(C::IdHash).do_nothing().to_owned())
        .exec_without_returning(&self.db)
        .await?;
        Ok(inserted == 1)
    }
}
