//! HTTP routes. The only place where outcomes become status codes.

mod account;
mod account_mfa;
mod authsvc;
mod health;
mod home;
mod json_error;
mod oidc;
mod password_login;
mod peer;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::{get, post};
use tower_http::classify::ServerErrorsFailureClass;
use tower_http::trace::TraceLayer;
use tracing::Span;

use crate::app::Gatehouse;

pub use json_error::JsonError;

/// Requests to these routes are small; anything larger is refused before it is read.
const MAX_BODY_BYTES: usize = 64 * 1024;

pub fn router(gatehouse: Arc<Gatehouse>) -> Router {
    Router::new()
        .route("/", get(home::home))
        .route("/healthz", get(health::healthz))
        .route("/realms/{realm}/account", get(account::show))
        .route("/realms/{realm}/account/callback", get(account::callback))
        .route(
            "/realms/{realm}/account/logout-everywhere",
            post(account::logout_everywhere),
        )
        .route("/realms/{realm}/account/two-factor", get(account_mfa::show))
        .route(
            "/realms/{realm}/account/two-factor/totp/start",
            post(account_mfa::start),
        )
        .route(
            "/realms/{realm}/account/two-factor/totp/confirm",
            post(account_mfa::confirm),
        )
        .route(
            "/realms/{realm}/account/two-factor/totp/remove",
            post(account_mfa::remove),
        )
        .route(
            "/realms/{realm}/account/two-factor/recovery-codes",
            post(account_mfa::recovery_codes),
        )
        .route("/readyz", get(health::readyz))
        .route(
            "/realms/{realm}/api/v1/password-login",
            post(password_login::password_login),
        )
        .merge(oidc::routes())
        .merge(authsvc::routes())
        .merge(crate::metrics::router(&gatehouse))
        .layer(axum::middleware::from_fn(realm_scope))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(TraceLayer::new_for_http().on_failure(log_failure))
        .with_state(gatehouse)
}

/// tower-http's default logs every 5xx at ERROR. A 503 is a temporary refusal whose cause is
/// logged once where it starts (the store going away, a provider down), not once per request.
fn log_failure(class: ServerErrorsFailureClass, latency: Duration, _span: &Span) {
    match class {
        ServerErrorsFailureClass::StatusCode(StatusCode::SERVICE_UNAVAILABLE) => {}
        class => tracing::error!(
            classification = %class,
            latency_ms = latency.as_millis(),
            "response failed"
        ),
    }
}

/// Pages rendered while answering `/realms/{realm}/…` wear that realm's brand, whichever handler
/// renders them (`pages::in_realm`).
async fn realm_scope(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let realm = request
        .uri()
        .path()
        .strip_prefix("/realms/")
        .and_then(|rest| rest.split('/').next())
        .filter(|r| !r.is_empty())
        .map(str::to_owned);
    match realm {
        Some(realm) => crate::pages::in_realm(realm, next.run(request)).await,
        None => next.run(request).await,
    }
}
