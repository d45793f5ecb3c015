//! Outbound HTTP of the redirect connectors, through the broker's one reqwest client: the adapter
//! the `oauth2`/`openidconnect` crates send their requests through (so they need no HTTP client of
//! their own, STACK.md), and JSON GETs for profile, userinfo, discovery and JWKS documents.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use gatehouse_core::CallbackError;
use oauth2::{HttpRequest, HttpResponse};
use serde_json::{Map, Value};

/// Largest upstream answer read (token, userinfo, JWKS, discovery documents are a few KiB).
pub const MAX_BODY: usize = 1 << 20;

/// Why an HTTP exchange failed before any answer could be judged. Carries reqwest's message
/// (which names the URL, never a header or body), so no token can end up in it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HttpError(pub String);

/// The client the connectors are meant to share: certificate verification on (the platform's
/// roots), bounded connect and request times, and no redirects followed — a token or userinfo
/// endpoint that redirects is misconfigured, and following it could send a code elsewhere.
pub fn http_client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(15))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("gatehouse/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}

/// A future of [`send`] that owns what it uses.
pub type Sending = Pin<Box<dyn Future<Output = Result<HttpResponse, HttpError>> + Send>>;

/// The async HTTP client the `oauth2` and `openidconnect` crates accept: `request_async(&adapter)`.
/// Each call owns a clone of the client (an `Arc`), so the futures borrow nothing — a closure
/// borrowing the client makes the login future fail to be `Send` for every lifetime, which the
/// broker's `async_trait` methods require.
pub fn adapter(client: &reqwest::Client) -> impl Fn(HttpRequest) -> Sending + use<> {
    let client = client.clone();
    move |request| {
        let client = client.clone();
        Box::pin(async move { send(&client, request).await })
    }
}

/// Sends a request built by the `oauth2` or `openidconnect` crate.
pub async fn send(
    client: &reqwest::Client,
    request: HttpRequest,
) -> Result<HttpResponse, HttpError> {
    let (parts, body) = request.into_parts();
    let response = client
        .request(parts.method, parts.uri.to_string())
        .headers(parts.headers)
        .body(body)
        .send()
        .await
        .map_err(|e| HttpError(e.to_string()))?;
    let status = response.status();
    // RFC 6749 errors come with 400/401; a 5xx is the server failing, reported as unavailable
    // (the login may go on elsewhere) rather than as a malformed answer.
    if status.is_server_error() {
        return Err(HttpError(format!("{} answered {status}", parts.uri)));
    }
    let headers = response.headers().clone();
    let body = read_body(response).await?;
    let mut out = HttpResponse::new(body);
    *out.status_mut() = status;
    *out.headers_mut() = headers;
    Ok(out)
}

async fn read_body(mut response: reqwest::Response) -> Result<Vec<u8>, HttpError> {
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| HttpError(e.to_string()))?
    {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(HttpError(format!("answer larger than {MAX_BODY} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// GETs a JSON object, with the access token as a Bearer credential when given. `what` names the
/// document in messages ("profile_url", "userinfo"). An unreachable server or a 5xx is
/// `Unavailable`; any other non-200 answer, or one that is not a JSON object, is `Invalid`.
pub async fn get_json_object(
    client: &reqwest::Client,
    url: &str,
    access_token: Option<&str>,
    what: &str,
) -> Result<Map<String, Value>, CallbackError> {
    let mut request = client
        .get(url)
        .header(reqwest::header::ACCEPT, "application/json");
    if let Some(token) = access_token {
        request = request.bearer_auth(token);
    }
    let response = request
        .send()
        .await
        .map_err(|e| CallbackError::Unavailable(format!("{what}: {}", e.without_url())))?;
    let status = response.status();
    if status.is_server_error() {
        return Err(CallbackError::Unavailable(format!(
            "{what} answered {status}"
        )));
    }
    if !status.is_success() {
        return Err(CallbackError::Invalid(format!("{what} answered {status}")));
    }
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    if content_type.starts_with("application/jwt") {
        return Err(CallbackError::Invalid(format!(
            "{what} answered a signed JWT; only JSON answers are supported"
        )));
    }
    let body = read_body(response)
        .await
        .map_err(|e| CallbackError::Unavailable(format!("{what}: {e}")))?;
    match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(CallbackError::Invalid(format!(
            "{what} did not answer a JSON object"
        ))),
    }
}
