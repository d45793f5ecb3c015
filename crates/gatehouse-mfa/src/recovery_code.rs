//! `recovery_code`: eight single-use codes handed out when an authenticator app is enrolled,
//! each usable once in place of a code from the app (a lost device). They are shown once; the
//! store keeps only digests. A code carries 80 random bits, so a plain SHA-256 digest (salted
//! with the account) cannot be reversed by guessing.

use std::sync::Arc;

use async_trait::async_trait;
use gatehouse_core::auth::{
    Begin, Failure, Field, FieldKind, FlowView, Input, Mechanism, MechanismRef, Passed, Verdict,
};
use gatehouse_core::second_factor::RecoveryCodeRepository;
use gatehouse_core::{Account, AccountId, CoreError};

use crate::digest::{random_string, sha256_hex};
use crate::totp::first_factor_first;
use crate::{CODE_FIELD, Clock, RECOVERY_CODE};

/// RFC 4648 base32: no 0/O or 1/I to confuse when copied from paper.
const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const CODE_CHARS: usize = 16;

/// A fresh code, shown as `ABCD-EFGH-JKLM-NPQR`.
pub fn generate() -> String {
    let raw = random_string(ALPHABET, CODE_CHARS);
    raw.as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join("-")
}

/// The code as typed, in its canonical form (case, spaces and hyphens do not matter), or the
/// message that says what is wrong with it.
pub fn canonical(typed: &str) -> Result<String, String> {
    let code: String = typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if code.is_empty() {
        return Err("Enter one of your recovery codes.".to_owned());
    }
    if code.len() != CODE_CHARS || !code.bytes().all(|b| ALPHABET.contains(&b)) {
        return Err(
            "A recovery code has 16 letters and digits, like ABCD-EFGH-JKLM-NPQR.".to_owned(),
        );
    }
    Ok(code)
}

/// What the store keeps for a code of `account`.
pub fn digest(account: AccountId, canonical_code: &str) -> String {
    sha256_hex(&[
        "gatehouse recovery code v1",
        &account.to_string(),
        canonical_code,
    ])
}

pub fn remaining_message(remaining: u32) -> String {
    match remaining {
        0 => "That was your last recovery code: set up your authenticator app again and keep the new codes.".to_owned(),
        1 => "1 recovery code remains.".to_owned(),
        n => format!("{n} recovery codes remain."),
    }
}

const WRONG: &str = "This recovery code is not valid, or has already been used.";

pub struct RecoveryCodeMechanism {
    reference: MechanismRef,
    codes: Arc<dyn RecoveryCodeRepository>,
    clock: Clock,
}

impl RecoveryCodeMechanism {
    pub fn new(codes: Arc<dyn RecoveryCodeRepository>, clock: Clock) -> Self {
        Self {
            reference: MechanismRef::new(RECOVERY_CODE),
            codes,
            clock,
        }
    }
}

#[async_trait]
impl Mechanism for RecoveryCodeMechanism {
    fn reference(&self) -> &MechanismRef {
        &self.reference
    }

    fn label(&self) -> String {
        "A recovery code".to_owned()
    }

    async fn enrolled(&self, account: &Account) -> Result<bool, CoreError> {
        Ok(self.codes.remaining_recovery_codes(account.id).await? > 0)
    }

    async fn begin(&self, flow: FlowView<'_>) -> Result<Begin, Failure> {
        if flow.account.is_none() {
            return Err(first_factor_first());
        }
        Ok(Begin::Challenge {
            fields: vec![Field::new(CODE_FIELD, FieldKind::Otp, "Recovery code")],
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
        let code = match canonical(typed) {
            Ok(code) => code,
            Err(message) => {
                return Ok(Verdict::Rejected(Failure::new("malformed_code", message)));
            }
        };
        // One conditional UPDATE on the digest: a code works once, on every instance.
        let used = self
            .codes
            .use_recovery_code(account.id, &digest(account.id, &code), (self.clock)())
            .await?;
        if !used {
            return Ok(Verdict::Rejected(Failure::new("wrong_code", WRONG)));
        }
        let remaining = self.codes.remaining_recovery_codes(account.id).await?;
        tracing::info!(account = %account.id, remaining, "recovery code used");
        Ok(Verdict::Passed(Box::new(Passed {
            account: account.clone(),
            amr: vec!["otp".to_owned()],
            provider: None,
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::{Memory, account, input, view};

    #[test]
    fn codes_are_random_and_read_back_in_any_case() {
        let a = generate();
        assert_eq!(a.len(), 19);
        assert_ne!(a, generate());
        assert_eq!(canonical(&a.to_lowercase()).unwrap(), a.replace('-', ""));
        assert_eq!(canonical(&a.replace('-', " ")).unwrap(), a.replace('-', ""));
        assert!(canonical("").unwrap_err().contains("Enter"));
        assert!(canonical("ABCD-EFGH").unwrap_err().contains("16"));
        assert!(
            canonical("ABCD-EFGH-JKLM-NPQ1").is_err(),
            "1 is not in the alphabet"
        );
    }

    #[tokio::test]
    async fn each_code_works_once_and_tells_how_many_remain() {
        let memory = Arc::new(Memory::default());
        let alice = account("alice");
        let codes: Vec<String> = (0..8).map(|_| generate()).collect();
        let digests: Vec<String> = codes
            .iter()
            .map(|c| digest(alice.id, &canonical(c).unwrap()))
            .collect();
        memory
            .replace_recovery_codes(alice.id, &digests, chrono::Utc::now())
            .await
            .unwrap();
        let mechanism = RecoveryCodeMechanism::new(memory.clone(), crate::system_clock());
        let ctx = gatehouse_core::auth::FlowContext::default();
        let passed = Vec::new();
        let flow = view(&alice, &ctx, &passed);
        assert!(mechanism.enrolled(&alice).await.unwrap());

        let verdict = mechanism
            .verify(flow, &serde_json::Value::Null, &input(&codes[3]))
            .await
            .unwrap();
        assert!(matches!(verdict, Verdict::Passed(ref p) if p.amr == ["otp"]));
        assert_eq!(memory.remaining_recovery_codes(alice.id).await.unwrap(), 7);
        assert_eq!(remaining_message(7), "7 recovery codes remain.");

        let again = mechanism
            .verify(flow, &serde_json::Value::Null, &input(&codes[3]))
            .await
            .unwrap();
        assert!(matches!(again, Verdict::Rejected(ref f) if f.code == "wrong_code"));
        assert_eq!(memory.remaining_recovery_codes(alice.id).await.unwrap(), 7);

        // Another account's code is not this account's.
        let bob = account("bob");
        let bob_flow = view(&bob, &ctx, &passed);
        let theirs = mechanism
            .verify(bob_flow, &serde_json::Value::Null, &input(&codes[4]))
            .await
            .unwrap();
        assert!(matches!(theirs, Verdict::Rejected(_)));
        assert_eq!(memory.remaining_recovery_codes(alice.id).await.unwrap(), 7);
    }
}
