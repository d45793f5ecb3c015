//! The Chromium page scripts under tests/rp/ (playwright-core driving Debian's chromium), run
//! with a deadline: a script or browser that hangs is killed by PID rather than holding the run.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::repo_root;

fn kill(pid: u32) {
    let _ = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .stderr(Stdio::null())
        .status();
}

/// Runs `tests/rp/<script> <args…> <out_dir>` and returns the JSON of its last line. A line
/// carrying `browser_pid` names the browser to kill if the script outlives `timeout`.
pub fn run_page_script(script: &str, args: &[&str], out_dir: &Path, timeout: Duration) -> Value {
    let mut child = Command::new("node")
        .arg(repo_root().join("tests/rp").join(script))
        .args(args)
        .arg(out_dir)
        .current_dir(repo_root().join("tests/rp"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + timeout;
    let mut browser_pid = None;
    let mut lines = Vec::new();
    loop {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(line) => {
                if let Ok(v) = serde_json::from_str::<Value>(&line)
                    && let Some(pid) = v["browser_pid"].as_u64()
                {
                    browser_pid = Some(pid as u32);
                }
                lines.push(line);
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        if Instant::now() > deadline {
            kill(child.id());
            if let Some(pid) = browser_pid {
                kill(pid);
            }
            let _ = child.wait();
            panic!("{script} ran over {timeout:?}:\n{}", lines.join("\n"));
        }
    }
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    let _ = child.stderr.take().unwrap().read_to_string(&mut stderr);
    // The script closes its browser; a crash may not have.
    if let Some(pid) = browser_pid {
        kill(pid);
    }
    assert!(
        status.success(),
        "{script} failed ({status}):\n{}\n{stderr}",
        lines.join("\n")
    );
    serde_json::from_str(lines.last().expect("no output")).unwrap()
}
