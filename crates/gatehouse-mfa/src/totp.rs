//! `totp`: RFC 6238 codes from an authenticator app — HMAC-SHA-1, 6 digits, 30-second steps,
//! what every app reads from an `otpauth://` URI. A code is accepted one step early or late
//! (clock drift), and never twice: the last accepted step is stored, and a code of that step or
//! an earlier one is refused.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use gatehouse_core::auth::{
    Begin, Failure, Field, FieldKind, FlowView, Input, Mechanism, MechanismRef, Passed, Verdict,
};
use gatehouse_core::second_factor::{SecretSealer, TotpRepository};
use gatehouse_core::{Account, AccountId, CoreError};
use totp_rs::{Algorithm, Builder, Secret as TotpBytes, Totp};

use crate::digest::{ct_eq, random_bytes};
use crate::{CODE_FIELD, Clock, TOTP, code_input};

pub const DIGITS: usize = 6;
pub const STEP_SECONDS: i64 = 30;
/// Steps accepted either side of the current one.
pub const SKEW: i64 = 1;
const SECRET_BYTES: usize = 20;

/// The context a secret is sealed under: binds the ciphertext to its account.
pub fn seal_context(account: AccountId) -> String {
    format!("totp:{account}")
}

/// A TOTP shared secret (RFC 4226 recommends 160 bits). `Debug` does not print it.
#[derive(Clone)]
pub struct TotpSecret(Vec<u8>);

impl TotpSecret {
    pub fn generate() -> Self {
        Self(random_bytes(SECRET_BYTES))
    }

    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Base32 without padding: what a password manager takes, and what the URI carries.
    pub fn to_base32(&self) -> String {
        TotpBytes::from(self.0.clone())
            .to_base32()
            .trim_end_matches('=')
            .to_owned()
    }

    fn totp(&self, issuer: &str, account_name: &str) -> Totp {
        // The builder refuses `:` in either label part (it separates them in the URI).
        let clean = |s: &str| s.replace(':', " ");
        Builder::new()
            .with_algorithm(Algorithm::SHA1)
            .with_digits(DIGITS as u8)
            .with_step_duration(STEP_SECONDS as u64)
            .with_skew(0)
            .with_secret(self.0.clone())
            .with_issuer(Some(clean(issuer)))
            .with_account_name(clean(account_name))
            .build_noncompliant()
    }

    /// The code of time step `step`.
    pub fn code_at_step(&self, step: i64) -> String {
        let time = u64::try_from(step.max(0) * STEP_SECONDS).unwrap_or(0);
        self.totp("", "").generate(time).to_string()
    }

    /// The `otpauth://totp/…` URI an app scans.
    pub fn otpauth_uri(&self, issuer: &str, account_name: &str) -> String {
        self.totp(issuer, account_name)
            .to_url()
            .unwrap_or_else(|_| format!("otpauth://totp/?secret={}", self.to_base32()))
    }
}

impl fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpSecret([redacted])")
    }
}

pub fn step_at(now: DateTime<Utc>) -> i64 {
    now.timestamp().div_euclid(STEP_SECONDS)
}

/// What a typed code is worth against a secret at `now`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeCheck {
    /// Matches this step, later than the last accepted one.
    Valid(i64),
    /// Matches a step already accepted (or earlier): a replay.
    Replayed,
    Wrong,
    /// Not a 6-digit code at all; the message says what is wrong.
    Malformed(String),
}

/// Checks `typed` in the ±[`SKEW`] window around `now`. Every step of the window is compared (in
/// constant time), so the time taken does not tell which step matched.
pub fn check_code(
    secret: &TotpSecret,
    typed: &str,
    now: DateTime<Utc>,
    last_step: Option<i64>,
) -> CodeCheck {
    let code = match code_input::digits(typed, DIGITS) {
        Ok(code) => code,
        Err(message) => return CodeCheck::Malformed(message),
    };
    let current = step_at(now);
    let mut matched = None;
    for step in (current - SKEW)..=(current + SKEW) {
        if ct_eq(&secret.code_at_step(step), &code) && matched.is_none() {
            matched = Some(step);
        }
    }
    match matched {
        Some(step) if last_step.is_some_and(|last| step <= last) => CodeCheck::Replayed,
        Some(step) => CodeCheck::Valid(step),
        None => CodeCheck::Wrong,
    }
}

pub const WRONG_CODE: &str =
    "This code is not correct. Check your authenticator app and try again.";
pub const REPLAYED_CODE: &str =
    "This code has already been used. Wait for your app to show the next one.";

/// The `totp` mechanism: a code from the app enrolled on the account page.
pub struct TotpMechanism {
    reference: MechanismRef,
    credentials: Arc<dyn TotpRepository>,
    sealer: Arc<dyn SecretSealer>,
    clock: Clock,
}

impl TotpMechanism {
    pub fn new(
        credentials: Arc<dyn TotpRepository>,
        sealer: Arc<dyn SecretSealer>,
        clock: Clock,
    ) -> Self {
        Self {
            reference: MechanismRef::new(TOTP),
            credentials,
            sealer,
            clock,
        }
    }
}

/// Opens the sealed secret of a stored enrolment.
pub fn open_secret(
    sealer: &dyn SecretSealer,
    account: AccountId,
    sealed: &[u8],
) -> Result<TotpSecret, gatehouse_core::second_factor::SealError> {
    sealer
        .open(&seal_context(account), sealed)
        .map(TotpSecret::from_bytes)
}

#[async_trait]
impl Mechanism for TotpMechanism {
    fn reference(&self) -> &MechanismRef {
        &self.reference
    }

    fn label(&self) -> String {
        "Authenticator app".to_owned()
    }

    async fn enrolled(&self, account: &Account) -> Result<bool, CoreError> {
        Ok(self
            .credentials
            .totp(account.id)
            .await?
            .is_some_and(|c| c.confirmed))
    }

    async fn begin(&self, flow: FlowView<'_>) -> Result<Begin, Failure> {
        if flow.account.is_none() {
            return Err(first_factor_first());
        }
        Ok(Begin::Challenge {
            fields: vec![Field::new(
                CODE_FIELD,
                FieldKind::Otp,
                "The 6-digit code from your authenticator app",
            )],
            data: serde_json::Value::Null,
        })
    }

    async fn verify(
        &self,
        flow: FlowView<'_>,
        _pending: &serde_json::Value,
        input: &Input,
    ) -> Result<Verdict, CoreError> {
        let Some(account) = flow.account else {
            return Ok(Verdict::Rejected(first_factor_first()));
        };
        let typed = input.field(CODE_FIELD).map(|s| s.expose()).unwrap_or("");
        let Some(credential) = self
            .credentials
            .totp(account.id)
            .await?
            .filter(|c| c.confirmed)
        else {
            return Ok(Verdict::Rejected(Failure::new(
                "not_enrolled",
                "No authenticator app is set up for this account.",
            )));
        };
        let secret = match open_secret(self.sealer.as_ref(), account.id, &credential.sealed_secret)
        {
            Ok(secret) => secret,
            Err(e) => {
                tracing::error!(account = %account.id, error = %e, "cannot open a TOTP secret");
                return Ok(Verdict::Rejected(Failure::new(
                    "secret_unusable",
                    "The authenticator app cannot be checked now. Ask an administrator for help.",
                )));
            }
        };
        let rejected =
            |code: &str, message: &str| Ok(Verdict::Rejected(Failure::new(code, message)));
        match check_code(&secret, typed, (self.clock)(), credential.last_step) {
            CodeCheck::Malformed(message) => rejected("malformed_code", &message),
            CodeCheck::Wrong => rejected("wrong_code", WRONG_CODE),
            CodeCheck::Replayed => rejected("replayed_code", REPLAYED_CODE),
            CodeCheck::Valid(step) => {
                // Another instance may have accepted the same code meanwhile: the store decides.
                if !self.credentials.accept_totp_step(account.id, step).await? {
                    return rejected("replayed_code", REPLAYED_CODE);
                }
                Ok(Verdict::Passed(Box::new(Passed {
                    account: account.clone(),
                    amr: vec!["otp".to_owned()],
                    provider: None,
                })))
            }
        }
    }
}

pub(crate) fn first_factor_first() -> Failure {
    Failure::new(
        "no_first_factor",
        "This step needs a first factor (a password) before it. Ask an administrator to fix the policy.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(unix: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(unix, 0).unwrap()
    }

    /// RFC 6238 appendix B, SHA-1 rows: the ASCII seed "12345678901234567890", 8 digits there;
    /// we show 6, which are the last 6 of the same truncation (the value mod 10^6).
    #[test]
    fn rfc6238_appendix_b_sha1_vectors() {
        let secret = TotpSecret::from_bytes(b"12345678901234567890".to_vec());
        for (time, eight) in [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            assert_eq!(
                secret.code_at_step(time / STEP_SECONDS),
                &eight[2..],
                "T = {time}"
            );
        }
        // The 8-digit form through the same library, to tie the vectors to the RFC exactly.
        let eight = Builder::new()
            .with_secret(b"12345678901234567890".to_vec())
            .with_digits(8)
            .build_noncompliant();
        assert_eq!(eight.generate(59).to_string(), "94287082");
        assert_eq!(eight.generate(20_000_000_000).to_string(), "65353130");
    }

    #[test]
    fn accepts_one_step_either_side_and_no_further() {
        let secret = TotpSecret::generate();
        let now = at(1_700_000_015);
        let step = step_at(now);
        for offset in -1..=1 {
            let code = secret.code_at_step(step + offset);
            assert_eq!(
                check_code(&secret, &code, now, None),
                CodeCheck::Valid(step + offset)
            );
        }
        for offset in [-3, -2, 2, 3] {
            let code = secret.code_at_step(step + offset);
            // A far step's code could equal a near one's by chance (1 in 10^6): skip that case.
            if (-1..=1).any(|o| secret.code_at_step(step + o) == code) {
                continue;
            }
            assert_eq!(check_code(&secret, &code, now, None), CodeCheck::Wrong);
        }
    }

    #[test]
    fn never_the_same_step_twice() {
        let secret = TotpSecret::generate();
        let now = at(1_700_000_000);
        let step = step_at(now);
        let code = secret.code_at_step(step);
        assert_eq!(
            check_code(&secret, &code, now, None),
            CodeCheck::Valid(step)
        );
        assert_eq!(
            check_code(&secret, &code, now, Some(step)),
            CodeCheck::Replayed
        );
        // An older code still in the window is refused once a later step was accepted.
        let older = secret.code_at_step(step - 1);
        assert_eq!(
            check_code(&secret, &older, now, Some(step)),
            CodeCheck::Replayed
        );
        let next = secret.code_at_step(step + 1);
        assert_eq!(
            check_code(&secret, &next, now, Some(step)),
            CodeCheck::Valid(step + 1)
        );
    }

    #[test]
    fn malformed_codes_are_told_apart() {
        let secret = TotpSecret::generate();
        let now = at(1_700_000_000);
        for typed in ["", "1234567", "12345", "abcdef", "12 34 5x"] {
            assert!(
                matches!(
                    check_code(&secret, typed, now, None),
                    CodeCheck::Malformed(_)
                ),
                "{typed:?}"
            );
        }
    }

    #[test]
    fn uri_and_secret_text_carry_the_same_secret() {
        let secret = TotpSecret::from_bytes(b"12345678901234567890".to_vec());
        assert_eq!(secret.to_base32(), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        let uri = secret.otpauth_uri("Gatehouse main", "alice@example.com");
        assert!(uri.starts_with("otpauth://totp/"), "{uri}");
        assert!(
            uri.contains("secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"),
            "{uri}"
        );
        assert!(uri.contains("issuer=Gatehouse"), "{uri}");
        assert!(!format!("{secret:?}").contains("GEZ"));
    }
}
