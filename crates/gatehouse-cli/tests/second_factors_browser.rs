//! Setting up an authenticator app on the account page in real Chromium (tests/rp/two_factor.mjs,
//! playwright-core on Debian's chromium): the QR code renders, a wrong code is refused on the
//! page, the code computed from the key the page shows turns the app on, eight recovery codes
//! are shown. A screenshot of every page; with `GATEHOUSE_UPDATE_SCREENSHOTS=1` they replace
//! docs/screenshots/mfa-*.png.

mod common;

use std::time::Duration;

use common::{Env, Server, repo_root, rp::rp_clients};
use gatehouse_core::second_factor::TotpRepository;
use gatehouse_store::testing::sqlite_store;
use serde_json::Value;

const USER: &str = "alice";
const PASSWORD: &str = "Alice: correct horse battery 7";
const BROWSER_TIMEOUT: Duration = Duration::from_secs(120);
const REALM: &str = r#"
[realms.main]
chain = ["local"]
display_name = "Example Corp"
[[realms.main.providers]]
id = "local"
kind = "database"
[realms.main.mfa]
mode = "totp"
"#;

/// Runs the script; kills it and its browser by PID when it outlives [`BROWSER_TIMEOUT`].
fn browse(account_url: &str, out_dir: &std::path::Path) -> Value {
    common::page_script::run_page_script(
        "two_factor.mjs",
        &[account_url, USER, PASSWORD],
        out_dir,
        BROWSER_TIMEOUT,
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn an_authenticator_app_is_set_up_in_chromium() {
    rp_clients();
    assert!(
        std::path::Path::new("/usr/bin/chromium").exists(),
        "tests/setup.sh installs chromium"
    );
    let env = Env::new(sqlite_store().await, REALM);
    let vars = [(
        "GATEHOUSE_KEYS__ENCRYPTION_KEY",
        "second-factor-browser-key-encryption-secret",
    )];
    env.ok_with(
        &[
            "user",
            "add",
            "--realm",
            "main",
            USER,
            "--email",
            "alice@example.com",
        ],
        "",
        &vars,
    );
    env.ok_with(
        &["user", "set-password", "--realm", "main", USER],
        &format!("{PASSWORD}\n"),
        &vars,
    );
    let port = common::free_port();
    let public_url = format!("http://127.0.0.1:{port}");
    let mut vars = vars.to_vec();
    vars.push(("GATEHOUSE_SERVER__PUBLIC_URL", &public_url));
    let server = Server::start_at(&env, port, &vars).await;
    let shots = tempfile::tempdir().unwrap();
    let account_url = format!("{}/realms/main/account", server.base);
    let result = tokio::task::spawn_blocking({
        let dir = shots.path().to_path_buf();
        move || browse(&account_url, &dir)
    })
    .await
    .unwrap();

    let qr = &result["qr"];
    assert!(
        qr["width"].as_f64().unwrap() >= 150.0,
        "the QR code is drawn: {qr}"
    );
    assert!(qr["paths"].as_u64().unwrap() >= 1, "{qr}");
    let pages = &result["pages"];
    assert_eq!(
        pages["mfa-setup"]["heading"],
        "Set up your authenticator app"
    );
    assert!(
        pages["mfa-setup-wrong-code"]["text"]
            .as_str()
            .unwrap()
            .contains("The code has 6 digits; you entered 7."),
        "{pages:#}"
    );
    assert_eq!(
        result["recovery_codes"].as_array().unwrap().len(),
        8,
        "{result:#}"
    );
    assert!(
        pages["mfa-enabled"]["text"]
            .as_str()
            .unwrap()
            .contains("8 left"),
        "{pages:#}"
    );
    let account = env
        .store
        .find_account("main", USER)
        .await
        .unwrap()
        .unwrap()
        .account;
    assert!(env.store.totp(account.id).await.unwrap().unwrap().confirmed);

    for name in [
        "mfa-overview",
        "mfa-setup",
        "mfa-setup-wrong-code",
        "mfa-recovery-codes",
        "mfa-enabled",
    ] {
        let file = shots.path().join(format!("{name}.png"));
        assert!(
            std::fs::metadata(&file)
                .map(|m| m.len() > 10_000)
                .unwrap_or(false),
            "{name}"
        );
    }
    if std::env::var_os("GATEHOUSE_UPDATE_SCREENSHOTS").is_some() {
        let target = repo_root().join("docs/screenshots");
        std::fs::create_dir_all(&target).unwrap();
        for entry in std::fs::read_dir(shots.path()).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), target.join(entry.file_name())).unwrap();
        }
    }
    drop(server);
}
