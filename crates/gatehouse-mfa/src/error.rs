//! Errors of enrolment and administration (the mechanisms answer with core's verdicts).

use gatehouse_core::RepoError;
use gatehouse_core::second_factor::SealError;

#[derive(Debug, thiserror::Error)]
pub enum MfaError {
    /// The typed code is refused; the message is for the user.
    #[error("{0}")]
    BadCode(String),
    #[error("an authenticator app is already set up for this account; remove it first")]
    AlreadyEnrolled,
    #[error("no authenticator app is set up for this account")]
    NotEnrolled,
    #[error("no authenticator set-up is in progress; start again")]
    NoPendingEnrolment,
    #[error("the stored second-factor secret cannot be used: {0}")]
    Seal(#[from] SealError),
    #[error(transparent)]
    Store(#[from] RepoError),
}
