use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use gatehouse_store::READY_CHECK_LIMIT;

use crate::app::Gatehouse;

/// The process is up.
pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// The process can serve: the store answers within [`READY_CHECK_LIMIT`], so a load balancer
/// probing with a 1 s timeout always gets an answer. The outcome also feeds the store's
/// availability (which logs when it changes, not here per probe).
pub async fn readyz(State(gatehouse): State<Arc<Gatehouse>>) -> (StatusCode, Json<Value>) {
    let checked = gatehouse.store.check(READY_CHECK_LIMIT).await;
    crate::metrics::store_up(checked.is_ok());
    match checked {
        Ok(()) => (StatusCode::OK, Json(json!({ "status": "ready" }))),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "unavailable", "reason": "store unreachable" })),
        ),
    }
}
