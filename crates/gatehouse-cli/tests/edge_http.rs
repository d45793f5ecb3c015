//! The HTTP edge of `gatehouse serve`: slow clients are cut off by the `[server]` timeouts, the
//! connection cap holds, every answer carries the security headers, and a body over the limit is
//! refused with 413 in the route's own language.

mod common;

use std::time::{Duration, Instant};

use common::{Env, ONE_DATABASE_REALM, Server};
use gatehouse_store::testing::sqlite_store;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const HEADER_S: u64 = 2;
const BODY_S: u64 = 2;
const KEEP_ALIVE_S: u64 = 4;
/// What a debug build on a loaded machine may add to a timeout before the socket is closed.
const SLACK: Duration = Duration::from_secs(3);

fn short_timeouts() -> Vec<(&'static str, String)> {
    vec![
        (
            "GATEHOUSE_SERVER__HEADER_READ_TIMEOUT_S",
            HEADER_S.to_string(),
        ),
        ("GATEHOUSE_SERVER__BODY_READ_TIMEOUT_S", BODY_S.to_string()),
        (
            "GATEHOUSE_SERVER__KEEP_ALIVE_TIMEOUT_S",
            KEEP_ALIVE_S.to_string(),
        ),
    ]
}

fn vars<'a>(owned: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    owned.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

fn addr(server: &Server) -> String {
    server.base.trim_start_matches("http://").to_owned()
}

/// Resident memory of the process, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// Reads until the server closes the socket; false if it is still open at `deadline`.
async fn closed_by(mut socket: TcpStream, deadline: Instant) -> bool {
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, socket.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
}

async fn healthz_ms(server: &Server) -> u128 {
    let started = Instant::now();
    let response = reqwest::get(format!("{}/healthz", server.base))
        .await
        .unwrap();
    assert!(response.status().is_success());
    started.elapsed().as_millis()
}

#[tokio::test]
async fn slow_clients_are_closed_within_the_timeouts_and_healthz_stays_fast() {
    let env = Env::new(sqlite_store().await, ONE_DATABASE_REALM);
    let owned = short_timeouts();
    let server = Server::start_with(&env, &vars(&owned)).await;
    let pid = server.child.id();
    for _ in 0..20 {
        healthz_ms(&server).await;
    }
    let before = rss_kib(pid);

    // 100 sockets stop in the middle of their headers, 100 send a body shorter than their
    // Content-Length.
    let opened = Instant::now();
    let mut half_headers = Vec::new();
    let mut short_bodies = Vec::new();
    for i in 0..200 {
        let mut socket = TcpStream::connect(addr(&server)).await.unwrap();
        if i % 2 == 0 {
            socket
                .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
                .await
                .unwrap();
            half_headers.push(socket);
        } else {
            socket
                .write_all(
                    b"POST /realms/main/api/v1/password-login HTTP/1.1\r\nHost: 127.0.0.1\r\n\
                      Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"login\":",
                )
                .await
                .unwrap();
            short_bodies.push(socket);
        }
    }

    // Meanwhile, the server answers others at once.
    for _ in 0..5 {
        let ms = healthz_ms(&server).await;
        assert!(ms < 1000, "/healthz took {ms} ms beside 200 slow sockets");
    }

    let header_deadline = opened + Duration::from_secs(HEADER_S) + SLACK;
    let body_deadline = opened + Duration::from_secs(BODY_S) + SLACK;
    let mut waits = Vec::new();
    for socket in half_headers {
        waits.push(tokio::spawn(closed_by(socket, header_deadline)));
    }
    for socket in short_bodies {
        waits.push(tokio::spawn(closed_by(socket, body_deadline)));
    }
    let mut open = 0;
    for wait in waits {
        if !wait.await.unwrap() {
            open += 1;
        }
    }
    assert_eq!(
        open,
        0,
        "{open} of 200 slow sockets were still open {} s after they stalled",
        (Duration::from_secs(HEADER_S.max(BODY_S)) + SLACK).as_secs()
    );
    assert!(healthz_ms(&server).await < 1000);

    // The memory they held is given back.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = rss_kib(pid);
    assert!(
        after * 100 <= before * 120,
        "RSS went from {before} KiB to {after} KiB after the slow sockets closed"
    );
}

#[tokio::test]
async fn an_idle_kept_alive_connection_is_closed_after_the_keep_alive_timeout() {
    let env = Env::new(sqlite_store().await, ONE_DATABASE_REALM);
    let owned = short_timeouts();
    let server = Server::start_with(&env, &vars(&owned)).await;
    let mut socket = TcpStream::connect(addr(&server)).await.unwrap();
    socket
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = socket.read(&mut buf).await.unwrap();
    assert!(
        String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );
    let answered = Instant::now();
    // Past the first request's header timeout, a kept-alive connection is still served...
    tokio::time::sleep(Duration::from_secs(HEADER_S) + Duration::from_millis(500)).await;
    socket
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let n = socket.read(&mut buf).await.unwrap();
    assert!(
        String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"),
        "the kept-alive connection was closed before keep_alive_timeout_s"
    );
    let answered_again = Instant::now();
    // ...and closed once it has idled for keep_alive_timeout_s.
    assert!(
        closed_by(
            socket,
            answered_again + Duration::from_secs(KEEP_ALIVE_S) + SLACK
        )
        .await,
        "an idle connection stayed open for more than {KEEP_ALIVE_S} s"
    );
    assert!(answered.elapsed() >= Duration::from_secs(KEEP_ALIVE_S));
}

#[tokio::test]
async fn connections_beyond_max_connections_wait_for_a_free_one() {
    let env = Env::new(sqlite_store().await, ONE_DATABASE_REALM);
    let mut owned = short_timeouts();
    owned.push(("GATEHOUSE_SERVER__MAX_CONNECTIONS", "4".into()));
    let server = Server::start_with(&env, &vars(&owned)).await;
    // Four connections that say nothing take every permit...
    let mut idle = Vec::new();
    for _ in 0..4 {
        idle.push(TcpStream::connect(addr(&server)).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(800))
        .build()
        .unwrap();
    let refused = client.get(format!("{}/healthz", server.base)).send().await;
    assert!(
        refused.is_err(),
        "a fifth connection was served while four held every permit"
    );
    // ...until the header timeout drops them.
    tokio::time::sleep(Duration::from_secs(HEADER_S) + Duration::from_secs(1)).await;
    let served = reqwest::get(format!("{}/healthz", server.base))
        .await
        .unwrap();
    assert!(served.status().is_success());
    drop(idle);
}

fn assert_security_headers(response: &reqwest::Response, hsts: bool, what: &str) {
    let headers = response.headers();
    assert_eq!(
        headers
            .get("x-content-type-options")
            .and_then(|v| v.to_str().ok()),
        Some("nosniff"),
        "{what}: {headers:?}"
    );
    assert_eq!(
        headers.get("referrer-policy").and_then(|v| v.to_str().ok()),
        Some("no-referrer"),
        "{what}: {headers:?}"
    );
    let sts = headers
        .get("strict-transport-security")
        .and_then(|v| v.to_str().ok());
    if hsts {
        assert!(
            sts.is_some_and(|v| v.starts_with("max-age=")),
            "{what}: {headers:?}"
        );
    } else {
        assert_eq!(sts, None, "{what}: HSTS on an http public URL");
    }
}

#[tokio::test]
async fn every_answer_carries_the_security_headers_and_hsts_follows_the_public_url() {
    let env = Env::new(sqlite_store().await, ONE_DATABASE_REALM);
    for (public_url, hsts) in [("http://127.0.0.1", false), ("https://login.example", true)] {
        let server =
            Server::start_with(&env, &[("GATEHOUSE_SERVER__PUBLIC_URL", public_url)]).await;
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let base = &server.base;
        let answers = [
            ("healthz", client.get(format!("{base}/healthz"))),
            (
                "discovery (JSON)",
                client.get(format!(
                    "{base}/realms/main/.well-known/openid-configuration"
                )),
            ),
            (
                "login page without a transaction (HTML error)",
                client.get(format!("{base}/realms/main/login?tx=nope")),
            ),
            (
                "authorize without parameters (HTML error)",
                client.get(format!("{base}/realms/main/authorize")),
            ),
            (
                "token without a client (JSON error)",
                client
                    .post(format!("{base}/realms/main/token"))
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body("grant_type=authorization_code"),
            ),
            (
                "an unknown path",
                client.get(format!("{base}/nothing-here")),
            ),
        ];
        for (what, request) in answers {
            let response = request.send().await.unwrap();
            assert_security_headers(&response, hsts, what);
        }
        drop(server);
    }
}

#[tokio::test]
async fn a_body_over_the_limit_is_413_in_json_or_as_the_error_page() {
    let env = Env::new(sqlite_store().await, ONE_DATABASE_REALM);
    let server = Server::start(&env).await;
    let base = &server.base;
    let client = reqwest::Client::new();
    let big = "x".repeat(200 * 1024);

    // The JSON API and the OAuth endpoints: the JSON error shape.
    let json_body = format!(r#"{{"login":"{big}","password":"p"}}"#);
    for (what, request) in [
        (
            "password-login",
            client
                .post(format!("{base}/realms/main/api/v1/password-login"))
                .header("content-type", "application/json")
                .body(json_body),
        ),
        (
            "token",
            client
                .post(format!("{base}/realms/main/token"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(format!("grant_type={big}")),
        ),
    ] {
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), 413, "{what}");
        assert_security_headers(&response, false, what);
        // The unread rest of the body ends the connection; a client must not pool it.
        assert_eq!(response.headers()["connection"], "close", "{what}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_request", "{what}: {body}");
        assert!(body["error_description"].is_string(), "{what}: {body}");
    }

    // A browser's form: the themed error page.
    let response = client
        .post(format!("{base}/realms/main/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("username={big}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 413);
    assert_security_headers(&response, false, "login form");
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    let page = response.text().await.unwrap();
    assert!(
        page.contains("<html") && page.contains("larger than this address accepts"),
        "{page}"
    );
}
