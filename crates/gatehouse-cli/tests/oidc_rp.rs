//! Real relying parties against `gatehouse serve`: npm `openid-client` and PyPI `authlib`
//! (tests/rp/, installed by tests/peers/rp-clients.sh) each know only the issuer URL, a client id
//! and secret, and run the whole code + PKCE flow as a database user made with the CLI — the
//! login page filled over plain HTTP — then userinfo, refresh, introspection, revocation and
//! RP-initiated logout; then every refusal with its RFC error code and nothing issued.

mod common;

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::{Env, OIDC_REALM, OIDC_SECRETS, Server, free_port, repo_root};
use gatehouse_store::store_test;
use serde_json::Value;

const USER: &str = "alice";
const PASSWORD: &str = "alice: correct horse battery";
const EMAIL: &str = "alice@example.org";
const REDIRECT_URI: &str = "http://127.0.0.1:9/callback";
const POST_LOGOUT_REDIRECT_URI: &str = "http://127.0.0.1:9/logged-out";
const RP_TIMEOUT: Duration = Duration::from_secs(240);

/// Installs the relying-party libraries once per test binary (a no-op when `tests/run` did).
fn rp_clients() {
    static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();
    let result = INSTALLED.get_or_init(|| {
        let script = repo_root().join("tests/peers/rp-clients.sh");
        let out = Command::new("bash")
            .arg(&script)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{} failed ({}):\n{}{}",
                script.display(),
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

// Fields drop in order: the server stops before its store goes away.
struct Provider {
    server: Server,
    _env: Env,
    sub: String,
}

impl Provider {
    fn issuer(&self, realm: &str) -> String {
        format!("{}/realms/{realm}", self.server.base)
    }
}

/// Alice in realms `main` and `short` (created with the CLI), and `gatehouse serve` whose public
/// URL is its own address, so the issuer is what the relying parties reach.
async fn provider(store: gatehouse_store::testing::TestStore) -> Provider {
    let env = Env::new(store, OIDC_REALM);
    for realm in ["main", "short"] {
        env.ok_with(
            &[
                "user",
                "add",
                "--realm",
                realm,
                USER,
                "--email",
                EMAIL,
                "--name",
                "Alice Liddell",
            ],
            "",
            &OIDC_SECRETS,
        );
        env.ok_with(
            &["user", "set-password", "--realm", realm, USER],
            &format!("{PASSWORD}\n"),
            &OIDC_SECRETS,
        );
    }
    let shown = env.ok_with(
        &["user", "show", "--realm", "main", USER],
        "",
        &OIDC_SECRETS,
    );
    let sub = shown
        .lines()
        .find_map(|l| l.strip_prefix("id:"))
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|| panic!("no id in `user show`:\n{shown}"));
    let port = free_port();
    let public_url = format!("http://127.0.0.1:{port}");
    let mut vars: Vec<(&str, &str)> = OIDC_SECRETS.to_vec();
    vars.push(("GATEHOUSE_SERVER__PUBLIC_URL", &public_url));
    let server = Server::start_at(&env, port, &vars).await;
    Provider {
        server,
        _env: env,
        sub,
    }
}

/// Runs a relying-party script to its end (killed after [`RP_TIMEOUT`]) and returns its JSON.
fn run_rp(mut cmd: Command, p: &Provider, client_id: &str, secret_var: &str) -> Value {
    let secret = secret_of(secret_var);
    cmd.current_dir(repo_root().join("tests/rp"))
        .env("RP_ISSUER", p.issuer("main"))
        .env("RP_SHORT_ISSUER", p.issuer("short"))
        .env("RP_CLIENT_ID", client_id)
        .env("RP_CLIENT_SECRET", secret)
        .env("RP_REDIRECT_URI", REDIRECT_URI)
        .env("RP_POST_LOGOUT_REDIRECT_URI", POST_LOGOUT_REDIRECT_URI)
        .env("RP_USERNAME", USER)
        .env("RP_PASSWORD", PASSWORD)
        .env("RP_PUBLIC_CLIENT_ID", "spa")
        .env("RP_SERVICE_CLIENT_ID", "service")
        .env("RP_SERVICE_CLIENT_SECRET", secret_of("SERVICE_SECRET"))
        .env("RP_PASSWORD_CLIENT_ID", "legacy")
        .env("RP_PASSWORD_CLIENT_SECRET", secret_of("LEGACY_SECRET"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    // Drain both pipes on threads so a chatty script never blocks on a full pipe.
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + RP_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let (stdout, stderr) = (out.join().unwrap(), err.join().unwrap());
    let Some(status) = status else {
        panic!(
            "{cmd:?} did not finish within {RP_TIMEOUT:?}\nstdout:\n{stdout}\nstderr:\n{stderr}\nserver log:\n{}",
            log_tail(&p.server)
        );
    };
    let result: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "{cmd:?} exited with {status} without a JSON result ({e})\nstdout:\n{stdout}\nstderr:\n{stderr}\nserver log:\n{}",
            log_tail(&p.server)
        )
    });
    if !status.success() || result["ok"] != Value::Bool(true) {
        panic!(
            "{} against Gatehouse failed ({status}):\n  {}\n\nfull result:\n{}\nstderr:\n{stderr}\nserver log:\n{}",
            result["library"],
            result["failures"]
                .as_array()
                .map(|f| f
                    .iter()
                    .map(|v| v.as_str().unwrap_or_default().to_owned())
                    .collect::<Vec<_>>()
                    .join("\n  "))
                .unwrap_or_default(),
            serde_json::to_string_pretty(&result).unwrap(),
            log_tail(&p.server)
        );
    }
    // Shown with --nocapture: what each case answered.
    eprintln!(
        "{} {}: {}",
        result["library"],
        result["version"],
        serde_json::to_string_pretty(&result).unwrap()
    );
    result
}

fn secret_of(var: &str) -> &'static str {
    OIDC_SECRETS
        .iter()
        .find(|(k, _)| *k == var)
        .map(|(_, v)| *v)
        .unwrap()
}

fn log_tail(server: &Server) -> String {
    let logs = server.logs();
    let start = logs.len().saturating_sub(6000);
    let start = (start..logs.len())
        .find(|i| logs.is_char_boundary(*i))
        .unwrap_or(logs.len());
    logs[start..].to_owned()
}

/// What both libraries must have seen.
fn assert_flow(result: &Value, p: &Provider, client_id: &str) {
    let flow = &result["flow"];
    let context = || serde_json::to_string_pretty(flow).unwrap();
    assert_eq!(flow["ok"], true, "{}", context());
    let id = &flow["id_token"];
    assert_eq!(id["iss"], p.issuer("main"), "{}", context());
    assert_eq!(
        id["sub"],
        p.sub.as_str(),
        "sub is the account id: {}",
        context()
    );
    let aud_ok = id["aud"] == client_id
        || id["aud"]
            .as_array()
            .is_some_and(|a| a.iter().any(|v| v == client_id));
    assert!(aud_ok, "aud: {}", context());
    assert_eq!(id["preferred_username"], USER, "{}", context());
    assert_eq!(id["email"], EMAIL, "{}", context());
    assert_eq!(id["amr"], serde_json::json!(["pwd"]), "{}", context());
    for claim in ["exp", "iat", "auth_time", "nonce", "sid"] {
        assert!(
            !id[claim].is_null(),
            "ID token without `{claim}`: {}",
            context()
        );
    }
    assert_eq!(flow["userinfo"]["sub"], p.sub.as_str(), "{}", context());
    assert_eq!(flow["userinfo"]["email"], EMAIL, "{}", context());
    let typ = flow["access_token_header"]["typ"]
        .as_str()
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(
        typ == "at+jwt" || typ == "application/at+jwt",
        "access token typ (RFC 9068): {}",
        context()
    );
    assert_eq!(flow["refresh_rotated"], true, "{}", context());
    assert_eq!(
        flow["introspection_active"]["active"],
        true,
        "{}",
        context()
    );
    assert_eq!(
        flow["introspection_after_revocation"]["active"],
        false,
        "{}",
        context()
    );
    assert_eq!(
        flow["prompt_none_after_logout"]["error"],
        "login_required",
        "{}",
        context()
    );
    assert!(
        flow["logout_redirect"]
            .as_str()
            .is_some_and(|u| u.starts_with(POST_LOGOUT_REDIRECT_URI)),
        "{}",
        context()
    );
}

/// Each refusal case ran (not skipped), passed, and answered the RFC's code.
fn assert_cases(result: &Value, expected: &[(&str, Option<&str>)]) {
    let cases = &result["cases"];
    for (name, code) in expected {
        let case = &cases[*name];
        let context = serde_json::to_string_pretty(case).unwrap();
        assert_eq!(
            case["ok"], true,
            "{} case {name}: {context}",
            result["library"]
        );
        assert!(
            case["skipped"].is_null(),
            "case {name} was skipped: {context}"
        );
        if let Some(code) = code {
            assert_eq!(case["error"], *code, "case {name}: {context}");
        }
    }
}

/// Secrets never reach a log line.
fn assert_logs_clean(p: &Provider) {
    let logs = p.server.logs();
    assert!(!logs.contains(PASSWORD), "the password is in the log");
    for (var, secret) in OIDC_SECRETS {
        assert!(!logs.contains(secret), "{var} is in the log");
    }
}

fn node() -> Command {
    let mut cmd = Command::new("node");
    cmd.arg(repo_root().join("tests/rp/openid_client_flow.mjs"));
    cmd
}

fn python() -> Command {
    let venv: PathBuf = repo_root().join("tests/rp/.venv/bin/python");
    let mut cmd = Command::new(venv);
    cmd.arg(repo_root().join("tests/rp/authlib_flow.py"));
    cmd
}

store_test!(
    openid_client_logs_in_and_is_refused_by_the_rfc,
    |store| async move {
        rp_clients();
        let p = provider(store).await;
        let result =
            tokio::task::block_in_place(|| run_rp(node(), &p, "node-rp", "NODE_RP_SECRET"));
        assert_eq!(result["library"], "openid-client");
        assert_flow(&result, &p, "node-rp");
        assert_cases(
            &result,
            &[
                ("wrong_redirect_uri", None),
                ("missing_code_verifier", Some("invalid_grant")),
                ("wrong_code_verifier", Some("invalid_grant")),
                ("replayed_code", Some("invalid_grant")),
                ("reused_refresh_token", Some("invalid_grant")),
                ("wrong_client_secret", Some("invalid_client")),
                ("expired_code", Some("invalid_grant")),
                ("password_grant_not_allowed", Some("unauthorized_client")),
                ("password_grant_allowed", None),
                ("client_credentials", None),
                ("public_client", None),
            ],
        );
        assert_eq!(result["cases"]["wrong_redirect_uri"]["status"], 400);
        assert_eq!(result["cases"]["wrong_client_secret"]["status"], 401);
        assert_eq!(
            result["cases"]["replayed_code"]["first_access_token_active_after"],
            false
        );
        assert_eq!(
            result["cases"]["reused_refresh_token"]["newest_refresh_token_active"],
            false
        );
        assert_logs_clean(&p);
    }
);

store_test!(
    authlib_logs_in_and_is_refused_by_the_rfc,
    |store| async move {
        rp_clients();
        let p = provider(store).await;
        let result = tokio::task::block_in_place(|| run_rp(python(), &p, "py-rp", "PY_RP_SECRET"));
        assert_eq!(result["library"], "authlib");
        assert_flow(&result, &p, "py-rp");
        assert_cases(
            &result,
            &[
                ("wrong_redirect_uri", None),
                ("missing_code_verifier", Some("invalid_grant")),
                ("wrong_code_verifier", Some("invalid_grant")),
                ("replayed_code", Some("invalid_grant")),
                ("reused_refresh_token", Some("invalid_grant")),
                ("wrong_client_secret", Some("invalid_client")),
                ("expired_code", Some("invalid_grant")),
                ("password_grant_not_allowed", Some("unauthorized_client")),
                ("password_grant_allowed", None),
            ],
        );
        assert_eq!(result["cases"]["wrong_client_secret"]["status"], 401);
        assert_logs_clean(&p);
    }
);
