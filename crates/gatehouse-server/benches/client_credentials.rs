//! OAuth 2.0 client_credentials issuance (RS256 JWT access tokens) per second at 32 concurrent
//! connections over HTTP, against two baselines measured in the same run:
//!
//! - the **ceiling**: raw RSA-2048 PKCS#1 v1.5 SHA-256 signatures (aws-lc-rs, key parsed once) on
//!   2 threads — what the machine can sign at most, measured before and after and averaged;
//! - node **oidc-provider** 9 (panva) configured for the same grant and RS256 JWT access tokens,
//!   started by `tests/peers/oidc-provider.sh`.
//!
//! Gatehouse runs in this process (2 tokio worker threads, embedded SQLite store unless
//! `GATEHOUSE_BENCH_STORE_URL` names another); the load comes from one `wrk` process (1 thread,
//! 32 keep-alive connections, a Lua POST script), the same for both servers. Prints rates, ratios
//! and the CPU each side used; never fails on a timing. `GATEHOUSE_BENCH_SECONDS` sets each
//! phase's length (default 10).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use gatehouse_server::{Config, Gatehouse};
use gatehouse_store::Store;

#[path = "../../gatehouse-cli/tests/common/port.rs"]
mod port;

const THREADS: usize = 2;
const CONCURRENCY: usize = 32;
const CLIENT_ID: &str = "bench";
const CLIENT_SECRET: &str = "bench-secret";
/// USER_HZ: the unit of the CPU times in /proc/*/stat on Linux.
const CLOCK_TICKS: f64 = 100.0;

fn main() {
    let seconds: u64 = std::env::var("GATEHOUSE_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let phase = Duration::from_secs(seconds);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    ensure_wrk(&root);
    let dir = tempfile::tempdir().expect("tempdir");
    let lua = dir.path().join("client_credentials.lua");
    std::fs::write(&lua, wrk_script()).expect("lua script");

    println!(
        "client_credentials benchmark: RS256 JWT access tokens, {CONCURRENCY} connections (wrk, 1 thread), {seconds} s a phase, {} cores",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!("load average before: {}", load_average());
    let (ceiling_before, per_cpu_before) = rs256_signs_per_second(phase);
    println!(
        "RS256 ceiling, RSA-2048 signs/s ({THREADS} threads):     {ceiling_before:9.1}   {per_cpu_before:7.1} signs per CPU-second"
    );

    // Gatehouse, in this process.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(THREADS)
        .enable_all()
        .build()
        .expect("runtime");
    let (url, stop, server) = runtime.block_on(start_gatehouse(dir.path()));
    runtime.block_on(check_token(&url, "Gatehouse"));
    let _ = wrk(&url, &lua, Duration::from_secs(2)); // warm-up
    let cpu_before = process_cpu_seconds(std::process::id());
    let gatehouse = wrk(&url, &lua, phase);
    let gatehouse_cpu = process_cpu_seconds(std::process::id()) - cpu_before;
    stop.store(true, Ordering::Relaxed);
    let _ = runtime.block_on(server);
    gatehouse.print("Gatehouse", gatehouse_cpu);

    // node oidc-provider, in its own process.
    let oidc_provider = match start_oidc_provider(&root, dir.path()) {
        Ok((url, pid)) => {
            runtime.block_on(check_token(&url, "oidc-provider"));
            let _ = wrk(&url, &lua, Duration::from_secs(2));
            let cpu_before = process_cpu_seconds(pid);
            let run = wrk(&url, &lua, phase);
            let cpu = process_cpu_seconds(pid) - cpu_before;
            stop_oidc_provider(&root, dir.path());
            run.print("oidc-provider", cpu);
            Some((run, cpu))
        }
        Err(e) => {
            println!("oidc-provider: not measured ({e})");
            None
        }
    };

    let (ceiling_after, per_cpu_after) = rs256_signs_per_second(phase);
    println!(
        "RS256 ceiling again:                                {ceiling_after:9.1}   {per_cpu_after:7.1} signs per CPU-second"
    );
    println!("load average after: {}", load_average());
    let ceiling = (ceiling_before + ceiling_after) / 2.0;
    let per_cpu = (per_cpu_before + per_cpu_after) / 2.0;
    println!();
    println!(
        "ratio Gatehouse / RS256 ceiling:     {:.3}  (goal >= 0.85)",
        gatehouse.rate() / ceiling
    );
    if let Some((op, _)) = &oidc_provider {
        println!(
            "ratio Gatehouse / oidc-provider:     {:.2}  (goal about 2)",
            gatehouse.rate() / op.rate()
        );
        println!(
            "ratio oidc-provider / RS256 ceiling: {:.3}",
            op.rate() / ceiling
        );
    }
    // Per CPU-second of the server: what each token costs, whatever else the machine is doing.
    println!(
        "tokens per server CPU-second / signs per CPU-second: Gatehouse {:.3}{}",
        gatehouse.rate() * gatehouse.seconds / gatehouse_cpu / per_cpu,
        match &oidc_provider {
            Some((op, cpu)) => format!(
                ", oidc-provider {:.3}",
                op.rate() * op.seconds / cpu / per_cpu
            ),
            None => String::new(),
        }
    );
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

// ------------------------------------------------------------------ the ceiling

/// RSA-2048 PKCS#1 v1.5 SHA-256 over a typical JWT signing input, on `THREADS` threads sharing
/// one key parsed once from PKCS#8 (as a server loads its signing key). Signs per second, and
/// per CPU-second of this process (only these threads run meanwhile).
fn rs256_signs_per_second(phase: Duration) -> (f64, f64) {
    let generated = RsaKeyPair::generate(KeySize::Rsa2048).expect("generate RSA-2048");
    let pkcs8 = generated.as_der().expect("PKCS#8");
    let key = Arc::new(RsaKeyPair::from_pkcs8(pkcs8.as_ref()).expect("parse PKCS#8"));
    let signing_input = format!(
        "eyJhbGciOiJSUzI1NiIsInR5cCI6ImF0K2p3dCIsImtpZCI6ImJlbmNoIn0.{}",
        "eyJpc3MiOiJodHRwOi8vMTI3LjAuMC4xOjgwODAvcmVhbG1zL21haW4iLCJzdWIiOiJiZW5jaCIsImF1ZCI6ImJlbmNoIiwiZXhwIjoxNzk1MzMxMTYxLCJpYXQiOjE3OTUzMzA4NjEsImp0aSI6IjAxOTM0ZjVmLTAwMDAtNzAwMC04MDAwLTAwMDAwMDAwMDAwMCIsImNsaWVudF9pZCI6ImJlbmNoIiwic2NvcGUiOiJhcGkifQ"
    );
    let count = AtomicU64::new(0);
    let cpu_before = process_cpu_seconds(std::process::id());
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..THREADS {
            let (key, count, input) = (key.clone(), &count, signing_input.as_bytes());
            s.spawn(move || {
                let rng = SystemRandom::new();
                let mut signature = vec![0u8; key.public_modulus_len()];
                while started.elapsed() < phase {
                    key.sign(&RSA_PKCS1_SHA256, &rng, input, &mut signature)
                        .expect("sign");
                    count.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    });
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = process_cpu_seconds(std::process::id()) - cpu_before;
    let signs = count.load(Ordering::Relaxed) as f64;
    (signs / elapsed, signs / cpu.max(0.01))
}

// ------------------------------------------------------------------ the two servers

async fn start_gatehouse(
    dir: &Path,
) -> (
    String,
    Arc<AtomicBool>,
    tokio::task::JoinHandle<Result<(), gatehouse_server::ServerError>>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let store_url = std::env::var("GATEHOUSE_BENCH_STORE_URL")
        .unwrap_or_else(|_| format!("sqlite://{}?mode=rwc", dir.join("bench.db").display()));
    let text = format!(
        r#"[server]
public_url = "http://{addr}"
[keys]
encryption_key = "bench-only-key-encryption-secret-0123456789"
[realms.main]
chain = ["local"]
[[realms.main.providers]]
id = "local"
kind = "database"
[[realms.main.clients]]
client_id = "{CLIENT_ID}"
client_secret = "{CLIENT_SECRET}"
grant_types = ["client_credentials"]
scopes = ["api"]
"#
    );
    let config = Config::from_toml(&text, "bench", Vec::new()).expect("config");
    let store = Store::connect(&store_url).await.expect("store");
    store.migrate().await.expect("migrate");
    let gatehouse = Arc::new(
        Gatehouse::with_store(config, store)
            .await
            .expect("gatehouse"),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let server = tokio::spawn(gatehouse_server::serve_on(
        gatehouse,
        listener,
        async move {
            while !flag.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        },
    ));
    (format!("http://{addr}/realms/main/token"), stop, server)
}

/// `tests/peers/oidc-provider.sh start` on a free port; its token URL and PID.
fn start_oidc_provider(root: &Path, dir: &Path) -> Result<(String, u32), String> {
    let port = port::free_port();
    let state = dir.join("oidc-provider");
    let out = Command::new("bash")
        .arg(root.join("tests/peers/oidc-provider.sh"))
        .arg("start")
        .env("OP_PORT", port.to_string())
        .env("OP_STATE_DIR", &state)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run tests/peers/oidc-provider.sh: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "tests/peers/oidc-provider.sh start failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let pid = std::fs::read_to_string(state.join("op.pid"))
        .map_err(|e| e.to_string())?
        .trim()
        .parse()
        .map_err(|e| format!("op.pid: {e}"))?;
    Ok((format!("http://127.0.0.1:{port}/token"), pid))
}

fn stop_oidc_provider(root: &Path, dir: &Path) {
    let _ = Command::new("bash")
        .arg(root.join("tests/peers/oidc-provider.sh"))
        .arg("stop")
        .env("OP_STATE_DIR", dir.join("oidc-provider"))
        .stdout(Stdio::null())
        .status();
}

/// One request by hand: a 200 with an RS256 JWT access token, or the benchmark is meaningless.
async fn check_token(url: &str, name: &str) {
    let response = reqwest::Client::new()
        .post(url)
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let status = response.status().as_u16();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    assert_eq!(status, 200, "{name} refused client_credentials: {body}");
    let token = body["access_token"].as_str().unwrap_or_default();
    let header = token.split('.').next().unwrap_or_default();
    let header = String::from_utf8(base64_url_decode(header)).unwrap_or_default();
    assert!(
        header.contains("\"RS256\"") && token.split('.').count() == 3,
        "{name} did not issue an RS256 JWT: {body}"
    );
    println!("{name}: token {header} ({} bytes)", token.len());
}

fn base64_url_decode(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .unwrap_or_default()
}

// ------------------------------------------------------------------ the load generator

fn ensure_wrk(root: &Path) {
    let found = Command::new("wrk")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !found {
        let status = Command::new("bash")
            .arg(root.join("tests/setup.sh"))
            .arg("wrk")
            .status()
            .expect("tests/setup.sh");
        assert!(
            status.success(),
            "cannot install wrk (Debian package `wrk`)"
        );
    }
}

fn wrk_script() -> String {
    use base64::Engine;
    let basic =
        base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"));
    format!(
        r#"wrk.method = "POST"
wrk.body = "grant_type=client_credentials"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic {basic}"
done = function(summary, latency, requests)
  io.write(string.format(
    'RESULT {{"requests":%d,"duration_us":%d,"status_errors":%d,"socket_errors":%d,"p50_us":%d,"p99_us":%d}}\n',
    summary.requests, summary.duration, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"#
    )
}

struct WrkRun {
    requests: u64,
    seconds: f64,
    status_errors: u64,
    socket_errors: u64,
    p50_ms: f64,
    p99_ms: f64,
    wrk_cpu: f64,
}

impl WrkRun {
    /// Successful tokens per second.
    fn rate(&self) -> f64 {
        self.requests.saturating_sub(self.status_errors) as f64 / self.seconds
    }

    fn print(&self, name: &str, server_cpu: f64) {
        println!(
            "{name:<14} tokens/s (c={CONCURRENCY}): {:9.1}   p50 {:.1} ms, p99 {:.1} ms; CPU: server {:.2} cores, wrk {:.2} cores{}",
            self.rate(),
            self.p50_ms,
            self.p99_ms,
            server_cpu / self.seconds,
            self.wrk_cpu / self.seconds,
            if self.status_errors + self.socket_errors > 0 {
                format!(
                    "; {} HTTP errors, {} socket errors",
                    self.status_errors, self.socket_errors
                )
            } else {
                String::new()
            }
        );
    }
}

/// One wrk run, and the CPU it used itself (its parent shell's cutime + cstime once it exited).
fn wrk(url: &str, lua: &Path, phase: Duration) -> WrkRun {
    let out = Command::new("bash")
        .arg("-c")
        .arg(
            r#"wrk -t1 -c"$1" -d"$2"s --timeout 10s -s "$3" "$4"; rc=$?
read -r stat < /proc/$$/stat; echo "CPU ${stat##*) }"; exit $rc"#,
        )
        .arg("wrk")
        .arg(CONCURRENCY.to_string())
        .arg(phase.as_secs().max(1).to_string())
        .arg(lua)
        .arg(url)
        .stdin(Stdio::null())
        .output()
        .expect("run wrk");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "wrk failed: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = text
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("no result from wrk: {text}"));
    // After "pid (comm) ": state is field 3, cutime and cstime fields 16 and 17 (1-based).
    let wrk_cpu = text
        .lines()
        .find_map(|l| l.strip_prefix("CPU "))
        .map(|rest| {
            let f: Vec<&str> = rest.split_whitespace().collect();
            let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
            (ticks(16 - 3) + ticks(17 - 3)) / CLOCK_TICKS
        })
        .unwrap_or(0.0);
    let n = |k: &str| json[k].as_u64().unwrap_or(0);
    WrkRun {
        requests: n("requests"),
        seconds: n("duration_us") as f64 / 1e6,
        status_errors: n("status_errors"),
        socket_errors: n("socket_errors"),
        p50_ms: n("p50_us") as f64 / 1000.0,
        p99_ms: n("p99_us") as f64 / 1000.0,
        wrk_cpu,
    }
}

/// utime + stime of a process (all its threads), in seconds.
fn process_cpu_seconds(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    let Some((_, rest)) = stat.rsplit_once(") ") else {
        return 0.0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 (1-based); `rest` starts at field 3.
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(14 - 3) + ticks(15 - 3)) / CLOCK_TICKS
}
