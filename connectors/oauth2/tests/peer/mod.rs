//! The upstream test peer (tests/peers/upstream-oidc.sh: node oidc-provider) and a scripted
//! browser for it. Shared by the `oauth2` and `oidc` connectors' integration tests (the latter
//! include this file by path).
#![allow(dead_code)]

use std::process::Command;

use gatehouse_core::{ProviderDescriptor, ProviderKind};
use reqwest::header::{CONTENT_TYPE, LOCATION};
use url::Url;

pub const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/peers/upstream-oidc.sh"
);
/// Registered at the peer for every client; nothing listens there: the scripted browser stops at
/// the redirect to it and hands its parameters to `complete`.
pub const CALLBACK: &str = "http://127.0.0.1:8080/callback";
pub const CALLBACK_OAUTH2: &str = "http://127.0.0.1:8080/oauth2/callback";

/// The issuer URL of the run's peer, which `tests/run` starts and exports; the test fails (never
/// skips) without it.
pub fn upstream_url() -> String {
    std::env::var("GATEHOUSE_TEST_UPSTREAM_OIDC_URL").unwrap_or_else(|_| {
        panic!(
            "GATEHOUSE_TEST_UPSTREAM_OIDC_URL is not set: these tests need the upstream OpenID \
             Provider peer. Run the suite with tests/run (it starts tests/peers/upstream-oidc.sh), \
             or `eval \"$(tests/peers/upstream-oidc.sh start)\"` before cargo test"
        )
    })
}

pub fn init() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("gatehouse_connector_oauth2=debug,gatehouse_connector_oidc=debug")
        .with_test_writer()
        .try_init();
}

pub fn descriptor(kind: ProviderKind) -> ProviderDescriptor {
    ProviderDescriptor {
        id: "upstream".into(),
        kind,
        enabled: true,
        supersedes: vec![],
        jit: true,
    }
}

/// Plays the browser from the authorization URL to the redirect back to the broker: follows the
/// peer's redirects with a cookie jar, fills in its login form, and returns the callback's query
/// parameters.
pub async fn login(location: &str, user: &str, password: &str) -> Vec<(String, String)> {
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut url = Url::parse(location).unwrap();
    let mut form_sent = false;
    for _ in 0..10 {
        if url.as_str().starts_with("http://127.0.0.1:8080/") {
            return url.query_pairs().into_owned().collect();
        }
        let response = if url.path().starts_with("/interaction/") && !form_sent {
            let page = browser
                .get(url.clone())
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            assert!(
                page.contains("name=\"login\""),
                "not the login form at {url}:\n{page}"
            );
            form_sent = true;
            let form = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("prompt", "login")
                .append_pair("login", user)
                .append_pair("password", password)
                .finish();
            browser
                .post(url.clone())
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(form)
                .send()
                .await
                .unwrap()
        } else {
            browser.get(url.clone()).send().await.unwrap()
        };
        let status = response.status();
        let Some(next) = response.headers().get(LOCATION).cloned() else {
            let body = response.text().await.unwrap_or_default();
            panic!("no redirect from {url} ({status}):\n{body}");
        };
        url = url.join(next.to_str().unwrap()).unwrap();
    }
    panic!("more than 10 redirects, last {url}")
}

/// The value of one query parameter of a URL.
pub fn query(url: &str, name: &str) -> Option<String> {
    Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Replaces (or with `None` removes) a callback parameter.
pub fn with_param(
    params: &[(String, String)],
    name: &str,
    value: Option<&str>,
) -> Vec<(String, String)> {
    let mut out: Vec<_> = params.iter().filter(|(k, _)| k != name).cloned().collect();
    if let Some(v) = value {
        out.push((name.into(), v.into()));
    }
    out
}

/// An instance of the peer of the test's own (to rotate its key without disturbing other tests),
/// under the run's state root; stopped by PID on drop.
pub struct Instance {
    pub name: String,
    pub url: String,
}

impl Instance {
    pub fn start(name: &str) -> Self {
        let url = run(&["start", name]);
        Self {
            name: name.into(),
            url,
        }
    }

    /// A new signing key with a new `kid`; same port, same issuer.
    pub fn rotate(&self) {
        assert_eq!(run(&["rotate", &self.name]), self.url);
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .args([SCRIPT, "stop", &self.name])
            .output();
    }
}

/// Runs the script and returns the URL of its `export …_URL=…` line.
fn run(args: &[&str]) -> String {
    let out = Command::new("bash")
        .arg(SCRIPT)
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{SCRIPT} {args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .find_map(|l| {
            l.strip_prefix("export ")
                .and_then(|l| l.split_once("_URL="))
                .map(|(_, u)| u.to_owned())
        })
        .unwrap_or_else(|| panic!("no URL in the output of {args:?}: {stdout}"))
}
