//! LDAP password logins per second, with p50/p99 latency, through Gatehouse (the resolver with the
//! pooled ldap provider, then the HTTP endpoint) against raw ldap3 search + bind on C persistent
//! connections to the same slapd, measured in the same run, at C = 8 and 32; and the
//! connection-per-login pattern for contrast. Prints ratios; never fails on a timing.
//!
//! slapd: the project's own (`tests/peers/slapd.sh start bench`, logging off), started here unless
//! GATEHOUSE_BENCH_LDAP_URL names one holding fixtures/ldap/. `GATEHOUSE_BENCH_SECONDS` sets each
//! phase's length (default 5).

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gatehouse_core::Secret;
use gatehouse_server::{Config, Gatehouse};
use gatehouse_store::Store;
use ldap3::{Ldap, LdapConnAsync, Scope, SearchEntry};

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
}

impl Phase {
    fn print(&self, name: &str) {
        println!(
            "{name:<44} {:>9.0}/s   p50 {:>6.2} ms   p99 {:>6.2} ms",
            self.rate,
            self.p50.as_secs_f64() * 1e3,
            self.p99.as_secs_f64() * 1e3
        );
    }
}

/// Runs `c` workers, each calling `login` in a loop for `phase`, and measures every call.
async fn measure<F, Fut>(c: usize, phase: Duration, login: F) -> Phase
where
    F: Fn(usize, usize) -> Fut + Send + Sync + Clone + 'static,
    Fut: Future<Output = ()> + Send,
{
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
    let elapsed = started.elapsed();
    all.sort();
    let pct = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)];
    Phase {
        rate: all.len() as f64 / elapsed.as_secs_f64(),
        p50: pct(0.50),
        p99: pct(0.99),
    }
}

async fn connect(url: &str) -> Ldap {
    let (conn, ldap) = LdapConnAsync::new(url).await.expect("connect");
    tokio::spawn(async move {
        let _ = conn.drive().await;
    });
    ldap
}

async fn search_and_bind(search: &mut Ldap, bind: &mut Ldap, login: &str) {
    let (entries, _) = search
        .search(BASE, Scope::Subtree, &filter(login), ATTRS.to_vec())
        .await
        .expect("search")
        .success()
        .expect("search result");
    assert_eq!(entries.len(), 1);
    let dn = SearchEntry::construct(entries.into_iter().next().expect("entry")).dn;
    bind.simple_bind(&dn, PASSWORD)
        .await
        .expect("bind")
        .success()
        .expect("bind result");
}

/// The baseline: per worker, one persistent connection bound as the service account for searches
/// and one for user binds.
async fn raw(url: &str, c: usize, phase: Duration) -> Phase {
    let mut pairs = Vec::new();
    for _ in 0..c {
        let mut search = connect(url).await;
        search
            .simple_bind(SERVICE_DN, SERVICE_PW)
            .await
            .expect("service bind")
            .success()
            .expect("service bind result");
        pairs.push(Arc::new(tokio::sync::Mutex::new((
            search,
            connect(url).await,
        ))));
    }
    let pairs = Arc::new(pairs);
    measure(c, phase, move |worker, n| {
        let pairs = pairs.clone();
        async move {
            let mut pair = pairs[worker].lock().await;
            let (search, bind) = &mut *pair;
            search_and_bind(search, bind, &user(n)).await;
        }
    })
    .await
}

/// What a pool-less broker does: a new connection, service bind, search, user bind, close.
async fn per_login(url: &str, c: usize, phase: Duration) -> Phase {
    let url = url.to_owned();
    measure(c, phase, move |_, n| {
        let url = url.clone();
        async move {
            let mut ldap = connect(&url).await;
            ldap.simple_bind(SERVICE_DN, SERVICE_PW)
                .await
                .expect("service bind");
            let mut same = ldap.clone();
            search_and_bind(&mut ldap, &mut same, &user(n)).await;
            let _ = ldap.unbind().await;
        }
    })
    .await
}

async fn gatehouse(url: &str, c: usize, dir: &std::path::Path) -> Arc<Gatehouse> {
    let db = format!(
        "sqlite://{}?mode=rwc",
        dir.join(format!("bench-{c}.db")).display()
    );
    let text = format!(
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
    );
    let config = Config::from_toml(&text, "bench", Vec::new()).expect("config");
    let store = Store::connect(&db).await.expect("store");
    store.migrate().await.expect("migrate");
    let gatehouse = Arc::new(
        Gatehouse::with_store(config, store)
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

async fn resolver(gatehouse: Arc<Gatehouse>, c: usize, phase: Duration) -> Phase {
    measure(c, phase, move |_, n| {
        let gatehouse = gatehouse.clone();
        async move {
            let resolver = &gatehouse.realm("main").expect("realm").resolver;
            let r = resolver.resolve(&user(n), &Secret::new(PASSWORD)).await;
            assert!(r.expect("resolve").is_success());
        }
    })
    .await
}

async fn http(gatehouse: Arc<Gatehouse>, c: usize, phase: Duration) -> Phase {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!(
        "http://{}/realms/main/api/v1/password-login",
        listener.local_addr().expect("addr")
    );
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(gatehouse_server::serve_on(gatehouse, listener, async {
        let _ = rx.await;
    }));
    let client = reqwest::Client::new();
    let result = measure(c, phase, move |_, n| {
        let (client, url) = (client.clone(), url.clone());
        async move {
            let body = serde_json::json!({"login": user(n), "password": PASSWORD});
            let r = client.post(&url).json(&body).send().await.expect("request");
            assert_eq!(r.status().as_u16(), 200);
        }
    })
    .await;
    let _ = tx.send(());
    let _ = server.await;
    result
}

fn start_slapd() -> (String, bool) {
    if let Ok(url) = std::env::var("GATEHOUSE_BENCH_LDAP_URL") {
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
    let url = String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("export GATEHOUSE_TEST_LDAP_BENCH_URL="))
        .expect("slapd.sh printed the URL")
        .to_owned();
    (url, true)
}

fn main() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let seconds: u64 = std::env::var("GATEHOUSE_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let phase = Duration::from_secs(seconds);
    let (url, started) = start_slapd();
    let dir = tempfile::tempdir().expect("tempdir");
    // The broker creates its key file in the working directory: keep it out of the clone.
    std::env::set_current_dir(dir.path()).expect("chdir");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    println!(
        "ldap_login benchmark: slapd at {url} (loglevel 0), {USERS} users, {seconds} s a phase, {} cores",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    runtime.block_on(async {
        for c in [8, 32] {
            let gh = gatehouse(&url, c, dir.path()).await;
            println!("\nC = {c}");
            let raw_before = raw(&url, c, phase).await;
            raw_before.print("raw ldap3 search + bind, persistent");
            let res = resolver(gh.clone(), c, phase).await;
            res.print("Gatehouse resolver (pool + audit write)");
            let web = http(gh.clone(), c, phase).await;
            web.print("Gatehouse HTTP endpoint");
            let raw_after = raw(&url, c, phase).await;
            raw_after.print("raw again");
            per_login(&url, c, phase)
                .await
                .print("connection per login (contrast)");
            let raw_rate = (raw_before.rate + raw_after.rate) / 2.0;
            let raw_p99 = (raw_before.p99 + raw_after.p99) / 2;
            for (name, p) in [("resolver", &res), ("HTTP", &web)] {
                println!(
                    "  {name:<8} / raw: throughput {:.2} (goal >= 0.90), p99 {:.2}x (goal <= 2x)",
                    p.rate / raw_rate,
                    p.p99.as_secs_f64() / raw_p99.as_secs_f64()
                );
            }
        }
    });
    if started {
        let _ = std::process::Command::new("bash")
            .args([SCRIPT, "stop", "bench"])
            .output();
    }
}
