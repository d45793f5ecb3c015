//! The spooled login log of an SQLite file: a spool task appends what logins queued to the
//! store's spool, in one `write`, and answers them; an applier task writes what the spool holds
//! to the audit trail and the counters, one transaction every 5 ms, or every 100 ms under more
//! than a thousand logins a second (at once when a reader of this store waits), and records in
//! that transaction how far the spool is applied.

use std::sync::Arc;
use std::time::{Duration, Instant};

use gatehouse_core::LoginRecord;
use tokio::sync::{Notify, mpsc, oneshot};

use crate::error::StoreError;
use crate::login_spool::{ROTATE_AT, Spool, SpoolDir, encode};
use crate::store::Store;

/// The most records one spool write takes.
const MAX_APPEND: usize = 512;
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
    /// Record `index` of the spool named `spool`, already answered.
    Record {
        spool: Arc<str>,
        index: u64,
        record: LoginRecord,
    },
    /// Answered once everything before it is applied.
    Settle(oneshot::Sender<()>),
    /// A spool no longer appended to: deleted once everything before it is applied.
    Retired(Spool),
}

pub(crate) struct SpooledLog {
    appends: mpsc::UnboundedSender<Append>,
}

/// A login's record for the spool task, or a reader's request to settle.
enum Append {
    Record(LoginRecord, oneshot::Sender<Result<(), StoreError>>),
    Settle(oneshot::Sender<()>),
}

impl SpooledLog {
    /// Starts the spool task and the applier, writing through `writer`, on the current runtime.
    pub(crate) fn start(writer: Store, dir: SpoolDir) -> Self {
        let (applier, spooled) = mpsc::unbounded_channel();
        let (appends, queued) = mpsc::unbounded_channel();
        let reader_waits = Arc::new(Notify::new());
        tokio::spawn(spool(dir, queued, applier, reader_waits.clone()));
        tokio::spawn(apply(writer, spooled, reader_waits));
        Self { appends }
    }

    /// Stores `record` in the spool; once this returns `Ok`, the login may be answered.
    pub(crate) async fn append(&self, record: LoginRecord) -> Result<(), StoreError> {
        let (reply, answer) = oneshot::channel();
        let gone = || StoreError::Db("the login log writer stopped".into());
        self.appends
            .send(Append::Record(record, reply))
            .map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }

    /// Resolves once every login answered before the call is applied; `None` when the log is
    /// gone.
    pub(crate) fn settle(&self) -> Option<oneshot::Receiver<()>> {
        let (reply, settled) = oneshot::channel();
        self.appends.send(Append::Settle(reply)).ok()?;
        Some(settled)
    }
}

/// Appends what logins queued, everything queued in one write, answers them, and hands the
/// records on to the applier.
async fn spool(
    dir: SpoolDir,
    mut queued: mpsc::UnboundedReceiver<Append>,
    applier: mpsc::UnboundedSender<Spooled>,
    reader_waits: Arc<Notify>,
) {
    let mut current: Option<(Spool, Arc<str>)> = None;
    let mut batch = Vec::with_capacity(MAX_APPEND);
    let mut encoded = Vec::new();
    while queued.recv_many(&mut batch, MAX_APPEND).await > 0 {
        encoded.clear();
        let mut records = Vec::with_capacity(batch.len());
        for append in batch.drain(..) {
            match append {
                Append::Record(record, reply) => match encode(&record) {
                    Ok(line) => {
                        encoded.extend_from_slice(&line);
                        records.push((record, reply));
                    }
                    Err(e) => {
                        let _ = reply.send(Err(refused(e)));
                    }
                },
                // Everything before it was handed on, or is in `records`, sent first below.
                Append::Settle(reply) => {
                    if !records.is_empty() {
                        let written = write(&dir, &mut current, &encoded, records.len());
                        hand_on(written, std::mem::take(&mut records), &applier);
                        encoded.clear();
                    }
                    let _ = applier.send(Spooled::Settle(reply));
                    reader_waits.notify_one();
                }
            }
        }
        if !records.is_empty() {
            let written = write(&dir, &mut current, &encoded, records.len());
            hand_on(written, records, &applier);
        }
        if current.as_ref().is_some_and(|(s, _)| s.bytes >= ROTATE_AT) {
            let (full, _) = current.take().expect("checked above");
            let _ = applier.send(Spooled::Retired(full));
        }
    }
    if let Some((last, _)) = current {
        let _ = applier.send(Spooled::Retired(last));
    }
}

/// Appends `count` encoded records to the current spool (created at the first login); the name
/// and index of the first.
fn write(
    dir: &SpoolDir,
    current: &mut Option<(Spool, Arc<str>)>,
    encoded: &[u8],
    count: usize,
) -> std::io::Result<(Arc<str>, u64)> {
    if current.is_none() {
        let spool = dir.create()?;
        let name: Arc<str> = spool.name.as_str().into();
        *current = Some((spool, name));
    }
    let (spool, name) = current.as_mut().expect("created above");
    let first = spool.append(encoded, count as u64)?;
    Ok((name.clone(), first))
}

/// Answers the logins of `records`, and on success passes the records to the applier.
fn hand_on(
    written: std::io::Result<(Arc<str>, u64)>,
    records: Vec<(LoginRecord, oneshot::Sender<Result<(), StoreError>>)>,
    applier: &mpsc::UnboundedSender<Spooled>,
) {
    match written {
        Ok((spool, first)) => {
            for (index, (record, reply)) in (first..).zip(records) {
                let _ = reply.send(Ok(()));
                let _ = applier.send(Spooled::Record {
                    spool: spool.clone(),
                    index,
                    record,
                });
            }
        }
        Err(e) => {
            let why = refused(e).to_string();
            for (_, reply) in records {
                let _ = reply.send(Err(StoreError::Db(why.clone())));
            }
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
                } => {
                    records += 1;
                    if !run.continues(&spool, index) {
                        run.apply(&writer).await;
                        run.spool = Some((spool, index));
                    }
                    run.records.push(record);
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

/// Consecutive records of one spool, the first of them at `spool.1`.
#[derive(Default)]
struct Run {
    spool: Option<(Arc<str>, u64)>,
    records: Vec<LoginRecord>,
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
        let mut pause = Duration::from_millis(50);
        loop {
            match writer.apply_spooled(&spool, first, &records).await {
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
