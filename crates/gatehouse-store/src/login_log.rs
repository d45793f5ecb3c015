//! The login log: every login's audit event and statistics, stored before its answer goes out.
//!
//! - **SQLite file**: the record is appended to the store's login spool and the login answered;
//!   the spool is applied to the audit trail shortly after (`login_applier`). Reads of the trail
//!   or the counters through this store first wait for that ([`LoginLog::settle`]), so a caller
//!   always sees its own logins.
//! - **PostgreSQL, in-memory SQLite**: group commit. Logins queue their record; one writer task
//!   takes everything queued, commits it in one transaction, and then answers each login. Under
//!   light load a batch is a single record, so nothing waits for a timer.

use std::sync::Arc;
use std::time::Duration;

use gatehouse_core::LoginRecord;
use tokio::sync::{mpsc, oneshot};

use crate::error::StoreError;
use crate::login_applier::SpooledLog;
use crate::login_spool::SpoolDir;
use crate::store::Store;

/// The most records one group commit takes.
const MAX_BATCH: usize = 512;
/// How long a read waits for the log before it reads what is there.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(5);

pub(crate) enum Entry {
    Record(LoginRecord, oneshot::Sender<Result<(), StoreError>>),
    /// Answered once every record queued before it is in the store.
    Settle(oneshot::Sender<()>),
}

pub(crate) enum LoginLog {
    GroupCommit(mpsc::UnboundedSender<Entry>),
    Spooled(SpooledLog),
}

impl LoginLog {
    /// Start the log on the current runtime: spooled when `spool` is given, else group-committed.
    /// `writer` must not have a log of its own (it writes directly). Its tasks end when the last
    /// store handle is dropped (the applier after applying what the spool holds).
    pub(crate) fn start(writer: Store, spool: Option<SpoolDir>) -> Arc<Self> {
        Arc::new(match spool {
            Some(dir) => Self::Spooled(SpooledLog::start(writer, dir)),
            None => {
                let (queue, entries) = mpsc::unbounded_channel();
                tokio::spawn(write_batches(writer, entries));
                Self::GroupCommit(queue)
            }
        })
    }

    /// `None` when the group-commit writer is gone (its runtime ended): the caller writes the
    /// record itself.
    pub(crate) async fn append(&self, record: &LoginRecord) -> Option<Result<(), StoreError>> {
        let queue = match self {
            Self::Spooled(log) => return Some(log.append(record)),
            Self::GroupCommit(queue) => queue,
        };
        let (reply, answer) = oneshot::channel();
        queue.send(Entry::Record(record.clone(), reply)).ok()?;
        Some(match answer.await {
            Ok(result) => result,
            Err(_) => Err(StoreError::Db("the login log writer stopped".into())),
        })
    }

    /// Waits (at most [`SETTLE_TIMEOUT`]) until every login answered so far is in the audit
    /// trail and the counters.
    pub(crate) async fn settle(&self) {
        let settled = match self {
            Self::Spooled(log) => log.settle(),
            Self::GroupCommit(queue) => {
                let (reply, settled) = oneshot::channel();
                queue.send(Entry::Settle(reply)).ok().map(|()| settled)
            }
        };
        let Some(settled) = settled else {
            return;
        };
        if tokio::time::timeout(SETTLE_TIMEOUT, settled).await.is_err() {
            tracing::warn!(
                "the login log is more than {} s behind; reading what is stored",
                SETTLE_TIMEOUT.as_secs()
            );
        }
    }
}

async fn write_batches(writer: Store, mut entries: mpsc::UnboundedReceiver<Entry>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while entries.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let (records, settles) = split(&mut batch);
        let refs: Vec<&LoginRecord> = records.iter().map(|(r, _)| r).collect();
        let written = if refs.is_empty() {
            Ok(())
        } else {
            writer.write_login_records(&refs, None).await
        };
        if let Err(StoreError::Unavailable(e)) = written {
            // The database is away: one by one would wait the acquire timeout once per login,
            // and so would the records queued while this batch waited.
            while let Ok(entry) = entries.try_recv() {
                batch.push(entry);
            }
            let (queued, queued_settles) = split(&mut batch);
            for (_, reply) in records.into_iter().chain(queued) {
                let _ = reply.send(Err(StoreError::Unavailable(e.clone())));
            }
            for settle in queued_settles {
                let _ = settle.send(());
            }
        } else if written.is_ok() {
            for (_, reply) in records {
                let _ = reply.send(Ok(()));
            }
        } else {
            // One bad record (say, its account was deleted meanwhile) must not fail the logins
            // batched with it: write them one by one, each getting its own answer.
            for (record, reply) in records {
                let result = writer.write_login_records(&[&record], None).await;
                let _ = reply.send(result);
            }
        }
        // Every record queued before them is written.
        for settle in settles {
            let _ = settle.send(());
        }
    }
}

type Reply = oneshot::Sender<Result<(), StoreError>>;

fn split(batch: &mut Vec<Entry>) -> (Vec<(LoginRecord, Reply)>, Vec<oneshot::Sender<()>>) {
    let mut records = Vec::with_capacity(batch.len());
    let mut settles = Vec::new();
    for entry in batch.drain(..) {
        match entry {
            Entry::Record(record, reply) => records.push((record, reply)),
            Entry::Settle(reply) => settles.push(reply),
        }
    }
    (records, settles)
}
