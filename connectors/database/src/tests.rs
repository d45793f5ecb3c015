//! Behaviour of the provider and the pool together, as the resolver sees them.

use std::io;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use argon2::password_hash::PasswordHasher;
use argon2::{Algorithm, Argon2, Params, Version};
use chrono::Utc;
use gatehouse_core::{
    AccountId, Link, PasswordCheck, PasswordOutcome, PasswordProvider, ProviderDescriptor,
    ProviderKind, Secret,
};
use uuid::Uuid;

use crate::{Argon2Settings, DatabaseError, DatabaseProvider, DatabaseSettings, HashPool};

const SMALL: Argon2Settings = Argon2Settings {
    memory_kib: 1024,
    iterations: 1,
    parallelism: 1,
};

fn descriptor(kind: ProviderKind) -> ProviderDescriptor {
    ProviderDescriptor {
        id: "local".into(),
        kind,
        enabled: true,
        supersedes: vec![],
        jit: false,
    }
}

fn provider_with(argon2: Argon2Settings, pool: &HashPool) -> DatabaseProvider {
    DatabaseProvider::new(
        descriptor(ProviderKind::Database),
        DatabaseSettings {
            argon2,
            ..Default::default()
        },
        pool.clone(),
    )
    .unwrap()
}

fn link(secret: Option<&str>) -> Link {
    Link {
        id: Uuid::new_v4(),
        account_id: AccountId::generate(),
        provider_id: "local".into(),
        external_id: None,
        secret: secret.map(Secret::from),
        protected: false,
        created_at: Utc::now(),
    }
}

async fn check(p: &DatabaseProvider, password: &str, link: Option<&Link>) -> PasswordOutcome {
    p.verify(PasswordCheck {
        login: "alice",
        password: &Secret::from(password),
        link,
    })
    .await
}

fn rehashed(outcome: PasswordOutcome) -> Option<String> {
    match outcome {
        PasswordOutcome::Verified(id) => id.rehashed_secret,
        other => panic!("expected verified, got {other:?}"),
    }
}

/// A PHC string made outside the connector, as another system or an older release would have.
fn foreign_phc(algorithm: Algorithm, version: Version, a: Argon2Settings, pw: &str) -> String {
    let params = Params::new(a.memory_kib, a.iterations, a.parallelism, None).unwrap();
    Argon2::new(algorithm, version, params)
        .hash_password(pw.as_bytes())
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn round_trip_with_default_parameters() {
    let pool = HashPool::default();
    let p = provider_with(Argon2Settings::default(), &pool);
    let phc = p
        .hash_password(&Secret::from("correct horse"))
        .await
        .unwrap();
    assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
    let l = link(Some(&phc));
    assert_eq!(rehashed(check(&p, "correct horse", Some(&l)).await), None);
    assert_eq!(
        check(&p, "correct horsf", Some(&l)).await,
        PasswordOutcome::Rejected
    );
}

#[tokio::test]
async fn wrong_password_is_rejected_and_salts_differ() {
    let pool = HashPool::new(2);
    let p = provider_with(SMALL, &pool);
    let a = p.hash_password(&Secret::from("pw")).await.unwrap();
    let b = p.hash_password(&Secret::from("pw")).await.unwrap();
    assert_ne!(a, b, "each hash must get its own salt");
    let l = link(Some(&a));
    assert_eq!(rehashed(check(&p, "pw", Some(&l)).await), None);
    assert_eq!(check(&p, "PW", Some(&l)).await, PasswordOutcome::Rejected);
    assert_eq!(check(&p, "", Some(&l)).await, PasswordOutcome::Rejected);
}

#[tokio::test]
async fn no_link_or_no_secret_is_rejected_after_a_dummy_check() {
    let pool = HashPool::new(2);
    let p = provider_with(SMALL, &pool);
    let before = pool.completed();
    assert_eq!(check(&p, "pw", None).await, PasswordOutcome::Rejected);
    assert_eq!(
        pool.completed(),
        before + 1,
        "no link must cost one verification"
    );
    assert_eq!(
        check(&p, "pw", Some(&link(None))).await,
        PasswordOutcome::Rejected
    );
    assert_eq!(
        pool.completed(),
        before + 2,
        "no secret must cost one verification"
    );
    assert!(p.verify_dummy(&Secret::from("pw")).await);
    assert_eq!(pool.completed(), before + 3);
}

#[tokio::test]
async fn another_providers_link_is_rejected() {
    let pool = HashPool::new(1);
    let p = provider_with(SMALL, &pool);
    let mut l = link(Some(&p.hash_password(&Secret::from("pw")).await.unwrap()));
    l.provider_id = "other".into();
    assert_eq!(check(&p, "pw", Some(&l)).await, PasswordOutcome::Rejected);
}

#[tokio::test]
async fn dummy_check_costs_what_a_real_check_costs() {
    let pool = HashPool::new(1);
    let p = provider_with(Argon2Settings::default(), &pool);
    let l = link(Some(&p.hash_password(&Secret::from("pw")).await.unwrap()));
    let time = |f: Instant| f.elapsed().as_secs_f64();
    let (mut real, mut dummy) = (f64::MAX, f64::MAX);
    // Minimums over several rounds, and a wide band: the machine may be busy (CI shares two
    // cores). A dummy that skipped the work would come out near 0.
    for _ in 0..5 {
        let t = Instant::now();
        check(&p, "wrong", Some(&l)).await;
        real = real.min(time(t));
        let t = Instant::now();
        check(&p, "wrong", None).await;
        dummy = dummy.min(time(t));
    }
    let ratio = dummy / real;
    assert!(
        (0.25..4.0).contains(&ratio),
        "dummy {dummy}s vs real {real}s"
    );
}

#[tokio::test]
async fn malformed_hashes_are_rejected_without_echoing_them() {
    let pool = HashPool::new(2);
    let p = provider_with(SMALL, &pool);
    let good = p.hash_password(&Secret::from("pw")).await.unwrap();
    let salt_and_output = good.splitn(5, '$').nth(4).unwrap().to_owned();
    let cases = [
        "".to_owned(),
        "hunter2".to_owned(),
        "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW".to_owned(),
        "$argon2id$v=19$m=1024,t=1,p=1$c2FsdHNhbHQ".to_owned(),
        format!("$argon2id$v=99$m=1024,t=1,p=1${salt_and_output}"),
        format!("$argon2id$v=19$m=1024,t=1,p=1,x=3${salt_and_output}"),
        format!("$argon2id$v=19$m=4294967295,t=1,p=1${salt_and_output}"),
        format!("$argon2id$v=19$m=1024,t=4294967295,p=1${salt_and_output}"),
        format!("$scrypt$v=19$m=1024,t=1,p=1${salt_and_output}"),
        good.replace("$m=1024", "$m=1"),
    ];
    for phc in &cases {
        let err = pool
            .verify(&SMALL, &Secret::from("pw"), phc)
            .await
            .unwrap_err();
        assert!(
            matches!(err, DatabaseError::MalformedHash(_)),
            "{phc}: {err:?}"
        );
        if !phc.is_empty() {
            assert!(!err.to_string().contains(phc.as_str()), "{err}");
        }
        let before = pool.completed();
        assert_eq!(
            check(&p, "pw", Some(&link(Some(phc)))).await,
            PasswordOutcome::Rejected
        );
        assert!(
            pool.completed() > before,
            "{phc}: a malformed row must still cost a check"
        );
    }
}

#[tokio::test]
async fn rehash_is_offered_only_when_parameters_change() {
    let pool = HashPool::new(2);
    let old = provider_with(SMALL, &pool);
    let phc = old.hash_password(&Secret::from("pw")).await.unwrap();
    let l = link(Some(&phc));
    assert_eq!(rehashed(check(&old, "pw", Some(&l)).await), None);

    let changes = [
        Argon2Settings {
            memory_kib: 2048,
            ..SMALL
        },
        Argon2Settings {
            iterations: 2,
            ..SMALL
        },
        Argon2Settings {
            parallelism: 2,
            ..SMALL
        },
    ];
    for new in changes {
        let p = provider_with(new, &pool);
        let fresh = rehashed(check(&p, "pw", Some(&l)).await).expect("a rehash");
        let expected = format!(
            "$argon2id$v=19$m={},t={},p={}$",
            new.memory_kib, new.iterations, new.parallelism
        );
        assert!(fresh.starts_with(&expected), "{fresh}");
        // The upgraded hash verifies under the new parameters and asks for nothing more.
        assert_eq!(
            rehashed(check(&p, "pw", Some(&link(Some(&fresh)))).await),
            None
        );
        // A wrong password is never rehashed.
        assert_eq!(check(&p, "nope", Some(&l)).await, PasswordOutcome::Rejected);
    }
}

#[tokio::test]
async fn other_argon2_variants_verify_and_are_upgraded_to_argon2id() {
    let pool = HashPool::new(2);
    let p = provider_with(SMALL, &pool);
    let variants = [
        (Algorithm::Argon2i, Version::V0x13),
        (Algorithm::Argon2d, Version::V0x13),
        (Algorithm::Argon2id, Version::V0x10),
    ];
    for (algorithm, version) in variants {
        let phc = foreign_phc(algorithm, version, SMALL, "pw");
        let l = link(Some(&phc));
        let fresh = rehashed(check(&p, "pw", Some(&l)).await).expect("an upgrade");
        assert!(
            fresh.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"),
            "{fresh}"
        );
        assert_eq!(
            check(&p, "wrong", Some(&l)).await,
            PasswordOutcome::Rejected
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_never_exceeds_the_bound() {
    let pool = HashPool::new(3);
    // Big enough that computations overlap, so the bound is actually exercised.
    let a = Argon2Settings {
        memory_kib: 8192,
        ..SMALL
    };
    let phc = pool.hash(&a, &Secret::from("pw")).await.unwrap();
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let (pool, phc) = (pool.clone(), phc.clone());
            tokio::spawn(async move {
                let pw = Secret::from(if i % 2 == 0 { "pw" } else { "no" });
                pool.verify(&a, &pw, &phc).await.unwrap().matched
            })
        })
        .collect();
    let mut matched = 0;
    for t in tasks {
        matched += usize::from(t.await.unwrap());
    }
    assert_eq!(matched, 8);
    assert!(pool.peak_in_flight() <= 3, "peak {}", pool.peak_in_flight());
    assert!(pool.peak_in_flight() >= 2, "the burst never overlapped");
    assert_eq!(pool.in_flight(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_runtime_keeps_ticking_during_a_burst() {
    let pool = HashPool::new(2);
    let a = Argon2Settings::default();
    let phc = pool.hash(&a, &Secret::from("pw")).await.unwrap();
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let ticker = {
        let done = Arc::clone(&done);
        tokio::spawn(async move {
            let (mut ticks, mut worst) = (0u32, Duration::ZERO);
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                let t = Instant::now();
                tokio::time::sleep(Duration::from_millis(5)).await;
                worst = worst.max(t.elapsed().saturating_sub(Duration::from_millis(5)));
                ticks += 1;
            }
            (ticks, worst)
        })
    };
    let started = Instant::now();
    let burst: Vec<_> = (0..16)
        .map(|_| {
            let (pool, phc) = (pool.clone(), phc.clone());
            tokio::spawn(async move { pool.verify(&a, &Secret::from("pw"), &phc).await })
        })
        .collect();
    for t in burst {
        assert!(t.await.unwrap().unwrap().matched);
    }
    let burst_time = started.elapsed();
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let (ticks, worst) = ticker.await.unwrap();
    eprintln!("burst {burst_time:?}, {ticks} ticks, worst lateness {worst:?}");
    assert!(pool.peak_in_flight() <= 2);
    // Run on the two workers instead, this burst stalls the ticker for ~220 ms and it ticks twice;
    // the margin is for a machine busy with other builds.
    assert!(
        worst < Duration::from_millis(100),
        "worst lateness {worst:?}"
    );
    let expected = burst_time.as_millis() / 6;
    assert!(
        u128::from(ticks) >= expected / 2,
        "{ticks} ticks in {burst_time:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_caller_keeps_its_slot_until_the_hash_ends() {
    let pool = HashPool::new(1);
    let a = Argon2Settings::default();
    let task = {
        let pool = pool.clone();
        tokio::spawn(async move { pool.hash(&a, &Secret::from("pw")).await })
    };
    while pool.in_flight() == 0 {
        tokio::task::yield_now().await;
    }
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    assert_eq!(
        pool.in_flight(),
        1,
        "the computation still runs and must still count"
    );
    // The next caller waits for it rather than running beside it.
    let phc = pool.hash(&SMALL, &Secret::from("pw")).await.unwrap();
    assert!(phc.starts_with("$argon2id$"));
    assert_eq!(pool.peak_in_flight(), 1);
}

#[test]
fn construction_refuses_other_kinds_jit_and_bad_settings() {
    let pool = HashPool::new(1);
    let settings = DatabaseSettings::default();
    let err = DatabaseProvider::new(
        descriptor(ProviderKind::Ldap),
        settings.clone(),
        pool.clone(),
    )
    .unwrap_err();
    assert!(matches!(err, DatabaseError::WrongKind { .. }), "{err}");
    let mut jit = descriptor(ProviderKind::Database);
    jit.jit = true;
    assert!(DatabaseProvider::new(jit, settings, pool.clone()).is_err());
    let bad = DatabaseSettings {
        argon2: Argon2Settings {
            memory_kib: 1,
            ..SMALL
        },
        ..Default::default()
    };
    let err = DatabaseProvider::new(descriptor(ProviderKind::Database), bad, pool).unwrap_err();
    assert!(err.to_string().contains("argon2.memory_kib"), "{err}");
    assert_eq!(HashPool::new(0).max_concurrent(), 1);
}

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn a_malformed_hash_is_logged_by_provider_and_link_only() {
    let logs = Capture::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let pool = HashPool::new(1);
    let p = provider_with(SMALL, &pool);
    let phc = "$argon2id$v=19$m=1024,t=1,p=1$bm90LWEtcmVhbC1zYWx0$not*base64";
    let l = link(Some(phc));
    assert_eq!(
        check(&p, "s3cret-pw", Some(&l)).await,
        PasswordOutcome::Rejected
    );

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(text.contains("WARN"), "{text}");
    assert!(
        text.contains("local") && text.contains(&l.id.to_string()),
        "{text}"
    );
    assert!(
        !text.contains("s3cret-pw") && !text.contains("bm90LWEtcmVhbC1zYWx0"),
        "{text}"
    );
}

#[tokio::test]
async fn a_new_password_meets_the_policy_and_none_of_the_last_five() {
    let pool = HashPool::new(1);
    let p = provider_with(SMALL, &pool);
    for refused in ["abcdefg1", "ABCDEFG1", "Abcdefg", "Ab1"] {
        let err = p
            .hash_new_password(&Secret::from(refused), &[])
            .await
            .unwrap_err();
        assert!(matches!(err, DatabaseError::Policy(_)), "{refused}: {err}");
        assert!(!err.to_string().contains(refused), "{err}");
    }
    // Set six passwords in turn, keeping the newest five as the store does.
    let mut history: Vec<Secret> = Vec::new();
    for i in 1..=5 {
        let phc = p
            .hash_new_password(&Secret::from(format!("Abcdef{i}")), &history)
            .await
            .unwrap();
        history.insert(0, Secret::from(phc));
    }
    // The 5th-last (the first set) is refused; so is the current one.
    for reused in ["Abcdef1", "Abcdef5"] {
        let err = p
            .hash_new_password(&Secret::from(reused), &history)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("password_policy.history"), "{err}");
    }
    let phc = p
        .hash_new_password(&Secret::from("Abcdef6"), &history)
        .await
        .unwrap();
    history.insert(0, Secret::from(phc));
    history.truncate(5);
    // Now the first one is the 6th-last: allowed again.
    assert!(
        p.hash_new_password(&Secret::from("Abcdef1"), &history)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn a_megabyte_password_never_reaches_argon2() {
    let pool = HashPool::new(1);
    let p = provider_with(SMALL, &pool);
    let phc = p.hash_password(&Secret::from("Abcdef1")).await.unwrap();
    let stored = link(Some(&phc));
    let huge = "A".repeat(1 << 20);
    let before = pool.completed();
    assert_eq!(
        check(&p, &huge, Some(&stored)).await,
        PasswordOutcome::Rejected
    );
    assert!(p.verify_dummy(&Secret::from(huge.as_str())).await);
    // Neither ran a computation on the pool; a normal wrong password does.
    assert_eq!(pool.completed(), before);
    assert_eq!(
        check(&p, "Wrong12", Some(&stored)).await,
        PasswordOutcome::Rejected
    );
    assert_eq!(pool.completed(), before + 1);
    let err = p
        .hash_new_password(&Secret::from(huge.as_str()), &[])
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("password_policy.max_length"),
        "{err}"
    );
    assert_eq!(p.password_max_age(), Some(chrono::Duration::days(5500)));
}
