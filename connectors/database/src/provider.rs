use async_trait::async_trait;
use gatehouse_core::{
    Link, PasswordCheck, PasswordOutcome, PasswordPolicy, PasswordProvider, PolicyViolation,
    ProviderDescriptor, ProviderKind, Secret, VerifiedIdentity,
};

use crate::error::DatabaseError;
use crate::pool::{HashPool, dummy_phc};
use crate::settings::DatabaseSettings;

/// A `database` provider: the password is checked against the argon2 hash stored in the account's
/// link to it.
///
/// Outcomes: a missing link or hash, a mismatch and a malformed stored hash are all `Rejected`
/// (the chain moves on, and the user sees the generic answer); a failure of the hashing machinery
/// itself (out of memory, no randomness, the blocking task dying) is `Unavailable`, because the
/// password was never checked: calling it wrong would count a failed login against a user who
/// may have typed it right, and the realm's `on_unavailable` is the admin's word on what to do
/// when a provider cannot answer.
#[derive(Debug)]
pub struct DatabaseProvider {
    descriptor: ProviderDescriptor,
    settings: DatabaseSettings,
    /// Compiled from `settings.password_policy` at start.
    policy: PasswordPolicy,
    pool: HashPool,
    /// Built without hashing (see `dummy_phc`), so the first unknown login costs no more than
    /// the next ones.
    dummy_phc: String,
}

impl DatabaseProvider {
    pub fn new(
        descriptor: ProviderDescriptor,
        settings: DatabaseSettings,
        pool: HashPool,
    ) -> Result<Self, DatabaseError> {
        if descriptor.kind != ProviderKind::Database {
            return Err(DatabaseError::WrongKind {
                id: descriptor.id,
                kind: descriptor.kind.to_string(),
            });
        }
        if descriptor.jit {
            return Err(DatabaseError::InvalidSettings(format!(
                "provider `{}`: a database provider has no directory to search, so it cannot \
                 provision accounts just in time",
                descriptor.id
            )));
        }
        settings
            .validate()
            .map_err(DatabaseError::InvalidSettings)?;
        let policy = settings.policy().map_err(DatabaseError::InvalidSettings)?;
        let dummy_phc = dummy_phc(&settings.argon2)?;
        Ok(Self {
            descriptor,
            settings,
            policy,
            pool,
            dummy_phc,
        })
    }

    pub fn settings(&self) -> &DatabaseSettings {
        &self.settings
    }

    /// A PHC string for a link's secret, without the policy (a rehash of a verified password).
    pub async fn hash_password(&self, password: &Secret) -> Result<String, DatabaseError> {
        self.pool.hash(&self.settings.argon2, password).await
    }

    pub fn policy(&self) -> &PasswordPolicy {
        &self.policy
    }

    /// A PHC string for a new password (`gatehouse user set-password`, `admin bootstrap`, every
    /// path that sets one): refused with the rule it breaks when the policy or `history` — the
    /// PHC strings of the link's latest passwords, newest first — says no. The length is checked
    /// before anything is hashed.
    pub async fn hash_new_password(
        &self,
        password: &Secret,
        history: &[Secret],
    ) -> Result<String, DatabaseError> {
        self.policy.check(password)?;
        for earlier in history.iter().take(self.policy.history()) {
            // A malformed old hash cannot match: it does not block the change.
            if self
                .pool
                .verify(&self.settings.argon2, password, earlier.expose())
                .await
                .is_ok_and(|v| v.matched)
            {
                return Err(PolicyViolation::Reused {
                    history: self.policy.settings().history,
                }
                .into());
            }
        }
        self.hash_password(password).await
    }

    async fn spend_dummy(&self, password: &Secret) {
        // Only the time matters; a failure here has nothing to add to the answer.
        let _ = self
            .pool
            .verify(&self.settings.argon2, password, &self.dummy_phc)
            .await;
    }

    async fn check_link(&self, link: &Link, stored: &Secret, password: &Secret) -> PasswordOutcome {
        let provider = self.descriptor.id.as_str();
        let verification = match self
            .pool
            .verify(&self.settings.argon2, password, stored.expose())
            .await
        {
            Ok(v) => v,
            Err(DatabaseError::MalformedHash(why)) => {
                tracing::warn!(provider, link = %link.id, reason = %why,
                    "stored password hash is malformed; rejecting the login");
                // Most malformed rows are refused before any hashing: keep their cost that of a
                // wrong password.
                self.spend_dummy(password).await;
                return PasswordOutcome::Rejected;
            }
            Err(e) => {
                tracing::warn!(provider, link = %link.id, error = %e, "could not check the password");
                return PasswordOutcome::Unavailable(e.to_string());
            }
        };
        if !verification.matched {
            return PasswordOutcome::Rejected;
        }
        let rehashed_secret = if verification.needs_rehash {
            match self.hash_password(password).await {
                Ok(phc) => Some(phc),
                Err(e) => {
                    // The login stands; the upgrade waits for the next one.
                    tracing::warn!(provider, link = %link.id, error = %e,
                        "could not rehash the password with the current parameters");
                    None
                }
            }
        } else {
            None
        };
        PasswordOutcome::Verified(VerifiedIdentity {
            rehashed_secret,
            ..VerifiedIdentity::default()
        })
    }
}

#[async_trait]
impl PasswordProvider for DatabaseProvider {
    fn descriptor(&self) -> &ProviderDescriptor {
        &self.descriptor
    }

    async fn verify(&self, check: PasswordCheck<'_>) -> PasswordOutcome {
        // No password the policy allows is this long: refused before argon2 sees it, whatever
        // the account (the length is the caller's own input, so its timing tells nothing).
        if self.policy.too_long_to_verify(check.password) {
            return PasswordOutcome::Rejected;
        }
        let stored = check.link.and_then(|l| l.secret.as_ref().map(|s| (l, s)));
        match stored {
            Some((link, _)) if link.provider_id != self.descriptor.id => {
                tracing::warn!(provider = %self.descriptor.id, link = %link.id,
                    link_provider = %link.provider_id, "handed another provider's link; rejecting");
                self.spend_dummy(check.password).await;
                PasswordOutcome::Rejected
            }
            Some((link, secret)) => self.check_link(link, secret, check.password).await,
            // No hash to check (no account link, or a link without a password): reject at the
            // price of a real check so the answer's timing says nothing.
            None => {
                self.spend_dummy(check.password).await;
                PasswordOutcome::Rejected
            }
        }
    }

    async fn verify_dummy(&self, password: &Secret) -> bool {
        if !self.policy.too_long_to_verify(password) {
            self.spend_dummy(password).await;
        }
        true
    }

    fn password_max_age(&self) -> Option<chrono::Duration> {
        Some(self.policy.max_age())
    }
}
