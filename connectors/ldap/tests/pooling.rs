//! The connection pools against the project's real OpenLDAP: concurrent searches share service
//! connections, each answered with its own entry; user binds never share one.

mod common;

use std::sync::Arc;

use common::*;
use gatehouse_connector_ldap::LdapProvider;

const BENCH: &str = "ou=bench,dc=example,dc=org";
const LOGINS_AT_ONCE: usize = 16;

fn pooled(searches_per_connection: usize) -> Arc<LdapProvider> {
    Arc::new(provider(&settings(
        &[&url()],
        BENCH,
        "",
        &format!(
            "pool = {{ max_size = {LOGINS_AT_ONCE}, searches_per_connection = {searches_per_connection} }}"
        ),
    )))
}

/// `LOGINS_AT_ONCE` logins of different users started together, three times over; each must come
/// back as its own user.
async fn bursts(p: &Arc<LdapProvider>) {
    for round in 0..3 {
        let logins: Vec<_> = (0..LOGINS_AT_ONCE)
            .map(|i| {
                let p = p.clone();
                tokio::spawn(async move {
                    let login = format!("bench{:02}", (round * LOGINS_AT_ONCE + i) % 64);
                    let id = identity(verify(&p, &login, "bench-pw").await);
                    assert_eq!(id.username.as_deref(), Some(login.as_str()));
                    assert_eq!(
                        id.external_id,
                        Some(format!("uid={login},{BENCH}")),
                        "a search answered with another search's entry"
                    );
                })
            })
            .collect();
        for login in logins {
            login.await.unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_searches_share_service_connections_and_binds_do_not() {
    let shared = pooled(4);
    bursts(&shared).await;
    let (searching, binding) = shared.connections();
    assert!(
        (1..=LOGINS_AT_ONCE / 4).contains(&searching),
        "{LOGINS_AT_ONCE} searches at once, 4 a connection: {searching} service connections"
    );
    assert!(binding <= LOGINS_AT_ONCE, "{binding} bind connections");

    // One search a connection: the same bursts open a connection for each search in flight.
    let one_each = pooled(1);
    bursts(&one_each).await;
    let (searching, _) = one_each.connections();
    assert!(
        searching > LOGINS_AT_ONCE / 4,
        "one search a connection, yet only {searching} service connections"
    );
}

#[tokio::test]
async fn wrong_passwords_on_shared_connections_stay_rejected() {
    let p = pooled(8);
    let checks: Vec<_> = (0..LOGINS_AT_ONCE)
        .map(|i| {
            let p = p.clone();
            tokio::spawn(async move {
                let login = format!("bench{i:02}");
                let password = if i % 2 == 0 { "bench-pw" } else { "wrong" };
                (i, verify(&p, &login, password).await)
            })
        })
        .collect();
    for check in checks {
        let (i, outcome) = check.await.unwrap();
        let verified = matches!(outcome, gatehouse_core::PasswordOutcome::Verified(_));
        assert_eq!(verified, i % 2 == 0, "bench{i:02}: {outcome:?}");
    }
}
