//! Applying login spools to the audit trail and the counters: the live one, a run at a time as
//! the applier takes them, and those left by a process that died, at migration.

use std::sync::Arc;

use gatehouse_core::LoginRecord;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryTrait};

use crate::audit::spool_progress;
use crate::entities::login_spool;
use crate::error::StoreError;
use crate::login_batch::LoginBatch;
use crate::login_counts::LoginCounts;
use crate::login_spool::{Orphan, Spool};
use crate::store::Store;

/// The most lines of an orphan spool written in one transaction.
const RECOVER_CHUNK: usize = 4096;

impl Store {
    /// Waits until every login this store answered is in the audit trail and the counters (on
    /// SQLite they are applied from the spool 5 to 100 ms after the answer). Reads of the
    /// trail through this store do it themselves; a short-lived process calls it before it exits,
    /// so that others see its logins at once rather than at their next replay of its spool.
    pub async fn settle_login_log(&self) {
        if let Some(log) = &self.login_log {
            log.settle().await;
        }
    }

    /// Stores `records`, lines `first..` of the spool `name`, and that the spool is applied up
    /// to their end. On failure, `Err((n, e))`: the first `n` of them are stored (and counted as
    /// applied), the rest not.
    pub(crate) async fn apply_spooled(
        &self,
        name: &str,
        first: u64,
        records: &[LoginRecord],
    ) -> Result<(), (usize, StoreError)> {
        let end = first + records.len() as u64;
        let all: Vec<&LoginRecord> = records.iter().collect();
        if self
            .write_login_records(&all, Some((name, end)))
            .await
            .is_ok()
        {
            return Ok(());
        }
        let records: Vec<_> = records.iter().map(Ok).collect();
        self.apply_one_by_one(name, first, &records).await
    }

    /// Stores the logins the live spool `name` holds from line `first` on, as they were
    /// gathered while it was appended to, and that the spool is applied up to their end, in one
    /// transaction; `false`, nothing stored, when that failed.
    pub(crate) async fn apply_spooled_batch(
        &self,
        name: &str,
        first: u64,
        batch: &Arc<LoginBatch>,
        counts: &LoginCounts,
    ) -> bool {
        let applied = first + batch.len() as u64;
        // Compressing a run of a busy tenth of a second takes milliseconds: on a thread of its
        // own rather than on a worker that logins wait for.
        let compressing = batch.clone();
        let statements = tokio::task::spawn_blocking(move || compressing.statements())
            .await
            .unwrap_or_else(|e| Err(StoreError::Db(format!("compressing login events: {e}"))));
        let backend = self.db.get_database_backend();
        let written = match (statements, spool_progress(name, applied)) {
            (Ok(mut statements), Ok(progress)) => {
                statements.extend(counts.statements(backend));
                statements.push(progress.build(backend));
                self.write_statements(statements).await
            }
            (Err(e), _) | (_, Err(e)) => Err(e),
        };
        if let Err(e) = &written {
            tracing::debug!(error = %e, spool = name, "login batch refused; storing its records one by one");
        }
        written.is_ok()
    }

    /// Stores `records`, lines `first..` of the spool `name`, one transaction each (with how far
    /// the spool is applied), so that one bad record does not hold up the others: a record
    /// whose counters cannot be written (its account was deleted since) keeps at least its
    /// audit event, and a line that could not be read is skipped. On failure, `Err((n, e))`:
    /// the first `n` are stored, the rest not.
    pub(crate) async fn apply_one_by_one(
        &self,
        name: &str,
        first: u64,
        records: &[Result<&LoginRecord, &str>],
    ) -> Result<(), (usize, StoreError)> {
        for (i, &record) in records.iter().enumerate() {
            let applied = Some((name, first + i as u64 + 1));
            let record = match record {
                Ok(record) => record,
                Err(why) => {
                    tracing::error!(spool = name, line = first + i as u64, %why, "unreadable login record skipped");
                    if let Err(e) = self.write_login_events(&[], applied).await {
                        return Err((i, e));
                    }
                    continue;
                }
            };
            if self.write_login_records(&[record], applied).await.is_ok() {
                continue;
            }
            if let Err(e) = self.write_login_events(&[record], applied).await {
                return Err((i, e));
            }
            tracing::warn!(
                realm = %record.realm,
                account = ?record.account_id,
                "login statistics not stored: the account no longer exists; its audit event is"
            );
        }
        Ok(())
    }

    /// Deletes a fully applied spool, then its progress row (a row left by a crash in between
    /// is dropped by the next recovery).
    pub(crate) async fn retire_spool(&self, spool: Spool) {
        let name = spool.name.clone();
        if let Err(e) = spool.remove() {
            tracing::warn!(error = %e, "cannot delete an applied login spool");
            return;
        }
        self.forget_spool(&name).await;
    }

    async fn forget_spool(&self, name: &str) {
        let deleted = login_spool::Entity::delete_many()
            .filter(login_spool::Column::Name.eq(name))
            .exec(&self.db)
            .await;
        if let Err(e) = deleted {
            tracing::warn!(error = %e, spool = name, "cannot drop a login spool's progress row");
        }
    }

    /// Replays the spools of dead processes into the audit trail, from where each stopped, and
    /// deletes them; drops progress rows of spools that are gone. A no-op on PostgreSQL.
    pub(crate) async fn recover_login_spools(&self) -> Result<(), StoreError> {
        let Some(dir) = &self.login_spool else {
            return Ok(());
        };
        let io = |e: std::io::Error| StoreError::Db(e.to_string());
        for orphan in dir.orphans().map_err(io)? {
            self.recover(orphan).await?;
        }
        let present = dir.names().map_err(io)?;
        for row in login_spool::Entity::find().all(&self.db).await? {
            if !present.contains(&row.name) {
                self.forget_spool(&row.name).await;
            }
        }
        Ok(())
    }

    async fn recover(&self, orphan: Orphan) -> Result<(), StoreError> {
        let applied = login_spool::Entity::find_by_id(orphan.name.clone())
            .one(&self.db)
            .await?
            .map_or(0, |row| u64::try_from(row.applied).unwrap_or(0));
        let lines = orphan
            .lines_from(applied)
            .map_err(|e| StoreError::Db(e.to_string()))?;
        let count = lines.len();
        let mut run: Vec<LoginRecord> = Vec::new();
        let mut run_first = applied;
        for (index, line) in lines {
            match line {
                Ok(record) => {
                    if run.is_empty() {
                        run_first = index;
                    }
                    run.push(record);
                    if run.len() >= RECOVER_CHUNK {
                        self.recover_run(&orphan.name, run_first, &mut run).await?;
                    }
                }
                Err(why) => {
                    self.recover_run(&orphan.name, run_first, &mut run).await?;
                    // Kept in the file's place in the count, so what follows lines up.
                    tracing::error!(spool = %orphan.path.display(), %why, "unreadable login record skipped");
                    self.write_login_events(&[], Some((&orphan.name, index + 1)))
                        .await?;
                }
            }
        }
        self.recover_run(&orphan.name, run_first, &mut run).await?;
        tracing::info!(spool = %orphan.path.display(), records = count, "login spool of a stopped process applied");
        let name = orphan.name.clone();
        orphan.remove().map_err(|e| StoreError::Db(e.to_string()))?;
        self.forget_spool(&name).await;
        Ok(())
    }

    async fn recover_run(
        &self,
        name: &str,
        first: u64,
        run: &mut Vec<LoginRecord>,
    ) -> Result<(), StoreError> {
        if run.is_empty() {
            return Ok(());
        }
        let records = std::mem::take(run);
        self.apply_spooled(name, first, &records)
            .await
            .map_err(|(_, e)| e)
    }
}
