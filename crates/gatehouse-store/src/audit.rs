//! The audit trail and login statistics.

use gatehouse_core::{AccountId, Attempt, LoginRecord};
use sea_orm::prelude::TextUuid;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    QueryTrait, Statement,
};

use uuid::Uuid;

use crate::accounts::to_json;
use crate::entities::{audit_event, login_event_batch, login_spool, login_stat};
use crate::error::{StoreError, corrupt};
use crate::login_batch::{LoginBatch, events_of, kind_of};
use crate::login_counts::LoginCounts;
use crate::store::{Store, stamp};
use crate::types::{AuditEvent, LoginStats};

/// The most rows one INSERT takes: SQLite allows 32,766 bound values a statement, PostgreSQL
/// 65,535, and an audit event binds eight.
const ROWS_PER_STATEMENT: usize = 1024;
/// How many login event batches a read of the trail fetches at a time.
const BATCHES_PER_READ: u64 = 8;

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
        })
        .exec_without_returning(&txn)
        .await?;
        txn.commit().await?;
        self.login_cache.invalidate();
        Ok(())
    }

    /// Writes the audit events of `records` and bumps the counters of their accounts, in one
    /// transaction: all of them or none. With `spooled`, the same transaction records that the
    /// spool of that name is applied up to that many records.
    pub(crate) async fn write_login_records(
        &self,
        records: &[&LoginRecord],
        spooled: Option<(&str, u64)>,
    ) -> Result<(), StoreError> {
        self.write_login_log(records, true, spooled).await
    }

    /// The audit events of `records` without their counters (for an account deleted since
    /// its login), and `spooled` as in [`Self::write_login_records`].
    pub(crate) async fn write_login_events(
        &self,
        records: &[&LoginRecord],
        spooled: Option<(&str, u64)>,
    ) -> Result<(), StoreError> {
        self.write_login_log(records, false, spooled).await
    }

    async fn write_login_log(
        &self,
        records: &[&LoginRecord],
        with_counters: bool,
        spooled: Option<(&str, u64)>,
    ) -> Result<(), StoreError> {
        let backend = self.db.get_database_backend();
        // The spool's records are stored as batches (`login_batch`); a spool exists only for an
        // SQLite file.
        let mut statements = if spooled.is_some() && backend == DbBackend::Sqlite {
            LoginBatch::of(records)?.statements()?
        } else {
            event_rows(records, backend)?
        };
        if with_counters {
            statements.extend(LoginCounts::of(records.iter().copied()).statements(backend));
        }
        if let Some((spool, applied)) = spooled {
            statements.push(spool_progress(spool, applied)?.build(backend));
        }
        self.write_statements(statements).await
    }

    /// Runs `statements` in one transaction.
    pub(crate) async fn write_statements(
        &self,
        statements: Vec<Statement>,
    ) -> Result<(), StoreError> {
        if statements.is_empty() {
            return Ok(());
        }
        if self.sole_sqlite_connection {
            return self.write_in_one_round_trip(statements).await;
        }
        let txn = self.begin_write().await?;
        for statement in statements {
            txn.execute_raw(statement).await?;
        }
        txn.commit().await?;
        Ok(())
    }

    /// SQLite, on the login log writer's own connection: the whole transaction as one
    /// multi-statement query, since each statement is a round trip to the connection's thread,
    /// which under load costs more than the writing (sqlx binds the `?`s of all statements in
    /// order). A failure part-way leaves the transaction open on that connection, where it is
    /// rolled back at once.
    async fn write_in_one_round_trip(&self, statements: Vec<Statement>) -> Result<(), StoreError> {
        let mut sql = String::from("BEGIN IMMEDIATE;");
        let mut values = Vec::new();
        for statement in statements {
            sql.push(' ');
            sql.push_str(&statement.sql);
            sql.push(';');
            values.extend(statement.values.map(|v| v.0).unwrap_or_default());
        }
        sql.push_str(" COMMIT");
        let written = self
            .db
            .execute_raw(Statement::from_sql_and_values(
                DbBackend::Sqlite,
                sql,
                values,
            ))
            .await;
        if let Err(e) = written {
            // "no transaction is active" when BEGIN itself failed: nothing to undo.
            let _ = self.db.execute_unprepared("ROLLBACK").await;
            return Err(e.into());
        }
        Ok(())
    }

    /// The account's login counters; `None` for an unknown account.
    pub async fn login_stats(&self, id: AccountId) -> Result<Option<LoginStats>, StoreError> {
        self.settle_login_log().await;
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
        self.settle_login_log().await;
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut events = audit_event::Entity::find()
            .filter(audit_event::Column::Realm.eq(realm))
            .order_by_desc(audit_event::Column::At)
            .order_by_desc(audit_event::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await?
            .into_iter()
            .map(event_of_row)
            .collect::<Result<Vec<_>, _>>()?;
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let newest_first = |a: &AuditEvent, b: &AuditEvent| (b.at, b.id).cmp(&(a.at, a.id));
        // Batches newest first, until none left could hold one of the `limit` newest: every
        // event of a batch is at or before its `last_at`.
        let mut offset = 0;
        'pages: loop {
            let page = login_event_batch::Entity::find()
                .filter(login_event_batch::Column::Realm.eq(realm))
                .order_by_desc(login_event_batch::Column::LastAt)
                .order_by_desc(login_event_batch::Column::Id)
                .offset(offset)
                .limit(BATCHES_PER_READ)
                .all(&self.db)
                .await?;
            let last_page = (page.len() as u64) < BATCHES_PER_READ;
            offset += BATCHES_PER_READ;
            for batch in page {
                if events.len() >= limit && events[limit - 1].at > batch.last_at {
                    break 'pages;
                }
                events.extend(events_of(batch)?);
                events.sort_unstable_by(newest_first);
                events.truncate(limit);
            }
            if last_page {
                break;
            }
        }
        // The rows came in this order, and each batch merged is sorted in.
        Ok(events)
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

/// The upsert that says the spool `name` is applied up to `applied` records.
pub(crate) fn spool_progress(
    name: &str,
    applied: u64,
) -> Result<sea_orm::Insert<login_spool::ActiveModel>, StoreError> {
    let applied = i64::try_from(applied)
        .map_err(|_| StoreError::Db(format!("login spool `{name}`: {applied} records")))?;
    Ok(login_spool::Entity::insert(login_spool::ActiveModel {
        name: Set(name.to_owned()),
        applied: Set(applied),
    })
    .on_conflict(
        OnConflict::column(login_spool::Column::Name)
            .update_column(login_spool::Column::Applied)
            .to_owned(),
    ))
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
                })
                .collect();
            let refs: Vec<&LoginRecord> = records.iter().collect();
            store.write_login_records(&refs, None).await.unwrap();
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
