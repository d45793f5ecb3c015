use gatehouse_core::RepoError;
use sea_orm::{DbErr, SqlErr};
use thiserror::Error;

/// Errors of the store. Messages never carry a database password or a link secret.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The database could not be reached or the URL is unusable.
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
    /// Any other database failure, including data that cannot be decoded.
    #[error("store: {0}")]
    Db(String),
}

impl From<DbErr> for StoreError {
    fn from(e: DbErr) -> Self {
        StoreError::Db(e.to_string())
    }
}

impl From<StoreError> for RepoError {
    fn from(e: StoreError) -> Self {
        RepoError(e.to_string())
    }
}

pub(crate) fn is_unique_violation(e: &DbErr) -> bool {
    matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

/// Data the store wrote but cannot read back: a bug or a hand-edited row, reported, not panicked on.
pub(crate) fn corrupt(
    what: &str,
    owner: impl std::fmt::Display,
    e: impl std::fmt::Display,
) -> StoreError {
    StoreError::Db(format!("corrupt {what} of {owner}: {e}"))
}
