//! The REST flow: `POST /realms/R/apiauthsvc/policy/{id}` (or `/apiauthsvc?PolicyId={id}`)
//! starts a flow; posting `{"state_id", "fields" | "choice"}` continues it. Every answer that
//! expects another request carries a new `state_id`; the one presented is dead.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use gatehouse_core::CoreError;
use gatehouse_core::auth::wire::FlowRequest;
use gatehouse_core::auth::{Answer, Completed, FlowContext, FlowStart};
use gatehouse_oidc::{GrantType, pkce};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{CodeRequest, Established, Origin, establish, note_abandoned};
use crate::app::{Gatehouse, RealmRuntime};
use crate::flows::RealmFlows;
use crate::routes::JsonError;
use crate::routes::oidc::http::{SESSION_COOKIE, get, no_store, query_pairs, set_cookie};
use crate::routes::peer::{Peer, ip};

/// What a client may send to start a flow: nothing, or a first-party app's code request.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StartRequest {
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    redirect_uri: Option<String>,
    #[serde(default)]
    code_challenge: Option<String>,
    #[serde(default)]
    code_challenge_method: Option<String>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    nonce: Option<String>,
}

pub async fn by_path(
    State(g): State<Arc<Gatehouse>>,
    Path((realm, policy)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    peer: Peer,
    body: Bytes,
) -> Response {
    let request = Request {
        realm: &realm,
        policy: Some(policy),
        query: query.as_deref(),
        headers: &headers,
        peer: &peer,
        body: &body,
    };
    answer(&g, request)
        .await
        .unwrap_or_else(|e| e.into_response())
}

pub async fn by_query(
    State(g): State<Arc<Gatehouse>>,
    Path(realm): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    peer: Peer,
    body: Bytes,
) -> Response {
    let request = Request {
        realm: &realm,
        policy: None,
        query: query.as_deref(),
        headers: &headers,
        peer: &peer,
        body: &body,
    };
    answer(&g, request)
        .await
        .unwrap_or_else(|e| e.into_response())
}

struct Request<'a> {
    realm: &'a str,
    /// From the path (`/policy/{id}`).
    policy: Option<String>,
    query: Option<&'a str>,
    headers: &'a HeaderMap,
    peer: &'a Peer,
    body: &'a Bytes,
}

fn bad(description: impl Into<String>) -> JsonError {
    JsonError::new(StatusCode::BAD_REQUEST, "invalid_request", description)
}

/// A seed-style id (`urn:ibm:security:authentication:asf:totp`) names the policy after its last
/// colon; policy ids never contain one.
pub(super) fn policy_id(raw: &str) -> String {
    raw.rsplit(':').next().unwrap_or(raw).to_owned()
}

async fn answer(g: &Gatehouse, request: Request<'_>) -> Result<Response, JsonError> {
    let (Ok(runtime), Some(flows)) = (g.realm(request.realm), g.flows.realm(request.realm)) else {
        return Err(JsonError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "No such realm.",
        ));
    };
    let mut body = json_body(request.headers, request.body)?;
    let params = query_pairs(request.query);
    if let (Some(state), Some(object)) = (get(&params, "StateId"), body.as_object_mut()) {
        object
            .entry("state_id")
            .or_insert_with(|| Value::String(state.to_owned()));
    }
    let now = Utc::now();
    let result = if body.get("state_id").is_some() {
        let continued: FlowRequest = serde_json::from_value(body).map_err(|e| {
            bad(format!(
                "expected {{\"state_id\": \"…\", \"fields\": {{…}}}} or {{\"state_id\": \"…\", \"choice\": \"…\"}}: {e}"
            ))
        })?;
        let (state, input) = continued.into_input();
        let result = flows.engine.submit(&state, input, now).await;
        if let Err(e) = &result {
            note_abandoned(g, request.realm, e, Some(&state)).await;
        }
        result
    } else {
        let policy = match (request.policy, get(&params, "PolicyId")) {
            (Some(policy), _) => policy,
            (None, Some(policy)) if flows.authsvc.query_kickoff() => policy_id(policy),
            (None, Some(_)) => {
                return Err(JsonError::new(
                    StatusCode::FORBIDDEN,
                    "kickoff_disabled",
                    format!(
                        "this realm starts policies only by their path: POST /realms/{}/apiauthsvc/policy/{{id}}",
                        request.realm
                    ),
                ));
            }
            (None, None) => {
                return Err(bad(
                    "name the policy (/apiauthsvc/policy/{id} or ?PolicyId={id}), or continue a flow with its state_id",
                ));
            }
        };
        let start: StartRequest = serde_json::from_value(body).map_err(|e| {
            bad(format!(
                "a flow starts with an empty body, or a first-party app's client_id, redirect_uri, code_challenge, code_challenge_method (S256), scope and nonce: {e}"
            ))
        })?;
        let origin = origin_for(runtime, flows, start, ip(request.peer))?;
        let context = FlowContext {
            origin: gatehouse_core::LoginOrigin {
                client: origin.client_id.clone(),
                ip: origin.ip.clone(),
            },
            client: serde_json::to_value(origin).map_err(JsonError::internal)?,
            ..FlowContext::default()
        };
        flows
            .engine
            .start(
                &policy,
                FlowStart {
                    context,
                    ..FlowStart::default()
                },
                now,
            )
            .await
    };
    match result {
        Ok(Answer::Success(done)) => success(runtime, &done).await,
        Ok(answer) => Ok(reply(StatusCode::OK, &answer.to_wire())),
        Err(CoreError::Flow(refusal)) => {
            let status = match refusal {
                gatehouse_core::auth::FlowRefusal::UnknownPolicy => StatusCode::NOT_FOUND,
                _ => StatusCode::BAD_REQUEST,
            };
            Ok(reply(status, &refusal.to_wire()))
        }
        Err(e) => Err(JsonError::internal(e)),
    }
}

/// The body as a JSON object; an empty body is an empty object. Only `application/json` is
/// read, so a cross-site form cannot post into a flow without a CORS preflight.
fn json_body(headers: &HeaderMap, body: &Bytes) -> Result<Value, JsonError> {
    if body.is_empty() {
        return Ok(json!({}));
    }
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return Err(JsonError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "invalid_request",
            "send the body as application/json",
        ));
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| bad(format!("the body is not valid JSON: {e}")))?;
    if !value.is_object() {
        return Err(bad("the body must be a JSON object"));
    }
    Ok(value)
}

/// A first-party app's code request, checked as `/authorize` checks one: a client of
/// `first_party_clients`, an exactly registered redirect URI, PKCE with S256, allowed scopes.
fn origin_for(
    runtime: &RealmRuntime,
    flows: &RealmFlows,
    start: StartRequest,
    ip: Option<String>,
) -> Result<Origin, JsonError> {
    let mut origin = Origin {
        transport: "rest".to_owned(),
        ip,
        ..Origin::default()
    };
    let Some(client_id) = start.client_id else {
        if start.redirect_uri.is_some() || start.code_challenge.is_some() || start.scope.is_some() {
            return Err(bad("an authorization code needs the client_id it is for"));
        }
        return Ok(origin);
    };
    let unauthorized = || {
        JsonError::new(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            format!(
                "client `{client_id}` may not take codes from this flow; send the user through /authorize"
            ),
        )
    };
    if !flows.authsvc.first_party_clients.contains(&client_id) {
        return Err(unauthorized());
    }
    let client = runtime
        .oidc
        .clients
        .get(&client_id)
        .ok_or_else(unauthorized)?;
    if !client.allows(GrantType::AuthorizationCode) {
        return Err(unauthorized());
    }
    let redirect_uri = start
        .redirect_uri
        .ok_or_else(|| bad("redirect_uri is missing"))?;
    if !client.has_redirect_uri(&redirect_uri) {
        return Err(bad("redirect_uri is not registered for this client"));
    }
    let code_challenge = start.code_challenge.ok_or_else(|| {
        bad("PKCE is required: send code_challenge with code_challenge_method=S256")
    })?;
    if start.code_challenge_method.as_deref() != Some("S256") {
        return Err(bad("code_challenge_method=S256 is required"));
    }
    if !pkce::well_formed(&code_challenge) {
        return Err(bad("code_challenge is malformed"));
    }
    let scope = match start.scope {
        Some(scope) => {
            let mut scopes: Vec<&str> = Vec::new();
            for s in scope.split(' ').filter(|s| !s.is_empty()) {
                if !client.allows_scope(s) {
                    return Err(JsonError::new(
                        StatusCode::BAD_REQUEST,
                        "invalid_scope",
                        format!("scope `{s}` is not allowed for this client"),
                    ));
                }
                if !scopes.contains(&s) {
                    scopes.push(s);
                }
            }
            scopes.join(" ")
        }
        None => client
            .settings
            .scopes
            .iter()
            .filter(|s| *s != "offline_access")
            .cloned()
            .collect::<Vec<_>>()
            .join(" "),
    };
    origin.client_id = Some(client_id);
    origin.code = Some(CodeRequest {
        redirect_uri,
        code_challenge,
        scope,
        nonce: start.nonce,
    });
    Ok(origin)
}

async fn success(runtime: &RealmRuntime, done: &Completed) -> Result<Response, JsonError> {
    let established = establish(runtime, done)
        .await
        .map_err(JsonError::internal)?;
    let mut body = serde_json::to_value(Answer::Success(Box::new(done.clone())).to_wire())
        .map_err(JsonError::internal)?;
    if let Some(object) = body.as_object_mut() {
        object.insert("sub".into(), json!(done.account.id));
        object.insert("username".into(), json!(done.account.username));
        if let Established::Code { code, redirect_uri } = &established {
            object.insert("authorization_code".into(), json!(code));
            object.insert("redirect_uri".into(), json!(redirect_uri));
        }
    }
    let mut response = reply(StatusCode::OK, &body);
    if let Established::Session(cookie) = &established {
        let oidc = &runtime.oidc;
        response.headers_mut().append(
            header::SET_COOKIE,
            set_cookie(oidc, SESSION_COOKIE, cookie, oidc.tokens.session_s),
        );
    }
    Ok(response)
}

fn reply(status: StatusCode, body: &impl serde::Serialize) -> Response {
    (status, no_store(), Json(body)).into_response()
}
