//! What the second-factor mechanisms (`gatehouse-mfa`) need from the rest of Gatehouse: the
//! store's side of their credentials (a TOTP enrolment, recovery codes, pending email codes), a
//! way to seal a secret with the key vault, and a way to send a code. Implemented by the store
//! and the server; in memory in the mechanisms' tests.

use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use thiserror::Error;
use uuid::Uuid;

use crate::account::AccountId;
use crate::repository::RepoError;
use crate::secret::Secret;

/// How many recovery codes an enrolment hands out.
pub const RECOVERY_CODE_COUNT: usize = 8;

/// A TOTP enrolment as the store keeps it. `sealed_secret` is the shared secret encrypted by
/// the key vault ([`SecretSealer`]); the store never sees it in clear.
#[derive(Clone, PartialEq, Eq)]
pub struct TotpCredential {
    pub account_id: AccountId,
    pub sealed_secret: Vec<u8>,
    /// False while the user has not yet typed a correct code from the new device.
    pub confirmed: bool,
    /// The last time step (unix time / 30 s) accepted: a code of this step or an earlier one is
    /// never accepted again.
    pub last_step: Option<i64>,
    pub created_at: DateTime<Utc>,
}

impl fmt::Debug for TotpCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TotpCredential")
            .field("account_id", &self.account_id)
            .field("confirmed", &self.confirmed)
            .field("last_step", &self.last_step)
            .finish_non_exhaustive()
    }
}

#[async_trait]
pub trait TotpRepository: Send + Sync {
    async fn totp(&self, account: AccountId) -> Result<Option<TotpCredential>, RepoError>;

    /// Starts an enrolment: replaces an unconfirmed one. A confirmed enrolment is never
    /// replaced (the user removes it first): [`RepoError::Conflict`].
    async fn begin_totp(
        &self,
        account: AccountId,
        sealed_secret: &[u8],
        now: DateTime<Utc>,
    ) -> Result<(), RepoError>;

    /// Confirms the unconfirmed enrolment with the step of its first correct code. False when
    /// there is none to confirm.
    async fn confirm_totp(&self, account: AccountId, step: i64) -> Result<bool, RepoError>;

    /// Records `step` as the last accepted step of the confirmed enrolment, only if it is later
    /// than the stored one, in one conditional statement: of two instances accepting the same
    /// code, one gets true. False: a replay (or no enrolment).
    async fn accept_totp_step(&self, account: AccountId, step: i64) -> Result<bool, RepoError>;

    /// Removes the enrolment, confirmed or not. True when there was one.
    async fn remove_totp(&self, account: AccountId) -> Result<bool, RepoError>;
}

#[async_trait]
pub trait RecoveryCodeRepository: Send + Sync {
    /// Replaces every recovery code of the account by these digests (never the codes).
    async fn replace_recovery_codes(
        &self,
        account: AccountId,
        digests: &[String],
        now: DateTime<Utc>,
    ) -> Result<(), RepoError>;

    /// Marks the unused code with this digest used, in one conditional statement. True when one
    /// was (single use: a second use of the same code is false).
    async fn use_recovery_code(
        &self,
        account: AccountId,
        digest: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, RepoError>;

    /// Unused codes left.
    async fn remaining_recovery_codes(&self, account: AccountId) -> Result<u32, RepoError>;

    async fn remove_recovery_codes(&self, account: AccountId) -> Result<u64, RepoError>;
}

/// An email code waiting for its flow: kept in the store under a random id that only the flow's
/// pending data knows, so it is bound to that flow and shared by every instance.
#[derive(Clone, PartialEq, Eq)]
pub struct EmailCodeRecord {
    pub id: Uuid,
    pub account_id: AccountId,
    /// Salted digest of the code; the code itself is only in the email.
    pub digest: String,
    pub salt: String,
    pub sent_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// Wrong codes typed against this challenge (across resends).
    pub failures: u32,
    pub used: bool,
}

impl fmt::Debug for EmailCodeRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmailCodeRecord")
            .field("id", &self.id)
            .field("account_id", &self.account_id)
            .field("sent_at", &self.sent_at)
            .field("expires_at", &self.expires_at)
            .field("failures", &self.failures)
            .field("used", &self.used)
            .finish_non_exhaustive()
    }
}

#[async_trait]
pub trait EmailCodeRepository: Send + Sync {
    /// Stores a new challenge, or replaces the code of an existing one (a resend) keeping its
    /// failure count.
    async fn put_email_code(&self, record: &EmailCodeRecord) -> Result<(), RepoError>;

    async fn email_code(&self, id: Uuid) -> Result<Option<EmailCodeRecord>, RepoError>;

    /// Counts one wrong code; returns the count after it.
    async fn fail_email_code(&self, id: Uuid) -> Result<u32, RepoError>;

    /// Marks the challenge used, only if it was not, with fewer than `max_failures` failures and
    /// not expired at `now`, in one conditional statement. True when this call used it.
    async fn use_email_code(
        &self,
        id: Uuid,
        max_failures: u32,
        now: DateTime<Utc>,
    ) -> Result<bool, RepoError>;
}

#[derive(Debug, Error)]
#[error("{0}")]
pub struct SealError(pub String);

/// Encryption of a secret at rest (the key vault of `keys.encryption_key`). `context` is bound
/// to the ciphertext, so a sealed secret cannot be moved to another account's row.
pub trait SecretSealer: Send + Sync {
    fn seal(&self, context: &str, plaintext: &[u8]) -> Result<Vec<u8>, SealError>;
    fn open(&self, context: &str, sealed: &[u8]) -> Result<Vec<u8>, SealError>;
}

/// One email code to deliver.
#[derive(Debug, Clone)]
pub struct CodeMessage {
    pub realm: String,
    pub to: String,
    pub username: String,
    pub code: Secret,
    pub expires_at: DateTime<Utc>,
    pub validity_minutes: u32,
}

#[derive(Debug, Error)]
pub enum SendError {
    /// The mail server could not be reached or refused the message; retrying later may work.
    #[error("the code could not be sent: {0}")]
    Unavailable(String),
    /// The message itself is unusable (a bad address, a broken template).
    #[error("the code could not be sent: {0}")]
    Invalid(String),
}

/// Delivers one-time codes (SMTP in the server).
#[async_trait]
pub trait CodeSender: Send + Sync {
    async fn send_code(&self, message: &CodeMessage) -> Result<(), SendError>;
}
