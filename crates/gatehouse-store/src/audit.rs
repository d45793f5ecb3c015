//! The audit trail and login statistics.

use gatehouse_core::{AccountId, Attempt, LoginRecord};
use sea_orm::prelude::TextUuid;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    QueryTrait, Statement,
};

use uuid::Uuid;

use crate::accounts::to_json;
use crate::entities::{audit_event, login_stat};
use crate::error::{StoreError, corrupt};
use crate::login_counts::LoginCounts;
use crate::store::{Store, stamp};
use crate::types::{AuditEvent, AuditQuery, LoginStats};

/// The most rows one INSERT takes: SQLite allows 32,766 bound values a statement, PostgreSQL
/// 65,535, and an audit event binds ten.
const ROWS_PER_STATEMENT: usize = 1024;

fn count(value: i64, what: &str, id: AccountId) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|e| corrupt(what, format_args!("account {id}"), e))
}

impl Store {
    /// Sets (or with `None` clears) the account's disabled reason and writes one audit event of
    /// `kind` for it, in one transaction: a state change is never left without its event.
    pub async fn set_disabled_audited(
        &self,
        realm: &str,
        id: AccountId,
        username: &str,
        reason: Option<String>,
        kind: &str,
        result: &str,
    ) -> Result<(), StoreError> {
        use crate::entities::account;
        let at = chrono::Utc::now();
        let ends = reason.is_some();
        let txn = self.begin_write().await?;
        let done = account::Entity::update_many()
            .col_expr(account::Column::DisabledReason, Expr::value(reason))
            .col_expr(account::Column::UpdatedAt, Expr::value(stamp(at)))
            .filter(account::Column::Id.eq(TextUuid(id.0)))
            .exec(&txn)
            .await?;
        if done.rows_affected == 0 {
            return Err(StoreError::NotFound(format!("account {id}")));
        }
        // A disabled (or superseded) account ends everywhere with it (`oidc::account_end`).
        if ends {
            crate::oidc::end_account_in(&txn, id, stamp(at)).await?;
        }
        audit_event::Entity::insert(audit_event::ActiveModel {
            id: NotSet,
            realm: Set(realm.to_owned()),
            at: Set(stamp(at)),
            kind: Set(kind.to_owned()),
            login: Set(username.to_owned()),
            account_id: Set(Some(id.to_string())),
            success: Set(true),
            result: Set(result.to_owned()),
            attempts: Set("[]".to_owned()),
            client: Set(None),
            ip: Set(None),
        })
        .exec_without_returning(&txn)
        .await?;
        txn.commit().await?;
        Ok(())
    }

    /// Writes the audit events of `records` and bumps the counters of their accounts (one summed
    /// upsert), in one transaction: all of them or none.
    pub(crate) async fn write_login_records(
        &self,
        records: &[&LoginRecord],
    ) -> Result<(), StoreError> {
        self.write_login_log(records, true).await
    }

    /// The audit events of `records` without their counters (for an account deleted since its
    /// login).
    pub(crate) async fn write_login_events(
        &self,
        records: &[&LoginRecord],
    ) -> Result<(), StoreError> {
        self.write_login_log(records, false).await
    }

    async fn write_login_log(
        &self,
        records: &[&LoginRecord],
        with_counters: bool,
    ) -> Result<(), StoreError> {
        let backend = self.db.get_database_backend();
        let mut statements = event_rows(records, backend)?;
        if with_counters {
            statements.extend(LoginCounts::of(records.iter().copied()).statements(backend));
        }
        if statements.is_empty() {
            return Ok(());
        }
        let txn = self.begin_write().await?;
        for statement in statements {
            txn.execute_raw(statement).await?;
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

    /// The realm's latest `limit` audit events, newest first (by time, then id).
    pub async fn recent_audit_events(
        &self,
        realm: &str,
        limit: u64,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        self.audit_events(&AuditQuery::realm(realm, limit)).await
    }

    /// The audit events `query` asks for, newest first (by time, then id). Served by the
    /// `(realm, at)` index, or the `(account_id, at)` one when an account is named.
    pub async fn audit_events(&self, query: &AuditQuery) -> Result<Vec<AuditEvent>, StoreError> {
        use audit_event::Column as C;
        if query.limit == 0 {
            return Ok(Vec::new());
        }
        let mut select = audit_event::Entity::find().filter(C::Realm.eq(query.realm.as_str()));
        if let Some(login) = &query.login {
            select = select.filter(C::Login.eq(login.as_str()));
        }
        if let Some(id) = query.account_id {
            select = select.filter(C::AccountId.eq(id.to_string()));
        }
        if let Some(since) = query.since {
            select = select.filter(C::At.gte(stamp(since)));
        }
        if let Some(result) = &query.result {
            select = select.filter(C::Result.eq(result.as_str()));
        }
        select
            .order_by_desc(C::At)
            .order_by_desc(C::Id)
            .limit(query.limit)
            .all(&self.db)
            .await?
            .into_iter()
            .map(event_of_row)
            .collect()
    }
}

fn event_of_row(m: audit_event::Model) -> Result<AuditEvent, StoreError> {
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
        client: m.client,
        ip: m.ip,
    })
}

/// The INSERTs of `records` as `audit_event` rows, at most [`ROWS_PER_STATEMENT`] a statement.
fn event_rows(records: &[&LoginRecord], backend: DbBackend) -> Result<Vec<Statement>, StoreError> {
    let mut events = Vec::with_capacity(records.len());
    for record in records {
        events.push(audit_event::ActiveModel {
            id: NotSet,
            realm: Set(record.realm.clone()),
            at: Set(stamp(record.at)),
            kind: Set(kind_of(record).to_owned()),
            login: Set(record.login.clone()),
            account_id: Set(record.account_id.map(|id| id.to_string())),
            success: Set(record.success),
            result: Set(record.result.clone()),
            attempts: Set(to_json(&record.attempts)?),
            client: Set(record.origin.client.clone()),
            ip: Set(record.origin.ip.clone()),
        });
    }
    let mut statements = Vec::with_capacity(events.len().div_ceil(ROWS_PER_STATEMENT) + 2);
    let mut events = events.into_iter().peekable();
    while events.peek().is_some() {
        let rows = events.by_ref().take(ROWS_PER_STATEMENT);
        statements.push(audit_event::Entity::insert_many(rows).build(backend));
    }
    Ok(statements)
}

/// The audit kind of a login.
pub(crate) fn kind_of(record: &LoginRecord) -> &'static str {
    if record.redirect {
        AuditEvent::REDIRECT_LOGIN
    } else {
        AuditEvent::PASSWORD_LOGIN
    }
}

#[cfg(all(test, feature = "testing"))]
mod tests {
    use chrono::Utc;
    use gatehouse_core::LoginRecord;

    use crate::NewAccount;

    // More records than one INSERT may bind on either backend (9,000 events × 8 values).
    crate::store_test!(
        a_login_log_batch_larger_than_one_statement_is_written_whole,
        |store| async move {
            let account = store
                .create_account(NewAccount {
                    realm: "main".to_owned(),
                    username: "alice".to_owned(),
                    username_key: "alice".to_owned(),
                    email: None,
                    name: None,
                    roles: vec![],
                })
                .await
                .unwrap();
            let records: Vec<LoginRecord> = (0..9000)
                .map(|i| LoginRecord {
                    realm: "main".to_owned(),
                    login: format!("user{i}"),
                    account_id: (i % 2 == 0).then_some(account.id),
                    success: true,
                    result: "success".to_owned(),
                    attempts: vec![],
                    at: Utc::now(),
                    redirect: false,
                    origin: Default::default(),
                })
                .collect();
            let refs: Vec<&LoginRecord> = records.iter().collect();
            store.write_login_records(&refs).await.unwrap();
            assert_eq!(
                store
                    .recent_audit_events("main", 10_000)
                    .await
                    .unwrap()
                    .len(),
                9000
            );
            let stats = store.login_stats(account.id).await.unwrap().unwrap();
            assert_eq!(stats.success_count, 4500);
        }
    );
}
