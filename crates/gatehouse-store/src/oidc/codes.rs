//! Authorization codes: issued once, redeemed once.

use chrono::{DateTime, Utc};
use gatehouse_core::AccountId;
use sea_orm::prelude::TextUuid;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use super::tokens::{revoke_access_where, revoke_family_in};
use super::{AuthorizationCode, CodeUse, from_json, insert_error, short, to_json};
use crate::entities::access_token;
use crate::entities::authorization_code::{self, Column as C};
use crate::error::StoreError;
use crate::store::{Store, stamp};

fn from_model(m: authorization_code::Model) -> Result<AuthorizationCode, StoreError> {
    Ok(AuthorizationCode {
        amr: from_json(&m.amr, "amr", format_args!("code {}", short(&m.code_hash)))?,
        code_hash: m.code_hash,
        realm: m.realm,
        client_id: m.client_id,
        redirect_uri: m.redirect_uri,
        account_id: AccountId(m.account_id.0),
        session_id_hash: m.session_id_hash,
        scope: m.scope,
        nonce: m.nonce,
        code_challenge: m.code_challenge,
        code_challenge_method: m.code_challenge_method,
        auth_time: m.auth_time,
        acr: m.acr,
        created_at: m.created_at,
        expires_at: m.expires_at,
        used_at: m.used_at,
        family_id: m.family_id,
    })
}

impl Store {
    /// Stores a new code. A `code_hash` already taken is a [`StoreError::Conflict`].
    pub async fn insert_code(&self, code: &AuthorizationCode) -> Result<(), StoreError> {
        authorization_code::Entity::insert(authorization_code::ActiveModel {
            code_hash: Set(code.code_hash.clone()),
            realm: Set(code.realm.clone()),
            client_id: Set(code.client_id.clone()),
            redirect_uri: Set(code.redirect_uri.clone()),
            account_id: Set(TextUuid(code.account_id.0)),
            session_id_hash: Set(code.session_id_hash.clone()),
            scope: Set(code.scope.clone()),
            nonce: Set(code.nonce.clone()),
            code_challenge: Set(code.code_challenge.clone()),
            code_challenge_method: Set(code.code_challenge_method.clone()),
            auth_time: Set(stamp(code.auth_time)),
            amr: Set(to_json(&code.amr)?),
            acr: Set(code.acr.clone()),
            created_at: Set(stamp(code.created_at)),
            expires_at: Set(stamp(code.expires_at)),
            used_at: Set(code.used_at.map(stamp)),
            family_id: Set(code.family_id.clone()),
            revoked_at: Set(None),
        })
        .exec_without_returning(&self.db)
        .await
        .map_err(|e| insert_error(e, "a code with this hash"))?;
        Ok(())
    }

    /// Redeems the realm's code: [`CodeUse::Fresh`] for exactly one caller, however many
    /// instances race, and only before `expires_at`.
    pub async fn consume_code(
        &self,
        realm: &str,
        code_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<CodeUse, StoreError> {
        let now = stamp(now);
        let txn = self.begin_write().await?;
        // The claim: whoever's UPDATE sets used_at owns the code. PostgreSQL re-checks the WHERE
        // after waiting on a concurrent claimer's row lock, so the loser affects no row.
        let claimed = authorization_code::Entity::update_many()
            .col_expr(C::UsedAt, Expr::value(now))
            .filter(C::CodeHash.eq(code_hash))
            .filter(C::Realm.eq(realm))
            .filter(C::UsedAt.is_null())
            .filter(C::ExpiresAt.gt(now))
            .exec(&txn)
            .await?
            .rows_affected
            == 1;
        let found = authorization_code::Entity::find_by_id(code_hash)
            .filter(C::Realm.eq(realm))
            .one(&txn)
            .await?;
        let Some(code) = found.map(from_model).transpose()? else {
            return Ok(CodeUse::Missing);
        };
        let replayed = !claimed && code.used_at.is_some();
        if replayed {
            // RFC 6749 §4.1.2: what the code issued is revoked in the transaction that saw the
            // replay, so detection and revocation cannot come apart.
            revoke_code_tokens_in(&txn, code_hash, now).await?;
        }
        txn.commit().await?;
        Ok(if claimed {
            CodeUse::Fresh(code)
        } else if replayed {
            CodeUse::Replayed(code)
        } else {
            CodeUse::Expired(code)
        })
    }

    /// Records the refresh-token family issued from the code, so a later replay can revoke it.
    /// False when the code is gone.
    pub async fn set_code_family(
        &self,
        code_hash: &str,
        family_id: &str,
    ) -> Result<bool, StoreError> {
        let done = authorization_code::Entity::update_many()
            .col_expr(C::FamilyId, Expr::value(family_id))
            .filter(C::CodeHash.eq(code_hash))
            .exec(&self.db)
            .await?;
        Ok(done.rows_affected > 0)
    }

    /// A replayed code: revokes the access tokens and the refresh-token family it issued, and
    /// marks the code so tokens still being issued from it (the winning redemption may be a few
    /// milliseconds behind) read as revoked too. Returns how many token rows were revoked.
    pub async fn revoke_code_tokens(
        &self,
        code_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let txn = self.begin_write().await?;
        let revoked = revoke_code_tokens_in(&txn, code_hash, stamp(now)).await?;
        txn.commit().await?;
        Ok(revoked)
    }
}

async fn revoke_code_tokens_in(
    db: &impl ConnectionTrait,
    code_hash: &str,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    authorization_code::Entity::update_many()
        .col_expr(C::RevokedAt, Expr::value(now))
        .filter(C::CodeHash.eq(code_hash))
        .filter(C::RevokedAt.is_null())
        .exec(db)
        .await?;
    let family = authorization_code::Entity::find_by_id(code_hash)
        .one(db)
        .await?
        .and_then(|m| m.family_id);
    // Refresh tokens before access tokens, as everywhere: PostgreSQL row locks taken in one
    // order cannot deadlock against a concurrent revoke_family.
    let mut revoked = 0;
    if let Some(family) = family {
        revoked += revoke_family_in(db, &family, now).await?;
    }
    revoked += revoke_access_where(db, access_token::Column::CodeHash.eq(code_hash), now).await?;
    Ok(revoked)
}
