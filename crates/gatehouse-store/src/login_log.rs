//! Group commit of login records. Each login's audit event and statistics must be stored before
//! its answer goes out, but one write transaction per login caps SQLite (a single writer) at about
//! a thousand logins a second. Logins queue their record here; one writer task takes everything
//! queued, commits it in one transaction, and then answers each login. Under light load a batch is
//! a single record, so nothing waits for a timer.

use std::sync::Arc;

use gatehouse_core::LoginRecord;
use tokio::sync::{mpsc, oneshot};

use crate::error::StoreError;
use crate::store::Store;

/// The most records one transaction takes.
const MAX_BATCH: usize = 512;

type Entry = (LoginRecord, oneshot::Sender<Result<(), String>>);

pub(crate) struct LoginLog {
    queue: mpsc::UnboundedSender<Entry>,
}

impl LoginLog {
    /// Start the writer on the current runtime. `writer` must not have a log of its own (it
    /// writes directly). The task ends when the last store handle is dropped.
    pub(crate) fn start(writer: Store) -> Arc<Self> {
        let (queue, entries) = mpsc::unbounded_channel();
        tokio::spawn(write_batches(writer, entries));
        Arc::new(Self { queue })
    }

    /// `Err(record)` when the writer is gone (its runtime ended): the caller writes it itself.
    pub(crate) async fn append(
        &self,
        record: LoginRecord,
    ) -> Result<Result<(), StoreError>, LoginRecord> {
        let (reply, answer) = oneshot::channel();
        if let Err(mpsc::error::SendError((record, _))) = self.queue.send((record, reply)) {
            return Err(record);
        }
        match answer.await {
            Ok(result) => Ok(result.map_err(StoreError::Db)),
            Err(_) => Ok(Err(StoreError::Db("the login log writer stopped".into()))),
        }
    }
}

async fn write_batches(writer: Store, mut entries: mpsc::UnboundedReceiver<Entry>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while entries.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let records: Vec<&LoginRecord> = batch.iter().map(|(r, _)| r).collect();
        match writer.write_login_records(&records).await {
            Ok(()) => {
                for (_, reply) in batch.drain(..) {
                    let _ = reply.send(Ok(()));
                }
            }
            // One bad record (say, its account was deleted meanwhile) must not fail the logins
            // batched with it: write them one by one, each getting its own answer.
            Err(_) => {
                for (record, reply) in batch.drain(..) {
                    let result = writer
                        .write_login_records(&[&record])
                        .await
                        .map_err(|e| e.to_string());
                    let _ = reply.send(result);
                }
            }
        }
    }
}
