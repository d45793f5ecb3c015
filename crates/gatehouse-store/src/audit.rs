//! The audit trail and login statistics.

use gatehouse_core::{AccountId, Attempt, LoginRecord};
use sea_orm::prelude::TextUuid;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

use uuid::Uuid;

use crate::accounts::to_json;
use crate::entities::{audit_event, login_stat};
use crate::error::{StoreError, corrupt};
use crate::store::{Store, stamp};
use crate::types::{AuditEvent, LoginStats};

fn count(value: i64, what: &str, id: AccountId) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|e| corrupt(what, format_args!("account {id}"), e))
}

impl Store {
    /// Writes the login's audit event and, when an account is known, bumps its counters; both or
    /// neither.
    pub(crate) async fn write_login_record(&self, record: &LoginRecord) -> Result<(), StoreError> {
        let at = stamp(record.at);
        let event = audit_event::ActiveModel {
            id: NotSet,
            realm: Set(record.realm.clone()),
            at: Set(at),
            kind: Set(AuditEvent::PASSWORD_LOGIN.to_owned()),
            login: Set(record.login.clone()),
            account_id: Set(record.account_id.map(|id| id.to_string())),
            success: Set(record.success),
            result: Set(record.result.clone()),
            attempts: Set(to_json(&record.attempts)?),
        };
        let txn = self.begin_write().await?;
        audit_event::Entity::insert(event)
            .exec_without_returning(&txn)
            .await?;
        if let Some(id) = record.account_id {
            use login_stat::Column as C;
            let (count_col, at_col) = if record.success {
                (C::SuccessCount, C::LastSuccessAt)
            } else {
                (C::FailureCount, C::LastFailureAt)
            };
            // An upsert rather than read-modify-write: concurrent logins of one account must not
            // lose increments, and accounts created before statistics existed get their row here.
            login_stat::Entity::insert(login_stat::ActiveModel {
                account_id: Set(TextUuid(id.0)),
                success_count: Set(i64::from(record.success)),
                failure_count: Set(i64::from(!record.success)),
                last_success_at: Set(record.success.then_some(at)),
                last_failure_at: Set((!record.success).then_some(at)),
            })
            .on_conflict(
                OnConflict::column(C::AccountId)
                    .value(count_col, Expr::col((login_stat::Entity, count_col)).add(1))
                    .value(at_col, Expr::value(at))
                    .to_owned(),
            )
            .exec_without_returning(&txn)
            .await?;
        }
        txn.commit().await?;
        Ok(())
    }

    /// The account's login counters; `None` for an unknown account.
    pub async fn login_stats(&self, id: AccountId) -> Result<Option<LoginStats>, StoreError> {
        let Some(m) = login_stat::Entity::find_by_id(TextUuid(id.0))
            .one(&self.db)
            .await?
        else {
            return Ok(None);
        };
        Ok(Some(LoginStats {
            account_id: id,
            success_count: count(m.success_count, "success count", id)?,
            failure_count: count(m.failure_count, "failure count", id)?,
            last_success_at: m.last_success_at,
            last_failure_at: m.last_failure_at,
        }))
    }

    /// The realm's latest `limit` audit events, newest first.
    pub async fn recent_audit_events(
        &self,
        realm: &str,
        limit: u64,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        audit_event::Entity::find()
            .filter(audit_event::Column::Realm.eq(realm))
            .order_by_desc(audit_event::Column::At)
            .order_by_desc(audit_event::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await?
            .into_iter()
            .map(|m| {
                let owner = format_args!("audit event {}", m.id);
                let attempts: Vec<Attempt> =
                    serde_json::from_str(&m.attempts).map_err(|e| corrupt("attempts", owner, e))?;
                let account_id = m
                    .account_id
                    .map(|id| Uuid::parse_str(&id).map(AccountId))
                    .transpose()
                    .map_err(|e| corrupt("account id", owner, e))?;
                Ok(AuditEvent {
                    id: m.id,
                    realm: m.realm,
                    at: m.at,
                    kind: m.kind,
                    login: m.login,
                    account_id,
                    success: m.success,
                    result: m.result,
                    attempts,
                })
            })
            .collect()
    }
}
