//! What every answer gets, whichever route gave it: security headers, a body-read deadline, and
//! "too large" in the route's own language (the JSON error shape on the JSON endpoints, the
//! themed error page on the browser's).

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use tower_http::timeout::RequestBodyDeadlineLayer;

use crate::app::Gatehouse;
use crate::routes::JsonError;

/// Two years, the HSTS preload lists' minimum; a deployment that moves off https must not be
/// served from the broker's host name anyway.
const HSTS: &str = "max-age=63072000";

pub fn wrap(router: Router, gatehouse: &Arc<Gatehouse>) -> Router {
    let body = Duration::from_secs(gatehouse.config.server.body_read_timeout_s);
    router
        .layer(axum::middleware::from_fn_with_state(
            gatehouse.clone(),
            answer,
        ))
        // A total for the whole body, not a gap between its chunks: a client trickling one byte
        // at a time must not hold its connection for longer either.
        .layer(RequestBodyDeadlineLayer::new(body))
}

async fn answer(State(g): State<Arc<Gatehouse>>, request: Request, next: Next) -> Response {
    let json = is_json_route(request.uri().path());
    let mut response = next.run(request).await;
    if response.status() == StatusCode::PAYLOAD_TOO_LARGE {
        if !is_json(&response) {
            response = too_large(&g, json);
        }
        // The rest of the body was never read, so this connection can't carry another request;
        // saying so keeps a client from pooling it and sending its next request into the close.
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    let headers = response.headers_mut();
    headers
        .entry(header::X_CONTENT_TYPE_OPTIONS)
        .or_insert(HeaderValue::from_static("nosniff"));
    // The same as the pages' meta tag: URLs here carry codes, states and login transactions.
    headers
        .entry(header::REFERRER_POLICY)
        .or_insert(HeaderValue::from_static("no-referrer"));
    if g.config.server.public_url.starts_with("https://") {
        headers
            .entry(header::STRICT_TRANSPORT_SECURITY)
            .or_insert(HeaderValue::from_static(HSTS));
    }
    response
}

/// The endpoints whose clients are programs reading JSON; every other route is a browser's.
pub fn is_json_route(path: &str) -> bool {
    const JSON_ENDPOINTS: [&str; 5] = ["/token", "/introspect", "/revoke", "/userinfo", "/jwks"];
    path.contains("/api/")
        || path.contains("/.well-known/")
        || JSON_ENDPOINTS.iter().any(|e| path.ends_with(e))
        || matches!(path, "/healthz" | "/readyz")
}

fn is_json(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

fn too_large(g: &Gatehouse, json: bool) -> Response {
    let message = "The request is larger than this address accepts.";
    if json {
        return JsonError::new(StatusCode::PAYLOAD_TOO_LARGE, "invalid_request", message)
            .into_response();
    }
    let html = g.pages.render(
        "error.html",
        minijinja::context! { message, code => "request_too_large" },
    );
    // The headers of every page (routes::oidc::http::page).
    (
        StatusCode::PAYLOAD_TOO_LARGE,
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::X_FRAME_OPTIONS, "DENY"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
            ),
        ],
        Html(html),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::is_json_route;

    #[test]
    fn json_routes_are_the_programs_ones() {
        for path in [
            "/realms/main/token",
            "/realms/main/api/v1/password-login",
            "/realms/main/.well-known/openid-configuration",
            "/realms/main/userinfo",
        ] {
            assert!(is_json_route(path), "{path}");
        }
        for path in [
            "/realms/main/login",
            "/realms/main/authorize",
            "/realms/main/logout",
        ] {
            assert!(!is_json_route(path), "{path}");
        }
    }
}
