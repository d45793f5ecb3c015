//! The connection: opening, migrating, health.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::{
    ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbErr,
    SqliteTransactionMode, TransactionOptions, TransactionTrait,
};
use sea_orm_migration::MigratorTrait;

use crate::error::StoreError;
use crate::health::{Health, StoreAvailability};
use crate::login_log::LoginLog;
use crate::migration::Migrator;
use crate::pool::PoolSettings;
use crate::url::{Backend, Target, validate_schema};

/// `/readyz` waits this long for the database: a load balancer probing with a 1 s timeout gets
/// an answer, 503 when the store is slower than this.
pub const READY_CHECK_LIMIT: Duration = Duration::from_millis(800);

/// The Gatehouse store: a pool of connections to SQLite or PostgreSQL. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    pub(crate) db: DatabaseConnection,
    backend: Backend,
    /// Batches login records into shared transactions; `None` on the writer's own handle.
    pub(crate) login_log: Option<Arc<LoginLog>>,
    /// Whether the database answers, watched in the background.
    health: Arc<Health>,
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
        Self::connect_with(url, &PoolSettings::default()).await
    }

    /// [`Store::connect`] with the pool's settings given (see [`PoolSettings`]).
    pub async fn connect_with(url: &str, settings: &PoolSettings) -> Result<Store, StoreError> {
        Self::open(Target::parse(url)?, settings).await
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
        Self::open(target, &PoolSettings::default()).await
    }

    async fn open(target: Target, settings: &PoolSettings) -> Result<Store, StoreError> {
        let fail = |e: DbErr| {
            let mut why = target.scrub(&e.to_string());
            if why.contains("pool timed out") {
                // sqlx retries refused connections until the timeout and then says only this.
                why.push_str(&format!(
                    " (no connection within {} ms: is the server up and reachable?)",
                    settings.acquire_timeout.as_millis()
                ));
            }
            StoreError::Connect(format!("{}: {why}", target.redacted))
        };
        let pool_size = settings.pool_size(&target);
        let db = Database::connect(settings.connect_options(&target, pool_size))
            .await
            .map_err(fail)?;
        if let Some(schema) = &target.schema {
            // The search path may name a schema that does not exist yet; it is resolved per query.
            db.execute_unprepared(&format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\""))
                .await
                .map_err(fail)?;
        }
        let health = Health::start(db.clone());
        let writer = Store {
            db: db.clone(),
            backend: target.backend,
            login_log: None,
            health: health.clone(),
        };
        Ok(Store {
            db,
            backend: target.backend,
            login_log: Some(LoginLog::start(writer)),
            health,
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
        Ok(())
    }

    /// Readiness: the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.db
            .ping()
            .await
            .map_err(|e| StoreError::Connect(e.to_string()))
    }

    /// Readiness within `limit` (`/readyz`): the database answers a ping in time. The outcome
    /// also updates [`Store::availability`].
    pub async fn check(&self, limit: Duration) -> Result<(), StoreError> {
        self.health.check(limit).await
    }

    /// Whether the database answered its last check, watched in the background (every second
    /// while up, five times a second while down); for a metric. Logs one WARN when the store
    /// goes away and one INFO when it is back.
    pub fn availability(&self) -> StoreAvailability {
        self.health.availability.clone()
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
        self.health.stop();
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

/// Timestamps are kept to the microsecond, PostgreSQL's precision, so both backends give back
/// exactly what was stored and SQLite's text timestamps sort in time order.
pub(crate) fn stamp(at: DateTime<Utc>) -> DateTime<Utc> {
    at.trunc_subsecs(6)
}

pub(crate) fn now() -> DateTime<Utc> {
    stamp(Utc::now())
}
