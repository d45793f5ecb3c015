//! An account that is disabled, locked or superseded ends everywhere at once: its browser
//! sessions go, and every refresh token (offline ones too), access token and unredeemed code it
//! holds is revoked, in the transaction that changes its status. Any instance then finds no
//! session and reads every token as revoked; nothing waits for an expiry.

use chrono::{DateTime, Utc};
use gatehouse_core::AccountId;
use sea_orm::prelude::TextUuid;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use super::tokens::{revoke_access_where, revoke_refresh_where};
use crate::entities::{access_token, authorization_code, browser_session, refresh_token};
use crate::error::StoreError;
use crate::store::{Store, stamp};

/// Inside the caller's transaction. Returns how many sessions, codes and tokens it ended.
pub(crate) async fn end_account_in(
    db: &impl ConnectionTrait,
    account: AccountId,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let id = TextUuid(account.0);
    let sessions = browser_session::Entity::delete_many()
        .filter(browser_session::Column::AccountId.eq(id))
        .exec(db)
        .await?
        .rows_affected;
    // Codes before tokens, as in `revoke_code_tokens` (one lock order on PostgreSQL). Codes not
    // redeemed yet go (a redemption then finds none); a redeemed one is marked revoked, which also
    // revokes the tokens a redemption racing with this one is issuing right now.
    use authorization_code::Column as A;
    let unredeemed = authorization_code::Entity::delete_many()
        .filter(A::AccountId.eq(id))
        .filter(A::UsedAt.is_null())
        .exec(db)
        .await?
        .rows_affected;
    let codes = unredeemed
        + authorization_code::Entity::update_many()
            .col_expr(A::RevokedAt, Expr::value(now))
            .filter(A::AccountId.eq(id))
            .filter(A::RevokedAt.is_null())
            .exec(db)
            .await?
            .rows_affected;
    let refresh = revoke_refresh_where(db, refresh_token::Column::AccountId.eq(id), now).await?;
    let access = revoke_access_where(
        db,
        access_token::Column::AccountId.eq(account.0.to_string()),
        now,
    )
    .await?;
    Ok(sessions + codes + refresh + access)
}

impl Store {
    /// Ends the account's sessions and revokes its tokens and codes (see the module). The status
    /// changes (`set_disabled`, `set_locked_until`, `set_disabled_audited`) already do this; this
    /// is for "log out everywhere".
    pub async fn end_account_sessions(
        &self,
        account: AccountId,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let txn = self.begin_write().await?;
        let ended = end_account_in(&txn, account, stamp(now)).await?;
        txn.commit().await?;
        Ok(ended)
    }
}
