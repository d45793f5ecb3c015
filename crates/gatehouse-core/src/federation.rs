//! DESIGN.md, redirect providers: which account an upstream identity logs in as — its link, else
//! an existing account named by `link_existing`, else a just-in-time account — and whether that
//! account may log in. Driven through [`FederationRepository`], so the broker's callback, the
//! policy engine's `federated` mechanism (through [`IdentityMatcher`]) and any later transport
//! decide the same way.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};

use crate::account::{Account, AccountId, AccountWithLinks};
use crate::auth::{Failure, IdentityMatcher};
use crate::error::CoreError;
use crate::plan::superseded_by;
use crate::realm::RealmPolicy;
use crate::redirect::ExternalIdentity;
use crate::repository::{
    Attempt, FederationRepository, LoginOrigin, LoginRecord, NewLink, RepoError,
};
use crate::supersession;

/// A replay-cache entry outlives the answer's own validity by this much, so instances whose
/// clocks differ a little still agree that a late replay is one.
pub const REPLAY_GRACE: Duration = Duration::minutes(5);

/// What a redirect provider's callback may do with an identity that has no link yet.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LinkExisting {
    /// Link only by an existing (provider, external id) link.
    #[default]
    Never,
    /// Link to the account whose username is the mapped username.
    Username,
    /// Link to the one account with that email, and only when the upstream says it is verified.
    VerifiedEmail,
}

/// A redirect provider's matching rules (its `jit` and `link_existing` keys).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MatchRules {
    pub jit: bool,
    pub link_existing: LinkExisting,
}

/// Why an upstream identity does not log in. The one refusal type of redirect logins: each
/// case has its audit result code and a public message that names no account detail.
#[derive(Debug)]
pub enum FederationRefusal {
    /// The upstream's single-use answer was seen before.
    Replayed,
    /// Nothing matched and nothing may be created.
    NoAccount,
    /// The account exists but may not log in (`account_disabled`, `account_locked`,
    /// `superseded`).
    NotUsable {
        account: AccountId,
        code: &'static str,
    },
    /// The store failed: not a refusal to show as one.
    Store(RepoError),
}

impl From<RepoError> for FederationRefusal {
    fn from(e: RepoError) -> Self {
        FederationRefusal::Store(e)
    }
}

impl FederationRefusal {
    /// The audit event's result code.
    pub fn code(&self) -> &'static str {
        match self {
            FederationRefusal::Replayed => "replayed",
            FederationRefusal::NoAccount => "no_account",
            FederationRefusal::NotUsable { code, .. } => code,
            FederationRefusal::Store(_) => "internal",
        }
    }

    /// The account the refusal concerns, when one matched.
    pub fn account(&self) -> Option<AccountId> {
        match self {
            FederationRefusal::NotUsable { account, .. } => Some(*account),
            _ => None,
        }
    }

    /// One sentence per case that names no account detail.
    pub fn public_message(&self) -> &'static str {
        match self {
            FederationRefusal::Replayed => {
                "The login could not be completed. Return to the application and try again."
            }
            FederationRefusal::NoAccount => {
                "There is no account for this identity here. Ask an administrator for access."
            }
            FederationRefusal::NotUsable { .. } => {
                "This account cannot log in. Ask an administrator for help."
            }
            FederationRefusal::Store(_) => {
                "The login could not be completed right now. Try again later."
            }
        }
    }
}

/// A realm's redirect-login decisions.
#[derive(Clone)]
pub struct Federation {
    policy: Arc<RealmPolicy>,
    rules: BTreeMap<String, MatchRules>,
    repo: Arc<dyn FederationRepository>,
}

impl Federation {
    /// `rules`: each redirect provider's matching rules, by provider id (a provider missing here
    /// neither links existing accounts nor provisions).
    pub fn new(
        policy: Arc<RealmPolicy>,
        rules: BTreeMap<String, MatchRules>,
        repo: Arc<dyn FederationRepository>,
    ) -> Self {
        Self {
            policy,
            rules,
            repo,
        }
    }

    pub fn policy(&self) -> &RealmPolicy {
        &self.policy
    }

    /// The account `identity` (from `provider`) logs in as, checked usable, its profile updated
    /// from what the upstream says now. A single-use answer is recorded first, before any
    /// account, link or session exists: a replayed answer changes nothing.
    pub async fn account_for(
        &self,
        provider: &str,
        identity: &ExternalIdentity,
        now: DateTime<Utc>,
    ) -> Result<AccountWithLinks, FederationRefusal> {
        let realm = self.policy.name.as_str();
        if let Some(guard) = &identity.replay_guard {
            let until = guard.not_after.max(now) + REPLAY_GRACE;
            if !self
                .repo
                .first_use(realm, provider, &guard.id, until)
                .await?
            {
                tracing::warn!(realm, provider, "an upstream answer was replayed; refused");
                return Err(FederationRefusal::Replayed);
            }
        }
        let rules = self.rules.get(provider).copied().unwrap_or_default();
        let linked = self
            .repo
            .find_by_external_id(realm, provider, &identity.external_id)
            .await?;
        let mut account = match linked {
            Some(account) => account,
            None => match self.existing(rules.link_existing, identity).await? {
                Some(found) => {
                    self.repo
                        .upsert_link(found.account.id, self.new_link(provider, identity))
                        .await?;
                    // Read again: the new link is live, and decides supersession below.
                    self.repo
                        .get_account(found.account.id)
                        .await?
                        .ok_or(FederationRefusal::NoAccount)?
                }
                None if rules.jit => self.provision(provider, identity).await?,
                None => return Err(FederationRefusal::NoAccount),
            },
        };
        self.restore(&mut account).await?;
        usable(&self.policy, &account, now)?;
        // What the upstream says now wins over what it said last time (email, name, groups).
        account.account = self
            .repo
            .update_profile(account.account.id, &identity.profile)
            .await?;
        Ok(account)
    }

    /// `link_existing`: the account an unlinked identity names, if the provider trusts that
    /// naming.
    async fn existing(
        &self,
        how: LinkExisting,
        identity: &ExternalIdentity,
    ) -> Result<Option<AccountWithLinks>, RepoError> {
        let realm = self.policy.name.as_str();
        match how {
            LinkExisting::Never => Ok(None),
            LinkExisting::Username => {
                let Some(username) = &identity.username else {
                    return Ok(None);
                };
                let key = self.policy.normalize_login(username);
                self.repo.find_for_login(realm, &key, false).await
            }
            LinkExisting::VerifiedEmail => {
                // An unverified email proves nothing: anybody can type one into an upstream
                // profile.
                let Some(email) = identity
                    .profile
                    .email
                    .as_deref()
                    .filter(|_| identity.email_verified)
                else {
                    return Ok(None);
                };
                let email = email.trim().to_lowercase();
                // By email only: several accounts with that email find nothing; an account whose
                // username happens to be the address must also carry it as its email.
                let found = self.repo.find_for_login(realm, &email, true).await?;
                Ok(found.filter(|a| {
                    a.account
                        .email
                        .as_deref()
                        .is_some_and(|e| e.trim().to_lowercase() == email)
                }))
            }
        }
    }

    fn new_link(&self, provider: &str, identity: &ExternalIdentity) -> NewLink {
        NewLink {
            provider_id: provider.to_owned(),
            external_id: Some(identity.external_id.clone()),
            secret: None,
            protected: false,
        }
    }

    /// `jit = true`: a new account named by the mapped username, linked to the identity. A
    /// username already taken is not linked to (that is `link_existing`'s decision): no account.
    async fn provision(
        &self,
        provider: &str,
        identity: &ExternalIdentity,
    ) -> Result<AccountWithLinks, FederationRefusal> {
        let realm = self.policy.name.as_str();
        let Some(username) = identity.username.as_deref() else {
            return Err(FederationRefusal::NoAccount);
        };
        let key = self.policy.normalize_login(username);
        if self
            .repo
            .find_for_login(realm, &key, false)
            .await?
            .is_some()
        {
            return Err(FederationRefusal::NoAccount);
        }
        Ok(self
            .repo
            .provision(
                realm,
                username.trim(),
                &key,
                &identity.profile,
                self.new_link(provider, identity),
            )
            .await?)
    }

    /// An account supersession disabled that now has a live link again (the new link to the
    /// superseding provider, made by `link_existing`) is restored here, as `accounts supersede`
    /// would: otherwise moving users from a directory to the upstream that supersedes it could
    /// never work.
    async fn restore(&self, account: &mut AccountWithLinks) -> Result<(), RepoError> {
        if !supersession::disabled_by_supersession(&account.account)
            || superseded_by(&self.policy, account).is_some()
        {
            return Ok(());
        }
        self.repo
            .set_superseded(
                &self.policy.name,
                account.account.id,
                &account.account.username,
                None,
                supersession::RESTORED,
            )
            .await?;
        account.account.disabled_reason = None;
        Ok(())
    }
}

/// DESIGN.md step 6: refuse disabled, locked and superseded accounts.
fn usable(
    policy: &RealmPolicy,
    account: &AccountWithLinks,
    now: DateTime<Utc>,
) -> Result<(), FederationRefusal> {
    let id = account.account.id;
    let refuse = |code| Err(FederationRefusal::NotUsable { account: id, code });
    if account.account.disabled_reason.is_some() {
        return refuse("account_disabled");
    }
    if account.account.is_locked_at(now) {
        return refuse("account_locked");
    }
    if superseded_by(policy, account).is_some() {
        return refuse("superseded");
    }
    Ok(())
}

/// The policy engine's `federated` mechanism decides as the broker does.
#[async_trait]
impl IdentityMatcher for Federation {
    async fn account_for(
        &self,
        provider: &str,
        identity: &ExternalIdentity,
    ) -> Result<Result<Account, Failure>, CoreError> {
        match Federation::account_for(self, provider, identity, Utc::now()).await {
            Ok(found) => Ok(Ok(found.account)),
            Err(FederationRefusal::Store(e)) => Err(CoreError::Store(e)),
            Err(refused) => Ok(Err(Failure::new(refused.code(), refused.public_message()))),
        }
    }
}

/// What the audit trail knows of a user at a redirect provider: the mapped username, else the
/// upstream's subject.
pub fn known_as(identity: &ExternalIdentity) -> String {
    identity
        .username
        .clone()
        .unwrap_or_else(|| identity.external_id.clone())
}

/// The audit event of a redirect-provider callback, in the same record as password logins:
/// `login` is what the user is known as (the upstream's username or subject, or the identifier
/// typed before the redirect; empty when the callback could not be tied to a login), `result`
/// is `success` or a result code, and the provider is in the attempt.
pub fn callback_record(
    realm: &str,
    login: Option<&str>,
    account_id: Option<AccountId>,
    result: &str,
    attempt: Attempt,
    origin: LoginOrigin,
    at: DateTime<Utc>,
) -> LoginRecord {
    LoginRecord {
        realm: realm.to_owned(),
        login: login.unwrap_or_default().to_owned(),
        account_id,
        success: result == SUCCESS,
        result: result.to_owned(),
        attempts: vec![attempt],
        at,
        redirect: true,
        origin,
    }
}

/// The result code of a callback that logged in.
pub const SUCCESS: &str = "success";

#[cfg(test)]
#[path = "federation_memory.rs"]
pub(crate) mod memory;

#[cfg(test)]
#[path = "federation_tests.rs"]
mod tests;
