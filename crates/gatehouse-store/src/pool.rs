//! The connection pool's settings: how long a request waits for the database before it is
//! answered "try again", and how dead connections are dropped so the store comes back at once.

use std::time::Duration;

use sea_orm::ConnectOptions;
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};

use crate::url::{Backend, Target};

/// WAL lets readers run beside the one writer; a few connections serve concurrent logins.
const SQLITE_POOL: u32 = 8;
const POSTGRES_POOL: u32 = 16;

/// The pool's settings (`[store]` in the configuration file). The defaults fail a request within
/// about a second while the database is away and use it again as soon as it answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolSettings {
    /// At most this many connections; `None`: 16 on PostgreSQL, 8 on an SQLite file.
    pub max_connections: Option<u32>,
    /// How long a statement waits for a connection, opening one included, before it fails as
    /// unavailable. The bound on every answer while the database is down.
    pub acquire_timeout: Duration,
    /// A connection idle this long is closed.
    pub idle_timeout: Duration,
    /// A connection this old is closed when returned, so none outlives a failover for long.
    pub max_lifetime: Duration,
    /// PostgreSQL: check each connection with a round trip before use, so the first request
    /// after a restart does not fail on a connection the server closed meanwhile.
    pub test_before_acquire: bool,
    /// SQLite: how long a writer waits for the file's write lock before failing as unavailable.
    pub sqlite_busy_timeout: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            max_connections: None,
            acquire_timeout: Duration::from_millis(1000),
            idle_timeout: Duration::from_secs(600),
            max_lifetime: Duration::from_secs(1800),
            test_before_acquire: true,
            sqlite_busy_timeout: Duration::from_millis(5000),
        }
    }
}

impl PoolSettings {
    pub(crate) fn pool_size(&self, target: &Target) -> u32 {
        match target.backend {
            // Each in-memory connection would be a separate database.
            Backend::Sqlite if target.is_memory() => 1,
            Backend::Sqlite => self.max_connections.unwrap_or(SQLITE_POOL),
            Backend::Postgres => self.max_connections.unwrap_or(POSTGRES_POOL),
        }
    }

    pub(crate) fn connect_options(&self, target: &Target, max_connections: u32) -> ConnectOptions {
        let mut options = ConnectOptions::new(target.driver_url.clone());
        // sea-orm's own tracing spans remain; sqlx's per-statement log lines are noise at INFO.
        // sqlx retries a refused connection with a back-off capped at a fifth of the acquire
        // timeout, so a short timeout is also a quick reconnection once the server is back.
        options
            .sqlx_logging(false)
            .acquire_timeout(self.acquire_timeout)
            .idle_timeout(self.idle_timeout)
            .max_lifetime(self.max_lifetime)
            .max_connections(max_connections);
        match target.backend {
            Backend::Sqlite => {
                let memory = target.is_memory();
                let busy = self.sqlite_busy_timeout;
                // A connection to a file in this process cannot have gone away: testing it before
                // each use would cost a round trip to its thread for every statement.
                options.test_before_acquire(false);
                // Nor can the file be "down": a connection is busy only while its statement waits
                // for the write lock, which the busy timeout bounds. An acquire timeout below it
                // would fail healthy requests on a loaded machine, opening the store included.
                options.acquire_timeout(self.acquire_timeout.max(busy));
                if memory {
                    // The only connection holds the whole database: it must never be recycled.
                    options.idle_timeout(None).max_lifetime(None);
                }
                // Applied by sqlx when it opens each connection, so every pooled one gets them.
                options.map_sqlx_sqlite_opts(move |o| {
                    let o = o.busy_timeout(busy).foreign_keys(true);
                    if memory {
                        o
                    } else {
                        o.journal_mode(SqliteJournalMode::Wal)
                            .synchronous(SqliteSynchronous::Normal)
                    }
                });
            }
            Backend::Postgres => {
                options.test_before_acquire(self.test_before_acquire);
                if let Some(schema) = &target.schema {
                    options.set_schema_search_path(schema.clone());
                }
            }
        }
        options
    }
}
