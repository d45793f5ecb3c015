//! A new user's first run, as README tells it: `gatehouse serve` on the shipped
//! config/gatehouse.toml (copied to a temporary folder; only the port is chosen by the test),
//! `admin bootstrap`, then the printed account page URL opened in headless Chromium and signed in
//! to as the bootstrap administrator. The browser takes a screenshot of every page at phone and
//! desktop widths; with `GATEHOUSE_UPDATE_SCREENSHOTS=1` they replace docs/screenshots/.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{BIN, free_port, repo_root, rp::rp_clients};
use serde_json::Value;

const PASSWORD: &str = "a long admin Password 1";
/// The browser script's whole run, both widths; killed (node and Chromium, by PID) after it.
const BROWSER_TIMEOUT: Duration = Duration::from_secs(180);

/// `serve`, killed on drop.
struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Debian's chromium, installed by tests/setup.sh.
fn chromium() {
    let setup = repo_root().join("tests/setup.sh");
    let out = Command::new("bash").arg(&setup).output().unwrap();
    assert!(
        out.status.success(),
        "{} failed:\n{}",
        setup.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        std::path::Path::new("/usr/bin/chromium").exists(),
        "tests/setup.sh did not install chromium"
    );
}

/// Width and height of a PNG, from its IHDR.
fn png_size(path: &str) -> (u32, u32) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{path} is not a PNG");
    let int = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
    (int(16), int(20))
}

/// Runs tests/rp/pages.mjs; kills it and its browser by PID when it outlives [`BROWSER_TIMEOUT`].
fn browse(account_url: &str, out_dir: &std::path::Path) -> Value {
    common::page_script::run_page_script(
        "pages.mjs",
        &[account_url, "admin", PASSWORD],
        out_dir,
        BROWSER_TIMEOUT,
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_user_signs_in_to_the_printed_account_page_as_the_bootstrap_admin() {
    rp_clients();
    chromium();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("gatehouse.toml");
    std::fs::copy(repo_root().join("config/gatehouse.toml"), &config).unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let log = dir.path().join("serve.log");

    // 1. README's first command.
    let mut child = Command::new(BIN)
        .arg("--config")
        .arg(&config)
        .arg("serve")
        .current_dir(dir.path())
        .env_remove("GATEHOUSE_LOG")
        .env("GATEHOUSE_SERVER__LISTEN", format!("127.0.0.1:{port}"))
        .env("GATEHOUSE_SERVER__PUBLIC_URL", &base)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let serve = Serve(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut printed = Vec::new();
    let account_url = loop {
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(line) => {
                let url = line
                    .trim()
                    .strip_prefix("account page")
                    .map(|rest| rest.trim().to_owned());
                printed.push(line);
                if let Some(url) = url {
                    break url;
                }
            }
            Err(_) => panic!(
                "serve printed no account page URL:\n{}\n{}",
                printed.join("\n"),
                std::fs::read_to_string(&log).unwrap_or_default()
            ),
        }
    };
    assert_eq!(account_url, format!("{base}/realms/main/account"));
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !http
        .get(format!("{base}/healthz"))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        assert!(Instant::now() < deadline, "serve did not get ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = rx.try_iter().count();
    let logs = std::fs::read_to_string(&log).unwrap();
    let migration_lines: Vec<&str> = logs.lines().filter(|l| l.contains("migrat")).collect();
    assert_eq!(
        migration_lines.len(),
        1,
        "one start-up line for the migrations:\n{logs}"
    );
    assert!(migration_lines[0].contains("store migrated"), "{logs}");

    // 2. The break-glass administrator, from a second shell.
    let mut bootstrap = Command::new(BIN)
        .arg("--config")
        .arg(&config)
        .args(["admin", "bootstrap", "--realm", "main", "admin"])
        .current_dir(dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(
        &mut bootstrap.stdin.take().unwrap(),
        format!("{PASSWORD}\n").as_bytes(),
    )
    .unwrap();
    let out = bootstrap.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "admin bootstrap failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // `/` links to the account page; a logout without a session asks nothing.
    let home = http.get(&base).send().await.unwrap();
    assert_eq!(home.status(), 200);
    let home = home.text().await.unwrap().replace("&#x2f;", "/");
    assert!(home.contains(&account_url), "{home}");
    let logout = http
        .get(format!("{base}/realms/main/logout"))
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 200);
    let logout = logout.text().await.unwrap();
    assert!(
        logout.contains("You are logged out") && !logout.contains("name=\"confirm\""),
        "{logout}"
    );
    // The account page signs in as the built-in public client, with PKCE.
    let start = http.get(&account_url).send().await.unwrap();
    assert_eq!(start.status(), 303);
    let location = start.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with(&format!("{base}/realms/main/authorize?client_id=account&"))
            && location.contains("code_challenge_method=S256"),
        "{location}"
    );

    // 3. The printed URL, in a browser.
    let shots = tempfile::tempdir().unwrap();
    let result = browse(&account_url, shots.path());
    for (width_name, width) in [("phone", 390), ("desktop", 1280)] {
        let seen = &result["widths"][width_name];
        let text = |page: &str| seen[page]["text"].as_str().unwrap_or("").to_owned();
        let at = |page: &str| seen[page]["url"].as_str().unwrap_or("").to_owned();
        assert!(
            at("login").starts_with(&format!("{base}/realms/main/login?tx=")),
            "{seen:#}"
        );
        assert!(text("login").contains("to continue to Account"), "{seen:#}");
        assert!(
            text("login-failed").contains("Invalid username or password."),
            "{seen:#}"
        );
        assert_eq!(at("account"), account_url, "{seen:#}");
        for expected in ["admin", "local", "this browser", "Log out everywhere"] {
            assert!(text("account").contains(expected), "{expected}: {seen:#}");
        }
        assert_eq!(seen["error"]["heading"], "Something went wrong", "{seen:#}");
        assert_eq!(seen["logout"]["heading"], "Log out?", "{seen:#}");
        assert!(text("logout").contains("as admin"), "{seen:#}");
        assert_eq!(
            seen["logged-out"]["heading"], "You are logged out",
            "{seen:#}"
        );
        // Signed out of the broker, signed out of the account page.
        assert!(
            seen["after_logout"]["url"]
                .as_str()
                .unwrap_or("")
                .contains("/realms/main/login?tx="),
            "{seen:#}"
        );
        for page in [
            "login",
            "login-failed",
            "account",
            "error",
            "logout",
            "logged-out",
        ] {
            let file = seen[page]["file"].as_str().unwrap();
            let (w, h) = png_size(file);
            assert_eq!(w, width, "{file}");
            assert!(h >= 600, "{file} is {w}x{h}");
        }
    }
    // "Log out everywhere" in a second browser ends the first browser's session too.
    let everywhere = &result["widths"]["desktop"]["everywhere"];
    assert_eq!(everywhere["sessions_before"], 2, "{everywhere:#}");
    assert!(
        everywhere["ended_text"]
            .as_str()
            .unwrap_or("")
            .contains("2 sessions of your account ended"),
        "{everywhere:#}"
    );
    assert!(
        everywhere["first_after_url"]
            .as_str()
            .unwrap_or("")
            .contains("/realms/main/login?tx="),
        "{everywhere:#}"
    );
    if std::env::var_os("GATEHOUSE_UPDATE_SCREENSHOTS").is_some() {
        let target = repo_root().join("docs/screenshots");
        std::fs::create_dir_all(&target).unwrap();
        for entry in std::fs::read_dir(shots.path()).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), target.join(entry.file_name())).unwrap();
        }
    }
    drop(serve);
}
