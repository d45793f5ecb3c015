use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use chrono::Duration as ChronoDuration;
use uuid::Uuid;

use super::*;
use crate::account::{AccountId, Link, Profile};
use crate::provider::{ProviderDescriptor, ProviderKind};
use crate::repository::{AttemptOutcome, RepoError};

// ---------- in-test providers ----------

enum Script {
    /// Verifies this password when asked about a linked account (or any login when searching).
    Password(&'static str),
    Always(PasswordOutcome),
}

struct TestProvider {
    descriptor: ProviderDescriptor,
    script: Script,
    calls: AtomicUsize,
    dummy_calls: AtomicUsize,
    spends_dummy: bool,
    rehash: Option<&'static str>,
    max_age: Option<ChronoDuration>,
}

impl TestProvider {
    fn new(id: &str, kind: ProviderKind, script: Script) -> Self {
        Self {
            descriptor: ProviderDescriptor {
                id: id.into(),
                kind,
                enabled: true,
                supersedes: vec![],
                jit: false,
            },
            script,
            calls: AtomicUsize::new(0),
            dummy_calls: AtomicUsize::new(0),
            spends_dummy: kind == ProviderKind::Database,
            rehash: None,
            max_age: None,
        }
    }
    fn db(id: &str, password: &'static str) -> Self {
        Self::new(id, ProviderKind::Database, Script::Password(password))
    }
    fn ldap(id: &str, script: Script) -> Self {
        Self::new(id, ProviderKind::Ldap, script)
    }
    fn jit(mut self) -> Self {
        self.descriptor.jit = true;
        self
    }
    fn superseding(mut self, what: &[&str]) -> Self {
        self.descriptor.supersedes = what.iter().map(|s| s.to_string()).collect();
        self
    }
    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl PasswordProvider for TestProvider {
    fn descriptor(&self) -> &ProviderDescriptor {
        &self.descriptor
    }

    async fn verify(&self, check: PasswordCheck<'_>) -> PasswordOutcome {
        self.calls.fetch_add(1, Ordering::SeqCst);
        match &self.script {
            Script::Always(o) => o.clone(),
            Script::Password(p) if check.password.expose() == *p => {
                PasswordOutcome::Verified(VerifiedIdentity {
                    external_id: check
                        .link
                        .and_then(|l| l.external_id.clone())
                        .or_else(|| Some(format!("ext-{}", check.login))),
                    rehashed_secret: self.rehash.map(str::to_owned),
                    username: None,
                    profile: None,
                })
            }
            Script::Password(_) => PasswordOutcome::Rejected,
        }
    }

    async fn verify_dummy(&self, _password: &Secret) -> bool {
        if self.spends_dummy {
            self.dummy_calls.fetch_add(1, Ordering::SeqCst);
        }
        self.spends_dummy
    }

    fn password_max_age(&self) -> Option<ChronoDuration> {
        self.max_age
    }
}

// ---------- in-memory repository ----------

#[derive(Default)]
struct MemoryRepo {
    accounts: Mutex<Vec<AccountWithLinks>>,
    records: Mutex<Vec<LoginRecord>>,
    secret_updates: Mutex<Vec<(Uuid, String)>>,
}

impl MemoryRepo {
    fn add(&self, username: &str, links: &[(&str, bool)]) -> AccountId {
        let id = AccountId::generate();
        let account = Account {
            id,
            realm: "main".into(),
            username: username.into(),
            email: Some(format!("{username}@example.org")),
            name: None,
            disabled_reason: None,
            locked_until: None,
            roles: vec![],
            groups: vec![],
            attributes: Default::default(),
            created_at: Utc::now(),
        };
        let links = links
            .iter()
            .map(|(provider, protected)| Link {
                id: Uuid::new_v4(),
                account_id: id,
                provider_id: provider.to_string(),
                external_id: None,
                secret: None,
                protected: *protected,
                created_at: Utc::now(),
            })
            .collect();
        self.accounts
            .lock()
            .unwrap()
            .push(AccountWithLinks { account, links });
        id
    }
    fn edit(&self, username: &str, f: impl FnOnce(&mut Account)) {
        let mut accounts = self.accounts.lock().unwrap();
        let a = accounts
            .iter_mut()
            .find(|a| a.account.username == username)
            .unwrap();
        f(&mut a.account);
    }
    fn last_record(&self) -> LoginRecord {
        self.records.lock().unwrap().last().cloned().unwrap()
    }
}

#[async_trait]
impl AccountRepository for MemoryRepo {
    async fn find_for_login(
        &self,
        _realm: &str,
        key: &str,
        by_email: bool,
    ) -> Result<Option<AccountWithLinks>, RepoError> {
        let accounts = self.accounts.lock().unwrap();
        let by_name = accounts
            .iter()
            .find(|a| a.account.username.to_lowercase() == key || a.account.username == key);
        if let Some(found) = by_name {
            return Ok(Some(found.clone()));
        }
        if by_email {
            return Ok(accounts
                .iter()
                .find(|a| a.account.email.as_deref() == Some(key))
                .cloned());
        }
        Ok(None)
    }

    async fn provision(
        &self,
        _realm: &str,
        username: &str,
        _key: &str,
        _profile: &Profile,
        link: NewLink,
    ) -> Result<AccountWithLinks, RepoError> {
        let taken = self
            .accounts
            .lock()
            .unwrap()
            .iter()
            .any(|a| a.account.username.to_lowercase() == username.to_lowercase());
        if taken {
            return Err(RepoError::Conflict(format!(
                "an account `{username}` already exists"
            )));
        }
        let id = self.add(username, &[(&link.provider_id, false)]);
        let mut accounts = self.accounts.lock().unwrap();
        let created = accounts.iter_mut().find(|a| a.account.id == id).unwrap();
        created.links[0].external_id = link.external_id;
        Ok(created.clone())
    }

    async fn update_link_secret(&self, link_id: Uuid, secret: &str) -> Result<(), RepoError> {
        self.secret_updates
            .lock()
            .unwrap()
            .push((link_id, secret.to_owned()));
        Ok(())
    }

    async fn update_profile(&self, id: AccountId, profile: &Profile) -> Result<Account, RepoError> {
        let mut accounts = self.accounts.lock().unwrap();
        let a = accounts.iter_mut().find(|a| a.account.id == id).unwrap();
        a.account.groups = profile.groups.clone();
        for role in &profile.roles {
            if !a.account.roles.contains(role) {
                a.account.roles.push(role.clone());
            }
        }
        Ok(a.account.clone())
    }

    async fn record_login(&self, record: &LoginRecord) -> Result<(), RepoError> {
        self.records.lock().unwrap().push(record.clone());
        Ok(())
    }
}

// ---------- harness ----------

fn realm(providers: &[&Arc<TestProvider>], on_unavailable: OnUnavailable) -> RealmPolicy {
    RealmPolicy {
        name: "main".into(),
        providers: providers.iter().map(|p| p.descriptor.clone()).collect(),
        chain: providers.iter().map(|p| p.descriptor.id.clone()).collect(),
        on_unavailable,
        usernames_case_sensitive: false,
        login_with_email: true,
    }
}

fn resolver(
    policy: RealmPolicy,
    providers: &[&Arc<TestProvider>],
    repo: &Arc<MemoryRepo>,
) -> Resolver {
    let providers = providers
        .iter()
        .map(|p| Arc::clone(p) as Arc<dyn PasswordProvider>)
        .collect();
    Resolver::new(Arc::new(policy), providers, repo.clone()).unwrap()
}

fn tried(result: &LoginResult) -> Vec<(&str, &'static str)> {
    result
        .attempts
        .iter()
        .map(|a| (a.provider.as_str(), a.outcome.label()))
        .collect()
}

fn refusal(result: &LoginResult) -> Refusal {
    match &result.decision {
        LoginDecision::Refused(r) => r.clone(),
        LoginDecision::Success => panic!("expected a refusal, got success"),
    }
}

async fn login(r: &Resolver, login: &str, password: &str) -> LoginResult {
    r.resolve(login, &Secret::new(password)).await.unwrap()
}

// ---------- chain order and fallback ----------

#[tokio::test]
async fn first_provider_in_chain_order_verifies_and_the_rest_are_not_tried() {
    let a = Arc::new(TestProvider::db("a", "pw-a"));
    let b = Arc::new(TestProvider::db("b", "pw-a"));
    let repo = Arc::new(MemoryRepo::default());
    repo.add("alice", &[("b", false), ("a", false)]);
    let r = resolver(realm(&[&a, &b], OnUnavailable::Next), &[&a, &b], &repo);

    let result = login(&r, "alice", "pw-a").await;
    assert!(result.is_success());
    assert_eq!(tried(&result), vec![("a", "verified")]);
    assert_eq!(b.calls(), 0);
}

#[tokio::test]
async fn rejected_falls_back_to_the_next_linked_provider() {
    let a = Arc::new(TestProvider::db("a", "pw-a"));
    let b = Arc::new(TestProvider::db("b", "pw-b"));
    let repo = Arc::new(MemoryRepo::default());
    repo.add("alice", &[("a", false), ("b", false)]);
    let r = resolver(realm(&[&a, &b], OnUnavailable::Next), &[&a, &b], &repo);

    let result = login(&r, "alice", "pw-b").await;
    assert!(result.is_success());
    assert_eq!(tried(&result), vec![("a", "rejected"), ("b", "verified")]);

    let result = login(&r, "alice", "pw-a").await;
    assert_eq!(tried(&result), vec![("a", "verified")]);
}

#[tokio::test]
async fn only_providers_with_a_live_link_are_tried() {
    let a = Arc::new(TestProvider::db("a", "pw"));
    let b = Arc::new(TestProvider::db("b", "pw"));
    let repo = Arc::new(MemoryRepo::default());
    repo.add("bob", &[("b", false)]);
    let r = resolver(realm(&[&a, &b], OnUnavailable::Next), &[&a, &b], &repo);

    let result = login(&r, "bob", "pw").await;
    assert!(result.is_success());
    assert_eq!(tried(&result), vec![("b", "verified")]);
    assert_eq!(a.calls(), 0);

    let (_, plan) = r.explain("bob").await.unwrap();
    assert_eq!(plan.steps[0].decision, StepDecision::SkipNoLink);
    assert_eq!(plan.steps[1].decision, StepDecision::TryLink);
}

#[tokio::test]
async fn wrong_password_everywhere_is_the_generic_refusal() {
    let a = Arc::new(TestProvider::db("a", "pw-a"));
    let b = Arc::new(TestProvider::db("b", "pw-b"));
    let repo = Arc::new(MemoryRepo::default());
    repo.add("alice", &[("a", false), ("b", false)]);
    let r = resolver(realm(&[&a, &b], OnUnavailable::Next), &[&a, &b], &repo);

    let result = login(&r, "alice", "nope").await;
    assert_eq!(refusal(&result), Refusal::InvalidCredentials);
    assert_eq!(tried(&result), vec![("a", "rejected"), ("b", "rejected")]);
    let record = repo.last_record();
    assert!(!record.success);
    assert_eq!(record.result, "invalid_credentials");
    assert_eq!(record.attempts.len(), 2);
}

// ---------- unavailable and disabled ----------

#[tokio::test]
async fn unavailable_goes_on_to_the_next_provider_when_the_realm_says_next() {
    let corp = Arc::new(TestProvider::ldap(
        "corp",
        Script::Always(PasswordOutcome::Unavailable("all servers down".into())),
    ));
    let local = Arc::new(TestProvider::db("local", "pw"));
    let repo = Arc::new(MemoryRepo::default());
    repo.add("alice", &[("corp", false), ("local", false)]);
    let r = resolver(
        realm(&[&corp, &local], OnUnavailable::Next),
        &[&corp, &local],
        &repo,
    );

    let result = login(&r, "alice", "pw").await;
    assert!(result.is_success());
    assert_eq!(
        tried(&result),
        vec![("corp", "unavailable"), ("local", "verified")]
    );
    assert_eq!(
        result.attempts[0].outcome,
        AttemptOutcome::Unavailable("all servers down".into())
    );
}

#[tokio::test]
async fn unavailable_stops_with_a_temporary_failure_when_the_realm_says_fail() {
    let corp = Arc::new(TestProvider::ldap(
        "corp",
        Script::Always(PasswordOutcome::Unavailable("timeout".into())),
    ));
    let local = Arc::new(TestProvider::db("local", "pw"));
    let repo = Arc::new(MemoryRepo::default());
    repo.add("alice", &[("corp", false), ("local", false)]);
    let r = resolver(
        realm(&[&corp, &local], OnUnavailable::Fail),
        &[&corp, &local],
        &repo,
    );

    let result = login(&r, "alice", "pw").await;
    let refusal = refusal(&result);
    assert_eq!(
        refusal,
        Refusal::TemporarilyUnavailable {
            provider: "corp".into()
        }
    );
    assert!(refusal.is_temporary());
    assert_eq!(local.calls(), 0);
}

#[tokio::test]
async fn disabled_in_the_directory_never_falls_through_to_a_local_password() {
    let corp = Arc::new(TestProvider::ldap(
        "corp",
        Script::Always(PasswordOutcome::Disabled(
            "userAccountControl: disabled".into(),
        )),
    ));
    let local = Arc::new(TestProvider::db("local", "old-pw"));
    let repo = Arc::new(MemoryRepo::default());
    repo.add("alice", &[("corp", false), ("local", false)]);
    let r = resolver(
        realm(&[&corp, &local], OnUnavailable::Next),
        &[&corp, &local],
        &repo,
    );

    let result = login(&r, "alice", "old-pw").await;
    assert_eq!(
        refusal(&result),
        Refusal::DisabledInDirectory {
            provider: "corp".into(),
            reason: "userAccountControl: disabled".into()
        }
    );
    assert_eq!(
        refusal(&result).public_message(),
        Refusal::InvalidCredentials.public_message()
    );
    assert_eq!(local.calls(), 0);
}

// ---------- unknown users, dummy hash, just in time ----------

#[tokio::test]
async fn unknown_user_spends_a_dummy_verification_and_gets_the_same_answer() {
    let local = Arc::new(TestProvider::db("local", "pw"));
    let repo = Arc::new(MemoryRepo::default());
    repo.add("alice", &[("local", false)]);
    let r = resolver(realm(&[&local], OnUnavailable::Next), &[&local], &repo);

    let unknown = login(&r, "mallory", "pw").await;
    assert_eq!(refusal(&unknown), Refusal::InvalidCredentials);
    assert!(unknown.account.is_none());
    assert!(unknown.attempts.is_empty());
    assert_eq!(local.calls(), 0);
    assert_eq!(local.dummy_calls.load(Ordering::SeqCst), 1);

    let wrong = login(&r, "alice", "bad").await;
    assert_eq!(
        refusal(&wrong).public_message(),
        refusal(&unknown).public_message()
    );
    // A real verification happened: no dummy on top of it.
    assert_eq!(local.dummy_calls.load(Ordering::SeqCst), 1);
    assert_eq!(repo.last_record().account_id, wrong.account.map(|a| a.id));
}

#[tokio::test]
async fn known_account_with_no_live_link_also_spends_a_dummy_verification() {
    let a = Arc::new(TestProvider::db("a", "pw"));
    let repo = Arc::new(MemoryRepo::default());
    repo.add("ghost", &[]);
    let r = resolver(realm(&[&a], OnUnavailable::Next), &[&a], &repo);

    let result = login(&r, "ghost", "pw").await;
    assert_eq!(refusal(&result), Refusal::InvalidCredentials);
    assert_eq!(a.calls(), 0);
    assert_eq!(a.dummy_calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn unknown_login_is_searched_only_by_just_in_time_providers_and_provisioned() {
    let local = Arc::new(TestProvider::db("local", "pw"));
    let corp = Arc::new(TestProvider::ldap("corp", Script::Password("pw")).jit());
    let repo = Arc::new(MemoryRepo::default());
    let r = resolver(
        realm(&[&local, &corp], OnUnavailable::Next),
        &[&local, &corp],
        &repo,
    );

    let (_, plan) = r.explain("newbie").await.unwrap();
    assert_eq!(plan.steps[0].decision, StepDecision::SkipNoJit);
    assert_eq!(plan.steps[1].decision, StepDecision::TrySearch);

    let result = login(&r, "NewBie", "pw").await;
    assert!(result.is_success());
    assert_eq!(tried(&result), vec![("corp", "verified")]);
    assert_eq!(local.calls(), 0);
    let account = result.account.unwrap();
    assert_eq!(account.username, "newbie");

    // The provisioned account now logs in through its link, not a search.
    let (found, plan) = r.explain("newbie").await.unwrap();
    assert_eq!(
        found.unwrap().links[0].external_id.as_deref(),
        Some("ext-newbie")
    );
    assert_eq!(plan.steps[1].decision, StepDecision::TryLink);
}

#[tokio::test]
async fn empty_password_or_login_reaches_no_provider() {
    let corp = Arc::new(TestProvider::ldap(
        "corp",
        Script::Always(PasswordOutcome::Verified(VerifiedIdentity::default())),
    ));
    let repo = Arc::new(MemoryRepo::default());
    repo.add("alice", &[("corp", false)]);
    let r = resolver(realm(&[&corp], OnUnavailable::Next), &[&corp], &repo);

    assert_eq!(
        refusal(&login(&r, "alice", "").await),
        Refusal::InvalidCredentials
    );
    assert_eq!(
        refusal(&login(&r, "   ", "pw").await),
        Refusal::InvalidCredentials
    );
    assert_eq!(corp.calls(), 0);
}

// ---------- normalisation ----------

#[tokio::test]
async fn logins_are_trimmed_and_case_folded_unless_the_realm_is_case_sensitive() {
    let local = Arc::new(TestProvider::db("local", "pw"));
    let repo = Arc::new(MemoryRepo::default());
    repo.add("alice", &[("local", false)]);
    let r = resolver(realm(&[&local], OnUnavailable::Next), &[&local], &repo);
    assert!(login(&r, "  ALICE ", "pw").await.is_success());
    assert!(login(&r, "alice@example.org", "pw").await.is_success());

    let mut sensitive = realm(&[&local], OnUnavailable::Next);
    sensitive.usernames_case_sensitive = true;
    sensitive.login_with_email = false;
    assert_eq!(sensitive.normalize_login(" Alice "), "Alice");
    let r = resolver(sensitive, &[&local], &repo);
    assert!(!login(&r, "alice@example.org", "pw").await.is_success());
}

// ---------- account state after verification ----------

#[tokio::test]
async fn disabled_and_locked_accounts_are_refused_after_verification() {
    let local = Arc::new(TestProvider::db("local", "pw"));
    let repo = Arc::new(MemoryRepo::default());
    repo.add("alice", &[("local", false)]);
    repo.add("bob", &[("local", false)]);
    repo.edit("alice", |a| {
        a.disabled_reason = Some("left the company".into())
    });
    repo.edit("bob", |a| {
        a.locked_until = Some(Utc::now() + ChronoDuration::minutes(5))
    });
    let r = resolver(realm(&[&local], OnUnavailable::Next), &[&local], &repo);

    assert_eq!(
        refusal(&login(&r, "alice", "pw").await),
        Refusal::AccountDisabled {
            reason: "left the company".into()
        }
    );
    assert_eq!(
        refusal(&login(&r, "bob", "pw").await),
        Refusal::AccountLocked
    );
    repo.edit("bob", |a| {
        a.locked_until = Some(Utc::now() - ChronoDuration::minutes(1))
    });
    assert!(login(&r, "bob", "pw").await.is_success());
}

#[tokio::test]
async fn outdated_hash_is_replaced_after_a_successful_login() {
    let mut provider = TestProvider::db("local", "pw");
    provider.rehash = Some("$argon2id$new");
    let local = Arc::new(provider);
    let repo = Arc::new(MemoryRepo::default());
    repo.add("alice", &[("local", false)]);
    let r = resolver(realm(&[&local], OnUnavailable::Next), &[&local], &repo);

    assert!(login(&r, "alice", "pw").await.is_success());
    let updates = repo.secret_updates.lock().unwrap();
    assert_eq!(updates.len(), 1);
    assert_eq!(updates[0].1, "$argon2id$new");
}

#[path = "resolver_supersession_tests.rs"]
mod supersession;

#[path = "resolver_jit_tests.rs"]
mod jit;

#[path = "resolver_protection_tests.rs"]
mod protection;
