//! Token, userinfo, introspection and revocation: JSON endpoints for relying parties.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use gatehouse_oidc::{ErrorCode, OAuthError};

use super::http::{authorization, form_pairs, get, no_store, oauth_error};
use crate::app::Gatehouse;

fn no_realm(headers: &HeaderMap) -> Response {
    oauth_error(&OAuthError::invalid_request("no such realm"), headers)
}

/// Form posts only (RFC 6749 §3.2).
fn require_form(headers: &HeaderMap) -> Result<(), OAuthError> {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if is_form {
        Ok(())
    } else {
        Err(OAuthError::invalid_request(
            "the body must be application/x-www-form-urlencoded",
        ))
    }
}

/// The three form-posting endpoints of relying parties.
enum FormEndpoint {
    Token,
    Introspect,
    Revoke,
}

pub async fn token(
    State(g): State<Arc<Gatehouse>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    form_endpoint(&g, &name, &headers, &body, FormEndpoint::Token).await
}

pub async fn introspect(
    State(g): State<Arc<Gatehouse>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    form_endpoint(&g, &name, &headers, &body, FormEndpoint::Introspect).await
}

pub async fn revoke(
    State(g): State<Arc<Gatehouse>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    form_endpoint(&g, &name, &headers, &body, FormEndpoint::Revoke).await
}

async fn form_endpoint(
    g: &Gatehouse,
    name: &str,
    headers: &HeaderMap,
    body: &Bytes,
    endpoint: FormEndpoint,
) -> Response {
    let Ok(runtime) = g.realm(name) else {
        return no_realm(headers);
    };
    if let Err(e) = require_form(headers) {
        return oauth_error(&e, headers);
    }
    let (oidc, auth, form) = (&runtime.oidc, authorization(headers), form_pairs(body));
    let answer = match endpoint {
        FormEndpoint::Token => {
            let grant = get(&form, "grant_type").map(str::to_owned);
            let tokens = oidc.token(auth, form, &runtime.resolver).await;
            if tokens.is_ok() {
                crate::metrics::token_issued(name, grant.as_deref());
            }
            tokens.map(|tokens| Json(tokens).into_response())
        }
        FormEndpoint::Introspect => oidc
            .introspect(auth, form)
            .await
            .map(|answer| Json(answer).into_response()),
        FormEndpoint::Revoke => oidc
            .revoke(auth, form)
            .await
            .map(|()| StatusCode::OK.into_response()),
    };
    match answer {
        Ok(mut response) => {
            for (name, value) in no_store() {
                response
                    .headers_mut()
                    .insert(name, HeaderValue::from_static(value));
            }
            response
        }
        Err(e) => oauth_error(&e, headers),
    }
}

pub async fn userinfo_get(
    State(g): State<Arc<Gatehouse>>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    userinfo(&g, &name, &headers, None).await
}

pub async fn userinfo_post(
    State(g): State<Arc<Gatehouse>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = form_pairs(&body);
    userinfo(&g, &name, &headers, get(&form, "access_token")).await
}

/// RFC 6750: the header, or (POST) the form field, not both.
async fn userinfo(
    g: &Gatehouse,
    name: &str,
    headers: &HeaderMap,
    form_token: Option<&str>,
) -> Response {
    let Ok(runtime) = g.realm(name) else {
        return no_realm(headers);
    };
    let header_token = authorization(headers).and_then(|h| {
        h.strip_prefix("Bearer ")
            .or_else(|| h.strip_prefix("bearer "))
            .map(str::trim)
    });
    let token = match (header_token, form_token) {
        (Some(_), Some(_)) => {
            return bearer_error(&OAuthError::invalid_request("send the token once"));
        }
        (Some(t), None) | (None, Some(t)) => Some(t),
        (None, None) => None,
    };
    match runtime.oidc.userinfo(token).await {
        Ok(claims) => (no_store(), Json(claims)).into_response(),
        Err(e) => bearer_error(&e),
    }
}

fn bearer_error(error: &OAuthError) -> Response {
    if error.code == ErrorCode::TemporarilyUnavailable {
        return oauth_error(error, &HeaderMap::new());
    }
    let status = match error.code {
        ErrorCode::InvalidToken => StatusCode::UNAUTHORIZED,
        ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    };
    let challenge = format!(
        "Bearer error=\"{}\", error_description=\"{}\"",
        error.code.as_str(),
        error.description.replace('"', "'")
    );
    let mut response = (
        status,
        Json(serde_json::json!({ "error": error.code.as_str(), "error_description": error.description })),
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    response
}
