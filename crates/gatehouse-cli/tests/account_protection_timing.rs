//! An unknown login and a known one with a wrong password take the same time (medians within
//! ±15 %), through the real binary: the unknown one spends a dummy argon2 verification.

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use common::{Env, ONE_DATABASE_REALM, Server};
use gatehouse_store::store_test;
use serde_json::json;

const RIGHT: &str = "Abcdef1-right";

fn set_password(env: &Env, user: &str, password: &str) -> common::Run {
    env.run(
        &["user", "set-password", "--realm", "main", user],
        &format!("{password}\n"),
    )
}

struct Answer {
    status: u16,
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
    }
}

fn client_from(last: u8) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, last)))
        .build()
        .unwrap()
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

store_test!(
    an_unknown_login_takes_as_long_as_a_wrong_password,
    |store| async move {
        // Without the throttle: it would answer both at once after five failures.
        let realm = format!("{ONE_DATABASE_REALM}\n[realms.main.brute_force]\nenabled = false\n");
        let env = Env::new(store, &realm);
        env.ok(&["migrate"], "");
        env.ok(&["user", "add", "--realm", "main", "alice"], "");
        assert_eq!(set_password(&env, "alice", RIGHT).code(), 0);
        let server = Server::start(&env).await;
        let client = client_from(1);
        // Warm up both paths (connections, caches), then alternate so drift hits both alike.
        login(&client, &server, "alice", "wrong-Password1").await;
        login(&client, &server, "nobody", "wrong-Password1").await;
        // The machine is shared: a burst of someone else's work can skew one round, so up to
        // three rounds are taken and one inside the bounds is enough; a real difference (a
        // skipped verification is ~2x) fails all three.
        let mut rounds = Vec::new();
        for _ in 0..3 {
            let (mut known, mut unknown) = (Vec::new(), Vec::new());
            for _ in 0..31 {
                let t = Instant::now();
                assert_eq!(
                    login(&client, &server, "alice", "wrong-Password1")
                        .await
                        .status,
                    401
                );
                known.push(t.elapsed());
                let t = Instant::now();
                assert_eq!(
                    login(&client, &server, "nobody", "wrong-Password1")
                        .await
                        .status,
                    401
                );
                unknown.push(t.elapsed());
            }
            let (k, u) = (median(known), median(unknown));
            let ratio = u.as_secs_f64() / k.as_secs_f64();
            eprintln!("median known {k:?}, unknown {u:?}, ratio {ratio:.3}");
            rounds.push(ratio);
            if (0.85..=1.15).contains(&ratio) {
                break;
            }
        }
        let last = rounds.last().copied().unwrap_or_default();
        assert!(
            (0.85..=1.15).contains(&last),
            "unknown/known medians per round: {rounds:?}"
        );
        server.terminate();
    }
);
