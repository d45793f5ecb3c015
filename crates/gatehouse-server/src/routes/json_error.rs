use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::error::{Fault, RETRY_AFTER_SECS, log_fault};

/// An error answer in the OAuth style: `{"error": code, "error_description": text}`.
#[derive(Debug)]
pub struct JsonError {
    pub status: StatusCode,
    pub code: &'static str,
    pub description: String,
}

impl JsonError {
    pub fn new(status: StatusCode, code: &'static str, description: impl Into<String>) -> Self {
        Self {
            status,
            code,
            description: description.into(),
        }
    }

    /// A fault of ours, answered without details: 503 `temporarily_unavailable` while the store
    /// is away (logged once by the store, not here), else 500 `server_error`, logged in full.
    pub fn internal(error: impl Fault) -> Self {
        log_fault(&error);
        if error.is_unavailable() {
            Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "The service is temporarily unavailable. Please try again in a moment.",
            )
        } else {
            Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "Internal error.",
            )
        }
    }
}

impl IntoResponse for JsonError {
    fn into_response(self) -> Response {
        let body = Json(json!({ "error": self.code, "error_description": self.description }));
        let mut response = (self.status, body).into_response();
        // Every 503 is temporary: a provider or the store is away.
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_static(RETRY_AFTER_SECS),
            );
        }
        response
    }
}
