use std::sync::Arc;

use gatehouse_core::RepoError;
use sea_orm::sqlx;
use sea_orm::{DbErr, RuntimeErr, SqlErr};
use thiserror::Error;

/// Errors of the store. Messages never carry a database password or a link secret.
///
/// Callers tell the kinds apart with [`StoreError::kind`]: a unique-key clash (`Conflict`) is the
/// caller's to answer, an outage (`Unavailable`) is temporary and answered "try again".
#[derive(Debug, Error)]
pub enum StoreError {
    /// The URL is unusable, or the database could not be reached when the store was opened.
    #[error("cannot open the store: {0}")]
    Connect(String),
    #[error("store migration failed: {0}")]
    Migration(String),
    /// A uniqueness rule was broken (an account that already exists, …).
    #[error("{0}")]
    Conflict(String),
    /// The named record does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// The database cannot serve now: unreachable, restarting, no connection within the acquire
    /// timeout, an SQLite file locked by another process or a full disk. Retrying later may work.
    #[error("the store is unavailable: {0}")]
    Unavailable(#[source] Arc<DbErr>),
    /// Data the store wrote but cannot read back: a bug or a hand-edited row.
    #[error("corrupt {what}: {detail}")]
    Corrupt { what: String, detail: String },
    /// Any other failure the driver reported.
    #[error("store: {0}")]
    Driver(#[source] DbErr),
    /// Any other failure, described.
    #[error("store: {0}")]
    Db(String),
}

/// What kind of failure a [`StoreError`] or a [`RepoError`] is, for callers choosing an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    Conflict,
    NotFound,
    Unavailable,
    Corrupt,
    Other,
}

impl StoreError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            StoreError::Conflict(_) => ErrorKind::Conflict,
            StoreError::Driver(e) if is_unique_violation(e) => ErrorKind::Conflict,
            StoreError::NotFound(_) => ErrorKind::NotFound,
            StoreError::Unavailable(_) => ErrorKind::Unavailable,
            StoreError::Corrupt { .. } => ErrorKind::Corrupt,
            StoreError::Connect(_)
            | StoreError::Migration(_)
            | StoreError::Driver(_)
            | StoreError::Db(_) => ErrorKind::Other,
        }
    }

    /// The database is away for now (see [`StoreError::Unavailable`]).
    pub fn is_unavailable(&self) -> bool {
        self.kind() == ErrorKind::Unavailable
    }
}

impl From<DbErr> for StoreError {
    fn from(e: DbErr) -> Self {
        if is_unavailable(&e) {
            StoreError::Unavailable(Arc::new(e))
        } else if let Some(detail) = corrupt_file(&e) {
            StoreError::Corrupt {
                what: "database file".into(),
                detail,
            }
        } else {
            StoreError::Driver(e)
        }
    }
}

impl From<StoreError> for RepoError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(message) => RepoError::Conflict(message),
            StoreError::NotFound(what) => RepoError::NotFound(what),
            e if e.is_unavailable() => RepoError::Unavailable(Box::new(e)),
            e @ StoreError::Corrupt { .. } => RepoError::Corrupt(Box::new(e)),
            e if e.kind() == ErrorKind::Conflict => RepoError::Conflict(e.to_string()),
            e => RepoError::Other(Box::new(e)),
        }
    }
}

pub(crate) fn is_unique_violation(e: &DbErr) -> bool {
    matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

fn sqlx_error(e: &DbErr) -> Option<&sqlx::Error> {
    match e {
        DbErr::Conn(RuntimeErr::SqlxError(e))
        | DbErr::Exec(RuntimeErr::SqlxError(e))
        | DbErr::Query(RuntimeErr::SqlxError(e)) => Some(e),
        _ => None,
    }
}

/// SQLite's primary result code (the low byte of the extended code sqlx reports).
fn sqlite_code(e: &sqlx::Error) -> Option<i64> {
    match e {
        sqlx::Error::Database(db)
            if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() =>
        {
            db.code()
                .and_then(|c| c.parse::<i64>().ok())
                .map(|c| c & 0xff)
        }
        _ => None,
    }
}

/// Whether `e` says the database cannot serve now, as opposed to refusing this statement.
pub(crate) fn is_unavailable(e: &DbErr) -> bool {
    match e {
        // No connection within the acquire timeout, or the pool is closing.
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        _ => sqlx_error(e).is_some_and(sqlx_unavailable),
    }
}

fn sqlx_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => {
            if let Some(code) = sqlite_code(e) {
                // BUSY, LOCKED, IOERR, FULL, CANTOPEN: another process holds the file, or the
                // disk or file system refuses; the data is intact and a retry may succeed.
                return matches!(code, 5 | 6 | 10 | 13 | 14);
            }
            db.code().is_some_and(|code| {
                // PostgreSQL: connection exceptions (08), insufficient resources (53: disk full,
                // too many connections), operator intervention (57P01–57P05: shutdown, restart).
                code.starts_with("08") || code.starts_with("53") || code.starts_with("57P")
            })
        }
        _ => false,
    }
}

/// SQLite says the file itself is damaged (CORRUPT, NOTADB).
fn corrupt_file(e: &DbErr) -> Option<String> {
    let code = sqlite_code(sqlx_error(e)?)?;
    matches!(code, 11 | 26).then(|| e.to_string())
}

/// Data the store wrote but cannot read back: a bug or a hand-edited row, reported, not panicked on.
pub(crate) fn corrupt(
    what: &str,
    owner: impl std::fmt::Display,
    e: impl std::fmt::Display,
) -> StoreError {
    StoreError::Corrupt {
        what: format!("{what} of {owner}"),
        detail: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use sea_orm::ConnAcquireErr;

    use super::*;

    #[test]
    fn an_outage_stays_an_outage_up_to_the_resolver_with_its_source() {
        let e = StoreError::from(DbErr::ConnectionAcquire(ConnAcquireErr::Timeout));
        assert_eq!(e.kind(), ErrorKind::Unavailable);
        let repo = RepoError::from(e);
        assert!(repo.is_unavailable());
        let store = repo.source().expect("the store's error is kept");
        let driver = store.source().expect("the driver's error is kept");
        assert!(driver.to_string().contains("timed out"), "{driver}");
    }

    #[test]
    fn a_clash_and_a_missing_row_keep_their_kind() {
        let clash = RepoError::from(StoreError::Conflict("an account `a` exists".into()));
        assert!(matches!(clash, RepoError::Conflict(_)));
        let missing = RepoError::from(StoreError::NotFound("account 1".into()));
        assert!(matches!(missing, RepoError::NotFound(_)));
        let corrupt = RepoError::from(corrupt("roles", "account 1", "not json"));
        assert!(matches!(corrupt, RepoError::Corrupt(_)));
        let other = StoreError::from(DbErr::Custom("odd".into()));
        assert_eq!(other.kind(), ErrorKind::Other);
        assert!(other.source().is_some());
    }
}
