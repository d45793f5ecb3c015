//! `GET /metrics`: only on `server.metrics.listen` when that is set; else on the main listener,
//! and there only behind `server.metrics.bearer_token`: the main listener faces users, and the
//! figures (realms, providers, failure rates) are not theirs to read.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use subtle::ConstantTimeEq;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::app::Gatehouse;
use crate::error::ServerError;

/// The `/metrics` route, for the main router (empty when metrics are off or served elsewhere).
pub fn router(gatehouse: &Gatehouse) -> Router<Arc<Gatehouse>> {
    let settings = &gatehouse.config.server.metrics;
    if gatehouse.metrics.enabled() && settings.listen.is_none() && settings.bearer_token.is_some() {
        Router::new().route("/metrics", get(metrics))
    } else {
        Router::new()
    }
}

/// Binds `server.metrics.listen` when set and serves `/metrics` there until the task is aborted.
pub async fn spawn_listener(
    gatehouse: &Arc<Gatehouse>,
) -> Result<Option<JoinHandle<()>>, ServerError> {
    let settings = &gatehouse.config.server.metrics;
    let Some(addr) = settings.listen.clone() else {
        if gatehouse.metrics.enabled() && settings.bearer_token.is_none() {
            tracing::info!(
                "/metrics is not served: set server.metrics.listen or server.metrics.bearer_token"
            );
        }
        return Ok(None);
    };
    if !gatehouse.metrics.enabled() {
        return Ok(None);
    }
    let listener = TcpListener::bind(&addr)
        .await
        .map_err(|source| ServerError::Listen {
            addr: addr.clone(),
            source,
        })?;
    let local = listener.local_addr().map_err(ServerError::Serve)?;
    tracing::info!(listen = %local, "serving /metrics");
    let app = Router::new()
        .route("/metrics", get(metrics))
        .with_state(gatehouse.clone());
    Ok(Some(tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "the /metrics listener stopped");
        }
    })))
}

async fn metrics(State(gatehouse): State<Arc<Gatehouse>>, headers: HeaderMap) -> Response {
    if let Some(token) = &gatehouse.config.server.metrics.bearer_token
        && !bearer_matches(&headers, token.expose())
    {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer realm=\"metrics\"")],
            "a bearer token is required\n",
        )
            .into_response();
    }
    match gatehouse.metrics.render() {
        Some(text) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// `Authorization: Bearer <token>`, compared in constant time. Digests are compared so that not
/// even the token's length shows in the timing.
fn bearer_matches(headers: &HeaderMap, expected: &str) -> bool {
    use aws_lc_rs::digest::{SHA256, digest};
    let Some(given) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
    else {
        return false;
    };
    let (given, expected) = (
        digest(&SHA256, given.trim().as_bytes()),
        digest(&SHA256, expected.as_bytes()),
    );
    given.as_ref().ct_eq(expected.as_ref()).into()
}

#[cfg(test)]
mod tests {
    use axum::http::{HeaderMap, HeaderValue, header};

    use super::bearer_matches;

    fn with(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn only_the_exact_bearer_token_opens_metrics() {
        assert!(bearer_matches(&with("Bearer s3cret"), "s3cret"));
        assert!(!bearer_matches(&with("Bearer s3cre"), "s3cret"));
        assert!(!bearer_matches(&with("Bearer s3cretX"), "s3cret"));
        assert!(!bearer_matches(&with("Basic s3cret"), "s3cret"));
        assert!(!bearer_matches(&HeaderMap::new(), "s3cret"));
    }
}
