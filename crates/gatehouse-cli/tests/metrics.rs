//! `GET /metrics` of a served instance: the families after real logins and a token request, the
//! bearer token, the separate listen address.

mod common;

use std::collections::BTreeMap;

use common::{Env, OIDC_REALM, OIDC_SECRETS, Server, free_port};
use gatehouse_store::store_test;
use serde_json::json;

const TOKEN: &str = "metrics-scrape-token-0123456789";

/// One sample of the Prometheus text format: name, labels, value.
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

fn samples(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').expect("name and value");
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => (name, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            let labels = labels
                .split("\",")
                .filter(|pair| !pair.is_empty())
                .map(|pair| {
                    let (k, v) = pair.split_once('=').expect("label=value");
                    (k.to_owned(), v.trim_matches('"').to_owned())
                })
                .collect();
            Sample {
                name: name.to_owned(),
                labels,
                value: value.parse().expect("a number"),
            }
        })
        .collect()
}

/// The value of the one sample named `name` with (at least) `labels`.
fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let found: Vec<f64> = samples(text)
        .into_iter()
        .filter(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
        .collect();
    assert!(found.len() <= 1, "{name} {labels:?} is ambiguous:\n{text}");
    found.first().copied()
}

async fn scrape(url: &str, token: Option<&str>) -> (u16, String) {
    let mut request = reqwest::Client::new().get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    (
        response.status().as_u16(),
        response.text().await.unwrap_or_default(),
    )
}

async fn login(server: &Server, password: &str) -> u16 {
    reqwest::Client::new()
        .post(format!("{}/realms/main/api/v1/password-login", server.base))
        .json(&json!({"login": "root", "password": password}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn env_with_root(store: gatehouse_store::testing::TestStore) -> Env {
    let env = Env::new(store, OIDC_REALM);
    env.ok_with(
        &["admin", "bootstrap", "--realm", "main", "root"],
        "s3cret-Password\n",
        &OIDC_SECRETS,
    );
    env
}

store_test!(
    metrics_count_logins_tokens_and_store_writes_behind_a_bearer_token,
    |store| async move {
        let env = env_with_root(store);
        let mut vars = OIDC_SECRETS.to_vec();
        vars.push(("GATEHOUSE_SERVER__METRICS__BEARER_TOKEN", TOKEN));
        let server = Server::start_with(&env, &vars).await;
        let url = format!("{}/metrics", server.base);

        assert_eq!(scrape(&url, None).await.0, 401);
        assert_eq!(
            scrape(&url, Some("metrics-scrape-token-012345678")).await.0,
            401
        );
        let ready = reqwest::get(format!("{}/readyz", server.base))
            .await
            .unwrap();
        assert_eq!(ready.status().as_u16(), 200);

        assert_eq!(login(&server, "s3cret-Password").await, 200);
        assert_eq!(login(&server, "wrong-pw").await, 401);
        let token = reqwest::Client::new()
            .post(format!("{}/realms/main/token", server.base))
            .basic_auth("service", Some("service-secret-0123456789"))
            .form(&[("grant_type", "client_credentials"), ("scope", "api")])
            .send()
            .await
            .unwrap();
        assert_eq!(token.status().as_u16(), 200);

        let (status, text) = scrape(&url, Some(TOKEN)).await;
        assert_eq!(status, 200, "{text}");
        let logins = |outcome| {
            value(
                &text,
                "gatehouse_logins_total",
                &[
                    ("realm", "main"),
                    ("provider", "local"),
                    ("outcome", outcome),
                ],
            )
        };
        assert_eq!(logins("success"), Some(1.0), "{text}");
        assert_eq!(logins("invalid_credentials"), Some(1.0), "{text}");
        let attempts = |outcome| {
            value(
                &text,
                "gatehouse_provider_attempt_duration_seconds_count",
                &[
                    ("realm", "main"),
                    ("provider", "local"),
                    ("kind", "database"),
                    ("outcome", outcome),
                ],
            )
        };
        assert_eq!(attempts("verified"), Some(1.0), "{text}");
        assert_eq!(attempts("rejected"), Some(1.0), "{text}");
        assert_eq!(
            value(
                &text,
                "gatehouse_tokens_issued_total",
                &[("realm", "main"), ("grant_type", "client_credentials")]
            ),
            Some(1.0),
            "{text}"
        );
        assert_eq!(
            value(
                &text,
                "gatehouse_store_write_duration_seconds_count",
                &[("operation", "record_login")]
            ),
            Some(2.0),
            "{text}"
        );
        assert_eq!(value(&text, "gatehouse_store_up", &[]), Some(1.0), "{text}");
        assert!(
            value(&text, "process_resident_memory_bytes", &[]).is_some_and(|v| v > 1e6),
            "{text}"
        );
        assert!(
            value(&text, "process_cpu_seconds_total", &[]).is_some(),
            "{text}"
        );
        assert!(
            value(&text, "process_open_fds", &[]).is_some_and(|v| v >= 3.0),
            "{text}"
        );
        assert!(
            value(&text, "process_start_time_seconds", &[]).is_some(),
            "{text}"
        );
        // Bounded labels: no login name, no account id.
        assert!(!text.contains("root"), "{text}");
        assert!(server.terminate().success());
    }
);

store_test!(
    metrics_are_not_on_the_main_listener_without_a_token,
    |store| async move {
        let env = env_with_root(store);
        let server = Server::start_with(&env, &OIDC_SECRETS).await;
        let (status, _) = scrape(&format!("{}/metrics", server.base), None).await;
        assert_eq!(status, 404, "the main listener faces users");
    }
);

store_test!(
    metrics_on_their_own_listen_address_only,
    |store| async move {
        let env = env_with_root(store);
        let port = free_port();
        let listen = format!("127.0.0.1:{port}");
        let mut vars = OIDC_SECRETS.to_vec();
        vars.push(("GATEHOUSE_SERVER__METRICS__LISTEN", &listen));
        let server = Server::start_with(&env, &vars).await;
        assert_eq!(login(&server, "s3cret-Password").await, 200);

        let (status, _) = scrape(&format!("{}/metrics", server.base), None).await;
        assert_eq!(status, 404, "not on the main listener");
        let (status, text) = scrape(&format!("http://{listen}/metrics"), None).await;
        assert_eq!(status, 200, "{text}");
        assert_eq!(
            value(
                &text,
                "gatehouse_logins_total",
                &[("realm", "main"), ("outcome", "success")]
            ),
            Some(1.0),
            "{text}"
        );
        assert!(server.terminate().success());
    }
);

/// The directory of the project's OpenLDAP peer (tests/run starts it).
fn ldap_url() -> String {
    std::env::var("GATEHOUSE_TEST_LDAP_URL").unwrap_or_else(|_| {
        panic!(
            "GATEHOUSE_TEST_LDAP_URL is not set: this test needs the project's OpenLDAP peer; run \
             the suite with tests/run (it starts tests/peers/slapd.sh)"
        )
    })
}

store_test!(ldap_servers_are_up_or_down_by_url, |store| async move {
    // A dead server first, then the real one: one login tries both.
    let dead = format!("ldap://127.0.0.1:{}", free_port());
    let live = ldap_url();
    let realms = include_str!("../../../fixtures/realms/ldap-mixed.toml")
        .replace("\"@LDAP_URL@\"", &format!("\"{dead}\", \"{live}\""));
    let env = Env::new(store, &realms);
    let server = Server::start_with(
        &env,
        &[
            ("GATEHOUSE_TEST_SVC_PASSWORD", "svc-pw"),
            ("GATEHOUSE_SERVER__METRICS__BEARER_TOKEN", TOKEN),
        ],
    )
    .await;
    let status = reqwest::Client::new()
        .post(format!(
            "{}/realms/corpfirst/api/v1/password-login",
            server.base
        ))
        .json(&json!({"login": "alice", "password": "wrong-pw"}))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status.as_u16(), 401);
    let (_, text) = scrape(&format!("{}/metrics", server.base), Some(TOKEN)).await;
    let up = |url: &str| value(&text, "gatehouse_ldap_server_up", &[("url", url)]);
    assert_eq!(up(&dead), Some(0.0), "{text}");
    assert_eq!(up(&live), Some(1.0), "{text}");
    assert_eq!(
        value(
            &text,
            "gatehouse_provider_attempt_duration_seconds_count",
            &[
                ("realm", "corpfirst"),
                ("provider", "corp"),
                ("kind", "ldap"),
                ("outcome", "rejected")
            ]
        ),
        Some(1.0),
        "{text}"
    );
    assert!(server.terminate().success());
});
