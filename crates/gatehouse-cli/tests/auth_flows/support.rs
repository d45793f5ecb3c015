//! What the REST-flow tests share: the realm, its users, the server, and the JSON exchanges.
#![allow(dead_code)]

use gatehouse_core::{AccountRepository, Profile};
use gatehouse_store::AuditEvent;
use serde_json::{Value, json};

use super::common::{Env, Server, free_port};

pub const REALMS: &str = include_str!("../../../../fixtures/realms/flows.toml");
pub const PASSWORD: &str = "Alice: correct horse battery 7";
pub const ROOT_PASSWORD: &str = "Root: correct horse battery 7";
pub const REDIRECT_URI: &str = "http://127.0.0.1:9/callback";
// RFC 7636 appendix B: a verifier and its S256 challenge.
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// alice (no groups) and root (in `admins`), each with a password.
pub async fn users(env: &Env) {
    for (user, password) in [("alice", PASSWORD), ("root", ROOT_PASSWORD)] {
        env.ok(&["user", "add", "--realm", "main", user], "");
        env.ok(
            &["user", "set-password", "--realm", "main", user],
            &format!("{password}\n"),
        );
    }
    let store = env.store.store();
    let root = store
        .find_for_login("main", "root", false)
        .await
        .unwrap()
        .unwrap();
    store
        .update_profile(
            root.account.id,
            &Profile {
                email: None,
                name: None,
                groups: vec!["admins".into()],
                roles: vec![],
            },
        )
        .await
        .unwrap();
}

/// `gatehouse serve` with its public URL its own address (the pages' links, the issuer).
pub async fn serve(env: &Env, extra: &[(&str, &str)]) -> Server {
    let port = free_port();
    let public = format!("http://127.0.0.1:{port}");
    let mut vars = vec![("GATEHOUSE_SERVER__PUBLIC_URL", public.as_str())];
    vars.extend_from_slice(extra);
    Server::start_at(env, port, &vars).await
}

pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub cookies: Vec<String>,
}

impl Reply {
    pub fn state(&self) -> String {
        self.body["state_id"]
            .as_str()
            .unwrap_or_else(|| panic!("no state_id: {}", self.body))
            .to_owned()
    }

    pub fn status_is(&self, status: &str) -> &Self {
        assert_eq!(self.status, 200, "{}", self.body);
        assert_eq!(self.body["status"], status, "{}", self.body);
        self
    }
}

pub async fn post(url: &str, body: Option<Value>) -> Reply {
    let mut request = reqwest::Client::new().post(url);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let cookies = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_owned))
        .collect();
    let body = response.json().await.unwrap_or(Value::Null);
    Reply {
        status,
        body,
        cookies,
    }
}

pub fn start_url(base: &str, policy: &str) -> String {
    format!("{base}/realms/main/apiauthsvc/policy/{policy}")
}

pub async fn send(base: &str, state: &str, fields: Value) -> Reply {
    post(
        &format!("{base}/realms/main/apiauthsvc"),
        Some(json!({ "state_id": state, "fields": fields })),
    )
    .await
}

pub async fn choose(base: &str, state: &str, choice: &str) -> Reply {
    post(
        &format!("{base}/realms/main/apiauthsvc"),
        Some(json!({ "state_id": state, "choice": choice })),
    )
    .await
}

pub fn password(user: &str, password: &str) -> Value {
    json!({ "login": user, "password": password })
}

pub async fn flow_events(env: &Env) -> Vec<AuditEvent> {
    env.store
        .store()
        .recent_audit_events("main", 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == AuditEvent::AUTHENTICATION_FLOW)
        .collect()
}

pub fn labels(event: &AuditEvent) -> Vec<String> {
    event
        .attempts
        .iter()
        .map(|a| format!("{}:{}", a.provider, a.outcome.label()))
        .collect()
}
