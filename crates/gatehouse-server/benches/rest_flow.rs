//! REST-flow logins per second (`/apiauthsvc`, a one-step password policy, database provider:
//! a start and a submit each) against `POST /api/v1/password-login` (one request each), through
//! the same server in the same run, phases alternated so that the machine's drift cancels out.
//! Prints the ratio (issue #20: the engine costs at most 10 %); never fails on a timing.
//! `GATEHOUSE_BENCH_SECONDS` sets each phase's length (default 10).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use gatehouse_core::{NewLink, Secret};
use gatehouse_server::{Config, Gatehouse};
use gatehouse_store::{NewAccount, Store};
use serde_json::{Value, json};

const THREADS: usize = 2;
const CONCURRENCY: usize = 64;
const USERS: usize = 64;
const PASSWORD: &str = "Correct horse battery staple 7";

#[derive(Clone, Copy)]
enum Mode {
    PasswordLogin,
    RestFlow,
}

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
    let dir = tempfile::tempdir().expect("tempdir");
    let base = runtime.block_on(serve(&dir));
    println!(
        "rest_flow benchmark: {THREADS} threads, {CONCURRENCY} concurrent logins, {seconds} s a phase"
    );
    let mut totals = [0.0, 0.0];
    for round in 1..=2 {
        for (i, mode) in [Mode::PasswordLogin, Mode::RestFlow]
            .into_iter()
            .enumerate()
        {
            let rate = runtime.block_on(logins(&base, mode, phase));
            totals[i] += rate;
            let name = match mode {
                Mode::PasswordLogin => "POST /api/v1/password-login",
                Mode::RestFlow => "REST flow (start + submit)",
            };
            println!("round {round}: {name:<30} logins/s {rate:8.1}");
        }
    }
    println!();
    println!(
        "ratio REST flow / password-login: {:.3}  (goal >= 0.90)",
        totals[1] / totals[0]
    );
}

/// A realm with one database provider, 64 accounts and the policy `password`, served on a
/// loopback port for the rest of the run.
async fn serve(dir: &tempfile::TempDir) -> String {
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("bench.db").display()
    );
    let text = format!(
        "[keys]\nencryption_key_file = \"{}\"\n[store]\nurl = \"{url}\"\n[realms.main]\nchain = [\"local\"]\n[[realms.main.providers]]\nid = \"local\"\nkind = \"database\"\n[[realms.main.policies]]\nid = \"password\"\nacr = \"1\"\n[[realms.main.policies.steps]]\nmechanism = \"password\"\n",
        dir.path().join("gatehouse.key").display()
    );
    let config = Config::from_toml(&text, "bench", Vec::new()).expect("config");
    let store = Store::connect(&url).await.expect("store");
    store.migrate().await.expect("migrate");
    let gatehouse = Gatehouse::with_store(config, store)
        .await
        .expect("gatehouse");
    let phc = gatehouse.realm("main").expect("realm").database_providers["local"]
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
        let link = NewLink {
            provider_id: "local".into(),
            external_id: None,
            secret: Some(phc.clone()),
            protected: false,
        };
        gatehouse
            .store
            .upsert_link(account.id, link)
            .await
            .expect("link");
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!(
        "http://{}/realms/main",
        listener.local_addr().expect("addr")
    );
    tokio::spawn(gatehouse_server::serve_on(
        Arc::new(gatehouse),
        listener,
        std::future::pending(),
    ));
    base
}

async fn logins(base: &str, mode: Mode, phase: Duration) -> f64 {
    let client = reqwest::Client::new();
    let count = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..CONCURRENCY)
        .map(|i| {
            let (client, base, count) = (client.clone(), base.to_owned(), count.clone());
            tokio::spawn(async move {
                let login = format!("user{}", i % USERS);
                while started.elapsed() < phase {
                    match mode {
                        Mode::PasswordLogin => password_login(&client, &base, &login).await,
                        Mode::RestFlow => rest_flow(&client, &base, &login).await,
                    }
                    count.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("task");
    }
    count.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

async fn password_login(client: &reqwest::Client, base: &str, login: &str) {
    let r = client
        .post(format!("{base}/api/v1/password-login"))
        .json(&json!({ "login": login, "password": PASSWORD }))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 200);
}

async fn rest_flow(client: &reqwest::Client, base: &str, login: &str) {
    let started: Value = client
        .post(format!("{base}/apiauthsvc/policy/password"))
        .send()
        .await
        .expect("start")
        .json()
        .await
        .expect("json");
    let state = started["state_id"].as_str().expect("state_id");
    let done: Value = client
        .post(format!("{base}/apiauthsvc"))
        .json(&json!({ "state_id": state, "fields": { "login": login, "password": PASSWORD } }))
        .send()
        .await
        .expect("submit")
        .json()
        .await
        .expect("json");
    assert_eq!(done["status"], "success", "{done}");
}
