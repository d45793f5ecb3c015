//! HTTP routes. The only place where outcomes become status codes.

mod account;
mod health;
mod home;
mod json_error;
mod oidc;
mod password_login;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use tower_http::trace::TraceLayer;

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
        .route("/readyz", get(health::readyz))
        .route(
            "/realms/{realm}/api/v1/password-login",
            post(password_login::password_login),
        )
        .merge(oidc::routes())
        .layer(axum::middleware::from_fn(realm_scope))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(TraceLayer::new_for_http())
        .with_state(gatehouse)
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
