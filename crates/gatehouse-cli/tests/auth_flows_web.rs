//! The web flow of authentication policies (`/realms/R/authsvc`, issue #20 point 4): each step a
//! page, advancing with `?StateId=`, driven by the project's scripted browser on SQLite and
//! PostgreSQL, and once in headless Chromium with a screenshot of each step page.

mod common;

use std::time::Duration;

use common::browser::Browser;
use common::rp::rp_clients;
use common::{Env, Server, free_port, repo_root};
use gatehouse_store::{AuditEvent, store_test};
use serde_json::Value;
use url::Url;

const REALMS: &str = include_str!("../../../fixtures/realms/flows.toml");
const PASSWORD: &str = "Alice: correct horse battery 7";
const BROWSER_TIMEOUT: Duration = Duration::from_secs(120);

async fn setup(env: &Env) -> Server {
    env.ok(&["user", "add", "--realm", "main", "alice"], "");
    env.ok(
        &["user", "set-password", "--realm", "main", "alice"],
        &format!("{PASSWORD}\n"),
    );
    let port = free_port();
    let public = format!("http://127.0.0.1:{port}");
    Server::start_at(env, port, &[("GATEHOUSE_SERVER__PUBLIC_URL", &public)]).await
}

fn heading(body: &str) -> String {
    let start = body.find("<h1>").expect("a heading") + 4;
    let end = body[start..].find("</h1>").unwrap() + start;
    body[start..end].to_owned()
}

store_test!(
    the_web_flow_runs_a_policy_page_by_page,
    |store| async move {
        let env = Env::new(store, REALMS);
        let server = setup(&env).await;
        let browser = Browser::new();
        let start = Url::parse(&format!(
            "{}/realms/main/authsvc?PolicyId=choose",
            server.base
        ))
        .unwrap();

        let page = browser.get(&start).await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert_eq!(heading(&page.body), "Log in");
        let mut form = page.form().expect("the login form");
        assert!(form.action.as_str().contains("StateId="), "{}", form.action);
        assert_eq!(form.get("PolicyId"), Some("choose"));
        let first_action = form.action.clone();
        form.set("login", "alice");
        form.set("password", "wrong");
        let page = browser.post(&page.url, &form).await;
        assert_eq!(page.status, 200);
        assert!(
            page.body.contains("Invalid username or password."),
            "{}",
            page.body
        );
        let mut form = page.form().unwrap();
        assert_ne!(
            form.action, first_action,
            "every page carries a new state id"
        );
        form.set("login", "alice");
        form.set("password", PASSWORD);
        let page = browser.post(&page.url, &form).await;
        assert_eq!(heading(&page.body), "Choose how to verify", "{}", page.body);
        assert!(page.body.contains("Test security key"), "{}", page.body);

        let mut form = page.form().unwrap();
        form.set("choice", "test_code");
        let page = browser.post(&page.url, &form).await;
        assert_eq!(heading(&page.body), "Verify it&#x27;s you", "{}", page.body);
        let mut form = page.form().unwrap();
        form.set("code", "424242");
        let code_page = page.clone();
        let page = browser.post(&page.url, &form).await;
        assert_eq!(page.status, 200);
        assert_eq!(heading(&page.body), "You are signed in", "{}", page.body);
        assert!(
            browser.cookie("127.0.0.1", "gatehouse_session").is_some(),
            "no session cookie"
        );
        // The code page again (a reload, a back button): its id is spent.
        let page = browser.post(&code_page.url, &form).await;
        assert_eq!(page.status, 400);
        assert!(page.body.contains("Start again"), "{}", page.body);

        // A form posted from another site is refused.
        let foreign = reqwest::Client::new()
            .post(first_action.as_str())
            .header("origin", "https://evil.example")
            .form(&[("login", "alice"), ("password", PASSWORD)])
            .send()
            .await
            .unwrap();
        assert_eq!(foreign.status().as_u16(), 403);

        let events: Vec<AuditEvent> = env
            .store
            .store()
            .recent_audit_events("main", 50)
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.kind == AuditEvent::AUTHENTICATION_FLOW)
            .collect();
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(events[0].result, "success");
        drop(server);
    }
);

/// Runs tests/rp/authsvc_pages.mjs; kills it and its browser by PID when it outlives
/// [`BROWSER_TIMEOUT`].
fn browse(start: &str, out_dir: &std::path::Path) -> Value {
    common::page_script::run_page_script(
        "authsvc_pages.mjs",
        &[start, "alice", PASSWORD, "424242"],
        out_dir,
        BROWSER_TIMEOUT,
    )
}

/// In Chromium: the choose policy's pages (login, choice, code, done), a screenshot each. With
/// `GATEHOUSE_UPDATE_SCREENSHOTS=1` they replace docs/screenshots/authsvc-*.png.
#[tokio::test(flavor = "multi_thread")]
async fn the_web_flow_in_chromium_with_a_screenshot_of_each_step() {
    rp_clients();
    assert!(
        std::path::Path::new("/usr/bin/chromium").exists(),
        "tests/setup.sh did not install chromium"
    );
    let env = Env::new(gatehouse_store::testing::sqlite_store().await, REALMS);
    let server = setup(&env).await;
    let out = tempfile::tempdir().unwrap();
    let start = format!("{}/realms/main/authsvc/policy/choose", server.base);
    let seen = tokio::task::spawn_blocking({
        let out = out.path().to_owned();
        move || browse(&start, &out)
    })
    .await
    .unwrap();
    let headings: Vec<&str> = seen["pages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["heading"].as_str().unwrap())
        .collect();
    assert_eq!(
        headings,
        [
            "Log in",
            "Choose how to verify",
            "Verify it's you",
            "You are signed in"
        ],
        "{seen}"
    );
    for page in seen["pages"].as_array().unwrap() {
        let file = page["screenshot"].as_str().unwrap();
        let bytes = std::fs::read(file).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{file}");
        if std::env::var_os("GATEHOUSE_UPDATE_SCREENSHOTS").is_some() {
            let name = std::path::Path::new(file).file_name().unwrap();
            std::fs::copy(file, repo_root().join("docs/screenshots").join(name)).unwrap();
        }
    }
    drop(server);
}
