//! HTTP details shared by the OpenID provider's routes: forms, cookies, error answers, pages.

use axum::Json;
use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use gatehouse_oidc::{ErrorCode, OAuthError, OidcProvider};
use serde_json::json;

use crate::error::{Fault, RETRY_AFTER_SECS, log_fault};
use crate::pages::Pages;

pub const SESSION_COOKIE: &str = "gatehouse_session";
pub const CSRF_COOKIE: &str = "gatehouse_csrf";

/// `application/x-www-form-urlencoded` pairs, in order, repeats kept (so they can be refused).
pub fn form_pairs(body: &Bytes) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

pub fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    form_pairs(&Bytes::copy_from_slice(query.unwrap_or("").as_bytes()))
}

pub fn get<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// HttpOnly, SameSite=Lax, this realm's path, Secure when the public URL is https. `max_age` 0
/// deletes the cookie.
pub fn set_cookie(provider: &OidcProvider, name: &str, value: &str, max_age: u64) -> HeaderValue {
    let secure = if provider.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    let text = format!(
        "{name}={value}; Path={}; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}",
        provider.cookie_path()
    );
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

pub fn authorization(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
}

/// RFC 6749 §5.2 JSON error; `invalid_client` after Basic authentication carries the challenge.
pub fn oauth_error(error: &OAuthError, headers: &HeaderMap) -> Response {
    let status = StatusCode::from_u16(error.code.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
    let body =
        Json(json!({ "error": error.code.as_str(), "error_description": error.description }));
    let mut response = (status, no_store(), body).into_response();
    if error.code == ErrorCode::TemporarilyUnavailable {
        response.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from_static(RETRY_AFTER_SECS),
        );
    }
    if error.code == ErrorCode::InvalidClient && authorization(headers).is_some() {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"gatehouse\""),
        );
    }
    response
}

pub fn no_store() -> [(header::HeaderName, &'static str); 2] {
    [
        (header::CACHE_CONTROL, "no-store"),
        (header::PRAGMA, "no-cache"),
    ]
}

/// An HTML page that no one may frame or cache.
pub fn page(status: StatusCode, html: String) -> Response {
    (
        status,
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::X_FRAME_OPTIONS, "DENY"),
            (
                header::CONTENT_SECURITY_POLICY,
                // Images from anywhere: a realm's `logo_url` (an image runs nothing).
                "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' http: https: data:; frame-ancestors 'none'",
            ),
        ],
        Html(html),
    )
        .into_response()
}

pub fn error_page(
    pages: &Pages,
    status: StatusCode,
    message: &str,
    code: Option<&str>,
) -> Response {
    page(
        status,
        pages.render("error.html", minijinja::context! { message, code }),
    )
}

/// A page whose only script submits a form of hidden `fields` to `action` at once (the button is
/// there for browsers without JavaScript). The script runs by its nonce; nothing else may run.
pub fn auto_post_page(pages: &Pages, action: &str, fields: &[(String, String)]) -> Response {
    let nonce = gatehouse_oidc::crypto::random_token();
    let fields: Vec<_> = fields
        .iter()
        .map(|(name, value)| minijinja::context! { name, value })
        .collect();
    let html = pages.render(
        "form_post.html",
        minijinja::context! { action, fields, nonce => &nonce },
    );
    let csp = format!(
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' http: https: data:; script-src 'nonce-{nonce}'; frame-ancestors 'none'"
    );
    let mut response = page(StatusCode::OK, html);
    if let Ok(value) = HeaderValue::from_str(&csp) {
        response
            .headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, value);
    }
    response
}

pub fn see_other(location: &str) -> Response {
    Redirect::to(location).into_response()
}

/// A fault of ours on a browser route: the themed "try again" page (503, `Retry-After`).
pub fn internal_page(pages: &Pages, error: impl Fault) -> Response {
    log_fault(&error);
    let mut response = error_page(
        pages,
        StatusCode::SERVICE_UNAVAILABLE,
        "The service is temporarily unavailable. Please try again in a moment.",
        None,
    );
    response.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from_static(RETRY_AFTER_SECS),
    );
    response
}
