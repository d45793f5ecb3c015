//! Wiring of the second factors (issue #23): the key vault as the mechanisms' `SecretSealer`,
//! the realm's mechanisms for the policy engine (`totp`, `recovery_code`, and `email_otp` when
//! the realm has a mail server), and the self-service enrolment the account page drives.

use std::sync::Arc;

use gatehouse_core::auth::Mechanism;
use gatehouse_core::second_factor::{SealError, SecretSealer};
use gatehouse_mfa::{
    EmailOtpMechanism, EmailOtpSettings, RecoveryCodeMechanism, SecondFactors, TotpMechanism,
};
use gatehouse_oidc::KeyVault;
use gatehouse_store::Store;

use crate::config::RealmConfig;
use crate::error::ServerError;
use crate::mailer::SmtpCodeSender;

/// The key vault of `keys.encryption_key` seals TOTP secrets as it seals signing keys; the
/// context (`totp:<account>`) is the associated data, so a sealed secret only opens in its row.
pub struct VaultSealer(pub Arc<KeyVault>);

impl SecretSealer for VaultSealer {
    fn seal(&self, context: &str, plaintext: &[u8]) -> Result<Vec<u8>, SealError> {
        self.0
            .seal(context, plaintext)
            .map_err(|e| SealError(e.to_string()))
    }

    fn open(&self, context: &str, sealed: &[u8]) -> Result<Vec<u8>, SealError> {
        self.0
            .open(context, sealed)
            .map_err(|_| SealError(format!("cannot decrypt `{context}`: the key-encryption secret differs from the one that sealed it")))
    }
}

/// A realm's second factors.
pub struct RealmMfa {
    pub factors: SecondFactors,
    /// For the policy engine: every mechanism this realm can run.
    pub mechanisms: Vec<Arc<dyn Mechanism>>,
}

pub fn build(
    name: &str,
    realm: &RealmConfig,
    store: &Store,
    vault: Arc<KeyVault>,
    theme_dir: Option<&str>,
) -> Result<RealmMfa, ServerError> {
    let store = Arc::new(store.clone());
    let sealer: Arc<dyn SecretSealer> = Arc::new(VaultSealer(vault));
    let display_name = realm
        .display_name
        .clone()
        .unwrap_or_else(|| name.to_owned());
    let issuer = realm
        .mfa
        .issuer
        .clone()
        .unwrap_or_else(|| display_name.clone());
    let clock = gatehouse_mfa::system_clock();
    let mut mechanisms: Vec<Arc<dyn Mechanism>> = vec![
        Arc::new(TotpMechanism::new(
            store.clone(),
            sealer.clone(),
            clock.clone(),
        )),
        Arc::new(RecoveryCodeMechanism::new(store.clone(), clock.clone())),
    ];
    if let Some(smtp) = &realm.mfa.smtp {
        let sender = SmtpCodeSender::new(name, &display_name, smtp, theme_dir)?;
        mechanisms.push(Arc::new(EmailOtpMechanism::new(
            EmailOtpSettings {
                code_length: realm.mfa.code_length,
                validity_minutes: realm.mfa.code_validity_minutes,
                resend_interval_seconds: realm.mfa.resend_interval_seconds,
            },
            store.clone(),
            Arc::new(sender),
            clock,
        )));
    }
    Ok(RealmMfa {
        factors: SecondFactors::new(store.clone(), store, sealer, issuer),
        mechanisms,
    })
}

/// A store outage during a second-factor change is answered "try again" like any other.
impl crate::error::Fault for gatehouse_mfa::MfaError {
    fn is_unavailable(&self) -> bool {
        matches!(self, gatehouse_mfa::MfaError::Store(e) if e.is_unavailable())
    }
}
