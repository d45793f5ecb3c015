//! The real relying parties of tests/rp/ (npm `openid-client`, PyPI `authlib`, installed by
//! tests/peers/rp-clients.sh), run against a `gatehouse serve` child: each script reads its
//! issuer, client and user from `RP_*` variables (see the head of each script) and prints one JSON
//! result. Shared by oidc_rp.rs (database users, every refusal) and ldap_oidc.rs (directory users).

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{Server, repo_root};

/// How long one script may run before it is killed and the test fails.
pub const RP_TIMEOUT: Duration = Duration::from_secs(240);

/// Installs the relying-party libraries once per test binary (a no-op when `tests/run` did).
pub fn rp_clients() {
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

/// The openid-client script.
pub fn node() -> Command {
    let mut cmd = Command::new("node");
    cmd.arg(repo_root().join("tests/rp/openid_client_flow.mjs"));
    cmd
}

/// The authlib script, in the venv rp-clients.sh made.
pub fn python() -> Command {
    let mut cmd = Command::new(repo_root().join("tests/rp/.venv/bin/python"));
    cmd.arg(repo_root().join("tests/rp/authlib_flow.py"));
    cmd
}

/// Runs a relying-party script with `vars` (its `RP_*` input) to its end, killed after
/// [`RP_TIMEOUT`], and returns its JSON; panics with the script's output and the server's log
/// unless the script says `ok`.
pub fn run_rp(mut cmd: Command, server: &Server, vars: &[(&str, &str)]) -> Value {
    cmd.current_dir(repo_root().join("tests/rp"))
        .envs(vars.iter().copied())
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
            log_tail(server)
        );
    };
    let result: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "{cmd:?} exited with {status} without a JSON result ({e})\nstdout:\n{stdout}\nstderr:\n{stderr}\nserver log:\n{}",
            log_tail(server)
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
            log_tail(server)
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

/// The last few kilobytes of the server's log, cut at a character boundary.
pub fn log_tail(server: &Server) -> String {
    let logs = server.logs();
    let start = logs.len().saturating_sub(6000);
    let start = (start..logs.len())
        .find(|i| logs.is_char_boundary(*i))
        .unwrap_or(logs.len());
    logs[start..].to_owned()
}
