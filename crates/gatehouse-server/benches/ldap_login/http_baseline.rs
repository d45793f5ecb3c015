//! The HTTP endpoint's own baseline: the raw ldap3 search + bind behind the smallest axum
//! endpoint that takes the same JSON body, on persistent connections, driven by the same client.
//! Against it, the Gatehouse endpoint's ratio is what Gatehouse adds to a login that arrives over
//! HTTP; against raw ldap3 alone, it also counts HTTP itself (both ends of it, on the cores slapd
//! uses), which no broker avoids.

use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use ldap3::Ldap;
use serde::Deserialize;

use crate::{open_pair, search_and_bind};

#[derive(Deserialize)]
struct Body {
    login: String,
    password: String,
}

/// Idle (search, bind) connection pairs: each request takes one, or opens one when none is idle.
struct Pairs {
    url: String,
    idle: Mutex<Vec<(Ldap, Ldap)>>,
}

async fn login(State(pairs): State<Arc<Pairs>>, Json(body): Json<Body>) -> StatusCode {
    let idle = pairs.idle.lock().expect("pairs").pop();
    let (mut search, mut bind) = match idle {
        Some(pair) => pair,
        None => open_pair(&pairs.url).await,
    };
    let ok = search_and_bind(&mut search, &mut bind, &body.login, &body.password).await;
    pairs.idle.lock().expect("pairs").push((search, bind));
    if ok {
        StatusCode::OK
    } else {
        StatusCode::UNAUTHORIZED
    }
}

/// Serves the baseline on loopback with `c` connection pairs opened up front; its URL, and the
/// sender that stops it.
pub async fn start(url: &str, c: usize) -> (String, tokio::sync::oneshot::Sender<()>) {
    let pairs = Arc::new(Pairs {
        url: url.to_owned(),
        idle: Mutex::new(Vec::new()),
    });
    for _ in 0..c {
        let pair = open_pair(url).await;
        pairs.idle.lock().expect("pairs").push(pair);
    }
    let app = axum::Router::new()
        .route("/login", post(login))
        .with_state(pairs);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = format!("http://{}/login", listener.local_addr().expect("addr"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
            .expect("serve");
    });
    (address, stop)
}
