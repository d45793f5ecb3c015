//! Store outages (docs/operations.md): while PostgreSQL is away every request that needs it is
//! answered 503 within 1.5 s, `/readyz` says so within 1 s, and within 1 s of its return logins
//! succeed again; no answered login loses its audit event, no single-use token is accepted twice.
//!
//! Each test runs a PostgreSQL of its own (a throwaway `initdb` on a free port, as
//! tests/peers/postgres.sh does) and stops and starts it: never the shared server.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{Env, OIDC_REALM, OIDC_SECRETS, ONE_DATABASE_REALM, Server, free_port};
use gatehouse_store::testing::postgres_store_at;
use serde_json::Value;

/// The bound on any answer while the store is away.
const OUTAGE_ANSWER: Duration = Duration::from_millis(1500);
/// The bound on recovery (`/readyz`, logins) once the store is back.
const RECOVERY: Duration = Duration::from_secs(1);
const PASSWORD: &str = "alice: Correct horse battery 1";

/// A PostgreSQL server in a temporary directory, stopped (immediately) on drop.
struct OwnPostgres {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
}

impl OwnPostgres {
    fn start() -> OwnPostgres {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL binaries under /usr/lib/postgresql (tests/setup.sh installs them)")
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .find(|b| b.join("initdb").exists())
            .expect("no initdb under /usr/lib/postgresql/*/bin");
        let dir = tempfile::Builder::new()
            .prefix("gatehouse-outage-pg-")
            .tempdir()
            .unwrap();
        let pg = OwnPostgres {
            bin,
            dir,
            port: free_port(),
        };
        if is_root() {
            // PostgreSQL refuses to run as root: its directory belongs to the postgres user.
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(pg.dir.path())
                .status()
                .unwrap();
            assert!(status.success(), "chown of the PostgreSQL directory failed");
        }
        pg.run(
            "initdb",
            &[
                "-D",
                &pg.data(),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
            ],
        );
        pg.ctl("start");
        let status = Command::new("psql")
            .arg(format!(
                "postgres://postgres@127.0.0.1:{}/postgres",
                pg.port
            ))
            .args(["-qc", "create database test"])
            .status()
            .unwrap();
        assert!(status.success(), "create database failed");
        pg
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/test", self.port)
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let mut command = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(self.bin.join(tool));
            c
        } else {
            Command::new(self.bin.join(tool))
        };
        let out = command.args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{tool} {args:?} failed:\n{}{}\nserver log:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
        );
    }

    /// `pg_ctl start` (waits until it accepts connections) or `stop` (fast: it disconnects
    /// every client, as a restart for an upgrade or a failover does, and waits until it is down).
    fn ctl(&self, action: &str) {
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {} -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("server.log").display().to_string();
        let data = self.data();
        let mut args = vec!["-D", &data, "-l", &log, "-w", "-t", "30", "-o", &options];
        if action == "stop" {
            args.extend(["-m", "fast"]);
        }
        args.push(action);
        self.run("pg_ctl", &args);
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        let data = self.data();
        let args = ["-D", data.as_str(), "-m", "immediate", "-w", "stop"];
        let mut command = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"])
                .arg(self.bin.join("pg_ctl"));
            c
        } else {
            Command::new(self.bin.join("pg_ctl"))
        };
        let _ = command.args(args).output();
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

async fn blocking(f: impl FnOnce() + Send + 'static) {
    tokio::task::spawn_blocking(f).await.unwrap();
}

/// One answer: when the request left, how long it took, its status (0: no answer in 5 s).
#[derive(Debug, Clone)]
struct Answer {
    sent: Instant,
    took: Duration,
    status: u16,
    retry_after: bool,
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

async fn timed(request: reqwest::RequestBuilder) -> (Answer, Option<Value>) {
    let sent = Instant::now();
    match request.send().await {
        Ok(r) => {
            let status = r.status().as_u16();
            let retry_after = r.headers().contains_key("retry-after");
            let body = r.json::<Value>().await.ok();
            let answer = Answer {
                sent,
                took: sent.elapsed(),
                status,
                retry_after,
            };
            (answer, body)
        }
        Err(_) => (
            Answer {
                sent,
                took: sent.elapsed(),
                status: 0,
                retry_after: false,
            },
            None,
        ),
    }
}

/// Polls `url` until it answers `status`; how long that took (each poll bounded too).
async fn until_status(url: &str, status: u16, limit: Duration) -> Duration {
    let http = client();
    let start = Instant::now();
    loop {
        let (answer, _) = timed(http.get(url)).await;
        assert!(
            answer.took <= RECOVERY,
            "{url} took {:?} (status {})",
            answer.took,
            answer.status
        );
        if answer.status == status {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < limit,
            "{url} did not answer {status} within {limit:?} (last: {})",
            answer.status
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn logins_fail_fast_during_an_outage_recover_at_once_and_lose_no_audit_event() {
    let pg = Arc::new(OwnPostgres::start());
    let env = Env::new(postgres_store_at(&pg.url()).await, ONE_DATABASE_REALM);
    env.ok(&["user", "add", "--realm", "main", "alice"], "");
    env.ok(
        &["user", "set-password", "--realm", "main", "alice"],
        &format!("{PASSWORD}\n"),
    );
    // INFO, to see the line saying the store is back.
    let server = Server::start_with(&env, &[("GATEHOUSE_LOG", "info")]).await;
    let base = server.base.clone();

    // Load: four clients logging in back to back for the whole test.
    let running = Arc::new(AtomicBool::new(true));
    let mut clients = Vec::new();
    for _ in 0..4 {
        let (running, url) = (
            running.clone(),
            format!("{base}/realms/main/api/v1/password-login"),
        );
        clients.push(tokio::spawn(async move {
            let http = client();
            let body = serde_json::json!({ "login": "alice", "password": PASSWORD });
            let mut answers = Vec::new();
            while running.load(Ordering::Relaxed) {
                let (answer, _) = timed(http.post(&url).json(&body)).await;
                answers.push(answer);
            }
            answers
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let stopping = Instant::now();
    let stopper = pg.clone();
    blocking(move || stopper.ctl("stop")).await;
    let down = Instant::now();

    // While it is down: /readyz says so in time; what needs no store keeps answering.
    tokio::time::sleep(Duration::from_millis(300)).await;
    until_status(&format!("{base}/readyz"), 503, Duration::from_secs(3)).await;
    let http = client();
    for path in [
        "/healthz",
        "/realms/main/.well-known/openid-configuration",
        "/realms/main/jwks",
    ] {
        let (answer, _) = timed(http.get(format!("{base}{path}"))).await;
        assert_eq!(answer.status, 200, "{path} during the outage");
        assert!(
            answer.took <= OUTAGE_ANSWER,
            "{path} took {:?}",
            answer.took
        );
    }
    tokio::time::sleep(Duration::from_secs(2)).await;

    let starting = Instant::now();
    let starter = pg.clone();
    blocking(move || starter.ctl("start")).await;
    let up = Instant::now();
    let ready_after = until_status(&format!("{base}/readyz"), 200, RECOVERY).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    running.store(false, Ordering::Relaxed);
    let mut answers = Vec::new();
    for c in clients {
        answers.extend(c.await.unwrap());
    }

    let unexpected: Vec<_> = answers
        .iter()
        .filter(|a| a.status != 200 && a.status != 503)
        .collect();
    assert!(unexpected.is_empty(), "neither 200 nor 503: {unexpected:?}");
    let slow: Vec<_> = answers
        .iter()
        .filter(|a| a.sent >= stopping && a.took > OUTAGE_ANSWER)
        .collect();
    assert!(
        slow.is_empty(),
        "answers slower than {OUTAGE_ANSWER:?}: {slow:?}"
    );
    // Answered before the server was being started again: the store was away for all of them.
    let during: Vec<_> = answers
        .iter()
        .filter(|a| a.sent >= down && a.sent + a.took < starting)
        .collect();
    assert!(during.len() >= 4, "too few requests during the outage");
    assert!(
        during.iter().all(|a| a.status == 503 && a.retry_after),
        "not all 503 with Retry-After during the outage: {during:?}"
    );
    let late: Vec<_> = answers
        .iter()
        .filter(|a| a.sent >= up + RECOVERY && a.status != 200)
        .collect();
    assert!(
        late.is_empty(),
        "failed logins 1 s after the store was back: {late:?}"
    );
    let first_success = answers
        .iter()
        .filter(|a| a.sent >= starting && a.status == 200)
        .map(|a| a.sent + a.took)
        .min()
        .expect("no login succeeded after the store was back");
    assert!(
        first_success <= up + RECOVERY,
        "the first login after the outage succeeded {:?} after the store was back",
        first_success.saturating_duration_since(up)
    );
    assert!(ready_after <= RECOVERY);

    // Every login answered 200 has its audit event and its count; none answered 503 has.
    let ok = answers.iter().filter(|a| a.status == 200).count();
    let store = &env.store;
    let events = store.recent_audit_events("main", 1_000_000).await.unwrap();
    let successes = events.iter().filter(|e| e.success).count();
    assert_eq!(
        successes, ok,
        "audit events of successful logins vs 200 answers"
    );
    let alice = store.find_account("main", "alice").await.unwrap().unwrap();
    let stats = store.login_stats(alice.account.id).await.unwrap().unwrap();
    assert_eq!(
        stats.success_count, ok as u64,
        "login statistics vs 200 answers"
    );

    // One WARN when it went away, one INFO when it came back; not a line per refused request.
    let logs = server.logs();
    let lines = |text: &str| logs.lines().filter(|l| l.contains(text)).count();
    assert_eq!(
        lines("requests that need it are answered 503"),
        1,
        "one WARN for the outage:\n{logs}"
    );
    assert_eq!(lines("the store is available again"), 1, "{logs}");
    let errors = logs.lines().filter(|l| l.contains("ERROR")).count();
    assert_eq!(errors, 0, "no ERROR line per refused request:\n{logs}");
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refresh_token_used_before_an_outage_is_refused_on_another_instance_after_it() {
    let pg = Arc::new(OwnPostgres::start());
    let env = Env::new(postgres_store_at(&pg.url()).await, OIDC_REALM);
    let mut vars: Vec<(&str, &str)> = OIDC_SECRETS.to_vec();
    vars.push((
        "GATEHOUSE_KEYS__ENCRYPTION_KEY",
        "outage-test-key-encryption-secret-0123",
    ));
    env.ok_with(&["user", "add", "--realm", "main", "alice"], "", &vars);
    env.ok_with(
        &["user", "set-password", "--realm", "main", "alice"],
        &format!("{PASSWORD}\n"),
        &vars,
    );
    let a = Server::start_with(&env, &vars).await;
    let b = Server::start_with(&env, &vars).await;
    let secret = OIDC_SECRETS
        .iter()
        .find(|(k, _)| *k == "LEGACY_SECRET")
        .unwrap()
        .1;
    let http = client();
    let token = |base: &str, form: &[(&str, &str)]| {
        http.post(format!("{base}/realms/main/token"))
            .basic_auth("legacy", Some(secret))
            .form(form)
    };
    let refresh = |base: &str, rt: &str| {
        token(
            base,
            &[("grant_type", "refresh_token"), ("refresh_token", rt)],
        )
    };
    let refresh_token = |body: Option<Value>| -> String {
        body.and_then(|b| b["refresh_token"].as_str().map(str::to_owned))
            .expect("no refresh token")
    };

    let (answer, body) = timed(token(
        &a.base,
        &[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", PASSWORD),
            ("scope", "openid offline_access"),
        ],
    ))
    .await;
    assert_eq!(answer.status, 200, "{body:?}");
    let first = refresh_token(body);
    // Used on A just before the outage.
    let (answer, body) = timed(refresh(&a.base, &first)).await;
    assert_eq!(answer.status, 200, "{body:?}");
    let second = refresh_token(body);

    let stopper = pg.clone();
    blocking(move || stopper.ctl("stop")).await;
    // During the outage: the token endpoint says "try again", fast, and consumes nothing.
    for base in [&a.base, &b.base] {
        let (answer, body) = timed(refresh(base, &second)).await;
        assert_eq!(answer.status, 503, "{body:?}");
        assert!(answer.retry_after, "no Retry-After");
        assert!(answer.took <= OUTAGE_ANSWER, "took {:?}", answer.took);
        let body = body.unwrap_or_default();
        assert_eq!(body["error"], "temporarily_unavailable", "{body}");
    }
    let starter = pg.clone();
    blocking(move || starter.ctl("start")).await;
    until_status(&format!("{}/readyz", b.base), 200, RECOVERY).await;

    // The token refused during the outage was not used up: it works once, on B.
    let (answer, body) = timed(refresh(&b.base, &second)).await;
    assert_eq!(answer.status, 200, "{body:?}");
    // The one used on A before the outage is refused on B after it; so is a second use.
    for (rt, base) in [(&first, &b.base), (&second, &a.base)] {
        let (answer, body) = timed(refresh(base, rt)).await;
        assert_eq!(answer.status, 400, "{body:?}");
        assert_eq!(body.unwrap_or_default()["error"], "invalid_grant");
    }
}
