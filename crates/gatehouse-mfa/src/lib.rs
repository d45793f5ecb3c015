//! Second factors as mechanisms of the policy engine (DESIGN.md "How an authentication policy
//! runs"): `totp` (RFC 6238 authenticator apps), `recovery_code` (single-use codes for a lost
//! device) and `email_otp` (a one-time code sent by email), plus the self-service enrolment the
//! account page and the CLI drive ([`SecondFactors`]).
//!
//! Like a connector, this crate knows core and nothing else of Gatehouse: credentials live in the
//! store behind core's repository traits (`gatehouse_core::second_factor`), secrets are sealed by
//! the key vault behind `SecretSealer`, and email goes out through `CodeSender`.

pub mod code_input;
pub mod digest;
pub mod email_otp;
pub mod enrolment;
pub mod error;
pub mod recovery_code;
pub mod totp;

pub use email_otp::{EmailOtpMechanism, EmailOtpSettings};
pub use enrolment::{SecondFactors, TotpSetup, TotpStatus};
pub use error::MfaError;
pub use recovery_code::RecoveryCodeMechanism;
pub use totp::{TotpMechanism, TotpSecret};

/// The names policies use for these mechanisms.
pub const TOTP: &str = "totp";
pub const RECOVERY_CODE: &str = "recovery_code";
pub const EMAIL_OTP: &str = "email_otp";

/// The field every mechanism of this crate asks for.
pub const CODE_FIELD: &str = "code";

/// Where a mechanism reads the time: the system clock, or a fixed one in tests.
pub type Clock = std::sync::Arc<dyn Fn() -> chrono::DateTime<chrono::Utc> + Send + Sync>;

pub fn system_clock() -> Clock {
    std::sync::Arc::new(chrono::Utc::now)
}

#[cfg(test)]
mod memory;
