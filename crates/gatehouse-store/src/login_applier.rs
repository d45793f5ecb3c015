//! The spooled login log of an SQLite file: each login appends its record to the store's spool
//! itself, under a lock held for the copy, and hands it to an applier task, which writes what the
//! spool holds to the audit trail and the counters, one transaction every 5 ms, or every 100 ms
//! under more than a thousand logins a second (at once when a reader of this store waits), and
//! records in that transaction how far the spool is applied.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gatehouse_core::LoginRecord;
use tokio::sync::{Notify, mpsc, oneshot};

use crate::error::StoreError;
use crate::login_spool::{Spool, SpoolDir, encode};
use crate::store::Store;

/// The most spooled records one applier round takes.
const MAX_APPLY: usize = 4096;
/// The applier's pause between transactions while logins are few: another process reading the
/// store sees a login within a few milliseconds.
const APPLY_EVERY: Duration = Duration::from_millis(5);
/// Above this many logins a second, the pause is [`APPLY_EVERY_BUSY`].
const BUSY_LOGINS_PER_SECOND: f64 = 1000.0;
/// The pause under load: long enough that each transaction carries hundreds of records (SQLite
/// spends ~35 µs of CPU a record in a transaction of 16, ~20 in one of 64, ~10 in one of 1,024,
/// CPU taken from the logins), short enough that other processes see a login within a tenth of
/// a second and that a transaction holds the write lock for milliseconds. Readers of this store
/// never wait for a pause: asking to settle cuts it short.
const APPLY_EVERY_BUSY: Duration = Duration::from_millis(100);
/// How often the applier looks for spools of processes that died while this one runs.
const RECOVER_EVERY: Duration = Duration::from_secs(30);
/// The longest pause before the applier tries a failed write again.
const MAX_RETRY_PAUSE: Duration = Duration::from_secs(5);

/// What the applier gets, in spool order.
enum Spooled {
    /// Record `index` of the spool named `spool`, already answered, and its line.
    Record {
        spool: Arc<str>,
        index: u64,
        record: LoginRecord,
        line: String,
    },
    /// Answered once everything before it is applied.
    Settle(oneshot::Sender<()>),
    /// A spool no longer appended to: deleted once everything before it is applied.
    Retired(Spool),
}

pub(crate) struct SpooledLog {
    dir: SpoolDir,
    /// The spool being appended to (created at the first login) and its name. The applier's
    /// channel is sent to under the same lock, so it gets the records in spool order.
    current: Mutex<Option<(Spool, Arc<str>)>>,
    applier: mpsc::UnboundedSender<Spooled>,
    reader_waits: Arc<Notify>,
}

impl SpooledLog {
    /// Starts the applier, writing through `writer`, on the current runtime.
    pub(crate) fn start(writer: Store, dir: SpoolDir) -> Self {
        let (applier, spooled) = mpsc::unbounded_channel();
        let reader_waits = Arc::new(Notify::new());
        tokio::spawn(apply(writer, spooled, reader_waits.clone()));
        Self {
            dir,
            current: Mutex::new(None),
            applier,
            reader_waits,
        }
    }

    /// Stores `record` in the spool; once this returns `Ok`, the login may be answered.
    pub(crate) fn append(&self, record: LoginRecord) -> Result<(), StoreError> {
        let line = encode(&record).map_err(refused)?;
        // A poisoned lock: a panic between two statements below, which leave the spool whole.
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        let index = loop {
            let (spool, _) = match &mut *current {
                Some(open) => open,
                // Every ~16,000 logins: 4 MiB of zeros written under the lock, a millisecond or two.
                None => {
                    let spool = self.dir.create().map_err(refused)?;
                    let name: Arc<str> = spool.name.as_str().into();
                    current.insert((spool, name))
                }
            };
            if let Some(index) = spool.append(line.as_bytes()) {
                break index;
            }
            if spool.lines == 0 {
                return Err(refused(std::io::Error::other(format!(
                    "a login record of {} bytes does not fit in a spool",
                    line.len()
                ))));
            }
            let (full, _) = current.take().expect("matched above");
            let _ = self.applier.send(Spooled::Retired(full));
        };
        let (_, name) = current.as_ref().expect("appended to above");
        let spooled = Spooled::Record {
            spool: name.clone(),
            index,
            record,
            line,
        };
        if self.applier.send(spooled).is_err() {
            // The applier is gone with its runtime; the record is in the spool, which the next
            // process on this file replays.
            tracing::debug!("login spooled after the applier stopped");
        }
        Ok(())
    }

    /// Resolves once every login answered before the call is applied; `None` when the log is
    /// gone. (Each answered login's record went to the applier before its answer.)
    pub(crate) fn settle(&self) -> Option<oneshot::Receiver<()>> {
        let (reply, settled) = oneshot::channel();
        self.applier.send(Spooled::Settle(reply)).ok()?;
        self.reader_waits.notify_one();
        Some(settled)
    }
}

impl Drop for SpooledLog {
    /// The last store handle is gone: the applier applies the spool and deletes it.
    fn drop(&mut self) {
        let current = self.current.get_mut().unwrap_or_else(|p| p.into_inner());
        if let Some((last, _)) = current.take() {
            let _ = self.applier.send(Spooled::Retired(last));
        }
    }
}

fn refused(e: std::io::Error) -> StoreError {
    tracing::error!(error = %e, "cannot store a login record; refusing the login");
    StoreError::Db(format!("cannot store the login record: {e}"))
}

async fn apply(
    writer: Store,
    mut spooled: mpsc::UnboundedReceiver<Spooled>,
    reader_waits: Arc<Notify>,
) {
    let mut items = Vec::new();
    let mut last_recovery = Instant::now();
    let mut last_round = Instant::now();
    loop {
        let received =
            tokio::time::timeout(RECOVER_EVERY, spooled.recv_many(&mut items, MAX_APPLY)).await;
        let full = matches!(received, Ok(n) if n == MAX_APPLY);
        if matches!(received, Ok(0)) {
            break;
        }
        if last_recovery.elapsed() >= RECOVER_EVERY {
            last_recovery = Instant::now();
            // Fails only before the first migration, which replays them anyway.
            if let Err(e) = writer.recover_login_spools().await {
                tracing::debug!(error = %e, "login spools not replayed yet");
            }
        }
        let since_last_round = last_round.elapsed();
        last_round = Instant::now();
        let mut records = 0usize;
        let mut settled = false;
        let mut run = Run::default();
        for item in items.drain(..) {
            match item {
                Spooled::Record {
                    spool,
                    index,
                    record,
                    line,
                } => {
                    records += 1;
                    if !run.continues(&spool, index) {
                        run.apply(&writer).await;
                        run.spool = Some((spool, index));
                    }
                    run.records.push(record);
                    run.lines.push_str(&line);
                }
                Spooled::Settle(reply) => {
                    run.apply(&writer).await;
                    let _ = reply.send(());
                    settled = true;
                }
                Spooled::Retired(spool) => {
                    run.apply(&writer).await;
                    writer.retire_spool(spool).await;
                }
            }
        }
        run.apply(&writer).await;
        // A full round leaves more behind; a reader waiting should not wait for the pause too.
        if !settled && !full {
            tokio::select! {
                () = tokio::time::sleep(pause_after(records, since_last_round)) => {}
                () = reader_waits.notified() => {}
            }
        }
    }
}

/// The pause after a round that applied `records` that arrived over `since_last_round`.
fn pause_after(records: usize, since_last_round: Duration) -> Duration {
    if records as f64 >= BUSY_LOGINS_PER_SECOND * since_last_round.as_secs_f64() {
        APPLY_EVERY_BUSY
    } else {
        APPLY_EVERY
    }
}

/// Consecutive records of one spool, the first of them at `spool.1`, and their lines.
#[derive(Default)]
struct Run {
    spool: Option<(Arc<str>, u64)>,
    records: Vec<LoginRecord>,
    lines: String,
}

impl Run {
    fn continues(&self, spool: &Arc<str>, index: u64) -> bool {
        self.spool
            .as_ref()
            .is_some_and(|(s, first)| s == spool && first + self.records.len() as u64 == index)
    }

    /// Stores the run and empties it; returns only once it is stored (a failing store is
    /// retried: the records are safe in the spool meanwhile).
    async fn apply(&mut self, writer: &Store) {
        let Some((spool, mut first)) = self.spool.take() else {
            return;
        };
        let mut records = std::mem::take(&mut self.records);
        let mut lines = Some(std::mem::take(&mut self.lines));
        let mut pause = Duration::from_millis(50);
        loop {
            match writer
                .apply_spooled(&spool, first, &records, lines.take())
                .await
            {
                Ok(()) => return,
                Err((stored, e)) => {
                    tracing::warn!(error = %e, spool = %spool, "cannot apply the login spool yet; retrying");
                    records.drain(..stored);
                    first += stored as u64;
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(MAX_RETRY_PAUSE);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "testing")]
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_spool_is_retired_for_a_fresh_one_and_deleted_once_applied() {
        use sea_orm::{EntityTrait, PaginatorTrait};
        let store = crate::testing::sqlite_store().await;
        // Room for about four records a spool.
        let dir = store.login_spool.clone().unwrap().with_capacity(1024);
        let log = SpooledLog::start(store.without_log(), dir.clone());
        for i in 0..10 {
            log.append(LoginRecord {
                realm: "main".to_owned(),
                login: format!("user-{i}"),
                account_id: None,
                success: false,
                result: "rejected".to_owned(),
                attempts: vec![],
                at: chrono::Utc::now(),
                redirect: false,
            })
            .unwrap();
        }
        let (lines, current) = log
            .current
            .lock()
            .unwrap()
            .as_ref()
            .map(|(s, n)| (s.lines, n.clone()))
            .unwrap();
        assert!(lines < 10, "the records went to several spools");
        log.settle().unwrap().await.unwrap();
        assert_eq!(
            dir.names().unwrap().into_iter().collect::<Vec<_>>(),
            [current.to_string()],
            "only the spool in use is left"
        );
        let rows = crate::entities::login_spool::Entity::find()
            .count(&store.db)
            .await
            .unwrap();
        assert_eq!(rows, 1, "the retired spools' progress rows are dropped");
        let mut logins: Vec<String> = store
            .recent_audit_events("main", 100)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.login)
            .collect();
        logins.sort();
        let expected: Vec<String> = (0..10).map(|i| format!("user-{i}")).collect();
        assert_eq!(logins, expected, "each record once, across the spools");
    }

    #[test]
    fn the_applier_pauses_longer_only_under_load() {
        let ms = Duration::from_millis;
        // 2 logins over 5 ms: 400 a second.
        assert_eq!(pause_after(2, ms(5)), APPLY_EVERY);
        // 50 over 6 ms: ~8,300 a second.
        assert_eq!(pause_after(50, ms(6)), APPLY_EVERY_BUSY);
        // 2,000 over the long pause and the transaction: ~18,000 a second.
        assert_eq!(pause_after(2000, ms(110)), APPLY_EVERY_BUSY);
        // The load is gone: 10 logins over the long pause.
        assert_eq!(pause_after(10, ms(100)), APPLY_EVERY);
        // The first round after a quiet spell.
        assert_eq!(pause_after(1, Duration::from_secs(30)), APPLY_EVERY);
    }
}
