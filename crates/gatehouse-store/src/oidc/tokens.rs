//! Refresh-token families and the access-token revocation list.
//!
//! A family is revoked as soon as any of its refresh tokens is, or the code that started it was
//! replayed. Reads check the whole family rather than trusting one row's `revoked_at`: a token
//! issued by one instance while another revokes the family is inserted after the revoking UPDATE
//! ran, and must still read as revoked.

use chrono::{DateTime, Utc};
use gatehouse_core::AccountId;
use sea_orm::prelude::TextUuid;
use sea_orm::sea_query::{Expr, ExprTrait, LikeExpr, OnConflict, Query, SimpleExpr};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};

use super::{
    AccessTokenRecord, RefreshTokenRecord, RefreshUse, from_json, insert_error, short, to_json,
};
use crate::entities::{access_token, authorization_code, refresh_token};
use crate::error::StoreError;
use crate::store::{Store, stamp};

use refresh_token::Column as R;

fn refresh_from_model(m: refresh_token::Model) -> Result<RefreshTokenRecord, StoreError> {
    Ok(RefreshTokenRecord {
        amr: from_json(
            &m.amr,
            "amr",
            format_args!("refresh token {}", short(&m.token_hash)),
        )?,
        token_hash: m.token_hash,
        family_id: m.family_id,
        realm: m.realm,
        client_id: m.client_id,
        account_id: AccountId(m.account_id.0),
        session_id_hash: m.session_id_hash,
        scope: m.scope,
        auth_time: m.auth_time,
        acr: m.acr,
        created_at: m.created_at,
        expires_at: m.expires_at,
        used_at: m.used_at,
        revoked_at: m.revoked_at,
    })
}

/// When the family was first revoked, through any of its refresh tokens or its code.
pub(super) async fn family_revoked_at(
    db: &impl ConnectionTrait,
    family_id: &str,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    let by_token = refresh_token::Entity::find()
        .filter(R::FamilyId.eq(family_id))
        .filter(R::RevokedAt.is_not_null())
        .order_by_asc(R::RevokedAt)
        .one(db)
        .await?
        .and_then(|m| m.revoked_at);
    use authorization_code::Column as A;
    let by_code = authorization_code::Entity::find()
        .filter(A::FamilyId.eq(family_id))
        .filter(A::RevokedAt.is_not_null())
        .order_by_asc(A::RevokedAt)
        .one(db)
        .await?
        .and_then(|m| m.revoked_at);
    Ok(by_token.into_iter().chain(by_code).min())
}

/// The record with `revoked_at` filled in from its family when the row itself is not revoked.
async fn with_family(
    db: &impl ConnectionTrait,
    m: refresh_token::Model,
) -> Result<RefreshTokenRecord, StoreError> {
    let mut record = refresh_from_model(m)?;
    if record.revoked_at.is_none() {
        record.revoked_at = family_revoked_at(db, &record.family_id).await?;
    }
    Ok(record)
}

/// Revokes the access tokens matching `cond` that are not revoked yet.
pub(super) async fn revoke_access_where(
    db: &impl ConnectionTrait,
    cond: SimpleExpr,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    use access_token::Column as T;
    Ok(access_token::Entity::update_many()
        .col_expr(T::RevokedAt, Expr::value(now))
        .filter(cond)
        .filter(T::RevokedAt.is_null())
        .exec(db)
        .await?
        .rows_affected)
}

/// Revokes the refresh tokens matching `cond` that are not revoked yet.
pub(super) async fn revoke_refresh_where(
    db: &impl ConnectionTrait,
    cond: SimpleExpr,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    Ok(refresh_token::Entity::update_many()
        .col_expr(R::RevokedAt, Expr::value(now))
        .filter(cond)
        .filter(R::RevokedAt.is_null())
        .exec(db)
        .await?
        .rows_affected)
}

pub(super) async fn revoke_family_in(
    db: &impl ConnectionTrait,
    family_id: &str,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let refresh = revoke_refresh_where(db, R::FamilyId.eq(family_id), now).await?;
    let access = revoke_access_where(db, access_token::Column::FamilyId.eq(family_id), now).await?;
    Ok(refresh + access)
}

/// `scope` (space-separated) of the refresh token contains `word` as a whole word. LIKE with the
/// word's own wildcards escaped: `_` in `offline_access` must not match any character.
fn scope_contains(word: &str) -> SimpleExpr {
    let mut pattern = String::from("% ");
    for c in word.chars() {
        if matches!(c, '!' | '%' | '_') {
            pattern.push('!');
        }
        pattern.push(c);
    }
    pattern.push_str(" %");
    Expr::cust(r#"(' ' || "refresh_token"."scope" || ' ')"#)
        .like(LikeExpr::new(pattern).escape('!'))
}

impl Store {
    /// Stores a new refresh token. A `token_hash` already taken is a [`StoreError::Conflict`].
    pub async fn insert_refresh_token(&self, token: &RefreshTokenRecord) -> Result<(), StoreError> {
        refresh_token::Entity::insert(refresh_token::ActiveModel {
            token_hash: Set(token.token_hash.clone()),
            family_id: Set(token.family_id.clone()),
            realm: Set(token.realm.clone()),
            client_id: Set(token.client_id.clone()),
            account_id: Set(TextUuid(token.account_id.0)),
            session_id_hash: Set(token.session_id_hash.clone()),
            scope: Set(token.scope.clone()),
            auth_time: Set(stamp(token.auth_time)),
            amr: Set(to_json(&token.amr)?),
            acr: Set(token.acr.clone()),
            created_at: Set(stamp(token.created_at)),
            expires_at: Set(stamp(token.expires_at)),
            used_at: Set(token.used_at.map(stamp)),
            revoked_at: Set(token.revoked_at.map(stamp)),
        })
        .exec_without_returning(&self.db)
        .await
        .map_err(|e| insert_error(e, "a refresh token with this hash"))?;
        Ok(())
    }

    /// Rotates the realm's refresh token: [`RefreshUse::Fresh`] for exactly one caller, however
    /// many instances race, and only while neither it nor its family is revoked or expired.
    pub async fn use_refresh_token(
        &self,
        realm: &str,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<RefreshUse, StoreError> {
        let now = stamp(now);
        let txn = self.begin_write().await?;
        // The claim: whoever's UPDATE sets used_at owns the rotation (see consume_code).
        let claimed = refresh_token::Entity::update_many()
            .col_expr(R::UsedAt, Expr::value(now))
            .filter(R::TokenHash.eq(token_hash))
            .filter(R::Realm.eq(realm))
            .filter(R::UsedAt.is_null())
            .filter(R::RevokedAt.is_null())
            .filter(R::ExpiresAt.gt(now))
            .exec(&txn)
            .await?
            .rows_affected
            == 1;
        let found = refresh_token::Entity::find_by_id(token_hash)
            .filter(R::Realm.eq(realm))
            .one(&txn)
            .await?;
        let mut record = match found {
            Some(m) => with_family(&txn, m).await?,
            None => return Ok(RefreshUse::Missing),
        };
        let reused = record.revoked_at.is_none() && !claimed && record.used_at.is_some();
        if reused {
            // A rotated token came back: the family goes in this same transaction, so no
            // failure between detection and revocation can leave the thief's family alive.
            revoke_family_in(&txn, &record.family_id, now).await?;
            record.revoked_at = Some(now);
        }
        txn.commit().await?;
        Ok(if reused {
            RefreshUse::Reused(record)
        } else if record.revoked_at.is_some() {
            // Also when this caller claimed it: the family was revoked, its own row was not.
            RefreshUse::Revoked(record)
        } else if claimed {
            RefreshUse::Fresh(record)
        } else if record.expires_at <= now {
            RefreshUse::Expired(record)
        } else {
            return Err(StoreError::Db(format!(
                "refresh token {} could not be claimed and is neither used, revoked nor expired",
                short(token_hash)
            )));
        })
    }

    /// The realm's refresh token as it stands (introspection, revocation); `revoked_at` includes
    /// its family's revocation.
    pub async fn find_refresh_token(
        &self,
        realm: &str,
        token_hash: &str,
    ) -> Result<Option<RefreshTokenRecord>, StoreError> {
        match refresh_token::Entity::find_by_id(token_hash)
            .filter(R::Realm.eq(realm))
            .one(&self.db)
            .await?
        {
            Some(m) => Ok(Some(with_family(&self.db, m).await?)),
            None => Ok(None),
        }
    }

    /// Revokes every refresh token of the family and every access token issued from it.
    /// Returns how many rows were revoked now (not counting those revoked before).
    pub async fn revoke_family(
        &self,
        family_id: &str,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let txn = self.begin_write().await?;
        let revoked = revoke_family_in(&txn, family_id, stamp(now)).await?;
        txn.commit().await?;
        Ok(revoked)
    }

    /// Logout: revokes the refresh and access tokens bound to the browser session. With
    /// `keep_scope_containing: Some("offline_access")`, refresh tokens whose scope holds that word
    /// survive the session, and so do the access tokens of their families. Returns how many rows
    /// were revoked.
    pub async fn revoke_session_tokens(
        &self,
        session_id_hash: &str,
        now: DateTime<Utc>,
        keep_scope_containing: Option<&str>,
    ) -> Result<u64, StoreError> {
        use access_token::Column as T;
        let now = stamp(now);
        let mut refresh = Condition::all().add(R::SessionIdHash.eq(session_id_hash));
        let mut access = Condition::all().add(T::SessionIdHash.eq(session_id_hash));
        if let Some(word) = keep_scope_containing {
            refresh = refresh.add(scope_contains(word).not());
            // Families kept whole: an access token goes only if it belongs to no kept family.
            let kept = Query::select()
                .column(R::FamilyId)
                .from(refresh_token::Entity)
                .and_where(R::SessionIdHash.eq(session_id_hash))
                .and_where(scope_contains(word))
                .to_owned();
            access = access.add(
                Condition::any()
                    .add(T::FamilyId.is_null())
                    .add(T::FamilyId.not_in_subquery(kept)),
            );
        }
        let txn = self.begin_write().await?;
        let revoked = revoke_refresh_where(&txn, refresh.into(), now).await?
            + revoke_access_where(&txn, access.into(), now).await?;
        txn.commit().await?;
        Ok(revoked)
    }

    /// Records a user access token that may need revoking later. A `jti` already recorded is a
    /// [`StoreError::Conflict`].
    pub async fn record_access_token(&self, token: &AccessTokenRecord) -> Result<(), StoreError> {
        access_token::Entity::insert(access_model(token, token.revoked_at.map(stamp)))
            .exec_without_returning(&self.db)
            .await
            .map_err(|e| insert_error(e, "an access token with this jti"))?;
        Ok(())
    }

    /// Revokes the access token, recording it first if it was never recorded (a
    /// client-credentials token handed to `/revoke`). Revoking twice keeps the first time.
    pub async fn revoke_access_token(
        &self,
        token: &AccessTokenRecord,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        use access_token::Column as T;
        access_token::Entity::insert(access_model(token, Some(stamp(now))))
            .on_conflict(
                OnConflict::column(T::Jti)
                    .update_column(T::RevokedAt)
                    .action_and_where(Expr::col((access_token::Entity, T::RevokedAt)).is_null())
                    .to_owned(),
            )
            .exec_without_returning(&self.db)
            .await?;
        Ok(())
    }

    /// Whether the realm's access token `jti` was revoked, directly, through its refresh-token
    /// family or through its replayed code. Tokens never recorded are not revoked.
    pub async fn is_access_token_revoked(
        &self,
        realm: &str,
        jti: &str,
    ) -> Result<bool, StoreError> {
        let Some(row) = access_token::Entity::find_by_id(jti)
            .filter(access_token::Column::Realm.eq(realm))
            .one(&self.db)
            .await?
        else {
            return Ok(false);
        };
        if row.revoked_at.is_some() {
            return Ok(true);
        }
        if let Some(family) = &row.family_id
            && family_revoked_at(&self.db, family).await?.is_some()
        {
            return Ok(true);
        }
        if let Some(code) = &row.code_hash {
            use authorization_code::Column as A;
            let revoked = authorization_code::Entity::find_by_id(code.as_str())
                .filter(A::RevokedAt.is_not_null())
                .select_only()
                .column(A::CodeHash)
                .into_tuple::<String>()
                .one(&self.db)
                .await?;
            return Ok(revoked.is_some());
        }
        Ok(false)
    }
}

fn access_model(
    token: &AccessTokenRecord,
    revoked_at: Option<DateTime<Utc>>,
) -> access_token::ActiveModel {
    access_token::ActiveModel {
        jti: Set(token.jti.clone()),
        realm: Set(token.realm.clone()),
        client_id: Set(token.client_id.clone()),
        account_id: Set(token.account_id.map(|id| id.0.to_string())),
        family_id: Set(token.family_id.clone()),
        code_hash: Set(token.code_hash.clone()),
        session_id_hash: Set(token.session_id_hash.clone()),
        expires_at: Set(stamp(token.expires_at)),
        revoked_at: Set(revoked_at),
    }
}
