//! Whether the database answers: a state a metric can read, one log line per change (not one
//! per failed request), and the bounded check behind `/readyz`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use sea_orm::{ConnAcquireErr, DatabaseConnection, DbErr};

use crate::error::StoreError;

/// While the store answers, it is checked this often.
const WATCH_UP: Duration = Duration::from_secs(1);
/// While it does not, this often, so its return is seen at once.
const WATCH_DOWN: Duration = Duration::from_millis(200);

/// The store's availability as last seen. Cheap to clone; all clones share one state.
#[derive(Clone, Debug)]
pub struct StoreAvailability(Arc<State>);

#[derive(Debug)]
struct State {
    up: AtomicBool,
    /// When the store was last seen going away; `None` while it is up.
    down_since: Mutex<Option<Instant>>,
}

impl StoreAvailability {
    pub(crate) fn new() -> Self {
        Self(Arc::new(State {
            up: AtomicBool::new(true),
            down_since: Mutex::new(None),
        }))
    }

    /// The last check (the watcher's, `/readyz`'s) reached the database.
    pub fn is_up(&self) -> bool {
        self.0.up.load(Ordering::Relaxed)
    }

    /// Records the outcome of a check; logs only when it changes the state.
    pub(crate) fn record(&self, outcome: &Result<(), StoreError>) {
        let up = outcome.is_ok();
        if self.0.up.swap(up, Ordering::AcqRel) == up {
            return;
        }
        let mut since = self.0.down_since.lock().unwrap_or_else(|e| e.into_inner());
        match outcome {
            Err(e) => {
                *since = Some(Instant::now());
                tracing::warn!(
                    error = %e,
                    "the store is unavailable: requests that need it are answered 503 until it is back"
                );
            }
            Ok(()) => {
                let after_ms = since.take().map(|t| t.elapsed().as_millis());
                tracing::info!(down_ms = after_ms, "the store is available again");
            }
        }
    }
}

/// What the watcher needs: the pool and the state. The watcher holds it weakly, so it ends with
/// the last store handle (or at [`Health::stop`]) instead of keeping the pool open.
pub(crate) struct Health {
    pub(crate) availability: StoreAvailability,
    db: DatabaseConnection,
    stopped: AtomicBool,
}

impl Health {
    pub(crate) fn start(db: DatabaseConnection) -> Arc<Health> {
        let health = Arc::new(Health {
            availability: StoreAvailability::new(),
            db,
            stopped: AtomicBool::new(false),
        });
        tokio::spawn(watch(Arc::downgrade(&health)));
        health
    }

    /// Pings the database, giving up after `limit`; records and returns the outcome.
    pub(crate) async fn check(&self, limit: Duration) -> Result<(), StoreError> {
        let outcome = match tokio::time::timeout(limit, self.db.ping()).await {
            Ok(pinged) => pinged.map_err(StoreError::from),
            // As the pool says when no connection comes within its acquire timeout.
            Err(_) => Err(StoreError::Unavailable(Arc::new(DbErr::ConnectionAcquire(
                ConnAcquireErr::Timeout,
            )))),
        };
        if !self.stopped.load(Ordering::Acquire) {
            self.availability.record(&outcome);
        }
        outcome
    }

    /// The pool is being closed on purpose: that is not an outage.
    pub(crate) fn stop(&self) {
        self.stopped.store(true, Ordering::Release);
    }
}

async fn watch(health: Weak<Health>) {
    loop {
        let pause = {
            let Some(health) = health.upgrade() else {
                return;
            };
            if health.stopped.load(Ordering::Acquire) {
                return;
            }
            match health.check(WATCH_UP).await {
                Ok(()) => WATCH_UP,
                Err(_) => WATCH_DOWN,
            }
        };
        tokio::time::sleep(pause).await;
    }
}
