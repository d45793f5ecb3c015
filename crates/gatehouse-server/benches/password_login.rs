//! Database-provider password logins per second through the whole resolver and through the HTTP
//! endpoint, against the ceiling of raw argon2id verifications with the same parameters on the
//! same number of threads, measured in the same run. Prints ratios and peak RSS; never fails on a
//! timing. `GATEHOUSE_BENCH_SECONDS` sets each phase's length (default 10); the store is SQLite,
//! or PostgreSQL with `GATEHOUSE_BENCH_STORE=postgres` (`support/store.rs`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use argon2::password_hash::phc::PasswordHash;
use argon2::{Algorithm, Argon2, Block, Params, Version};
use gatehouse_core::{AccountRepository, NewLink, PasswordProvider, Resolver, Secret};
use gatehouse_server::Gatehouse;
use gatehouse_store::NewAccount;
use gatehouse_store::testing::TestStore;

mod support;

use support::{serve, store};

const THREADS: usize = 2;
const CONCURRENCY: usize = 64;
const USERS: usize = 64;
const PASSWORD: &str = "Correct horse battery staple 7";

fn main() {
    let seconds: u64 = std::env::var("GATEHOUSE_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let phase = Duration::from_secs(seconds);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(THREADS)
        .enable_all()
        .build()
        .expect("runtime");
    let _dir = support::temp_working_dir();
    let db = runtime.block_on(store::fresh());
    let (gatehouse, phc) = runtime.block_on(setup(&db));

    println!(
        "password_login benchmark: argon2id m=19456 KiB t=2 p=1, {THREADS} threads, {CONCURRENCY} concurrent logins, {} store, {seconds} s a phase",
        store::backend()
    );
    let raw_before = raw_verifies_per_second(&phc, phase);
    println!("raw argon2id verifies/s ({THREADS} threads):   {raw_before:8.1}");

    // Issue #24: the same logins through a resolver without account protection (no brute-force
    // counters, no password age), before and after the protected phase, so drift cancels out.
    let plain = Arc::new(unprotected_resolver(&gatehouse));
    let (plain_before, _) = runtime.block_on(resolver_logins_with(plain.clone(), phase));
    println!("resolver logins/s, no protection:       {plain_before:8.1}");

    reset_peak_rss();
    let (resolver_rate, resolver_rss) = runtime.block_on(resolver_logins(&gatehouse, phase));
    let resolver_rss = resolver_rss.max(peak_rss_kib());
    println!(
        "resolver logins/s (c={CONCURRENCY}):            {resolver_rate:8.1}   peak RSS {:.1} MiB",
        resolver_rss as f64 / 1024.0
    );

    let (plain_after, _) = runtime.block_on(resolver_logins_with(plain, phase));
    println!("resolver logins/s, no protection again: {plain_after:8.1}");

    reset_peak_rss();
    let http_rate = runtime.block_on(http_logins(gatehouse.clone(), phase));
    let http_rss = peak_rss_kib();
    println!(
        "HTTP endpoint logins/s (c={CONCURRENCY}):       {http_rate:8.1}   peak RSS {:.1} MiB",
        http_rss as f64 / 1024.0
    );

    let raw_after = raw_verifies_per_second(&phc, phase);
    println!("raw argon2id verifies/s again:          {raw_after:8.1}");
    let raw = (raw_before + raw_after) / 2.0;
    println!();
    println!(
        "ratio resolver / raw: {:.3}  (goal >= 0.90)",
        resolver_rate / raw
    );
    println!(
        "ratio HTTP / raw:     {:.3}  (goal >= 0.90)",
        http_rate / raw
    );
    println!(
        "ratio protected / unprotected resolver: {:.3}  (goal >= 0.95)",
        resolver_rate / ((plain_before + plain_after) / 2.0)
    );
    println!(
        "peak RSS under {CONCURRENCY} concurrent logins: {:.1} MiB  (goal < 100 MiB)",
        resolver_rss.max(http_rss) as f64 / 1024.0
    );
}

async fn setup(db: &TestStore) -> (Arc<Gatehouse>, String) {
    let gatehouse = store::database_realm(db).await;
    let realm = gatehouse.realm("main").expect("realm");
    let phc = realm.database_providers["local"]
        .hash_password(&Secret::new(PASSWORD))
        .await
        .expect("hash");
    for i in 0..USERS {
        let username = format!("user{i}");
        let account = gatehouse
            .store
            .create_account(NewAccount {
                realm: "main".into(),
                username: username.clone(),
                username_key: username,
                email: None,
                name: None,
                roles: vec![],
            })
            .await
            .expect("account");
        gatehouse
            .store
            .upsert_link(
                account.id,
                NewLink {
                    provider_id: "local".into(),
                    external_id: None,
                    secret: Some(phc.clone()),
                    protected: false,
                },
            )
            .await
            .expect("link");
    }
    // The store is reached through the repository trait by the resolver; make sure it answers.
    let _ = gatehouse.store.find_for_login("main", "user0", false).await;
    (Arc::new(gatehouse), phc)
}

/// The ceiling: argon2id over the stored hash's salt and parameters on `THREADS` threads, each
/// with its memory allocated once (the cheapest way to verify, with nothing else around it).
fn raw_verifies_per_second(phc: &str, phase: Duration) -> f64 {
    let hash = PasswordHash::new(phc).expect("phc");
    let params = Params::try_from(&hash).expect("params");
    let salt = hash.salt.expect("salt");
    let expected = hash.hash.expect("output");
    let count = AtomicU64::new(0);
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
                let mut blocks = vec![Block::default(); params.block_count()];
                let mut out = vec![0u8; expected.len()];
                while started.elapsed() < phase {
                    argon2
                        .hash_password_into_with_memory(
                            PASSWORD.as_bytes(),
                            &salt,
                            &mut out,
                            &mut blocks,
                        )
                        .expect("argon2");
                    assert_eq!(out.as_slice(), expected.as_ref());
                    count.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    });
    count.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

/// The realm's resolver as it was before issue #24: same providers and store, no protection.
fn unprotected_resolver(gatehouse: &Gatehouse) -> Resolver {
    let realm = gatehouse.realm("main").expect("realm");
    let providers: Vec<Arc<dyn PasswordProvider>> = realm
        .database_providers
        .values()
        .map(|p| p.clone() as Arc<dyn PasswordProvider>)
        .collect();
    Resolver::new(
        realm.policy.clone(),
        providers,
        Arc::new(gatehouse.store.clone()),
    )
    .expect("resolver")
}

async fn resolver_logins_with(resolver: Arc<Resolver>, phase: Duration) -> (f64, u64) {
    let count = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let tasks: Vec<_> = (0..CONCURRENCY)
        .map(|i| {
            let resolver = resolver.clone();
            let (count, stop) = (count.clone(), stop.clone());
            tokio::spawn(async move {
                let login = format!("user{}", i % USERS);
                let password = Secret::new(PASSWORD);
                while !stop.load(Ordering::Relaxed) {
                    let result = resolver.resolve(&login, &password).await.expect("resolve");
                    assert!(result.is_success());
                    count.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let rss = sample_peak_rss_until(started + phase).await;
    stop.store(true, Ordering::Relaxed);
    let elapsed = started.elapsed();
    for t in tasks {
        t.await.expect("task");
    }
    (
        count.load(Ordering::Relaxed) as f64 / elapsed.as_secs_f64(),
        rss,
    )
}

async fn resolver_logins(gatehouse: &Arc<Gatehouse>, phase: Duration) -> (f64, u64) {
    let count = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let tasks: Vec<_> = (0..CONCURRENCY)
        .map(|i| {
            let gatehouse = gatehouse.clone();
            let (count, stop) = (count.clone(), stop.clone());
            tokio::spawn(async move {
                let login = format!("user{}", i % USERS);
                let password = Secret::new(PASSWORD);
                let resolver = &gatehouse.realm("main").expect("realm").resolver;
                while !stop.load(Ordering::Relaxed) {
                    let result = resolver.resolve(&login, &password).await.expect("resolve");
                    assert!(result.is_success());
                    count.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let rss = sample_peak_rss_until(started + phase).await;
    stop.store(true, Ordering::Relaxed);
    let elapsed = started.elapsed();
    for t in tasks {
        t.await.expect("task");
    }
    (
        count.load(Ordering::Relaxed) as f64 / elapsed.as_secs_f64(),
        rss,
    )
}

async fn http_logins(gatehouse: Arc<Gatehouse>, phase: Duration) -> f64 {
    let server = serve::gatehouse(gatehouse).await;
    let url = format!("{}/realms/main/api/v1/password-login", server.base);
    let client = reqwest::Client::new();
    let count = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..CONCURRENCY)
        .map(|i| {
            let (client, url, count) = (client.clone(), url.clone(), count.clone());
            tokio::spawn(async move {
                let body = serde_json::json!({"login": format!("user{}", i % USERS), "password": PASSWORD});
                while started.elapsed() < phase {
                    let r = client.post(&url).json(&body).send().await.expect("request");
                    assert_eq!(r.status().as_u16(), 200);
                    count.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("task");
    }
    let rate = count.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64();
    server.stop().await;
    rate
}

async fn sample_peak_rss_until(deadline: Instant) -> u64 {
    let mut peak = 0;
    while Instant::now() < deadline {
        peak = peak.max(peak_rss_kib());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    peak
}

/// Linux: writing 5 to clear_refs resets the peak RSS (VmHWM) of the process.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}
