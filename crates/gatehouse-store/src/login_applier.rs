//! The spooled login log of an SQLite file: each login appends its record to the store's spool
//! itself and adds the record's line and counts to the run the applier takes next, under one lock
//! held for the copy; the applier task writes each run to the audit trail and the counters, one
//! transaction every 5 ms, or every 100 ms under more than a thousand logins a second (at once
//! when a reader of this store waits), and records in that transaction how far the spool is
//! applied.
//!
//! Why gathered under the lock rather than handed to the applier record by record: a login then
//! hands nothing to another task, and what waits to be applied is a run's bytes and one counter
//! per account, not a record (a handful of allocations, freed on another thread) per login.
//! Under load, sending records through a channel cost the directory's side of the machine as
//! much as the logins' own audit write (docs/benchmarks.md).

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use gatehouse_core::LoginRecord;
use tokio::sync::{Notify, mpsc, oneshot};

use crate::error::StoreError;
use crate::login_batch::LoginBatch;
use crate::login_counts::LoginCounts;
use crate::login_spool::{Spool, SpoolDir, encode};
use crate::store::Store;

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

/// Consecutive records of one spool, not applied yet: their lines and their counts.
struct Run {
    spool: Arc<str>,
    /// The index of the first in the spool.
    first: u64,
    batch: LoginBatch,
    counts: LoginCounts,
}

/// What the logins share with the applier, under one lock.
#[derive(Default)]
struct Appender {
    /// The spool being appended to (created at the first login) and its name.
    current: Option<(Spool, Arc<str>)>,
    /// The records of the current spool the applier has not taken yet.
    gathered: Option<Run>,
    /// Spools no longer appended to, oldest first, each with its records not taken yet: deleted
    /// once those are applied.
    retired: Vec<(Option<Run>, Spool)>,
}

impl Appender {
    /// Everything not applied yet, in spool order.
    fn take(&mut self) -> (Vec<(Option<Run>, Spool)>, Option<Run>) {
        (std::mem::take(&mut self.retired), self.gathered.take())
    }

    /// The current spool is done with: the applier applies what it holds and deletes it.
    fn retire_current(&mut self) {
        if let Some((spool, _)) = self.current.take() {
            let run = self.gathered.take();
            self.retired.push((run, spool));
        }
    }
}

pub(crate) struct SpooledLog {
    dir: SpoolDir,
    shared: Arc<Mutex<Appender>>,
    /// Readers waiting for the applier; dropping the sender (with the log) ends the applier once
    /// it has applied everything.
    settles: mpsc::UnboundedSender<oneshot::Sender<()>>,
    /// Told by the first record after the applier took everything, and by a reader waiting.
    work: Arc<Notify>,
    reader_waits: Arc<Notify>,
}

fn lock(shared: &Mutex<Appender>) -> MutexGuard<'_, Appender> {
    // A poisoned lock: a panic between two statements of `append`, which leave the spool whole.
    shared.lock().unwrap_or_else(|p| p.into_inner())
}

impl SpooledLog {
    /// Starts the applier, writing through `writer`, on the current runtime.
    pub(crate) fn start(writer: Store, dir: SpoolDir) -> Self {
        let (settles, waiting) = mpsc::unbounded_channel();
        let shared = Arc::new(Mutex::new(Appender::default()));
        let work = Arc::new(Notify::new());
        let reader_waits = Arc::new(Notify::new());
        tokio::spawn(apply(
            writer,
            shared.clone(),
            waiting,
            work.clone(),
            reader_waits.clone(),
        ));
        Self {
            dir,
            shared,
            settles,
            work,
            reader_waits,
        }
    }

    /// Stores `record` in the spool; once this returns `Ok`, the login may be answered.
    pub(crate) fn append(&self, record: &LoginRecord) -> Result<(), StoreError> {
        let line = encode(record).map_err(refused)?;
        let mut appender = lock(&self.shared);
        let (index, name) = loop {
            let (spool, name) = match &mut appender.current {
                Some(open) => open,
                // Every ~16,000 logins: 4 MiB of zeros written under the lock, a millisecond or two.
                None => {
                    let spool = self.dir.create().map_err(refused)?;
                    let name: Arc<str> = spool.name.as_str().into();
                    appender.current.insert((spool, name))
                }
            };
            if let Some(index) = spool.append(line.as_bytes()) {
                break (index, name.clone());
            }
            if spool.lines == 0 {
                return Err(refused(std::io::Error::other(format!(
                    "a login record of {} bytes does not fit in a spool",
                    line.len()
                ))));
            }
            appender.retire_current();
        };
        if self.settles.is_closed() {
            // The applier is gone with its runtime: the record is in the spool, which the next
            // process on this file replays once this one lets go of it, as it does of the full
            // ones now.
            appender.retired.clear();
            return Ok(());
        }
        let first_since_taken = appender.gathered.is_none();
        let run = appender.gathered.get_or_insert_with(|| Run {
            spool: name,
            first: index,
            batch: LoginBatch::default(),
            counts: LoginCounts::default(),
        });
        debug_assert_eq!(run.first + run.batch.len() as u64, index);
        run.batch.push(record, &line);
        run.counts.add(record);
        drop(appender);
        if first_since_taken {
            self.work.notify_one();
        }
        Ok(())
    }

    /// Resolves once every login answered before the call is applied; `None` when the log is
    /// gone. (Each answered login's record was gathered before its answer.)
    pub(crate) fn settle(&self) -> Option<oneshot::Receiver<()>> {
        let (reply, settled) = oneshot::channel();
        self.settles.send(reply).ok()?;
        self.reader_waits.notify_one();
        Some(settled)
    }
}

impl Drop for SpooledLog {
    /// The last store handle is gone: the applier applies the spool and deletes it.
    fn drop(&mut self) {
        lock(&self.shared).retire_current();
    }
}

fn refused(e: std::io::Error) -> StoreError {
    tracing::error!(error = %e, "cannot store a login record; refusing the login");
    StoreError::Db(format!("cannot store the login record: {e}"))
}

async fn apply(
    writer: Store,
    shared: Arc<Mutex<Appender>>,
    mut settles: mpsc::UnboundedReceiver<oneshot::Sender<()>>,
    work: Arc<Notify>,
    reader_waits: Arc<Notify>,
) {
    let mut waiting = Vec::new();
    let mut last_recovery = Instant::now();
    let mut last_round = Instant::now();
    loop {
        let mut ended = tokio::select! {
            received = settles.recv_many(&mut waiting, 64) => received == 0,
            () = work.notified() => false,
            () = tokio::time::sleep(RECOVER_EVERY) => false,
        };
        // Whichever woke the applier, every reader who asked before the take below is answered
        // after it: none waits out a pause for having asked while records came in too.
        loop {
            match settles.try_recv() {
                Ok(reply) => waiting.push(reply),
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => {
                    ended = true;
                    break;
                }
            }
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
        // Everything gathered up to now: all that readers who asked before now wait for.
        let (retired, gathered) = lock(&shared).take();
        let mut records = 0usize;
        for (run, spool) in retired {
            if let Some(run) = run {
                records += run.batch.len();
                apply_run(&writer, run).await;
            }
            writer.retire_spool(spool).await;
        }
        if let Some(run) = gathered {
            records += run.batch.len();
            apply_run(&writer, run).await;
        }
        for reply in waiting.drain(..) {
            let _ = reply.send(());
        }
        if ended {
            break;
        }
        tokio::select! {
            () = tokio::time::sleep(pause_after(records, since_last_round)) => {}
            () = reader_waits.notified() => {}
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

/// Stores `run`; returns only once it is stored (a failing store is retried: the records are
/// safe in the spool meanwhile).
async fn apply_run(writer: &Store, run: Run) {
    let Run {
        spool,
        first,
        batch,
        counts,
    } = run;
    let batch = Arc::new(batch);
    if writer
        .apply_spooled_batch(&spool, first, &batch, &counts)
        .await
    {
        return;
    }
    // Refused as a whole (one record's account deleted meanwhile, say): one record at a time,
    // each keeping at least its audit event.
    let mut records = batch.records();
    let mut first = first;
    let mut pause = Duration::from_millis(50);
    loop {
        let entries: Vec<Result<&LoginRecord, &str>> = records
            .iter()
            .map(|r| r.as_ref().map_err(String::as_str))
            .collect();
        let applied = writer.apply_one_by_one(&spool, first, &entries).await;
        drop(entries);
        match applied {
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
            log.append(&LoginRecord {
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
        let (lines, current) = lock(&log.shared)
            .current
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
