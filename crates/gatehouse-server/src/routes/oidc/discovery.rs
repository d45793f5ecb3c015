use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::http::internal_page;
use crate::app::Gatehouse;
use crate::routes::JsonError;

/// OpenID Connect Discovery and RFC 8414 metadata (the same document).
pub async fn configuration(State(g): State<Arc<Gatehouse>>, Path(realm): Path<String>) -> Response {
    match g.realm(&realm) {
        Ok(r) => (
            [(header::CACHE_CONTROL, "public, max-age=300")],
            Json(r.oidc.discovery().clone()),
        )
            .into_response(),
        Err(_) => {
            JsonError::new(StatusCode::NOT_FOUND, "not_found", "No such realm.").into_response()
        }
    }
}

pub async fn jwks(State(g): State<Arc<Gatehouse>>, Path(realm): Path<String>) -> Response {
    let Ok(r) = g.realm(&realm) else {
        return JsonError::new(StatusCode::NOT_FOUND, "not_found", "No such realm.")
            .into_response();
    };
    match r.oidc.jwks().await {
        // Short cache: a rotation must reach relying parties within minutes.
        Ok(set) => ([(header::CACHE_CONTROL, "public, max-age=60")], Json(set)).into_response(),
        Err(e) => internal_page(&g.pages, e),
    }
}
