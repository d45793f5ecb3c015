//! The audit trail end to end, on SQLite and PostgreSQL: logins through `gatehouse serve` are
//! plain `audit_event` rows that the database's own shell (`sqlite3`, `psql`) and `gatehouse
//! audit` both read; an acknowledged login's row survives `kill -9`; and an account disabled
//! through one process is refused at once by an instance on the same database.

mod common;

use std::process::Command;

use common::{Env, ONE_DATABASE_REALM, Server};
use gatehouse_store::store_test;
use gatehouse_store::testing::TestStore;
use serde_json::{Value, json};

const PASSWORD: &str = "s3cret-Password";

/// The README's example query for `store`'s backend, run by the backend's own shell: one line a
/// row, `login|result|providers tried`.
fn shell_query(store: &TestStore, sql: &str) -> Vec<String> {
    let output = match store.schema() {
        None => {
            let url = store.url();
            let path = url
                .trim_start_matches("sqlite://")
                .split('?')
                .next()
                .unwrap()
                .to_owned();
            Command::new("sqlite3").arg(&path).arg(sql).output()
        }
        Some(schema) => {
            let base = std::env::var(gatehouse_store::testing::PG_URL_ENV)
                .unwrap_or_else(|_| gatehouse_store::testing::DEFAULT_PG_URL.to_owned());
            Command::new("psql")
                .args([&base, "-X", "-q", "-A", "-t", "-c"])
                .arg(format!("SET search_path TO \"{schema}\"; {sql}"))
                .output()
        }
    }
    .expect("the database shell (tests/setup.sh installs sqlite3 and postgresql-client)");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

async fn login(client: &reqwest::Client, server: &Server, user: &str, password: &str) -> u16 {
    client
        .post(format!("{}/realms/main/api/v1/password-login", server.base))
        .json(&json!({"login": user, "password": password}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn bootstrap(store: TestStore) -> Env {
    // Counted here are audit rows: the brute-force defence would answer the repeated wrong and
    // unknown logins `throttled` (docs/account-protection.md), so it is off.
    let realm = format!("{ONE_DATABASE_REALM}\n[realms.main.brute_force]\nenabled = false\n");
    let env = Env::new(store, &realm);
    env.ok(
        &["admin", "bootstrap", "--realm", "main", "root"],
        &format!("{PASSWORD}\n"),
    );
    env
}

store_test!(
    a_hundred_logins_are_a_hundred_rows_for_sql_and_gatehouse_audit,
    |store| async move {
        let env = bootstrap(store);
        let server = Server::start(&env).await;
        let client = reqwest::Client::new();
        let mut accepted = 0;
        for i in 0..100 {
            // Every fourth one with a wrong password, every tenth by an unknown login.
            let (user, password) = match i {
                i if i % 10 == 9 => ("nobody", PASSWORD),
                i if i % 4 == 3 => ("Root", "wrong"),
                _ => ("root", PASSWORD),
            };
            let status = login(&client, &server, user, password).await;
            accepted += usize::from(status == 200);
        }
        assert_eq!(accepted, 70);

        // The README's query.
        let rows = shell_query(
            &env.store,
            "SELECT login, result, attempts FROM audit_event \
             WHERE realm = 'main' AND kind = 'password_login' ORDER BY at DESC, id DESC",
        );
        assert_eq!(rows.len(), 100, "{rows:#?}");
        let count = |prefix: &str| rows.iter().filter(|r| r.starts_with(prefix)).count();
        assert_eq!(count("root|success|"), 70);
        assert_eq!(count("root|invalid_credentials|"), 20);
        assert_eq!(count("nobody|invalid_credentials|"), 10);
        assert!(
            rows.iter()
                .filter(|r| r.starts_with("root|"))
                .all(|r| r.contains("\"provider\":\"local\"")),
            "the providers tried, as JSON: {rows:#?}"
        );

        let audit = |args: &[&str]| -> Vec<Value> {
            let mut all = vec!["audit", "--realm", "main", "--json"];
            if !args.contains(&"--limit") {
                all.extend(["--limit", "1000"]);
            }
            all.extend_from_slice(args);
            env.ok(&all, "")
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect()
        };
        let events = audit(&[]);
        assert_eq!(events.len(), 100);
        assert!(events.iter().all(|e| e["kind"] == "password_login"));
        assert_eq!(events[1]["login"], "root");
        assert_eq!(events[1]["attempts"][0]["provider"], "local");
        assert_eq!(
            audit(&["--result", "invalid_credentials"]).len(),
            30,
            "by result"
        );
        let root = audit(&["--login", " ROOT "]);
        assert_eq!(root.len(), 90, "by login, normalised as the realm does");
        let id = root[0]["account_id"].as_str().unwrap().to_owned();
        assert_eq!(audit(&["--account", &id]).len(), 90, "by account");
        assert_eq!(audit(&["--since", "1h"]).len(), 100);
        assert_eq!(
            audit(&["--since", "2000-01-01T00:00:00Z", "--limit", "7"]).len(),
            7
        );
        let table = env.ok(&["audit", "--realm", "main", "--limit", "3"], "");
        assert_eq!(table.lines().count(), 3, "{table}");
        assert!(table.contains("local:"), "{table}");
        let bad = env.run(&["audit", "--realm", "main", "--since", "yesterday"], "");
        assert_ne!(bad.code(), 0);
        assert!(bad.stderr().contains("--since"), "{}", bad.all());
    }
);

store_test!(an_acknowledged_login_survives_kill_9, |store| async move {
    let env = bootstrap(store);
    let mut server = Server::start(&env).await;
    let client = reqwest::Client::new();
    // Concurrent, so that logins share commits.
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let client = client.clone();
            let url = format!("{}/realms/main/api/v1/password-login", server.base);
            tokio::spawn(async move {
                let password = if i % 2 == 0 { PASSWORD } else { "wrong" };
                client
                    .post(url)
                    .json(&json!({"login": "root", "password": password}))
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
            })
        })
        .collect();
    let mut answered = 0;
    for t in tasks {
        let status = t.await.unwrap().unwrap();
        assert!(status == 200 || status == 401, "{status}");
        answered += 1;
    }
    // SIGKILL at once: no shutdown, no flush.
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    let rows = shell_query(
        &env.store,
        "SELECT login, result FROM audit_event WHERE realm = 'main' AND kind = 'password_login'",
    );
    assert_eq!(rows.len(), answered);
    let stats = shell_query(
        &env.store,
        "SELECT success_count, failure_count FROM login_stat",
    );
    assert_eq!(stats, ["20|20"]);
});

store_test!(
    an_account_disabled_through_one_process_is_refused_at_once_by_another,
    |store| async move {
        let env = bootstrap(store);
        env.ok(&["user", "add", "--realm", "main", "alice"], "");
        env.ok(
            &["user", "set-password", "--realm", "main", "alice"],
            &format!("{PASSWORD}\n"),
        );
        let (a, b) = (Server::start(&env).await, Server::start(&env).await);
        let client = reqwest::Client::new();
        let alice = env
            .store
            .find_account("main", "alice")
            .await
            .unwrap()
            .unwrap()
            .account
            .id;
        let mut accepted_while_disabled = 0;
        for round in 0..50 {
            // Both instances have just looked alice up.
            assert_eq!(
                login(&client, &a, "alice", PASSWORD).await,
                200,
                "round {round}"
            );
            assert_eq!(
                login(&client, &b, "alice", PASSWORD).await,
                200,
                "round {round}"
            );
            // Disabled through one process (the CLI every other round, else through instance
            // a's store's database directly), then at once a login on instance b.
            if round % 2 == 0 {
                env.ok(&["user", "disable", "--realm", "main", "alice"], "");
            } else {
                env.store
                    .set_disabled(alice, Some("off".into()))
                    .await
                    .unwrap();
            }
            if login(&client, &b, "alice", PASSWORD).await == 200 {
                accepted_while_disabled += 1;
            }
            env.store.set_disabled(alice, None).await.unwrap();
        }
        assert_eq!(accepted_while_disabled, 0);
        let refused = env.ok(
            &[
                "audit",
                "--realm",
                "main",
                "--login",
                "alice",
                "--result",
                "account_disabled",
                "--limit",
                "100",
            ],
            "",
        );
        assert_eq!(refused.lines().count(), 50, "{refused}");
    }
);
