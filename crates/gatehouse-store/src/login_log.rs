//! The login log: every login's audit event and statistics, committed before its answer goes out,
//! on every backend the same way — group commit. Logins queue their record; one writer task takes
//! everything queued, commits it in one transaction (`audit_event` rows and one summed statistics
//! upsert), and then answers each login. Under light load a batch is a single record, so nothing
//! waits for a timer; under load, the logins that arrived during one commit share the next.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use gatehouse_core::LoginRecord;
use tokio::sync::{mpsc, oneshot};

use crate::error::StoreError;
use crate::store::Store;

/// The most records one group commit takes.
const MAX_BATCH: usize = 512;

type Reply = oneshot::Sender<Result<(), StoreError>>;

/// How much the writer has done since the store was opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoginLogStats {
    /// Login records committed.
    pub records: u64,
    /// Transactions that committed them (a batch, or a record written alone after its batch
    /// failed).
    pub transactions: u64,
}

#[derive(Default)]
struct Counters {
    records: AtomicU64,
    transactions: AtomicU64,
}

pub(crate) struct LoginLog {
    queue: mpsc::UnboundedSender<(LoginRecord, Reply)>,
    counters: Arc<Counters>,
}

impl LoginLog {
    /// Starts the writer on the current runtime. `writer` must not have a log of its own (it
    /// writes directly). The task ends when the last store handle is dropped.
    pub(crate) fn start(writer: Store) -> Arc<Self> {
        let (queue, entries) = mpsc::unbounded_channel();
        let counters = Arc::new(Counters::default());
        tokio::spawn(write_batches(writer, entries, counters.clone()));
        Arc::new(Self { queue, counters })
    }

    /// `None` when the writer is gone (its runtime ended): the caller writes the record itself.
    pub(crate) async fn append(&self, record: &LoginRecord) -> Option<Result<(), StoreError>> {
        let (reply, answer) = oneshot::channel();
        self.queue.send((record.clone(), reply)).ok()?;
        Some(match answer.await {
            Ok(result) => result,
            Err(_) => Err(StoreError::Db("the login log writer stopped".into())),
        })
    }

    pub(crate) fn stats(&self) -> LoginLogStats {
        LoginLogStats {
            records: self.counters.records.load(Ordering::Relaxed),
            transactions: self.counters.transactions.load(Ordering::Relaxed),
        }
    }
}

async fn write_batches(
    writer: Store,
    mut entries: mpsc::UnboundedReceiver<(LoginRecord, Reply)>,
    counters: Arc<Counters>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while entries.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let refs: Vec<&LoginRecord> = batch.iter().map(|(r, _)| r).collect();
        let written = writer.write_login_records(&refs).await;
        drop(refs);
        let committed = |n: usize| {
            counters.records.fetch_add(n as u64, Ordering::Relaxed);
            counters.transactions.fetch_add(1, Ordering::Relaxed);
        };
        match written {
            Ok(()) => {
                committed(batch.len());
                for (_, reply) in batch.drain(..) {
                    let _ = reply.send(Ok(()));
                }
            }
            Err(StoreError::Unavailable(e)) => {
                // The database is away: one by one would wait the acquire timeout once per
                // login, and so would the records queued while this batch waited.
                while let Ok(entry) = entries.try_recv() {
                    batch.push(entry);
                }
                for (_, reply) in batch.drain(..) {
                    let _ = reply.send(Err(StoreError::Unavailable(e.clone())));
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, records = batch.len(), "a login log batch failed; writing its records one by one");
                // One bad record (its account deleted meanwhile, say) must not fail the logins
                // batched with it: each is written alone and gets its own answer.
                for (record, reply) in batch.drain(..) {
                    let result = writer.write_login_alone(&record).await;
                    if result.is_ok() {
                        committed(1);
                    }
                    let _ = reply.send(result);
                }
            }
        }
    }
}

impl Store {
    /// What the login log writer has committed since this store was opened.
    pub fn login_log_stats(&self) -> LoginLogStats {
        self.login_log
            .as_ref()
            .map(|log| log.stats())
            .unwrap_or_default()
    }

    /// One record in a transaction of its own: with its statistics; failing that (its account is
    /// gone), the audit event alone, which the trail keeps whatever became of the account.
    pub(crate) async fn write_login_alone(&self, record: &LoginRecord) -> Result<(), StoreError> {
        match self.write_login_records(&[record]).await {
            Ok(()) => Ok(()),
            Err(e) if record.account_id.is_some() => {
                tracing::debug!(error = %e, "login statistics not written; keeping the event");
                self.write_login_events(&[record]).await
            }
            Err(e) => Err(e),
        }
    }
}
