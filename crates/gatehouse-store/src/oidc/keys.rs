//! Signing keys: the realm's current signer and the retired keys still published in the JWKS.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder};

use super::{SigningKeyRecord, from_json, insert_error, to_json};
use crate::entities::signing_key::{self, Column as C};
use crate::error::StoreError;
use crate::store::{Store, stamp};

fn from_model(m: signing_key::Model) -> Result<SigningKeyRecord, StoreError> {
    Ok(SigningKeyRecord {
        public_jwk: from_json(
            &m.public_jwk,
            "public JWK",
            format_args!("signing key {}", m.kid),
        )?,
        kid: m.kid,
        realm: m.realm,
        alg: m.alg,
        private_key: m.private_key,
        created_at: m.created_at,
        retired_at: m.retired_at,
        expires_at: m.expires_at,
    })
}

impl Store {
    /// Stores a new key. A `kid` already taken is a [`StoreError::Conflict`].
    pub async fn insert_signing_key(&self, key: &SigningKeyRecord) -> Result<(), StoreError> {
        signing_key::Entity::insert(signing_key::ActiveModel {
            kid: Set(key.kid.clone()),
            realm: Set(key.realm.clone()),
            alg: Set(key.alg.clone()),
            private_key: Set(key.private_key.clone()),
            public_jwk: Set(to_json(&key.public_jwk)?),
            created_at: Set(stamp(key.created_at)),
            retired_at: Set(key.retired_at.map(stamp)),
            expires_at: Set(key.expires_at.map(stamp)),
        })
        .exec_without_returning(&self.db)
        .await
        .map_err(|e| insert_error(e, &format!("signing key {}", key.kid)))?;
        Ok(())
    }

    /// The realm's keys still published at `now` (no `expires_at`, or a later one), newest
    /// first: the first one not retired is the signer, all of them go in the JWKS.
    pub async fn signing_keys(
        &self,
        realm: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<SigningKeyRecord>, StoreError> {
        signing_key::Entity::find()
            .filter(C::Realm.eq(realm))
            .filter(
                Condition::any()
                    .add(C::ExpiresAt.is_null())
                    .add(C::ExpiresAt.gt(stamp(now))),
            )
            .order_by_desc(C::CreatedAt)
            // Two keys created in the same microsecond still come back in a stable order.
            .order_by_desc(C::Kid)
            .all(&self.db)
            .await?
            .into_iter()
            .map(from_model)
            .collect()
    }

    /// Retires every key of the realm but `except_kid` that is not retired yet: it stops
    /// signing at `retired_at` and leaves the JWKS at `expires_at` (give relying parties time to
    /// see the new key, and tokens it signed time to expire). Returns how many were retired.
    /// Keys retired earlier keep their dates, so a rotation never extends an old key's life.
    pub async fn retire_signing_keys(
        &self,
        realm: &str,
        except_kid: &str,
        retired_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let done = signing_key::Entity::update_many()
            .col_expr(C::RetiredAt, Expr::value(stamp(retired_at)))
            .col_expr(C::ExpiresAt, Expr::value(stamp(expires_at)))
            .filter(C::Realm.eq(realm))
            .filter(C::Kid.ne(except_kid))
            .filter(C::RetiredAt.is_null())
            .exec(&self.db)
            .await?;
        Ok(done.rows_affected)
    }
}
