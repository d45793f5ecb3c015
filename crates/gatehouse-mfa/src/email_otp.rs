//! `email_otp`: a one-time code sent to the account's email address. The code is kept in the
//! store only as a salted digest, under a random challenge id that only this flow's pending data
//! knows (bound to the flow and to the account), is used once, expires after
//! `code_validity_minutes`, and dies after [`MAX_WRONG_CODES`] wrong tries, resends included.
//! A resend is an input of its own (`resend` = anything non-empty) and is rate limited.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use gatehouse_core::auth::{
    Begin, Failure, Field, FieldKind, FlowView, Input, Mechanism, MechanismRef, Passed, Verdict,
};
use gatehouse_core::second_factor::{
    CodeMessage, CodeSender, EmailCodeRecord, EmailCodeRepository,
};
use gatehouse_core::{Account, CoreError, Secret};
use uuid::Uuid;

use crate::digest::{ct_eq, random_digits, random_hex, sha256_hex};
use crate::totp::first_factor_first;
use crate::{CODE_FIELD, Clock, EMAIL_OTP, code_input};

/// Wrong codes after which a challenge is dead (the "5 wrong tries").
pub const MAX_WRONG_CODES: u32 = 5;
/// The input that asks for a new code instead of checking one.
pub const RESEND_FIELD: &str = "resend";

/// The realm's `[realms.R.mfa]` email keys, checked by the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailOtpSettings {
    pub code_length: usize,
    pub validity_minutes: u32,
    /// Seconds between two sends for one challenge.
    pub resend_interval_seconds: u32,
}

impl Default for EmailOtpSettings {
    fn default() -> Self {
        Self {
            code_length: 6,
            validity_minutes: 15,
            resend_interval_seconds: 60,
        }
    }
}

pub struct EmailOtpMechanism {
    reference: MechanismRef,
    settings: EmailOtpSettings,
    codes: Arc<dyn EmailCodeRepository>,
    sender: Arc<dyn CodeSender>,
    clock: Clock,
}

fn unsendable() -> Failure {
    Failure::new(
        "email_unavailable",
        "The code could not be sent by email. Please try again in a few minutes.",
    )
}

fn no_email() -> Failure {
    Failure::new(
        "no_email",
        "This account has no email address to send a code to. Ask an administrator for help.",
    )
}

/// `alice@example.com` → `a…@example.com`: enough to recognise, not to harvest.
pub fn mask_email(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}…@{domain}")
        }
        None => "your email address".to_owned(),
    }
}

fn code_digest(salt: &str, code: &str) -> String {
    sha256_hex(&["gatehouse email code v1", salt, code])
}

impl EmailOtpMechanism {
    pub fn new(
        settings: EmailOtpSettings,
        codes: Arc<dyn EmailCodeRepository>,
        sender: Arc<dyn CodeSender>,
        clock: Clock,
    ) -> Self {
        Self {
            reference: MechanismRef::new(EMAIL_OTP),
            settings,
            codes,
            sender,
            clock,
        }
    }

    /// Draws a code, stores its digest under `id` and sends it.
    async fn send(
        &self,
        id: Uuid,
        account: &Account,
        now: DateTime<Utc>,
    ) -> Result<Result<(), Failure>, CoreError> {
        let Some(to) = account.email.clone().filter(|e| e.contains('@')) else {
            return Ok(Err(no_email()));
        };
        let code = random_digits(self.settings.code_length);
        let salt = random_hex(16);
        let expires_at = now + Duration::minutes(i64::from(self.settings.validity_minutes));
        self.codes
            .put_email_code(&EmailCodeRecord {
                id,
                account_id: account.id,
                digest: code_digest(&salt, &code),
                salt,
                sent_at: now,
                expires_at,
                failures: 0,
                used: false,
            })
            .await?;
        let message = CodeMessage {
            realm: account.realm.clone(),
            to,
            username: account.username.clone(),
            code: Secret::new(code),
            expires_at,
            validity_minutes: self.settings.validity_minutes,
        };
        if let Err(e) = self.sender.send_code(&message).await {
            tracing::warn!(account = %account.id, error = %e, "email code not sent");
            return Ok(Err(unsendable()));
        }
        Ok(Ok(()))
    }

    async fn resend(
        &self,
        record: &EmailCodeRecord,
        account: &Account,
        now: DateTime<Utc>,
    ) -> Result<Failure, CoreError> {
        if record.failures >= MAX_WRONG_CODES {
            return Ok(dead());
        }
        let next =
            record.sent_at + Duration::seconds(i64::from(self.settings.resend_interval_seconds));
        if now < next {
            let wait = (next - now).num_seconds().max(1);
            return Ok(Failure::new(
                "resend_too_soon",
                format!("A new code can be sent in {wait} seconds. Check your inbox meanwhile."),
            ));
        }
        Ok(match self.send(record.id, account, now).await? {
            Ok(()) => Failure::new(
                "code_resent",
                format!(
                    "A new code was sent to {}. The previous code no longer works.",
                    account.email.as_deref().map(mask_email).unwrap_or_default()
                ),
            ),
            Err(failure) => failure,
        })
    }
}

fn dead() -> Failure {
    Failure::new(
        "code_dead",
        "Too many wrong codes. Please start the login again.",
    )
}

#[async_trait]
impl Mechanism for EmailOtpMechanism {
    fn reference(&self) -> &MechanismRef {
        &self.reference
    }

    fn label(&self) -> String {
        "A code sent by email".to_owned()
    }

    async fn enrolled(&self, account: &Account) -> Result<bool, CoreError> {
        Ok(account.email.as_deref().is_some_and(|e| e.contains('@')))
    }

    async fn begin(&self, flow: FlowView<'_>) -> Result<Begin, Failure> {
        let Some(account) = flow.account else {
            return Err(first_factor_first());
        };
        let id = Uuid::new_v4();
        match self.send(id, account, (self.clock)()).await {
            Ok(Ok(())) => {}
            Ok(Err(failure)) => return Err(failure),
            Err(e) => {
                tracing::warn!(account = %account.id, error = %e, "email code not stored");
                return Err(unsendable());
            }
        }
        let label = format!(
            "The {}-digit code sent to {}",
            self.settings.code_length,
            account.email.as_deref().map(mask_email).unwrap_or_default()
        );
        Ok(Begin::Challenge {
            fields: vec![Field::new(CODE_FIELD, FieldKind::Otp, &label)],
            data: serde_json::json!({ "challenge": id }),
        })
    }

    async fn verify(
        &self,
        flow: FlowView<'_>,
        pending: &serde_json::Value,
        input: &Input,
    ) -> Result<Verdict, CoreError> {
        let Some(account) = flow.account else {
            return Ok(Verdict::Rejected(first_factor_first()));
        };
        let now = (self.clock)();
        let invalid = || Verdict::Rejected(Failure::new("invalid_code", WRONG));
        let Some(id) = pending
            .get("challenge")
            .and_then(|v| v.as_str())
            .and_then(|s| Uuid::parse_str(s).ok())
        else {
            return Ok(invalid());
        };
        let Some(record) = self
            .codes
            .email_code(id)
            .await?
            .filter(|r| r.account_id == account.id)
        else {
            return Ok(invalid());
        };
        if input
            .field(RESEND_FIELD)
            .is_some_and(|v| !v.expose().trim().is_empty())
        {
            return Ok(Verdict::Rejected(self.resend(&record, account, now).await?));
        }
        let typed = input.field(CODE_FIELD).map(|s| s.expose()).unwrap_or("");
        let code = match code_input::digits(typed, self.settings.code_length) {
            Ok(code) => code,
            Err(message) => return Ok(Verdict::Rejected(Failure::new("malformed_code", message))),
        };
        if record.used || record.failures >= MAX_WRONG_CODES {
            return Ok(Verdict::Rejected(dead()));
        }
        if now >= record.expires_at {
            return Ok(Verdict::Rejected(Failure::new(
                "code_expired",
                "This code has expired. Ask for a new code.",
            )));
        }
        if !ct_eq(&code_digest(&record.salt, &code), &record.digest) {
            let failures = self.codes.fail_email_code(id).await?;
            return Ok(Verdict::Rejected(if failures >= MAX_WRONG_CODES {
                dead()
            } else {
                Failure::new("invalid_code", WRONG)
            }));
        }
        // Conditional: of two submissions of the same code (two instances), one wins.
        if !self.codes.use_email_code(id, MAX_WRONG_CODES, now).await? {
            return Ok(Verdict::Rejected(dead()));
        }
        Ok(Verdict::Passed(Box::new(Passed {
            account: account.clone(),
            // RFC 8176: a one-time code (`otp`) delivered over a second channel (`mca`).
            amr: vec!["otp".to_owned(), "mca".to_owned()],
            provider: None,
        })))
    }
}

const WRONG: &str = "This code is not correct. Check the latest email and try again.";

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    use super::*;
    use crate::memory::{Memory, account, input, view};
    use gatehouse_core::auth::FlowContext;

    struct Setup {
        memory: Arc<Memory>,
        mechanism: EmailOtpMechanism,
        now: Arc<Mutex<DateTime<Utc>>>,
    }

    fn setup() -> Setup {
        let memory = Arc::new(Memory::default());
        let now = Arc::new(Mutex::new(Utc::now()));
        let clock_now = now.clone();
        let mechanism = EmailOtpMechanism::new(
            EmailOtpSettings::default(),
            memory.clone(),
            memory.clone(),
            Arc::new(move || *clock_now.lock().unwrap()),
        );
        Setup {
            memory,
            mechanism,
            now,
        }
    }

    fn last_code(memory: &Memory) -> String {
        memory
            .sent
            .lock()
            .unwrap()
            .last()
            .unwrap()
            .code
            .expose()
            .to_owned()
    }

    async fn begin(s: &Setup, alice: &Account) -> serde_json::Value {
        let ctx = FlowContext::default();
        match s.mechanism.begin(view(alice, &ctx, &[])).await.unwrap() {
            Begin::Challenge { fields, data } => {
                assert!(
                    fields[0].label.contains("a…@example.com"),
                    "{:?}",
                    fields[0]
                );
                data
            }
            Begin::Redirect { .. } => panic!("a challenge was expected"),
        }
    }

    async fn verify(s: &Setup, alice: &Account, data: &serde_json::Value, typed: Input) -> Verdict {
        let ctx = FlowContext::default();
        s.mechanism
            .verify(view(alice, &ctx, &[]), data, &typed)
            .await
            .unwrap()
    }

    fn refused(verdict: &Verdict) -> &str {
        match verdict {
            Verdict::Rejected(f) => &f.code,
            Verdict::Passed(_) => "passed",
        }
    }

    #[tokio::test]
    async fn the_sent_code_passes_once_with_otp_and_mca() {
        let s = setup();
        let alice = account("alice");
        let data = begin(&s, &alice).await;
        let code = last_code(&s.memory);
        assert_eq!(code.len(), 6);
        assert!(!data.to_string().contains(&code), "the flow keeps no code");
        let verdict = verify(&s, &alice, &data, input(&code)).await;
        assert!(matches!(&verdict, Verdict::Passed(p) if p.amr == ["otp", "mca"]));
        assert_eq!(
            refused(&verify(&s, &alice, &data, input(&code)).await),
            "code_dead"
        );
    }

    #[tokio::test]
    async fn bad_input_is_told_and_costs_no_try() {
        let s = setup();
        let alice = account("alice");
        let data = begin(&s, &alice).await;
        let code = last_code(&s.memory);
        for typed in ["", "1234567", "12a456"] {
            assert_eq!(
                refused(&verify(&s, &alice, &data, input(typed)).await),
                "malformed_code"
            );
        }
        // Somebody else's flow data does not reach this account's code.
        let bob = account("bob");
        assert_eq!(
            refused(&verify(&s, &bob, &data, input(&code)).await),
            "invalid_code"
        );
        assert!(matches!(
            verify(&s, &alice, &data, input(&code)).await,
            Verdict::Passed(_)
        ));
    }

    #[tokio::test]
    async fn five_wrong_codes_kill_it() {
        let s = setup();
        let alice = account("alice");
        let data = begin(&s, &alice).await;
        let code = last_code(&s.memory);
        let wrong = if code == "000000" { "111111" } else { "000000" };
        for _ in 0..4 {
            assert_eq!(
                refused(&verify(&s, &alice, &data, input(wrong)).await),
                "invalid_code"
            );
        }
        assert_eq!(
            refused(&verify(&s, &alice, &data, input(wrong)).await),
            "code_dead"
        );
        assert_eq!(
            refused(&verify(&s, &alice, &data, input(&code)).await),
            "code_dead"
        );
    }

    #[tokio::test]
    async fn expires_and_resends_at_a_limited_rate() {
        let s = setup();
        let alice = account("alice");
        let data = begin(&s, &alice).await;
        let first = last_code(&s.memory);
        let resend = Input::Fields(BTreeMap::from([(
            RESEND_FIELD.to_owned(),
            Secret::new("1"),
        )]));
        assert_eq!(
            refused(&verify(&s, &alice, &data, resend.clone()).await),
            "resend_too_soon"
        );
        assert_eq!(s.memory.sent.lock().unwrap().len(), 1);

        *s.now.lock().unwrap() += Duration::minutes(16);
        assert_eq!(
            refused(&verify(&s, &alice, &data, input(&first)).await),
            "code_expired"
        );

        assert_eq!(
            refused(&verify(&s, &alice, &data, resend).await),
            "code_resent"
        );
        let second = last_code(&s.memory);
        assert_eq!(s.memory.sent.lock().unwrap().len(), 2);
        if second != first {
            assert_eq!(
                refused(&verify(&s, &alice, &data, input(&first)).await),
                "invalid_code"
            );
        }
        assert!(matches!(
            verify(&s, &alice, &data, input(&second)).await,
            Verdict::Passed(_)
        ));
    }

    #[test]
    fn masks_addresses() {
        assert_eq!(mask_email("alice@example.com"), "a…@example.com");
        assert_eq!(mask_email("nope"), "your email address");
    }
}
