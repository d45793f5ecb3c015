use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::app::Gatehouse;

/// The process is up.
pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// The process can serve: the store answers.
pub async fn readyz(State(gatehouse): State<Arc<Gatehouse>>) -> (StatusCode, Json<Value>) {
    let ping = gatehouse.store.ping().await;
    crate::metrics::store_up(ping.is_ok());
    match ping {
        Ok(()) => (StatusCode::OK, Json(json!({ "status": "ready" }))),
        Err(e) => {
            tracing::warn!(error = %e, "store not reachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "unavailable", "reason": "store unreachable" })),
            )
        }
    }
}
