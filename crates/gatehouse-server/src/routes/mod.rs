//! HTTP routes. The only place where outcomes become status codes.

mod health;
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
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route(
            "/realms/{realm}/api/v1/password-login",
            post(password_login::password_login),
        )
        .merge(oidc::routes())
        .merge(crate::metrics::router(&gatehouse))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(TraceLayer::new_for_http())
        .with_state(gatehouse)
}
