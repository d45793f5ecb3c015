//! Several directory servers: a dead or silent first URL, a server stopped mid-run, and a server
//! killed under load. The servers that die are slapd instances of the tests' own.

mod common;
#[path = "../../../crates/gatehouse-cli/tests/common/port.rs"]
mod port;

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::*;
use gatehouse_core::PasswordOutcome;

/// A loopback port nothing listens on (connections are refused).
fn refused_url() -> String {
    format!("ldap://127.0.0.1:{}", port::free_port())
}

fn verified(outcome: &PasswordOutcome) -> bool {
    matches!(outcome, PasswordOutcome::Verified(_))
}

#[tokio::test]
async fn a_refused_first_url_fails_over_to_the_next() {
    let p = provider(&settings(&[&refused_url(), &url()], PEOPLE, "", ""));
    for _ in 0..3 {
        assert!(verified(&verify(&p, "alice", "alice-pw").await));
    }
    assert_eq!(
        verify(&p, "alice", "wrong").await,
        PasswordOutcome::Rejected
    );
}

#[tokio::test]
async fn a_silent_first_server_times_out_and_is_then_skipped() {
    // Accepts connections (the kernel completes the handshake) but never answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_url = format!("ldap://{}", silent.local_addr().unwrap());
    let p = provider(&settings(
        &[&silent_url, &url()],
        PEOPLE,
        "",
        "timeout_ms = 300\nbackoff_s = 60",
    ));
    let started = Instant::now();
    assert!(verified(&verify(&p, "alice", "alice-pw").await));
    assert!(started.elapsed() >= Duration::from_millis(300));
    // Backed off: the next logins go straight to the second server.
    let started = Instant::now();
    for _ in 0..5 {
        assert!(verified(&verify(&p, "bob", "bob-pw").await));
    }
    assert!(
        started.elapsed() < Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn every_server_down_is_unavailable() {
    let p = provider(&settings(&[&refused_url(), &refused_url()], PEOPLE, "", ""));
    match verify(&p, "alice", "alice-pw").await {
        PasswordOutcome::Unavailable(why) => assert!(why.contains("no directory server"), "{why}"),
        other => panic!("expected unavailable, got {other:?}"),
    }
    // Both are backed off now: the answer comes at once.
    match verify(&p, "alice", "alice-pw").await {
        PasswordOutcome::Unavailable(why) => assert!(why.contains("backed off"), "{why}"),
        other => panic!("expected unavailable, got {other:?}"),
    }
}

#[tokio::test]
async fn a_directory_stopped_mid_run() {
    let doomed = Slapd::start(&format!("stopped{}", std::process::id()));
    let alone = provider(&settings(&[&doomed.url()], PEOPLE, "", ""));
    let with_standby = provider(&settings(&[&doomed.url(), &url()], PEOPLE, "", ""));
    for p in [&alone, &with_standby] {
        // Leaves pooled connections to the doomed server behind.
        assert!(verified(&verify(p, "alice", "alice-pw").await));
    }
    doomed.stop();
    // Its pooled connections are dead: retried on the standby, not reported as a failure.
    assert!(verified(&verify(&with_standby, "alice", "alice-pw").await));
    assert_eq!(
        verify(&with_standby, "alice", "wrong").await,
        PasswordOutcome::Rejected
    );
    assert!(matches!(
        verify(&alone, "alice", "alice-pw").await,
        PasswordOutcome::Unavailable(_)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_first_server_under_load_loses_no_login() {
    let first = Slapd::start(&format!("killed{}", std::process::id()));
    let p = Arc::new(provider(&settings(
        &[&first.url(), &url()],
        PEOPLE,
        "",
        "pool = { max_size = 8 }",
    )));
    let ok = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(3);
    let workers: Vec<_> = (0..16)
        .map(|i| {
            let (p, ok, failed) = (p.clone(), ok.clone(), failed.clone());
            tokio::spawn(async move {
                let (login, password) = [("alice", "alice-pw"), ("bob", "bob-pw")][i % 2];
                while Instant::now() < deadline {
                    match verify(&p, login, password).await {
                        PasswordOutcome::Verified(_) => ok.fetch_add(1, Ordering::Relaxed),
                        other => {
                            eprintln!("lost login: {other:?}");
                            failed.fetch_add(1, Ordering::Relaxed)
                        }
                    };
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = ok.load(Ordering::Relaxed);
    first.kill();
    for w in workers {
        w.await.unwrap();
    }
    let (ok, failed) = (ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    assert!(
        before > 0 && ok > before,
        "ok {ok}, before the kill {before}"
    );
    assert_eq!(failed, 0, "{failed} logins lost of {}", ok + failed);
}
