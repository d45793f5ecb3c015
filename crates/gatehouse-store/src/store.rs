//! The connection: opening, migrating, health.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbErr,
    SqliteTransactionMode, TransactionOptions, TransactionTrait,
};
use sea_orm_migration::MigratorTrait;

use crate::error::StoreError;
use crate::login_cache::LoginCache;
use crate::login_log::LoginLog;
use crate::login_spool::SpoolDir;
use crate::migration::Migrator;
use crate::url::{Backend, Target, validate_schema};

/// A writer waits this long for SQLite's write lock before failing with "database is locked".
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// WAL lets readers run beside the one writer; a few connections serve concurrent logins.
const SQLITE_POOL: u32 = 8;
const POSTGRES_POOL: u32 = 16;
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// The Gatehouse store: a pool of connections to SQLite or PostgreSQL. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    pub(crate) db: DatabaseConnection,
    backend: Backend,
    /// Batches login records into shared transactions; `None` on the writer's own handle.
    pub(crate) login_log: Option<Arc<LoginLog>>,
    /// The accounts logins looked up in the last second (`login_cache`).
    pub(crate) login_cache: Arc<LoginCache>,
    /// `db` is one SQLite connection that only this handle uses (the login log's writer): a
    /// statement that fails part-way can be followed by a ROLLBACK on that very connection
    /// before anything else runs on it.
    pub(crate) sole_sqlite_connection: bool,
    /// Where an SQLite file's login spools live; `None` on PostgreSQL and in memory.
    pub(crate) login_spool: Option<SpoolDir>,
}

// Hand-written: the pool's own Debug may include connect options.
impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend.name())
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens the store at `url`:
    ///
    /// - `sqlite://PATH?mode=rwc` — a file, created on first run (`mode=rwc`); every pooled
    ///   connection runs in WAL mode with foreign keys on and a 5 s busy timeout.
    ///   `sqlite::memory:` is accepted for throwaway use (one connection).
    /// - `postgres://USER[:PASSWORD]@HOST[:PORT]/DB` (or `postgresql://`). The query parameter
    ///   `gatehouse_schema=NAME` puts the store in schema `NAME` (created if missing) instead of the
    ///   default search path; the parameter is Gatehouse's, it is not passed to the driver.
    ///
    /// Errors name the URL with its password replaced by `***`.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        Self::open(Target::parse(url)?).await
    }

    /// Opens a PostgreSQL store in `schema` (created if missing), e.g. to isolate tests.
    pub async fn connect_in_schema(url: &str, schema: &str) -> Result<Store, StoreError> {
        let mut target = Target::parse(url)?;
        if target.backend != Backend::Postgres {
            return Err(StoreError::Connect(format!(
                "schemas are a PostgreSQL feature; `{}` is not a PostgreSQL URL",
                target.redacted
            )));
        }
        validate_schema(schema)?;
        target.schema = Some(schema.to_owned());
        Self::open(target).await
    }

    async fn open(target: Target) -> Result<Store, StoreError> {
        let fail = |e: DbErr| {
            let mut why = target.scrub(&e.to_string());
            if why.contains("pool timed out") {
                // sqlx retries refused connections until the timeout and then says only this.
                why.push_str(&format!(
                    " (no connection within {} s: is the server up and reachable?)",
                    ACQUIRE_TIMEOUT.as_secs()
                ));
            }
            StoreError::Connect(format!("{}: {why}", target.redacted))
        };
        let memory = target.is_memory();
        let pool_size = match target.backend {
            // Each in-memory connection would be a separate database.
            Backend::Sqlite if memory => 1,
            Backend::Sqlite => SQLITE_POOL,
            Backend::Postgres => POSTGRES_POOL,
        };
        let db = Database::connect(connect_options(&target, pool_size))
            .await
            .map_err(fail)?;
        if let Some(schema) = &target.schema {
            // The search path may name a schema that does not exist yet; it is resolved per query.
            db.execute_unprepared(&format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\""))
                .await
                .map_err(fail)?;
        }
        // SQLite has one writer at a time anyway: the login log writes through a connection of
        // its own, so a batch is one round trip to it (`write_login_records`) and a failed one
        // can be rolled back on the very connection it left in a transaction.
        let sole_sqlite_connection = target.backend == Backend::Sqlite && !memory;
        let writer_db = if sole_sqlite_connection {
            Database::connect(connect_options(&target, 1))
                .await
                .map_err(fail)?
        } else {
            db.clone()
        };
        // Logins of an SQLite file are spooled beside it (`login_spool`).
        let login_spool = if sole_sqlite_connection {
            let options = SqliteConnectOptions::from_str(&target.driver_url)
                .map_err(|e| fail(DbErr::Custom(e.to_string())))?;
            Some(SpoolDir::for_database(options.get_filename()))
        } else {
            None
        };
        let login_cache = Arc::new(LoginCache::new());
        let writer = Store {
            db: writer_db,
            backend: target.backend,
            login_log: None,
            login_cache: login_cache.clone(),
            sole_sqlite_connection,
            login_spool: login_spool.clone(),
        };
        Ok(Store {
            db,
            backend: target.backend,
            login_log: Some(LoginLog::start(writer, login_spool.clone())),
            login_cache,
            sole_sqlite_connection: false,
            login_spool,
        })
    }

    /// Applies pending migrations; a no-op when the schema is current. Safe to run from several
    /// instances at once: they take turns.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let fail = |e: DbErr| StoreError::Migration(e.to_string());
        // All migrations in one transaction: DDL is transactional on both backends, so a failed
        // upgrade leaves the previous schema intact.
        let txn = self.begin_write().await.map_err(fail)?;
        if self.backend == Backend::Postgres {
            // Serialises concurrent migrators of the same schema; released at commit.
            txn.execute_unprepared(
                "SELECT pg_advisory_xact_lock(7428161, hashtext(current_schema()))",
            )
            .await
            .map_err(fail)?;
        }
        let pending = Migrator::get_pending_migrations(&txn)
            .await
            .map_err(fail)?
            .len();
        Migrator::up(&txn, None).await.map_err(fail)?;
        txn.commit().await.map_err(fail)?;
        // One line for the whole upgrade (sea-orm-migration's own lines are kept at debug by the
        // server's log filter).
        if pending > 0 {
            tracing::info!(
                applied = pending,
                backend = self.backend_name(),
                "store migrated"
            );
        } else {
            tracing::debug!(backend = self.backend_name(), "store schema is current");
        }
        // Logins a process answered before it died are in its spool, not yet in the trail.
        self.recover_login_spools()
            .await
            .map_err(|e| StoreError::Migration(format!("replaying login spools: {e}")))
    }

    /// Readiness: the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.db
            .ping()
            .await
            .map_err(|e| StoreError::Connect(e.to_string()))
    }

    /// `"sqlite"` or `"postgres"`.
    pub fn backend_name(&self) -> &'static str {
        self.backend.name()
    }

    /// The underlying connection, for crates that keep their own tables in this store.
    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Closes the pool, waiting for connections in use to be returned.
    pub async fn close(self) -> Result<(), StoreError> {
        self.settle_login_log().await;
        self.db.close().await.map_err(StoreError::from)
    }

    /// A transaction that writes. On SQLite it takes the write lock at BEGIN (IMMEDIATE), where
    /// the busy timeout applies; a deferred one upgrading from read to write mid-way fails at once
    /// with "database is locked" when another writer got in first.
    pub(crate) async fn begin_write(&self) -> Result<DatabaseTransaction, DbErr> {
        self.db
            .begin_with_options(TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..Default::default()
            })
            .await
    }
}

fn connect_options(target: &Target, max_connections: u32) -> ConnectOptions {
    let mut options = ConnectOptions::new(target.driver_url.clone());
    // sea-orm's own tracing spans remain; sqlx's per-statement log lines are noise at INFO.
    options
        .sqlx_logging(false)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .max_connections(max_connections);
    match target.backend {
        Backend::Sqlite => {
            let memory = target.is_memory();
            // A connection to a file in this process cannot have gone away: testing it before
            // each use would cost a round trip to its thread for every statement.
            options.test_before_acquire(false);
            // Applied by sqlx when it opens each connection, so every pooled one gets them.
            options.map_sqlx_sqlite_opts(move |o| {
                let o = o.busy_timeout(SQLITE_BUSY_TIMEOUT).foreign_keys(true);
                if memory {
                    o
                } else {
                    o.journal_mode(SqliteJournalMode::Wal)
                        .synchronous(SqliteSynchronous::Normal)
                }
            });
        }
        Backend::Postgres => {
            if let Some(schema) = &target.schema {
                options.set_schema_search_path(schema.clone());
            }
        }
    }
    options
}

/// Timestamps are kept to the microsecond, PostgreSQL's precision, so both backends give back
/// exactly what was stored and SQLite's text timestamps sort in time order.
#[cfg(test)]
impl Store {
    /// This store's connections without its login log: what a log writes through.
    pub(crate) fn without_log(&self) -> Store {
        Store {
            login_log: None,
            ..self.clone()
        }
    }
}

pub(crate) fn stamp(at: DateTime<Utc>) -> DateTime<Utc> {
    at.trunc_subsecs(6)
}

pub(crate) fn now() -> DateTime<Utc> {
    stamp(Utc::now())
}
