//! The store side of the OpenID Provider: signing keys, browser sessions, login transactions,
//! authorization codes, refresh-token families and access-token revocation.
//!
//! Everything here may be called by several `gatehouse serve` instances on one database at once.
//! Every "use once" operation is therefore a single conditional `UPDATE`/`DELETE` whose
//! `rows_affected` decides who won; nothing is decided by reading first and writing after.

mod account_end;
mod account_sessions;
mod codes;
mod keys;
mod purge;
mod sessions;
mod tokens;
mod types;

pub(crate) use account_end::end_account_in;
pub use purge::CODE_REPLAY_GRACE;
pub use types::{
    AccessTokenRecord, AuthorizationCode, BrowserSession, CodeUse, LoginTransaction,
    RefreshTokenRecord, RefreshUse, SessionUpstream, SigningKeyRecord,
};

use crate::error::{StoreError, corrupt, is_unique_violation};
use sea_orm::DbErr;

pub(crate) fn to_json<T: serde::Serialize + ?Sized>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Db(format!("cannot encode JSON: {e}")))
}

/// Decodes a JSON column; `owner` names the row without printing a secret (hashes only).
pub(crate) fn from_json<T: serde::de::DeserializeOwned>(
    text: &str,
    what: &str,
    owner: impl std::fmt::Display,
) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| corrupt(what, owner, e))
}

/// An insert whose primary key is taken: a conflict the caller can report, not a database error.
pub(crate) fn insert_error(e: DbErr, what: &str) -> StoreError {
    if is_unique_violation(&e) {
        StoreError::Conflict(format!("{what} already exists"))
    } else {
        e.into()
    }
}

/// Short prefix of a hash, enough to find the row in a post-mortem.
pub(crate) fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}
