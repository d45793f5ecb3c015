//! Browser sessions and the login transactions that precede them.

use chrono::{DateTime, Utc};
use gatehouse_core::AccountId;
use sea_orm::prelude::TextUuid;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};

use super::{
    BrowserSession, LoginTransaction, SessionUpstream, from_json, insert_error, short, to_json,
};
use crate::entities::{browser_session, login_transaction};
use crate::error::StoreError;
use crate::store::{Store, stamp};

pub(super) fn session_from_model(m: browser_session::Model) -> Result<BrowserSession, StoreError> {
    let owner = || format!("session {}", short(&m.id_hash));
    Ok(BrowserSession {
        amr: from_json(&m.amr, "amr", owner())?,
        passed: from_json(&m.passed, "passed", owner())?,
        levels: from_json(&m.levels, "levels", owner())?,
        id_hash: m.id_hash,
        realm: m.realm,
        account_id: AccountId(m.account_id.0),
        auth_time: m.auth_time,
        acr: m.acr,
        created_at: m.created_at,
        expires_at: m.expires_at,
        last_seen_at: m.last_seen_at,
        upstream: m.upstream_provider.map(|provider| SessionUpstream {
            provider,
            logout_hint: m.upstream_logout_hint,
        }),
    })
}

fn transaction_from_model(m: login_transaction::Model) -> Result<LoginTransaction, StoreError> {
    Ok(LoginTransaction {
        request: from_json(
            &m.request,
            "request",
            format_args!("login transaction {}", short(&m.id_hash)),
        )?,
        id_hash: m.id_hash,
        realm: m.realm,
        csrf_hash: m.csrf_hash,
        username: m.username,
        created_at: m.created_at,
        expires_at: m.expires_at,
    })
}

impl Store {
    /// Stores a new session. An `id_hash` already taken is a [`StoreError::Conflict`].
    pub async fn create_session(&self, session: &BrowserSession) -> Result<(), StoreError> {
        browser_session::Entity::insert(browser_session::ActiveModel {
            id_hash: Set(session.id_hash.clone()),
            realm: Set(session.realm.clone()),
            account_id: Set(TextUuid(session.account_id.0)),
            auth_time: Set(stamp(session.auth_time)),
            amr: Set(to_json(&session.amr)?),
            acr: Set(session.acr.clone()),
            created_at: Set(stamp(session.created_at)),
            expires_at: Set(stamp(session.expires_at)),
            last_seen_at: Set(stamp(session.last_seen_at)),
            upstream_provider: Set(session.upstream.as_ref().map(|u| u.provider.clone())),
            upstream_logout_hint: Set(session
                .upstream
                .as_ref()
                .and_then(|u| u.logout_hint.clone())),
            passed: Set(to_json(&session.passed)?),
            levels: Set(to_json(&session.levels)?),
        })
        .exec_without_returning(&self.db)
        .await
        .map_err(|e| insert_error(e, "a session with this id"))?;
        Ok(())
    }

    /// The realm's session whose id hashes to `id_hash`, unless it expired by `now`.
    pub async fn find_session(
        &self,
        realm: &str,
        id_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<BrowserSession>, StoreError> {
        use browser_session::Column as C;
        browser_session::Entity::find_by_id(id_hash)
            .filter(C::Realm.eq(realm))
            .filter(C::ExpiresAt.gt(stamp(now)))
            .one(&self.db)
            .await?
            .map(session_from_model)
            .transpose()
    }

    /// Records activity on the session; false when there is no such session.
    pub async fn touch_session(
        &self,
        id_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        use browser_session::Column as C;
        let done = browser_session::Entity::update_many()
            .col_expr(C::LastSeenAt, Expr::value(stamp(now)))
            .filter(C::IdHash.eq(id_hash))
            .exec(&self.db)
            .await?;
        Ok(done.rows_affected > 0)
    }

    /// Ends the session and returns it, expired or not (logout must still find whose it was).
    /// When two instances log the same session out at once, only one gets `Some`.
    pub async fn delete_session(
        &self,
        realm: &str,
        id_hash: &str,
    ) -> Result<Option<BrowserSession>, StoreError> {
        use browser_session::Column as C;
        let txn = self.begin_write().await?;
        let Some(found) = browser_session::Entity::find_by_id(id_hash)
            .filter(C::Realm.eq(realm))
            .one(&txn)
            .await?
        else {
            return Ok(None);
        };
        // The DELETE, not the read, decides: on PostgreSQL a concurrent deleter may have read the
        // row too, but only one DELETE affects it.
        let done = browser_session::Entity::delete_many()
            .filter(C::IdHash.eq(id_hash))
            .filter(C::Realm.eq(realm))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        if done.rows_affected == 0 {
            return Ok(None);
        }
        session_from_model(found).map(Some)
    }

    /// Stores a new login transaction. An `id_hash` already taken is a [`StoreError::Conflict`].
    pub async fn create_login_transaction(
        &self,
        transaction: &LoginTransaction,
    ) -> Result<(), StoreError> {
        login_transaction::Entity::insert(login_transaction::ActiveModel {
            id_hash: Set(transaction.id_hash.clone()),
            realm: Set(transaction.realm.clone()),
            request: Set(to_json(&transaction.request)?),
            csrf_hash: Set(transaction.csrf_hash.clone()),
            username: Set(transaction.username.clone()),
            created_at: Set(stamp(transaction.created_at)),
            expires_at: Set(stamp(transaction.expires_at)),
        })
        .exec_without_returning(&self.db)
        .await
        .map_err(|e| insert_error(e, "a login transaction with this id"))?;
        Ok(())
    }

    /// The realm's login transaction whose id hashes to `id_hash`, unless it expired by `now`.
    pub async fn find_login_transaction(
        &self,
        realm: &str,
        id_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<LoginTransaction>, StoreError> {
        use login_transaction::Column as C;
        login_transaction::Entity::find_by_id(id_hash)
            .filter(C::Realm.eq(realm))
            .filter(C::ExpiresAt.gt(stamp(now)))
            .one(&self.db)
            .await?
            .map(transaction_from_model)
            .transpose()
    }

    /// Sets (or clears) the username identifier-first login settled on; false when there is no
    /// such transaction (any more).
    pub async fn set_login_transaction_username(
        &self,
        id_hash: &str,
        username: Option<String>,
    ) -> Result<bool, StoreError> {
        use login_transaction::Column as C;
        let done = login_transaction::Entity::update_many()
            .col_expr(C::Username, Expr::value(username))
            .filter(C::IdHash.eq(id_hash))
            .exec(&self.db)
            .await?;
        Ok(done.rows_affected > 0)
    }

    /// Completes the transaction: true only for the one caller whose DELETE removed it, so a
    /// login page submitted twice (or to two instances) finishes once.
    pub async fn delete_login_transaction(&self, id_hash: &str) -> Result<bool, StoreError> {
        let done = login_transaction::Entity::delete_by_id(id_hash)
            .exec(&self.db)
            .await?;
        Ok(done.rows_affected > 0)
    }
}
