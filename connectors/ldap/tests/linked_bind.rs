//! A known account linked by DN binds while its search runs: one round trip to the directory
//! instead of two, with the outcome of binding after the search. Against the project's real
//! OpenLDAP, reached through a proxy of this test's own that holds back every answer for
//! [`DELAY`], so that round trips can be counted by the clock.

mod common;

use std::time::{Duration, Instant};

use common::*;
use gatehouse_core::PasswordOutcome;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const DELAY: Duration = Duration::from_millis(300);
const ALICE_DN: &str = "uid=alice,ou=people,dc=example,dc=org";
const BOB_DN: &str = "uid=bob,ou=people,dc=example,dc=org";

/// Forwards connections to `upstream`; each byte the server sends reaches the client `DELAY` after
/// it arrived. A line of constant latency, not a pause per read: slapd may write one answer in
/// two pieces (a search's entry, then its result), and a pause after each piece would count one
/// round trip twice.
async fn delaying_proxy(upstream: String) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ldap://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let upstream = upstream.clone();
            tokio::spawn(async move {
                let Ok(server) = TcpStream::connect(&upstream).await else {
                    return;
                };
                let (mut client_read, mut client_write) = client.into_split();
                let (mut server_read, mut server_write) = server.into_split();
                tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut client_read, &mut server_write).await;
                });
                let (pieces, mut delayed) = tokio::sync::mpsc::unbounded_channel();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 16 * 1024];
                    while let Ok(n @ 1..) = server_read.read(&mut buf).await {
                        if pieces.send((Instant::now(), buf[..n].to_vec())).is_err() {
                            break;
                        }
                    }
                });
                while let Some((arrived, piece)) = delayed.recv().await {
                    tokio::time::sleep_until((arrived + DELAY).into()).await;
                    if client_write.write_all(&piece).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    url
}

async fn timed(
    outcome: impl std::future::Future<Output = PasswordOutcome>,
) -> (PasswordOutcome, Duration) {
    let started = Instant::now();
    let outcome = outcome.await;
    (outcome, started.elapsed())
}

#[tokio::test]
async fn a_login_linked_by_dn_takes_one_round_trip_and_an_unlinked_one_two() {
    let upstream = url();
    let proxy = delaying_proxy(upstream.trim_start_matches("ldap://").to_owned()).await;
    let p = provider(&settings(&[&proxy], PEOPLE, "", "timeout_ms = 5000\n"));
    // Opens the service connection and a bind connection, so the logins below find both pooled.
    assert!(matches!(
        verify(&p, "alice", "alice-pw").await,
        PasswordOutcome::Verified(_)
    ));

    let (outcome, unlinked) = timed(verify(&p, "alice", "alice-pw")).await;
    assert!(matches!(outcome, PasswordOutcome::Verified(_)));
    assert!(
        unlinked >= 2 * DELAY,
        "a search, then a bind: two delayed answers ({unlinked:?})"
    );

    let (outcome, linked) = timed(verify_linked(&p, "alice", "alice-pw", ALICE_DN)).await;
    assert!(
        matches!(outcome, PasswordOutcome::Verified(_)),
        "{outcome:?}"
    );
    assert!(
        linked < DELAY + DELAY / 2,
        "the bind should run while the search does: {linked:?} for one delayed answer of {DELAY:?}"
    );
}

#[tokio::test]
async fn a_bind_made_with_the_search_counts_only_for_the_entry_the_search_finds() {
    let p = people();
    // Wrong password for the linked entry itself.
    assert_eq!(
        verify_linked(&p, "alice", "wrong", ALICE_DN).await,
        PasswordOutcome::Rejected
    );
    // Bob's password is right for the DN the account is linked to, but the login names alice's
    // entry: the successful bind must not verify this login.
    assert_eq!(
        verify_linked(&p, "alice", "bob-pw", BOB_DN).await,
        PasswordOutcome::Rejected
    );
    // A login the search does not find at all, though the linked DN and password are right.
    assert_eq!(
        verify_linked(&p, "nobody-here", "bob-pw", BOB_DN).await,
        PasswordOutcome::Rejected
    );
    // The linked entry's own login, in another case: verified, as by a bind after the search.
    let identity = identity(verify_linked(&p, "Alice", "alice-pw", &ALICE_DN.to_uppercase()).await);
    assert_eq!(identity.external_id.as_deref(), Some(ALICE_DN));
}
