//! Brute-force defence and password expiry in the resolver (issue #24), against an in-memory
//! counter store that behaves as the real one (see gatehouse-store's `throttle` tests).

use std::collections::HashMap;

use chrono::DateTime;

use super::*;
use crate::protection::{
    BruteForceSettings, Counter, Protection, ProtectionRepository, ThrottleKey,
};

#[derive(Default)]
struct MemoryCounters {
    counters: Mutex<HashMap<(String, ThrottleKey), Counter>>,
    changed_at: Mutex<Option<DateTime<Utc>>>,
}

#[async_trait]
impl ProtectionRepository for MemoryCounters {
    async fn counters(&self, realm: &str, keys: &[ThrottleKey]) -> Result<Vec<Counter>, RepoError> {
        let map = self.counters.lock().unwrap();
        Ok(keys
            .iter()
            .filter_map(|k| map.get(&(realm.to_owned(), k.clone())).cloned())
            .collect())
    }

    async fn add_failure(
        &self,
        realm: &str,
        keys: &[ThrottleKey],
        at: DateTime<Utc>,
        forget_before: DateTime<Utc>,
    ) -> Result<Vec<Counter>, RepoError> {
        let mut map = self.counters.lock().unwrap();
        Ok(keys
            .iter()
            .map(|k| {
                let c = map.entry((realm.to_owned(), k.clone())).or_insert(Counter {
                    key: k.clone(),
                    failures: 0,
                    last_failure_at: at,
                });
                if c.last_failure_at < forget_before {
                    c.failures = 0;
                }
                c.failures += 1;
                c.last_failure_at = at;
                c.clone()
            })
            .collect())
    }

    async fn clear(&self, realm: &str, key: &ThrottleKey) -> Result<(), RepoError> {
        self.counters
            .lock()
            .unwrap()
            .remove(&(realm.to_owned(), key.clone()));
        Ok(())
    }

    async fn password_changed_at(
        &self,
        _account: AccountId,
        _provider: &str,
    ) -> Result<Option<DateTime<Utc>>, RepoError> {
        Ok(*self.changed_at.lock().unwrap())
    }
}

struct Setup {
    resolver: Resolver,
    repo: Arc<MemoryRepo>,
    counters: Arc<MemoryCounters>,
}

fn setup(provider: &Arc<TestProvider>, settings: BruteForceSettings) -> Setup {
    let repo = Arc::new(MemoryRepo::default());
    repo.add("alice", &[(provider.descriptor.id.as_str(), false)]);
    let counters = Arc::new(MemoryCounters::default());
    let resolver = resolver(realm(&[provider], OnUnavailable::Next), &[provider], &repo)
        .with_protection(Protection {
            settings,
            repo: counters.clone(),
        });
    Setup {
        resolver,
        repo,
        counters,
    }
}

async fn from(s: &Setup, login: &str, password: &str, ip: &str) -> LoginResult {
    s.resolver
        .resolve_from(
            login,
            &Secret::new(password),
            &LoginOrigin {
                client: None,
                ip: Some(ip.to_owned()),
            },
        )
        .await
        .unwrap()
}

#[tokio::test]
async fn twenty_wrong_then_right_is_delayed_and_another_ip_is_not() {
    let db = Arc::new(TestProvider::db("local", "right"));
    let s = setup(&db, BruteForceSettings::default());
    for _ in 0..20 {
        assert!(!from(&s, "alice", "wrong", "10.0.0.1").await.is_success());
    }
    // Five failures were verified; the fifteen tries after them never reached the provider.
    assert_eq!(db.calls(), 5);
    let right = from(&s, "alice", "right", "10.0.0.1").await;
    let refused = refusal(&right);
    assert!(
        matches!(refused, Refusal::Throttled { locked: false, retry_after } if retry_after.as_secs() >= 1),
        "{refused:?}"
    );
    assert_eq!(
        refused.public_message(),
        Refusal::InvalidCredentials.public_message()
    );
    assert_eq!(s.repo.last_record().result, "throttled");
    assert_eq!(db.calls(), 5);

    assert!(from(&s, "alice", "right", "10.0.0.2").await.is_success());
}

#[tokio::test]
async fn an_unknown_login_is_throttled_like_a_known_one() {
    let db = Arc::new(TestProvider::db("local", "right"));
    let s = setup(&db, BruteForceSettings::default());
    for _ in 0..6 {
        from(&s, "alice", "wrong", "10.0.0.1").await;
        from(&s, "nobody", "wrong", "10.0.0.1").await;
    }
    let dummies = db.dummy_calls.load(Ordering::SeqCst);
    let known = from(&s, "alice", "wrong", "10.0.0.1").await;
    let unknown = from(&s, "nobody", "wrong", "10.0.0.1").await;
    assert_eq!(refusal(&known).code(), "throttled");
    assert_eq!(refusal(&unknown).code(), "throttled");
    // Neither spends a verification once throttled, so neither takes longer than the other.
    assert_eq!(db.dummy_calls.load(Ordering::SeqCst), dummies);
    assert_eq!(
        refusal(&known).public_message(),
        refusal(&unknown).public_message()
    );
}

#[tokio::test]
async fn a_directory_is_not_asked_past_the_threshold() {
    let ldap = Arc::new(TestProvider::ldap(
        "corp",
        Script::Always(PasswordOutcome::Rejected),
    ));
    let s = setup(&ldap, BruteForceSettings::default());
    for _ in 0..12 {
        from(&s, "alice", "guess", "192.0.2.7").await;
    }
    assert_eq!(ldap.calls(), 5);
}

#[tokio::test]
async fn max_failures_locks_the_login_on_every_ip_and_is_audited() {
    let db = Arc::new(TestProvider::db("local", "right"));
    let s = setup(
        &db,
        BruteForceSettings {
            free_failures: 2,
            max_failures: 4,
            ..Default::default()
        },
    );
    let mut codes = Vec::new();
    for ip in ["10.0.0.1", "10.0.0.1", "10.0.0.2", "10.0.0.2"] {
        from(&s, "alice", "wrong", ip).await;
        codes.push(s.repo.last_record().result);
    }
    assert_eq!(
        codes,
        [
            "invalid_credentials",
            "invalid_credentials",
            "invalid_credentials",
            "brute_force_lock"
        ]
    );
    let refused = refusal(&from(&s, "alice", "right", "10.0.0.3").await);
    assert!(
        matches!(refused, Refusal::Throttled { locked: true, .. }),
        "{refused:?}"
    );
    assert_eq!(refused.code(), "locked_out");
    // The unlock is the store's removal of the counters.
    s.counters.counters.lock().unwrap().clear();
    assert!(from(&s, "alice", "right", "10.0.0.3").await.is_success());
}

#[tokio::test]
async fn a_success_resets_only_its_own_ip() {
    let db = Arc::new(TestProvider::db("local", "right"));
    let s = setup(&db, BruteForceSettings::default());
    for ip in ["10.0.0.1", "10.0.0.2"] {
        for _ in 0..4 {
            from(&s, "alice", "wrong", ip).await;
        }
    }
    assert!(from(&s, "alice", "right", "10.0.0.1").await.is_success());
    // 10.0.0.1 starts again with five free failures; 10.0.0.2 has one left.
    from(&s, "alice", "wrong", "10.0.0.2").await;
    assert_eq!(
        refusal(&from(&s, "alice", "wrong", "10.0.0.2").await).code(),
        "throttled"
    );
    for _ in 0..5 {
        assert_eq!(
            refusal(&from(&s, "alice", "wrong", "10.0.0.1").await).code(),
            "invalid_credentials"
        );
    }
}

#[tokio::test]
async fn an_expired_password_is_refused_as_such_and_a_fresh_one_passes() {
    let mut db = TestProvider::db("local", "right");
    db.max_age = Some(ChronoDuration::days(90));
    let db = Arc::new(db);
    let s = setup(&db, BruteForceSettings::default());
    *s.counters.changed_at.lock().unwrap() = Some(Utc::now() - ChronoDuration::days(91));
    let result = from(&s, "alice", "right", "10.0.0.1").await;
    assert_eq!(refusal(&result), Refusal::PasswordExpired);
    assert_eq!(s.repo.last_record().result, "password_expired");
    assert!(!s.repo.last_record().success);
    // A wrong password is still only a wrong password.
    assert_eq!(
        refusal(&from(&s, "alice", "wrong", "10.0.0.1").await),
        Refusal::InvalidCredentials
    );
    *s.counters.changed_at.lock().unwrap() = Some(Utc::now() - ChronoDuration::days(89));
    assert!(from(&s, "alice", "right", "10.0.0.1").await.is_success());
}

#[tokio::test]
async fn switched_off_it_counts_nothing() {
    let db = Arc::new(TestProvider::db("local", "right"));
    let s = setup(
        &db,
        BruteForceSettings {
            enabled: false,
            ..Default::default()
        },
    );
    for _ in 0..10 {
        from(&s, "alice", "wrong", "10.0.0.1").await;
    }
    assert_eq!(db.calls(), 10);
    assert!(s.counters.counters.lock().unwrap().is_empty());
}
