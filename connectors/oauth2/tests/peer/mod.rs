//! The upstream test peer (tests/peers/upstream-oidc.sh: node oidc-provider), signed in to with
//! the workspace's one scripted browser (included by path: it needs only reqwest and url).
//! Shared by the `oauth2` and `oidc` connectors' integration tests (the latter include this file
//! by path).
#![allow(dead_code)]

#[path = "../../../../crates/gatehouse-cli/tests/common/browser.rs"]
mod browser;

use std::process::Command;

use browser::Browser;
use gatehouse_core::{ProviderDescriptor, ProviderKind};
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
/// peer's redirects, fills in its login form, and returns the callback's query parameters.
pub async fn login(location: &str, user: &str, password: &str) -> Vec<(String, String)> {
    let browser = Browser::new();
    let start = browser.get(&Url::parse(location).unwrap()).await;
    let back = browser
        .follow_signing_in(start, user, password, "http://127.0.0.1:8080/", |u| u)
        .await
        .unwrap_or_else(|page| {
            panic!(
                "no redirect from {} ({}):\n{}",
                page.url, page.status, page.body
            )
        });
    back.query_pairs().into_owned().collect()
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
