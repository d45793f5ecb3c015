//! Account protection (issue #24) through the real binary: the password policy and history of
//! `user set-password`, brute-force counters shared by two `gatehouse serve` instances on one
//! store, account+IP keying, `user show` / `user unlock`. The timing of refusals is in
//! `account_protection_timing.rs`, a binary of its own so that no other test loads the cores.

mod common;

use std::net::{IpAddr, Ipv4Addr};

use common::{Env, ONE_DATABASE_REALM, Server};
use gatehouse_store::store_test;
use serde_json::{Value, json};

const RIGHT: &str = "Abcdef1-right";

/// A client whose connections come from `127.0.0.{last}` (the whole 127/8 is loopback).
fn client_from(last: u8) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, last)))
        .build()
        .unwrap()
}

struct Answer {
    status: u16,
    retry_after: Option<u64>,
    body: Value,
}

async fn login(client: &reqwest::Client, server: &Server, user: &str, password: &str) -> Answer {
    let response = client
        .post(format!("{}/realms/main/api/v1/password-login", server.base))
        .json(&json!({"login": user, "password": password}))
        .send()
        .await
        .unwrap();
    Answer {
        status: response.status().as_u16(),
        retry_after: response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok()),
        body: response.json().await.unwrap_or(Value::Null),
    }
}

fn set_password(env: &Env, user: &str, password: &str) -> common::Run {
    env.run(
        &["user", "set-password", "--realm", "main", user],
        &format!("{password}\n"),
    )
}

store_test!(
    set_password_applies_the_seed_policy_and_the_history,
    |store| async move {
        let env = Env::new(store, ONE_DATABASE_REALM);
        env.ok(&["migrate"], "");
        env.ok(&["user", "add", "--realm", "main", "alice"], "");
        for (refused, rule) in [
            ("abcdefg1", "password_policy.pattern"),
            ("ABCDEFG1", "password_policy.pattern"),
            ("Abcdefg", "password_policy.pattern"),
            ("Ab1", "password_policy.min_length"),
        ] {
            let run = set_password(&env, "alice", refused);
            assert_ne!(run.code(), 0, "{refused} was accepted");
            assert!(run.stderr().contains(rule), "{refused}: {}", run.all());
            assert!(
                !run.all().contains(refused),
                "the password was echoed: {}",
                run.all()
            );
        }
        assert_eq!(set_password(&env, "alice", "Abcdef1").code(), 0);
        for i in 2..=5 {
            let run = set_password(&env, "alice", &format!("Abcdef{i}"));
            assert_eq!(run.code(), 0, "{}", run.all());
        }
        // Abcdef1 is now the 5th-last password: refused. After one more, it is the 6th-last.
        let reused = set_password(&env, "alice", "Abcdef1");
        assert_ne!(reused.code(), 0);
        assert!(
            reused.stderr().contains("password_policy.history"),
            "{}",
            reused.all()
        );
        assert_eq!(set_password(&env, "alice", "Abcdef6").code(), 0);
        let again = set_password(&env, "alice", "Abcdef1");
        assert_eq!(again.code(), 0, "{}", again.all());
        let audit = env.ok(&["audit", "--realm", "main", "--json"], "");
        assert!(audit.contains("password_change"), "{audit}");
    }
);

store_test!(
    two_instances_share_the_counters_keyed_by_account_and_ip,
    |store| async move {
        let env = Env::new(store, ONE_DATABASE_REALM);
        env.ok(&["migrate"], "");
        env.ok(&["user", "add", "--realm", "main", "alice"], "");
        assert_eq!(set_password(&env, "alice", RIGHT).code(), 0);
        let a = Server::start(&env).await;
        let b = Server::start(&env).await;
        let first = client_from(1);
        let second = client_from(2);

        let mut answers = Vec::new();
        for _ in 0..20 {
            answers.push(login(&first, &a, "alice", "wrong-Password1").await);
        }
        assert!(
            answers.iter().all(|x| x.status == 401),
            "a wrong password was not 401"
        );
        let bodies: Vec<&Value> = answers.iter().map(|x| &x.body).collect();
        assert!(bodies.windows(2).all(|w| w[0] == w[1]), "{bodies:?}");
        assert!(answers[..5].iter().all(|x| x.retry_after.is_none()));
        assert!(answers[19].retry_after.is_some());

        // The right password on the other instance, from the same IP: delayed, not accepted,
        // in the very words of a wrong one.
        let delayed = login(&first, &b, "alice", RIGHT).await;
        assert_eq!(delayed.status, 401);
        assert_eq!(delayed.body, answers[0].body);
        assert!(delayed.retry_after.is_some_and(|s| s >= 1));

        // From another IP the owner is not held back by the first one's failures.
        let other = login(&second, &b, "alice", RIGHT).await;
        assert_eq!(other.status, 200, "{}", other.body);

        // A throttled unknown login answers as a throttled known one (interleaved, so both are
        // well into their growing delays).
        for _ in 0..10 {
            login(&first, &a, "nobody", "wrong-Password1").await;
            login(&first, &a, "alice", "wrong-Password1").await;
        }
        let unknown = login(&first, &b, "nobody", "wrong-Password1").await;
        let known = login(&first, &b, "alice", "wrong-Password1").await;
        assert_eq!((unknown.status, &unknown.body), (known.status, &known.body));
        assert!(unknown.retry_after.is_some() && known.retry_after.is_some());

        let shown = env.ok(&["user", "show", "--realm", "main", "alice"], "");
        assert!(
            shown.contains("password") && shown.contains("from 127.0.0.1"),
            "{shown}"
        );
        let audit = env.ok(
            &[
                "audit",
                "--realm",
                "main",
                "--result",
                "throttled",
                "--json",
            ],
            "",
        );
        assert!(audit.contains("127.0.0.1"), "{audit}");

        let unlocked = env.ok(&["user", "unlock", "--realm", "main", "alice"], "");
        assert!(unlocked.contains("unlocked alice"), "{unlocked}");
        let shown = env.ok(&["user", "show", "--realm", "main", "alice"], "");
        assert!(shown.contains("not locked, no recent failures"), "{shown}");
        let back = login(&first, &a, "alice", RIGHT).await;
        assert_eq!(back.status, 200, "{}", back.body);
        a.terminate();
        b.terminate();
    }
);
