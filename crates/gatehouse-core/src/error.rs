use thiserror::Error;

use crate::auth::FlowRefusal;
use crate::repository::RepoError;

/// Errors of the domain layer. Refusals of a login are not errors: they are a [`crate::LoginDecision`].
#[derive(Debug, Error)]
pub enum CoreError {
    #[error("store: {0}")]
    Store(#[from] RepoError),
    #[error("realm `{realm}`: {problem}")]
    Realm { realm: String, problem: String },
    /// A flow request refused before anything advanced (a stale state id, an oversized input).
    #[error("flow: {0}")]
    Flow(#[from] FlowRefusal),
}

impl CoreError {
    /// The store is away for now: answer "try again later", not "internal error".
    pub fn is_store_unavailable(&self) -> bool {
        matches!(self, CoreError::Store(e) if e.is_unavailable())
    }
}
