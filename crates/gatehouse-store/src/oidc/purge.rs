//! Housekeeping: removing what has expired without un-revoking anything.

use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, Statement};

use super::tokens::revoke_access_where;
use crate::entities::{
    access_token, authorization_code, browser_session, login_transaction, refresh_token,
    replay_guard, signing_key,
};
use crate::error::StoreError;
use crate::store::{Store, stamp};

/// Codes outlive their `expires_at` by this much, so a late replay is still recognised as one
/// (and revokes what the code issued) instead of looking like an unknown code.
pub const CODE_REPLAY_GRACE: Duration = Duration::hours(1);

impl Store {
    /// Deletes expired sessions, login transactions, pending redirects, refresh tokens, access-token rows, replay-cache
    /// entries and signing keys, and codes [`CODE_REPLAY_GRACE`] after their expiry. Returns the rows deleted.
    /// Safe to run from every instance at once: on PostgreSQL, an instance that finds another one
    /// purging returns 0 at once.
    pub async fn purge_expired(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        use access_token::Column as T;
        use authorization_code::Column as A;
        use refresh_token::Column as R;
        let now = stamp(now);
        let code_cutoff = now - CODE_REPLAY_GRACE;
        let txn = self.begin_write().await?;
        if self.backend_name() == "postgres" {
            // Every instance runs this on a timer: one purges, the others skip rather than queue
            // behind it (or deadlock with it over the same rows). Released at commit.
            let taken = txn
                .query_one_raw(Statement::from_string(
                    DbBackend::Postgres,
                    "SELECT pg_try_advisory_xact_lock(7428162, hashtext(current_schema()))",
                ))
                .await?
                .map(|row| row.try_get_by_index::<bool>(0))
                .transpose()?;
            if taken != Some(true) {
                return Ok(0);
            }
        }

        // A family is revoked while any member (or its code) is, and those rows are about to go.
        // Spread their revocation to the members that stay first, so a token inserted while the
        // family was being revoked does not come back to life when its revoked siblings expire.
        let gone_families = [
            Query::select()
                .column(R::FamilyId)
                .from(refresh_token::Entity)
                .and_where(R::ExpiresAt.lte(now))
                .and_where(R::RevokedAt.is_not_null())
                .to_owned(),
            Query::select()
                .column(A::FamilyId)
                .from(authorization_code::Entity)
                .and_where(A::ExpiresAt.lte(code_cutoff))
                .and_where(A::RevokedAt.is_not_null())
                .and_where(A::FamilyId.is_not_null())
                .to_owned(),
        ];
        for families in gone_families {
            refresh_token::Entity::update_many()
                .col_expr(R::RevokedAt, Expr::value(now))
                .filter(R::FamilyId.in_subquery(families.clone()))
                .filter(R::RevokedAt.is_null())
                .exec(&txn)
                .await?;
            revoke_access_where(&txn, T::FamilyId.in_subquery(families), now).await?;
        }
        let replayed_codes = Query::select()
            .column(A::CodeHash)
            .from(authorization_code::Entity)
            .and_where(A::ExpiresAt.lte(code_cutoff))
            .and_where(A::RevokedAt.is_not_null())
            .to_owned();
        revoke_access_where(&txn, T::CodeHash.in_subquery(replayed_codes), now).await?;

        let mut deleted = 0;
        deleted += browser_session::Entity::delete_many()
            .filter(browser_session::Column::ExpiresAt.lte(now))
            .exec(&txn)
            .await?
            .rows_affected;
        deleted += login_transaction::Entity::delete_many()
            .filter(login_transaction::Column::ExpiresAt.lte(now))
            .exec(&txn)
            .await?
            .rows_affected;
        deleted += authorization_code::Entity::delete_many()
            .filter(A::ExpiresAt.lte(code_cutoff))
            .exec(&txn)
            .await?
            .rows_affected;
        deleted += refresh_token::Entity::delete_many()
            .filter(R::ExpiresAt.lte(now))
            .exec(&txn)
            .await?
            .rows_affected;
        deleted += access_token::Entity::delete_many()
            .filter(T::ExpiresAt.lte(now))
            .exec(&txn)
            .await?
            .rows_affected;
        // A replayed answer past this is refused by its own validity window.
        deleted += replay_guard::Entity::delete_many()
            .filter(replay_guard::Column::ExpiresAt.lte(now))
            .exec(&txn)
            .await?
            .rows_affected;
        deleted += crate::entities::pending_redirect::Entity::delete_many()
            .filter(crate::entities::pending_redirect::Column::ExpiresAt.lte(now))
            .exec(&txn)
            .await?
            .rows_affected;
        // An email code past its validity is refused by the mechanism anyway.
        deleted += crate::entities::email_code::Entity::delete_many()
            .filter(crate::entities::email_code::Column::ExpiresAt.lte(now))
            .exec(&txn)
            .await?
            .rows_affected;
        // Expired flows are not purged here: each gets its audit event first
        // (`Store::end_expired_flows`).
        deleted += signing_key::Entity::delete_many()
            .filter(signing_key::Column::ExpiresAt.lte(now))
            .exec(&txn)
            .await?
            .rows_affected;
        txn.commit().await?;
        Ok(deleted)
    }
}
