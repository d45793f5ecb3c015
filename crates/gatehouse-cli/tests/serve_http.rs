//! `gatehouse serve` as a process: health, readiness, the password-login API, graceful shutdown.

mod common;

use common::{Env, ONE_DATABASE_REALM, Server};
use gatehouse_store::store_test;
use serde_json::{Value, json};

async fn post_login(
    client: &reqwest::Client,
    server: &Server,
    realm: &str,
    body: Value,
) -> (u16, Value) {
    let response = client
        .post(format!(
            "{}/realms/{realm}/api/v1/password-login",
            server.base
        ))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

store_test!(
    password_login_api_answers_success_and_one_generic_refusal,
    |store| async move {
        let env = Env::new(store, ONE_DATABASE_REALM);
        env.ok(
            &["admin", "bootstrap", "--realm", "main", "root"],
            "S3cret-pw-long-enough\n",
        );
        let server = Server::start_with(
            &env,
            &[
                ("GATEHOUSE_SERVER__LOG_FORMAT", "json"),
                ("GATEHOUSE_LOG", "info"),
            ],
        )
        .await;
        let client = reqwest::Client::new();

        let ready = client
            .get(format!("{}/readyz", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(ready.status().as_u16(), 200);

        let (status, body) = post_login(
            &client,
            &server,
            "main",
            json!({"login": " ROOT ", "password": "S3cret-pw-long-enough"}),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        // The documented shape, every key present (absent values as null).
        let id = body["account"]["id"].as_str().expect("an account id");
        assert_eq!(
            id.split('-').map(str::len).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert_eq!(
            body,
            json!({
                "account": {
                    "id": id,
                    "username": "root",
                    "email": null,
                    "name": null,
                    "roles": ["admin"],
                    "groups": [],
                },
                "provider": "local",
            })
        );
        assert!(body.to_string().find("s3cret").is_none());

        let (wrong_status, wrong) = post_login(
            &client,
            &server,
            "main",
            json!({"login": "root", "password": "nope"}),
        )
        .await;
        let (unknown_status, unknown) = post_login(
            &client,
            &server,
            "main",
            json!({"login": "ghost", "password": "nope"}),
        )
        .await;
        assert_eq!(wrong_status, 401);
        assert_eq!(unknown_status, 401);
        assert_eq!(
            wrong, unknown,
            "a wrong password and an unknown user must look the same"
        );
        assert_eq!(wrong["error"], "invalid_credentials");

        let (status, body) = post_login(
            &client,
            &server,
            "nowhere",
            json!({"login": "root", "password": "x"}),
        )
        .await;
        assert_eq!(status, 404, "{body}");
        let (status, body) = post_login(&client, &server, "main", json!({"login": "root"})).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"], "invalid_request");

        let log_path = server.log.clone();
        let status = server.terminate();
        assert!(
            status.success(),
            "serve should exit cleanly on SIGTERM: {status:?}"
        );

        // JSON logs: one object a line, a record per provider attempt, never a password.
        let logs = std::fs::read_to_string(log_path).unwrap();
        assert!(
            !logs.contains("S3cret-pw-long-enough") && !logs.contains("nope"),
            "{logs}"
        );
        let events: Vec<Value> = logs
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect();
        let attempts: Vec<&Value> = events
            .iter()
            .filter(|e| e["message"] == "provider attempt")
            .collect();
        assert_eq!(attempts.len(), 2, "{logs}");
        assert_eq!(attempts[0]["provider"], "local");
        assert_eq!(attempts[0]["outcome"], "verified");
        assert_eq!(attempts[1]["outcome"], "rejected");
        assert!(attempts[0]["duration_ms"].as_f64().is_some(), "{logs}");
        assert!(
            events
                .iter()
                .any(|e| e["message"] == "login resolved" && e["span"]["outcome"] == "success"),
            "{logs}"
        );
    }
);

#[tokio::test]
async fn serve_creates_the_sqlite_store_on_first_start() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("fresh.db");
    let config = dir.path().join("gatehouse.toml");
    std::fs::write(
        &config,
        format!(
            "[store]\nurl = \"sqlite://{}?mode=rwc\"\n{ONE_DATABASE_REALM}",
            db.display()
        ),
    )
    .unwrap();
    assert!(!db.exists());
    let env = Env {
        dir,
        config,
        store: gatehouse_store::testing::sqlite_store().await,
    };
    let server = Server::start(&env).await;
    assert!(db.exists(), "the SQLite file is created by serve");
    let ready = reqwest::get(format!("{}/readyz", server.base))
        .await
        .unwrap();
    assert_eq!(ready.status().as_u16(), 200);
    assert!(server.terminate().success());
}
