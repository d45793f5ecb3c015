//! Self-service (the account page) and administration (the CLI) of an account's second
//! factors: set up an authenticator app — a new secret shown as an `otpauth://` URI, a QR code
//! and text, confirmed by a correct code, then eight recovery codes shown once — remove it,
//! issue new recovery codes, and an administrator's reset.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use gatehouse_core::Account;
use gatehouse_core::RepoError;
use gatehouse_core::second_factor::{
    RECOVERY_CODE_COUNT, RecoveryCodeRepository, SecretSealer, TotpRepository,
};
use qrcode::QrCode;
use qrcode::render::svg;

use crate::error::MfaError;
use crate::recovery_code;
use crate::totp::{self, CodeCheck, TotpSecret, check_code, open_secret, seal_context};

/// What the user needs to add the account to an app.
#[derive(Clone)]
pub struct TotpSetup {
    pub otpauth_uri: String,
    /// The QR code of the URI, as an SVG document (no image library involved).
    pub qr_svg: String,
    /// The secret in base32, grouped by four for reading aloud or typing into a password manager.
    pub secret_text: String,
}

impl std::fmt::Debug for TotpSetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpSetup([redacted])")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TotpStatus {
    None,
    /// Set-up started, no correct code yet.
    Pending,
    Enrolled,
}

/// The QR code of `text` as SVG, black on white, sized by the page.
pub fn qr_svg(text: &str) -> Result<String, String> {
    let code = QrCode::new(text.as_bytes()).map_err(|e| e.to_string())?;
    Ok(code
        .render::<svg::Color<'_>>()
        .min_dimensions(200, 200)
        .dark_color(svg::Color("#000000"))
        .light_color(svg::Color("#ffffff"))
        .build())
}

fn grouped(base32: &str) -> String {
    base32
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

pub struct SecondFactors {
    totp: Arc<dyn TotpRepository>,
    recovery: Arc<dyn RecoveryCodeRepository>,
    sealer: Arc<dyn SecretSealer>,
    /// The name apps show above the code (the realm's display name).
    issuer: String,
}

impl SecondFactors {
    pub fn new(
        totp: Arc<dyn TotpRepository>,
        recovery: Arc<dyn RecoveryCodeRepository>,
        sealer: Arc<dyn SecretSealer>,
        issuer: impl Into<String>,
    ) -> Self {
        Self {
            totp,
            recovery,
            sealer,
            issuer: issuer.into(),
        }
    }

    pub async fn status(&self, account: &Account) -> Result<(TotpStatus, u32), MfaError> {
        let status = match self.totp.totp(account.id).await? {
            None => TotpStatus::None,
            Some(c) if c.confirmed => TotpStatus::Enrolled,
            Some(_) => TotpStatus::Pending,
        };
        let remaining = self.recovery.remaining_recovery_codes(account.id).await?;
        Ok((status, remaining))
    }

    fn setup(&self, account: &Account, secret: &TotpSecret) -> Result<TotpSetup, MfaError> {
        let label = account.email.as_deref().unwrap_or(&account.username);
        let otpauth_uri = secret.otpauth_uri(&self.issuer, label);
        let qr_svg = qr_svg(&otpauth_uri).map_err(|e| {
            MfaError::Store(RepoError::Other(
                format!("cannot draw the QR code: {e}").into(),
            ))
        })?;
        Ok(TotpSetup {
            otpauth_uri,
            qr_svg,
            secret_text: grouped(&secret.to_base32()),
        })
    }

    /// Starts (or restarts) a set-up with a new secret, stored sealed and unconfirmed.
    pub async fn start_totp(
        &self,
        account: &Account,
        now: DateTime<Utc>,
    ) -> Result<TotpSetup, MfaError> {
        if self
            .totp
            .totp(account.id)
            .await?
            .is_some_and(|c| c.confirmed)
        {
            return Err(MfaError::AlreadyEnrolled);
        }
        let secret = TotpSecret::generate();
        let sealed = self
            .sealer
            .seal(&seal_context(account.id), secret.as_bytes())?;
        match self.totp.begin_totp(account.id, &sealed, now).await {
            Err(RepoError::Conflict(_)) => return Err(MfaError::AlreadyEnrolled),
            other => other?,
        }
        self.setup(account, &secret)
    }

    /// The set-up in progress again (a reloaded page shows the same QR code).
    pub async fn pending_totp(&self, account: &Account) -> Result<Option<TotpSetup>, MfaError> {
        let Some(credential) = self.totp.totp(account.id).await?.filter(|c| !c.confirmed) else {
            return Ok(None);
        };
        let secret = open_secret(self.sealer.as_ref(), account.id, &credential.sealed_secret)?;
        self.setup(account, &secret).map(Some)
    }

    /// Completes the set-up with a correct code from the app; returns the recovery codes, to be
    /// shown once. A refused code changes nothing.
    pub async fn confirm_totp(
        &self,
        account: &Account,
        typed: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<String>, MfaError> {
        let credential = match self.totp.totp(account.id).await? {
            Some(c) if c.confirmed => return Err(MfaError::AlreadyEnrolled),
            Some(c) => c,
            None => return Err(MfaError::NoPendingEnrolment),
        };
        let secret = open_secret(self.sealer.as_ref(), account.id, &credential.sealed_secret)?;
        let step = match check_code(&secret, typed, now, None) {
            CodeCheck::Valid(step) => step,
            CodeCheck::Malformed(message) => return Err(MfaError::BadCode(message)),
            CodeCheck::Wrong | CodeCheck::Replayed => {
                return Err(MfaError::BadCode(
                    "This code is not correct. Check that the app shows this account, and that \
                     the device's clock is right."
                        .to_owned(),
                ));
            }
        };
        if !self.totp.confirm_totp(account.id, step).await? {
            return Err(MfaError::NoPendingEnrolment);
        }
        self.issue_recovery_codes(account, now).await
    }

    /// Replaces the account's recovery codes by eight new ones (the old ones stop working).
    pub async fn regenerate_recovery_codes(
        &self,
        account: &Account,
        now: DateTime<Utc>,
    ) -> Result<Vec<String>, MfaError> {
        if !self
            .totp
            .totp(account.id)
            .await?
            .is_some_and(|c| c.confirmed)
        {
            return Err(MfaError::NotEnrolled);
        }
        self.issue_recovery_codes(account, now).await
    }

    async fn issue_recovery_codes(
        &self,
        account: &Account,
        now: DateTime<Utc>,
    ) -> Result<Vec<String>, MfaError> {
        let codes: Vec<String> = (0..RECOVERY_CODE_COUNT)
            .map(|_| recovery_code::generate())
            .collect();
        let digests: Vec<String> = codes
            .iter()
            .map(|c| recovery_code::digest(account.id, &c.replace('-', "")))
            .collect();
        self.recovery
            .replace_recovery_codes(account.id, &digests, now)
            .await?;
        Ok(codes)
    }

    /// Removes the app and its recovery codes (the user's removal, an administrator's reset).
    /// True when there was anything to remove.
    pub async fn remove(&self, account: &Account) -> Result<bool, MfaError> {
        let app = self.totp.remove_totp(account.id).await?;
        let codes = self.recovery.remove_recovery_codes(account.id).await?;
        Ok(app || codes > 0)
    }
}

/// The current code of a setup's secret, for tests that play the app.
pub fn code_for_uri(otpauth_uri: &str, now: DateTime<Utc>) -> Option<String> {
    let secret = otpauth_uri
        .split(['?', '&'])
        .find_map(|p| p.strip_prefix("secret="))?;
    let bytes = totp_rs::Secret::try_from_base32(secret).ok()?;
    Some(TotpSecret::from_bytes(bytes.as_ref().to_vec()).code_at_step(totp::step_at(now)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::{Memory, account, input, view};
    use crate::{RecoveryCodeMechanism, TotpMechanism};
    use gatehouse_core::auth::{FlowContext, Mechanism, Verdict};

    fn factors(memory: &Arc<Memory>) -> SecondFactors {
        SecondFactors::new(
            memory.clone(),
            memory.clone(),
            memory.clone(),
            "Gatehouse main",
        )
    }

    #[tokio::test]
    async fn enrol_confirm_log_in_recover_remove_and_enrol_again() {
        let memory = Arc::new(Memory::default());
        let factors = factors(&memory);
        let alice = account("alice");
        let now = Utc::now();
        assert_eq!(factors.status(&alice).await.unwrap(), (TotpStatus::None, 0));

        let setup = factors.start_totp(&alice, now).await.unwrap();
        assert!(setup.qr_svg.contains("<svg"), "the QR code is an SVG");
        assert!(
            setup
                .otpauth_uri
                .contains(&setup.secret_text.replace(' ', ""))
        );
        assert_eq!(factors.status(&alice).await.unwrap().0, TotpStatus::Pending);
        // The store holds the secret sealed, never in clear.
        let stored = memory.totp(alice.id).await.unwrap().unwrap();
        assert!(
            !String::from_utf8_lossy(&stored.sealed_secret)
                .contains(&setup.secret_text.replace(' ', ""))
        );

        // Bad codes: a clear message each, nothing confirmed.
        for typed in ["", "1234567", "abcdef"] {
            let err = factors.confirm_totp(&alice, typed, now).await.unwrap_err();
            assert!(matches!(err, MfaError::BadCode(_)), "{typed:?}: {err}");
        }
        assert_eq!(
            factors.status(&alice).await.unwrap(),
            (TotpStatus::Pending, 0)
        );

        let code = code_for_uri(&setup.otpauth_uri, now).unwrap();
        let codes = factors.confirm_totp(&alice, &code, now).await.unwrap();
        assert_eq!(codes.len(), 8);
        assert_eq!(
            factors.status(&alice).await.unwrap(),
            (TotpStatus::Enrolled, 8)
        );
        assert!(matches!(
            factors.start_totp(&alice, now).await,
            Err(MfaError::AlreadyEnrolled)
        ));

        // The code that confirmed cannot log in (same step), the next step's can, once.
        let mechanism = TotpMechanism::new(memory.clone(), memory.clone(), Arc::new(move || now));
        let ctx = FlowContext::default();
        let flow = view(&alice, &ctx, &[]);
        let v = mechanism
            .verify(flow, &serde_json::Value::Null, &input(&code))
            .await
            .unwrap();
        assert!(matches!(v, Verdict::Rejected(ref f) if f.code == "replayed_code"));
        let later = now + chrono::Duration::seconds(30);
        let next = code_for_uri(&setup.otpauth_uri, later).unwrap();
        let mechanism = TotpMechanism::new(memory.clone(), memory.clone(), Arc::new(move || later));
        let v = mechanism
            .verify(flow, &serde_json::Value::Null, &input(&next))
            .await
            .unwrap();
        assert!(matches!(v, Verdict::Passed(ref p) if p.amr == ["otp"]));
        let v = mechanism
            .verify(flow, &serde_json::Value::Null, &input(&next))
            .await
            .unwrap();
        assert!(matches!(v, Verdict::Rejected(ref f) if f.code == "replayed_code"));

        // A lost device: a recovery code, then removal and a new device.
        let recovery = RecoveryCodeMechanism::new(memory.clone(), crate::system_clock());
        let v = recovery
            .verify(flow, &serde_json::Value::Null, &input(&codes[0]))
            .await
            .unwrap();
        assert!(matches!(v, Verdict::Passed(_)));
        assert_eq!(factors.status(&alice).await.unwrap().1, 7);
        let fresh = factors
            .regenerate_recovery_codes(&alice, now)
            .await
            .unwrap();
        assert_eq!(factors.status(&alice).await.unwrap().1, 8);
        let v = recovery
            .verify(flow, &serde_json::Value::Null, &input(&codes[1]))
            .await
            .unwrap();
        assert!(
            matches!(v, Verdict::Rejected(_)),
            "old codes die with a regeneration"
        );
        assert_ne!(fresh, codes);

        assert!(factors.remove(&alice).await.unwrap());
        assert_eq!(factors.status(&alice).await.unwrap(), (TotpStatus::None, 0));
        assert!(!mechanism.enrolled(&alice).await.unwrap());
        let again = factors.start_totp(&alice, now).await.unwrap();
        assert_ne!(again.secret_text, setup.secret_text);
        assert!(factors.pending_totp(&alice).await.unwrap().is_some());
    }
}
