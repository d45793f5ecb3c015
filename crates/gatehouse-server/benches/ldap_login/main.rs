//! LDAP password logins per second, with p50/p99 latency, through Gatehouse (the resolver with the
//! pooled ldap provider, then the HTTP endpoint) against raw ldap3 search + bind on C persistent
//! connections to the same slapd, and the HTTP endpoint against the "Dex pattern" (raw ldap3
//! doing what Dex does per login: new connection, service bind, search, user bind), each measured
//! in the same run, at C = 8 and 32. Prints ratios; never fails on a timing. The store is SQLite,
//! or PostgreSQL with `GATEHOUSE_BENCH_STORE=postgres` (`support/store.rs`).
//!
//! slapd: the project's own (`tests/peers/slapd.sh start bench`, logging off), started here unless
//! GATEHOUSE_BENCH_LDAP_URL names one holding fixtures/ldap/ (and GATEHOUSE_BENCH_LDAP_PID its PID,
//! for its CPU time per login). `GATEHOUSE_BENCH_SECONDS` sets each
//! phase's length (default 5), `GATEHOUSE_BENCH_ROUNDS` how many times the resolver and HTTP
//! phases alternate with raw ones (default 3; the ratios are the rounds' medians), and the resolver
//! phase lasts until the audit write it caused is applied. The HTTP endpoint is also measured
//! against its own baselines, raw ldap3 and Gatehouse's resolver each behind a minimal HTTP
//! endpoint (`http_baseline`), driven by the bench's own client (`load_client`;
//! `GATEHOUSE_BENCH_CLIENT=reqwest` for reqwest). `GATEHOUSE_BENCH_ONLY=resolver` (or `http`,
//! `http-raw`, `http-resolver`, `raw`, `dex`, `bare`: the resolver without its audit write) runs only
//! that phase, at C = 32 unless `GATEHOUSE_BENCH_C` says otherwise: a steady load to profile
//! (`perf record -g -p PID`).

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gatehouse_core::{Resolver, Secret};
use gatehouse_server::{Config, Gatehouse};
use gatehouse_store::testing::TestStore;
use ldap3::{Ldap, LdapConnAsync, Scope, SearchEntry};

mod http_baseline;
mod ratios;
#[path = "../support/mod.rs"]
mod support;
mod without_audit_write;

use ratios::{Goal, Ratios};
use support::{load_client, serve, store};
use without_audit_write::resolver_without_audit_write;

// The allocator of the `gatehouse` binary, so that the bench measures what it runs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const USERS: usize = 64;
const PASSWORD: &str = "bench-pw";
const SERVICE_DN: &str = "cn=svc-broker,ou=services,dc=example,dc=org";
const SERVICE_PW: &str = "svc-pw";
const BASE: &str = "ou=bench,dc=example,dc=org";
const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/peers/slapd.sh");

fn user(i: usize) -> String {
    format!("bench{:02}", i % USERS)
}

/// The filter and attributes the provider sends, so both sides do the same work.
fn filter(login: &str) -> String {
    format!("(&(objectClass=inetOrgPerson)(|(uid={login})(mail={login})))")
}
const ATTRS: [&str; 3] = ["uid", "mail", "cn"];

struct Phase {
    rate: f64,
    p50: Duration,
    p99: Duration,
    /// CPU time per login of this process (load generator included) and of slapd, in µs.
    cpu_us: f64,
    slapd_cpu_us: Option<f64>,
}

impl Phase {
    fn print(&self, name: &str) {
        let slapd = self
            .slapd_cpu_us
            .map_or_else(|| "?".to_owned(), |us| format!("{us:.0}"));
        println!(
            "{name:<44} {:>9.0}/s   p50 {:>6.2} ms   p99 {:>6.2} ms   CPU/login: process {:>4.0} µs, slapd {slapd:>3} µs",
            self.rate,
            self.p50.as_secs_f64() * 1e3,
            self.p99.as_secs_f64() * 1e3,
            self.cpu_us,
        );
    }

    /// CPU per login of both processes: on a busy machine the throughput ratio measures how the
    /// phases were starved as much as their cost, this does not.
    fn total_cpu_us(&self) -> Option<f64> {
        self.slapd_cpu_us.map(|s| s + self.cpu_us)
    }
}

/// slapd's PID, when this bench started it (`slapd.sh` prints it).
static SLAPD_PID: std::sync::OnceLock<Option<u32>> = std::sync::OnceLock::new();

/// utime + stime of a process in seconds, from /proc (USER_HZ = 100 on Linux).
fn cpu_seconds(pid: Option<u32>) -> Option<f64> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/stat"),
        None => "/proc/self/stat".to_owned(),
    };
    let stat = std::fs::read_to_string(path).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(") ")?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

/// Runs `c` workers, each calling `login` in a loop for `phase`, and measures every call.
async fn measure<F, Fut>(c: usize, phase: Duration, login: F) -> Phase
where
    F: Fn(usize, usize) -> Fut + Send + Sync + Clone + 'static,
    Fut: Future<Output = ()> + Send,
{
    measure_then(c, phase, login, async {}).await
}

/// [`measure`], with the phase ending only once `finish` has: its time and CPU count too (the
/// login log's backlog, so a phase cannot look fast by leaving work behind).
async fn measure_then<F, Fut>(
    c: usize,
    phase: Duration,
    login: F,
    finish: impl Future<Output = ()>,
) -> Phase
where
    F: Fn(usize, usize) -> Fut + Send + Sync + Clone + 'static,
    Fut: Future<Output = ()> + Send,
{
    let slapd = SLAPD_PID.get().copied().flatten();
    let (cpu_before, slapd_before) = (cpu_seconds(None), slapd.and_then(|p| cpu_seconds(Some(p))));
    let started = Instant::now();
    let tasks: Vec<_> = (0..c)
        .map(|worker| {
            let login = login.clone();
            tokio::spawn(async move {
                let mut lat = Vec::new();
                let mut n = worker;
                while started.elapsed() < phase {
                    let t = Instant::now();
                    login(worker, n).await;
                    lat.push(t.elapsed());
                    n += c;
                }
                lat
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("worker"));
    }
    finish.await;
    let elapsed = started.elapsed();
    let per_login =
        |before: Option<f64>, pid| Some((cpu_seconds(pid)? - before?) * 1e6 / all.len() as f64);
    let cpu_us = per_login(cpu_before, None).unwrap_or(f64::NAN);
    let slapd_cpu_us = slapd.and_then(|p| per_login(slapd_before, Some(p)));
    all.sort();
    let pct = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)];
    Phase {
        rate: all.len() as f64 / elapsed.as_secs_f64(),
        p50: pct(0.50),
        p99: pct(0.99),
        cpu_us,
        slapd_cpu_us,
    }
}

async fn connect(url: &str) -> Ldap {
    let (conn, ldap) = LdapConnAsync::new(url).await.expect("connect");
    tokio::spawn(async move {
        let _ = conn.drive().await;
    });
    ldap
}

/// The provider's search, then a bind as the entry found: whether the password is right.
async fn search_and_bind(search: &mut Ldap, bind: &mut Ldap, login: &str, password: &str) -> bool {
    let (entries, _) = search
        .search(BASE, Scope::Subtree, &filter(login), ATTRS.to_vec())
        .await
        .expect("search")
        .success()
        .expect("search result");
    let [entry] = <[_; 1]>::try_from(entries).unwrap_or_else(|e| panic!("{} entries", e.len()));
    let dn = SearchEntry::construct(entry).dn;
    bind.simple_bind(&dn, password).await.expect("bind").rc == 0
}

/// A persistent connection bound as the service account, for searches, and one for user binds.
async fn open_pair(url: &str) -> (Ldap, Ldap) {
    let mut search = connect(url).await;
    search
        .simple_bind(SERVICE_DN, SERVICE_PW)
        .await
        .expect("service bind")
        .success()
        .expect("service bind result");
    (search, connect(url).await)
}

/// The baseline: per worker, one connection pair ([`open_pair`]).
async fn raw(url: &str, c: usize, phase: Duration) -> Phase {
    let mut pairs = Vec::new();
    for _ in 0..c {
        pairs.push(Arc::new(tokio::sync::Mutex::new(open_pair(url).await)));
    }
    let pairs = Arc::new(pairs);
    measure(c, phase, move |worker, n| {
        let pairs = pairs.clone();
        async move {
            let mut pair = pairs[worker].lock().await;
            let (search, bind) = &mut *pair;
            assert!(search_and_bind(search, bind, &user(n), PASSWORD).await);
        }
    })
    .await
}

/// The "Dex pattern", what a pool-less broker does per login: a new connection, service bind,
/// search, user bind, close.
async fn dex_pattern(url: &str, c: usize, phase: Duration) -> Phase {
    let url = url.to_owned();
    measure(c, phase, move |_, n| {
        let url = url.clone();
        async move {
            let mut ldap = connect(&url).await;
            ldap.simple_bind(SERVICE_DN, SERVICE_PW)
                .await
                .expect("service bind");
            let mut same = ldap.clone();
            assert!(search_and_bind(&mut ldap, &mut same, &user(n), PASSWORD).await);
            let _ = ldap.unbind().await;
        }
    })
    .await
}

fn config_text(url: &str, c: usize, db: &str) -> String {
    format!(
        r#"[store]
url = "{db}"
[realms.main]
chain = ["corp"]
[[realms.main.providers]]
id = "corp"
kind = "ldap"
urls = ["{url}"]
bind_dn = "{SERVICE_DN}"
bind_password = "{SERVICE_PW}"
pool = {{ max_size = {c} }}
user_search = {{ base_dn = "{BASE}", filter = "(objectClass=inetOrgPerson)" }}
"#
    )
}

async fn gatehouse(url: &str, c: usize, store: &TestStore) -> Arc<Gatehouse> {
    let text = config_text(url, c, &store.url());
    let config = Config::from_toml(&text, "bench", Vec::new()).expect("config");
    let gatehouse = Arc::new(
        Gatehouse::with_store(config, store.store().clone())
            .await
            .expect("gatehouse"),
    );
    // Provision every account first: the phases measure logins of known accounts.
    let resolver = &gatehouse.realm("main").expect("realm").resolver;
    for i in 0..USERS {
        let r = resolver.resolve(&user(i), &Secret::new(PASSWORD)).await;
        assert!(r.expect("resolve").is_success());
    }
    gatehouse
}

/// Logins through the resolver that `owner` holds (the realm's in a [`Gatehouse`], or one alone).
async fn resolver<T: Send + Sync + 'static>(
    owner: Arc<T>,
    resolver: fn(&T) -> &Resolver,
    c: usize,
    phase: Duration,
) -> Phase {
    resolver_then(owner, resolver, c, phase, async {}).await
}

/// [`resolver`], the phase ending once `finish` has.
async fn resolver_then<T: Send + Sync + 'static>(
    owner: Arc<T>,
    resolver: fn(&T) -> &Resolver,
    c: usize,
    phase: Duration,
    finish: impl Future<Output = ()>,
) -> Phase {
    let login = move |_, n| {
        let owner = owner.clone();
        async move {
            let r = resolver(&owner)
                .resolve(&user(n), &Secret::new(PASSWORD))
                .await;
            assert!(r.expect("resolve").is_success());
        }
    };
    measure_then(c, phase, login, finish).await
}

fn realm_resolver(gatehouse: &Gatehouse) -> &Resolver {
    &gatehouse.realm("main").expect("realm").resolver
}

/// Where a phase through the resolver ends: with its last login, since each login is answered
/// only once its audit event and statistics are committed (nothing is left to apply).
fn login_log_applied(_: &Gatehouse) -> impl Future<Output = ()> + use<> {
    std::future::ready(())
}

async fn resolver_applied(gatehouse: Arc<Gatehouse>, c: usize, phase: Duration) -> Phase {
    let applied = login_log_applied(&gatehouse);
    resolver_then(gatehouse, realm_resolver, c, phase, applied).await
}

async fn http(gatehouse: Arc<Gatehouse>, c: usize, phase: Duration) -> Phase {
    let applied = login_log_applied(&gatehouse);
    let server = serve::gatehouse(gatehouse).await;
    let url = format!("{}/realms/main/api/v1/password-login", server.base);
    let result = post_logins(url, c, phase, applied).await;
    server.stop().await;
    result
}

/// The same logins posted to raw ldap3 behind a minimal HTTP endpoint ([`http_baseline`]).
async fn http_baseline(url: &str, c: usize, phase: Duration) -> Phase {
    let server = http_baseline::start(url, c).await;
    let result = post_logins(format!("{}/login", server.base), c, phase, async {}).await;
    server.stop().await;
    result
}

/// The same logins posted to Gatehouse's resolver behind that minimal endpoint.
async fn http_resolver(gatehouse: Arc<Gatehouse>, c: usize, phase: Duration) -> Phase {
    let applied = login_log_applied(&gatehouse);
    let server = http_baseline::start_resolver(gatehouse).await;
    let result = post_logins(format!("{}/login", server.base), c, phase, applied).await;
    server.stop().await;
    result
}

/// `c` clients posting password logins to `url`, as an application would, each on a kept-alive
/// connection of its own ([`load_client`]; `GATEHOUSE_BENCH_CLIENT=reqwest` for reqwest's); the
/// phase ends once `finish` has (the login log's backlog, as in the resolver phase).
async fn post_logins(
    url: String,
    c: usize,
    phase: Duration,
    finish: impl Future<Output = ()>,
) -> Phase {
    if std::env::var("GATEHOUSE_BENCH_CLIENT").as_deref() == Ok("reqwest") {
        let client = reqwest::Client::new();
        let login = move |_, n| {
            let (client, url) = (client.clone(), url.clone());
            async move {
                let body = serde_json::json!({"login": user(n), "password": PASSWORD});
                let r = client.post(&url).json(&body).send().await.expect("request");
                assert_eq!(r.status().as_u16(), 200);
            }
        };
        return measure_then(c, phase, login, finish).await;
    }
    let path = load_client::path_of(&url);
    let mut connections = Vec::new();
    for _ in 0..c {
        let connection = load_client::Connection::open(&url).await;
        connections.push(tokio::sync::Mutex::new(connection));
    }
    let (connections, path) = (Arc::new(connections), Arc::new(path));
    let login = move |worker: usize, n| {
        let (connections, path) = (connections.clone(), path.clone());
        async move {
            let body = format!(r#"{{"login":"{}","password":"{PASSWORD}"}}"#, user(n));
            let mut connection = connections[worker].lock().await;
            let status = connection.post_json(&path, body.as_bytes()).await;
            assert_eq!(status, 200);
        }
    };
    measure_then(c, phase, login, finish).await
}

fn start_slapd() -> (String, bool) {
    if let Ok(url) = std::env::var("GATEHOUSE_BENCH_LDAP_URL") {
        let pid = std::env::var("GATEHOUSE_BENCH_LDAP_PID").ok();
        let _ = SLAPD_PID.set(pid.and_then(|p| p.trim().parse().ok()));
        return (url, false);
    }
    let out = std::process::Command::new("bash")
        .args([SCRIPT, "start", "bench"])
        .output()
        .expect("run slapd.sh");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let url = stdout
        .lines()
        .find_map(|l| l.strip_prefix("export GATEHOUSE_TEST_LDAP_BENCH_URL="))
        .expect("slapd.sh printed the URL")
        .to_owned();
    let pid = stdout
        .lines()
        .find_map(|l| l.strip_prefix("export GATEHOUSE_TEST_LDAP_BENCH_PID="))
        .and_then(|p| p.trim().parse().ok());
    let _ = SLAPD_PID.set(pid);
    (url, true)
}

/// The phases of a round, in their order between two raw ones.
const PHASES: [&str; 6] = [
    "Gatehouse resolver (pool + audit write)",
    "  the same without the audit write",
    "Gatehouse HTTP endpoint",
    "the Dex pattern (connection per login)",
    "raw ldap3 behind a minimal HTTP endpoint",
    "Gatehouse resolver behind a minimal HTTP endpoint",
];

fn main() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let seconds: u64 = std::env::var("GATEHOUSE_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let phase = Duration::from_secs(seconds);
    let (url, started) = start_slapd();
    let _dir = support::temp_working_dir();
    let runtime = support::runtime();
    println!(
        "ldap_login benchmark: slapd at {url} (loglevel 0), {USERS} users, {} store, {seconds} s a phase, {} cores",
        store::backend(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    if let Ok(only) = std::env::var("GATEHOUSE_BENCH_ONLY") {
        let c = std::env::var("GATEHOUSE_BENCH_C")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(32);
        runtime.block_on(async {
            let db = store::fresh().await;
            let gh = gatehouse(&url, c, &db).await;
            println!("C = {c}, pid {}", std::process::id());
            match only.as_str() {
                "raw" => raw(&url, c, phase)
                    .await
                    .print("raw ldap3 search + bind, persistent"),
                "resolver" => resolver_applied(gh, c, phase)
                    .await
                    .print("Gatehouse resolver"),
                "dex" => dex_pattern(&url, c, phase)
                    .await
                    .print("the Dex pattern (connection per login)"),
                "bare" => {
                    let bare = resolver_without_audit_write(&url, c, &db).await;
                    resolver(bare, |r| r, c, phase)
                        .await
                        .print("Gatehouse resolver without the audit write")
                }
                "http" => http(gh, c, phase).await.print("Gatehouse HTTP endpoint"),
                "http-resolver" => http_resolver(gh, c, phase)
                    .await
                    .print("Gatehouse resolver behind a minimal HTTP endpoint"),
                "http-raw" => http_baseline(&url, c, phase)
                    .await
                    .print("raw ldap3 behind a minimal HTTP endpoint"),
                other => println!(
                    "GATEHOUSE_BENCH_ONLY: `{other}` is not raw, dex, resolver, bare, http, http-raw or http-resolver"
                ),
            }
        });
        if started {
            let _ = std::process::Command::new("bash")
                .args([SCRIPT, "stop", "bench"])
                .output();
        }
        return;
    }
    let rounds: usize = std::env::var("GATEHOUSE_BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(3);
    runtime.block_on(async {
        for c in [8, 32] {
            let db = store::fresh().await;
            let gh = gatehouse(&url, c, &db).await;
            let bare_resolver = resolver_without_audit_write(&url, c, &db).await;
            println!("\nC = {c}");
            // Alternated, so that a drift of the machine's speed (other guests on its host) hits
            // every phase alike; each round's ratios are against the raw phases either side.
            let mut raws = vec![raw(&url, c, phase).await];
            raws[0].print("raw ldap3 search + bind, persistent");
            let mut by_name: [Vec<Phase>; 6] = Default::default();
            for round in 1..=rounds {
                let phases = [
                    resolver_applied(gh.clone(), c, phase).await,
                    resolver(bare_resolver.clone(), |r| r, c, phase).await,
                    http(gh.clone(), c, phase).await,
                    dex_pattern(&url, c, phase).await,
                    http_baseline(&url, c, phase).await,
                    http_resolver(gh.clone(), c, phase).await,
                ];
                for (name, (p, kept)) in PHASES.iter().zip(phases.into_iter().zip(&mut by_name)) {
                    p.print(&format!("{name} #{round}"));
                    kept.push(p);
                }
                let again = raw(&url, c, phase).await;
                again.print(&format!("raw again #{round}"));
                raws.push(again);
            }
            // Against the raw phases either side of the round; the HTTP endpoint also against
            // the Dex pattern and its two baselines of the same round. The goals of issue #22;
            // the other lines attribute what a login costs.
            let [with_audit, without, web, dex, web_raw, web_resolver] = &by_name;
            let p99_goal = (c == 32).then_some(3.0);
            for (short, phases, goal) in [
                ("resolver", with_audit, Goal::new(Some(0.75), p99_goal)),
                ("no audit", without, Goal::none()),
                ("HTTP", web, Goal::none()),
            ] {
                let ratios: Vec<Ratios> = phases
                    .iter()
                    .enumerate()
                    .map(|(i, p)| Ratios::of(p, &raws[i], &raws[i + 1]))
                    .collect();
                Ratios::print_rounds(short, "raw", &ratios, goal);
            }
            for (baseline, of, goal) in [
                ("the Dex pattern", dex, Goal::new(Some(2.0), None)),
                ("raw ldap3 behind HTTP", web_raw, Goal::none()),
                ("Gatehouse resolver behind HTTP", web_resolver, Goal::none()),
            ] {
                let ratios: Vec<Ratios> = web
                    .iter()
                    .zip(of)
                    .map(|(p, b)| Ratios::of(p, b, b))
                    .collect();
                Ratios::print_rounds("HTTP", baseline, &ratios, goal);
            }
        }
    });
    if started {
        let _ = std::process::Command::new("bash")
            .args([SCRIPT, "stop", "bench"])
            .output();
    }
}
