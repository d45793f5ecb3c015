//! DESIGN.md "How a password login is resolved", steps 1 to 6.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use tracing::Instrument;

use crate::account::{Account, AccountWithLinks};
use crate::error::CoreError;
use crate::plan::{self, LoginPlan, StepDecision};
use crate::protection::{Gate, PASSWORD_KIND, Protection, TryKeys};
use crate::provider::{PasswordCheck, PasswordOutcome, PasswordProvider, VerifiedIdentity};
use crate::realm::{OnUnavailable, RealmPolicy};
use crate::repository::{AccountRepository, Attempt, LoginOrigin, LoginRecord, NewLink, RepoError};
use crate::secret::Secret;

/// Why a login was refused. Only [`Refusal::public_message`] may reach the person logging in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    InvalidCredentials,
    DisabledInDirectory {
        provider: String,
        reason: String,
    },
    AccountDisabled {
        reason: String,
    },
    AccountLocked,
    Superseded {
        by: String,
    },
    TemporarilyUnavailable {
        provider: String,
    },
    /// Too many recent failures (brute-force defence): nothing was verified. `locked` when the
    /// login reached `max_failures`.
    Throttled {
        retry_after: std::time::Duration,
        locked: bool,
    },
    /// The password was right but older than its policy's `max_age_days`: no token until it is
    /// changed.
    PasswordExpired,
}

impl Refusal {
    /// Stable code for the audit log and administrators.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::InvalidCredentials => "invalid_credentials",
            Refusal::DisabledInDirectory { .. } => "disabled_in_directory",
            Refusal::AccountDisabled { .. } => "account_disabled",
            Refusal::AccountLocked => "account_locked",
            Refusal::Superseded { .. } => "superseded",
            Refusal::TemporarilyUnavailable { .. } => "temporarily_unavailable",
            Refusal::Throttled { locked: false, .. } => "throttled",
            Refusal::Throttled { locked: true, .. } => "locked_out",
            Refusal::PasswordExpired => "password_expired",
        }
    }

    /// The words shown to the user: the same for every refusal that could tell whether an account
    /// exists or what its state is, so nothing can be enumerated.
    pub fn public_message(&self) -> &'static str {
        match self {
            Refusal::TemporarilyUnavailable { .. } => {
                "Login is temporarily unavailable. Please try again later."
            }
            // Only the account's owner gets here (the password was right).
            Refusal::PasswordExpired => {
                "Your password has expired. It has to be changed before you can log in."
            }
            _ => "Invalid username or password.",
        }
    }

    pub fn is_temporary(&self) -> bool {
        matches!(self, Refusal::TemporarilyUnavailable { .. })
    }

    /// How long a throttled client should wait (`Retry-After`).
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            Refusal::Throttled { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::InvalidCredentials => f.write_str("invalid credentials"),
            Refusal::DisabledInDirectory { provider, reason } => {
                write!(f, "disabled in {provider}: {reason}")
            }
            Refusal::AccountDisabled { reason } => write!(f, "account disabled: {reason}"),
            Refusal::AccountLocked => f.write_str("account locked"),
            Refusal::Superseded { by } => write!(f, "account superseded by {by}"),
            Refusal::TemporarilyUnavailable { provider } => {
                write!(f, "provider {provider} unavailable")
            }
            Refusal::Throttled { locked: false, .. } => f.write_str("too many failures: throttled"),
            Refusal::Throttled { locked: true, .. } => f.write_str("too many failures: locked"),
            Refusal::PasswordExpired => f.write_str("password expired"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginDecision {
    Success,
    Refused(Refusal),
}

#[derive(Debug, Clone)]
pub struct LoginResult {
    /// The normalised login.
    pub login: String,
    /// The account, when the login named one or created one.
    pub account: Option<Account>,
    pub decision: LoginDecision,
    /// Every provider tried, in order, with its outcome and duration.
    pub attempts: Vec<Attempt>,
}

impl LoginResult {
    pub fn is_success(&self) -> bool {
        self.decision == LoginDecision::Success
    }
}

/// Resolves password logins for one realm through its provider chain.
pub struct Resolver {
    realm: Arc<RealmPolicy>,
    providers: HashMap<String, Arc<dyn PasswordProvider>>,
    repo: Arc<dyn AccountRepository>,
    /// Brute-force counters and password ages; none: neither is checked.
    protection: Option<Protection>,
}

impl Resolver {
    /// Every chained, enabled password provider must come with an implementation.
    pub fn new(
        realm: Arc<RealmPolicy>,
        providers: Vec<Arc<dyn PasswordProvider>>,
        repo: Arc<dyn AccountRepository>,
    ) -> Result<Self, CoreError> {
        let providers: HashMap<_, _> = providers
            .into_iter()
            .map(|p| (p.descriptor().id.clone(), p))
            .collect();
        if let Some(missing) = realm
            .chained()
            .find(|d| d.kind.is_password() && d.enabled && !providers.contains_key(&d.id))
        {
            return Err(CoreError::Realm {
                realm: realm.name.clone(),
                problem: format!("no implementation for provider `{}`", missing.id),
            });
        }
        Ok(Self {
            realm,
            providers,
            repo,
            protection: None,
        })
    }

    /// Throttle failures and refuse expired passwords through `protection` (issue #24).
    pub fn with_protection(mut self, protection: Protection) -> Self {
        self.protection = Some(protection);
        self
    }

    pub fn protection(&self) -> Option<&Protection> {
        self.protection.as_ref()
    }

    pub fn realm(&self) -> &RealmPolicy {
        &self.realm
    }

    /// Steps 1 to 3 without a password: the account the login names and the plan for it.
    pub async fn explain(
        &self,
        login: &str,
    ) -> Result<(Option<AccountWithLinks>, LoginPlan), CoreError> {
        let key = self.realm.normalize_login(login);
        let account = self.lookup(&key).await?;
        let plan = plan::plan(&self.realm, account.as_ref());
        Ok((account, plan))
    }

    pub async fn resolve(&self, login: &str, password: &Secret) -> Result<LoginResult, CoreError> {
        self.resolve_from(login, password, &LoginOrigin::default())
            .await
    }

    /// [`Resolver::resolve`], with where the attempt came from for its audit event.
    pub async fn resolve_from(
        &self,
        login: &str,
        password: &Secret,
        origin: &LoginOrigin,
    ) -> Result<LoginResult, CoreError> {
        let span = tracing::info_span!(
            "login",
            realm = %self.realm.name,
            account = tracing::field::Empty,
            outcome = tracing::field::Empty,
        );
        let result = self
            .resolve_inner(login, password, origin)
            .instrument(span.clone())
            .await?;
        if let Some(account) = &result.account {
            span.record("account", tracing::field::display(account.id));
        }
        let outcome = match &result.decision {
            LoginDecision::Success => "success",
            LoginDecision::Refused(r) => r.code(),
        };
        span.record("outcome", outcome);
        span.in_scope(|| tracing::info!(attempts = result.attempts.len(), "login resolved"));
        Ok(result)
    }

    async fn resolve_inner(
        &self,
        login: &str,
        password: &Secret,
        origin: &LoginOrigin,
    ) -> Result<LoginResult, CoreError> {
        let key = self.realm.normalize_login(login);
        let known = if key.is_empty() {
            None
        } else {
            self.lookup(&key).await?
        };
        let plan = plan::plan(&self.realm, known.as_ref());

        // Brute-force defence, before any provider is asked (a directory never sees a throttled
        // password spray): a throttled login, known or not, is refused at once and alike.
        let now = Utc::now();
        let throttle = match self.protection.as_ref() {
            Some(p) if p.settings.enabled && !key.is_empty() => {
                let keys = TryKeys::new(
                    PASSWORD_KIND,
                    known.as_ref().map(|a| a.account.id),
                    &key,
                    origin.ip.as_deref(),
                );
                let before = self.protection_repo_counters(p, &keys).await?;
                let gate = p.gate(&before, now);
                Some((p, keys, before, gate))
            }
            _ => None,
        };
        let gate = throttle.as_ref().map_or(Gate::Open, |t| t.3);

        let mut attempts = Vec::new();
        let mut verdict = None;
        if let (false, Some((p, ..))) = (gate.is_open(), &throttle) {
            verdict = Some(Verdict::Refused(Refusal::Throttled {
                retry_after: gate.retry_after(&p.settings).unwrap_or_default(),
                locked: matches!(gate, Gate::Locked(_)),
            }));
        }
        // An empty password is refused before any provider sees it (an LDAP bind with an empty
        // password is an anonymous bind that succeeds).
        if gate.is_open() && !key.is_empty() && !password.is_empty() {
            for step in plan.candidates() {
                let Some(provider) = self.providers.get(&step.provider.id) else {
                    continue;
                };
                let link = known.as_ref().and_then(|a| a.link_to(&step.provider.id));
                let started = Instant::now();
                let outcome = provider
                    .verify(PasswordCheck {
                        login: &key,
                        password,
                        link: if step.decision == StepDecision::TryLink {
                            link
                        } else {
                            None
                        },
                    })
                    .instrument(tracing::info_span!(
                        "provider_attempt",
                        realm = %self.realm.name,
                        provider = %step.provider.id,
                        kind = %step.provider.kind,
                    ))
                    .await;
                let duration = started.elapsed();
                tracing::info!(
                    realm = %self.realm.name,
                    provider = %step.provider.id,
                    outcome = outcome.label(),
                    duration_ms = duration.as_secs_f64() * 1000.0,
                    "provider attempt"
                );
                attempts.push(Attempt {
                    provider: step.provider.id.clone(),
                    outcome: (&outcome).into(),
                    duration,
                });
                match outcome {
                    PasswordOutcome::Verified(identity) => {
                        verdict = Some(Verdict::Verified(step.provider.id.clone(), identity));
                        break;
                    }
                    PasswordOutcome::Rejected => {}
                    PasswordOutcome::Unavailable(_) => {
                        if self.realm.on_unavailable == OnUnavailable::Fail {
                            verdict = Some(Verdict::Refused(Refusal::TemporarilyUnavailable {
                                provider: step.provider.id.clone(),
                            }));
                            break;
                        }
                    }
                    PasswordOutcome::Disabled(reason) => {
                        verdict = Some(Verdict::Refused(Refusal::DisabledInDirectory {
                            provider: step.provider.id.clone(),
                            reason,
                        }));
                        break;
                    }
                }
            }
        }

        // Step 5: an unknown login, or one no provider was asked about, spends the time of a real
        // verification so that it cannot be told apart from a wrong password.
        // A throttled login is answered at once, known or not: nothing is verified.
        if gate.is_open() && (known.is_none() || attempts.is_empty()) {
            self.spend_dummy_verification(password).await;
        }

        let mut verified_by = None;
        let (account, mut decision) = match verdict {
            Some(Verdict::Verified(provider_id, identity)) => {
                let decided = self
                    .on_verified(&key, known, &provider_id, identity)
                    .await?;
                verified_by = Some(provider_id);
                decided
            }
            Some(Verdict::Refused(refusal)) => {
                (known.map(|a| a.account), LoginDecision::Refused(refusal))
            }
            None => {
                // A superseded account was not tried anywhere; say so to the audit log (the public
                // message is the generic one all the same).
                let refusal = match plan.superseded_by {
                    Some(by) => Refusal::Superseded { by },
                    None => Refusal::InvalidCredentials,
                };
                (known.map(|a| a.account), LoginDecision::Refused(refusal))
            }
        };

        if decision == LoginDecision::Success
            && let (Some(account), Some(provider)) = (&account, &verified_by)
            && self.password_expired(account.id, provider, now).await?
        {
            decision = LoginDecision::Refused(Refusal::PasswordExpired);
        }

        let mut lock_started = false;
        if let Some((p, keys, before, Gate::Open)) = &throttle {
            match &decision {
                // The password was right: this IP's counter for the login starts again. The
                // other counters stay, so the owner's login clears nothing an attacker built.
                LoginDecision::Success | LoginDecision::Refused(Refusal::PasswordExpired)
                    if before.iter().any(|c| c.key == keys.login_ip) =>
                {
                    p.repo.clear(&self.realm.name, &keys.login_ip).await?;
                }
                LoginDecision::Refused(
                    Refusal::InvalidCredentials | Refusal::Superseded { .. },
                ) if !password.is_empty() => {
                    let after = p
                        .repo
                        .add_failure(&self.realm.name, &keys.all(), now, p.forget_before(now))
                        .await?;
                    lock_started = p.started_lock(&after);
                }
                _ => {}
            }
        }

        let record = LoginRecord {
            realm: self.realm.name.clone(),
            login: key.clone(),
            account_id: account.as_ref().map(|a| a.id),
            success: decision == LoginDecision::Success,
            result: match &decision {
                LoginDecision::Success => "success".to_owned(),
                // The failure that locks the login is audited as the lock.
                LoginDecision::Refused(_) if lock_started => "brute_force_lock".to_owned(),
                LoginDecision::Refused(r) => r.code().to_owned(),
            },
            attempts: attempts.clone(),
            at: Utc::now(),
            redirect: false,
            origin: origin.clone(),
        };
        self.repo.record_login(&record).await?;
        Ok(LoginResult {
            login: key,
            account,
            decision,
            attempts,
        })
    }

    /// Step 6: refuse accounts that may not log in, provision or update the rest.
    async fn on_verified(
        &self,
        key: &str,
        known: Option<AccountWithLinks>,
        provider_id: &str,
        identity: VerifiedIdentity,
    ) -> Result<(Option<Account>, LoginDecision), CoreError> {
        let known = match known {
            Some(known) => known,
            None => match self.provision(key, provider_id, &identity).await? {
                Provisioned::Created(account) => {
                    return Ok((Some(*account), LoginDecision::Success));
                }
                Provisioned::Existing(known) => *known,
                Provisioned::Refused => {
                    return Ok((None, LoginDecision::Refused(Refusal::InvalidCredentials)));
                }
            },
        };

        if let Some(new_hash) = &identity.rehashed_secret
            && let Some(link) = known.link_to(provider_id)
        {
            // A failed rehash only postpones the upgrade to the next login.
            if let Err(e) = self.repo.update_link_secret(link.id, new_hash).await {
                tracing::warn!(provider = provider_id, error = %e, "could not store the rehashed password");
            }
        }

        let superseded = plan::superseded_by(&self.realm, &known);
        let account = known.account;
        let refusal = if let Some(reason) = &account.disabled_reason {
            Some(Refusal::AccountDisabled {
                reason: reason.clone(),
            })
        } else if account.is_locked_at(Utc::now()) {
            Some(Refusal::AccountLocked)
        } else {
            superseded.map(|by| Refusal::Superseded { by })
        };
        if let Some(refusal) = refusal {
            return Ok((Some(account), LoginDecision::Refused(refusal)));
        }
        let account = match &identity.profile {
            // The stored account, so the answer carries the groups and roles just granted.
            Some(profile) => self.repo.update_profile(account.id, profile).await?,
            None => account,
        };
        Ok((Some(account), LoginDecision::Success))
    }

    /// Just-in-time provisioning of a login the provider verified and no account matched.
    ///
    /// Creating fails when the account appeared meanwhile: a concurrent login of the same user
    /// provisioned it, or the provider's spelling of the username (`alice`) names an account the
    /// login (`EXAMPLE\alice`, a UPN) did not. Either way the account is looked up once more by
    /// that username; it is used only when it is linked to this very provider and external id, so
    /// a directory entry can never take over an account that is not linked to it.
    async fn provision(
        &self,
        key: &str,
        provider_id: &str,
        identity: &VerifiedIdentity,
    ) -> Result<Provisioned, CoreError> {
        let username = identity.username.as_deref().unwrap_or(key);
        let username_key = self.realm.normalize_login(username);
        let profile = identity.profile.clone().unwrap_or_default();
        let created = self
            .repo
            .provision(
                &self.realm.name,
                username,
                &username_key,
                &profile,
                NewLink {
                    provider_id: provider_id.to_owned(),
                    external_id: identity.external_id.clone(),
                    secret: identity.rehashed_secret.clone(),
                    protected: false,
                },
            )
            .await;
        let error = match created {
            Ok(created) => return Ok(Provisioned::Created(Box::new(created.account))),
            // Only a clash means another login created the account meanwhile.
            Err(e @ RepoError::Conflict(_)) => e,
            Err(e) => return Err(e.into()),
        };
        let Some(existing) = self
            .repo
            .find_for_login(&self.realm.name, &username_key, false)
            .await?
        else {
            return Err(error.into());
        };
        let same_entry = existing.link_to(provider_id).is_some_and(|link| {
            link.external_id.is_none() || link.external_id == identity.external_id
        });
        if same_entry {
            Ok(Provisioned::Existing(Box::new(existing)))
        } else {
            tracing::warn!(
                realm = %self.realm.name,
                provider = provider_id,
                account = %existing.account.id,
                "a verified login names an existing account that is not linked to this provider \
                 entry; refusing (link it with `gatehouse user link` if it is the same person)"
            );
            Ok(Provisioned::Refused)
        }
    }

    async fn protection_repo_counters(
        &self,
        protection: &Protection,
        keys: &TryKeys,
    ) -> Result<Vec<crate::protection::Counter>, CoreError> {
        Ok(protection
            .repo
            .counters(&self.realm.name, &keys.all())
            .await?)
    }

    /// Whether the password `provider` just verified is older than the provider's policy allows.
    async fn password_expired(
        &self,
        account: crate::account::AccountId,
        provider: &str,
        now: chrono::DateTime<Utc>,
    ) -> Result<bool, CoreError> {
        let (Some(protection), Some(max_age)) = (
            self.protection.as_ref(),
            self.providers
                .get(provider)
                .and_then(|p| p.password_max_age()),
        ) else {
            return Ok(false);
        };
        Ok(protection
            .repo
            .password_changed_at(account, provider)
            .await?
            .is_some_and(|changed| now - changed >= max_age))
    }

    async fn lookup(&self, key: &str) -> Result<Option<AccountWithLinks>, CoreError> {
        Ok(self
            .repo
            .find_for_login(&self.realm.name, key, self.realm.login_with_email)
            .await?)
    }

    async fn spend_dummy_verification(&self, password: &Secret) {
        for descriptor in self.realm.chained() {
            if let Some(provider) = self.providers.get(&descriptor.id)
                && provider.verify_dummy(password).await
            {
                return;
            }
        }
    }
}

enum Provisioned {
    Created(Box<Account>),
    Existing(Box<AccountWithLinks>),
    Refused,
}

enum Verdict {
    Verified(String, VerifiedIdentity),
    Refused(Refusal),
}

#[cfg(test)]
#[path = "resolver_tests.rs"]
mod tests;
