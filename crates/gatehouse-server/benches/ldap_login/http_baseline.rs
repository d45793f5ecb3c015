//! The HTTP endpoint's own baselines: the smallest axum endpoint that takes the same JSON body,
//! driven by the same client, in front of the raw ldap3 search + bind on persistent connections
//! ([`start`]), or in front of Gatehouse's resolver ([`start_resolver`]). Against the first, the
//! Gatehouse endpoint's ratio is what Gatehouse adds to a login that arrives over HTTP; against
//! raw ldap3 alone, it also counts HTTP itself (both ends of it, on the cores slapd uses), which
//! no broker avoids. The second tells the resolver's share of that from the endpoint's (routing,
//! tracing layer, the answer's JSON).

use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use gatehouse_core::Secret;
use gatehouse_server::Gatehouse;
use ldap3::Ldap;
use serde::Deserialize;

use crate::support::serve::{self, Server};
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

/// Serves the raw baseline (`POST /login`) on loopback with `c` connection pairs opened up front.
pub async fn start(url: &str, c: usize) -> Server {
    let pairs = Arc::new(Pairs {
        url: url.to_owned(),
        idle: Mutex::new(Vec::new()),
    });
    for _ in 0..c {
        let pair = open_pair(url).await;
        pairs.idle.lock().expect("pairs").push(pair);
    }
    serve::bare(
        axum::Router::new()
            .route("/login", post(login))
            .with_state(pairs),
    )
    .await
}

async fn login_resolver(
    State(gatehouse): State<Arc<Gatehouse>>,
    Json(body): Json<Body>,
) -> StatusCode {
    let resolver = &gatehouse.realm("main").expect("realm").resolver;
    let result = resolver
        .resolve(&body.login, &Secret::new(body.password))
        .await;
    if result.expect("resolve").is_success() {
        StatusCode::OK
    } else {
        StatusCode::UNAUTHORIZED
    }
}

/// Serves Gatehouse's resolver for realm `main` behind the same minimal endpoint.
pub async fn start_resolver(gatehouse: Arc<Gatehouse>) -> Server {
    serve::bare(
        axum::Router::new()
            .route("/login", post(login_resolver))
            .with_state(gatehouse),
    )
    .await
}
