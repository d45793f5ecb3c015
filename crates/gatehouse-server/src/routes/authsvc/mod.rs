//! The two transports of the policy engine (issue #20, point 4), under the realm:
//! - the web flow, `/authsvc/policy/{id}` and `/authsvc?PolicyId={id}` (`web`): each step a page;
//! - the REST flow, `/apiauthsvc/policy/{id}` and `/apiauthsvc?PolicyId={id}` (`rest`): JSON.
//!
//! Both start flows, hand the user's inputs to the engine with the state id of the last answer,
//! and translate its answers. What a success becomes (a browser session, or an authorization
//! code for a first-party app) is decided here, in `establish`.

mod rest;
mod web;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use chrono::Utc;
use gatehouse_core::CoreError;
use gatehouse_core::auth::{Completed, FlowRefusal, FlowReport, StateId};
use gatehouse_oidc::{AuthorizeRequest, OidcError};
use serde::{Deserialize, Serialize};

use crate::app::{Gatehouse, RealmRuntime};

pub fn routes() -> Router<Arc<Gatehouse>> {
    Router::new()
        .route(
            "/realms/{realm}/authsvc/policy/{policy}",
            get(web::show_by_path).post(web::submit_by_path),
        )
        .route(
            "/realms/{realm}/authsvc",
            get(web::show_by_query).post(web::submit_by_query),
        )
        .route(
            "/realms/{realm}/apiauthsvc/policy/{policy}",
            post(rest::by_path),
        )
        .route("/realms/{realm}/apiauthsvc", post(rest::by_query))
}

/// What the transport keeps in the flow (`FlowContext::client`, server side) for its end.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Origin {
    /// `web` or `rest`.
    transport: String,
    /// The first-party client a code is for (also the audit event's `client`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    code: Option<CodeRequest>,
}

/// A first-party app's request for an authorization code at the end of the flow, checked as
/// `/authorize` checks it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct CodeRequest {
    redirect_uri: String,
    code_challenge: String,
    scope: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    nonce: Option<String>,
}

impl Origin {
    fn of(done: &Completed) -> Origin {
        serde_json::from_value(done.context.client.clone()).unwrap_or_default()
    }
}

/// What a successful flow became.
enum Established {
    /// The browser session: its cookie value.
    Session(String),
    /// An authorization code for the first-party app, redeemed at `/token` as usual.
    Code { code: String, redirect_uri: String },
}

/// Session, and for a first-party app its code. The session records each mechanism the flow
/// passed and the level it reached, with their times (step-up reads them).
async fn establish(runtime: &RealmRuntime, done: &Completed) -> Result<Established, OidcError> {
    let origin = Origin::of(done);
    let oidc = &runtime.oidc;
    let created = oidc
        .open_session(gatehouse_oidc::SessionGrant::from_completed(done, None))
        .await?;
    let Some(code) = origin.code else {
        return Ok(Established::Session(created.cookie));
    };
    let client_id = origin.client_id.unwrap_or_default();
    let redirect_uri = code.redirect_uri.clone();
    let request = AuthorizeRequest {
        client_id,
        redirect_uri: code.redirect_uri.clone(),
        scope: code.scope,
        state: None,
        nonce: code.nonce,
        code_challenge: Some(code.code_challenge),
        prompt: None,
        max_age: None,
        login_hint: None,
        acr_values: vec![done.acr.clone()],
        acr_essential: false,
    };
    let location = oidc.issue_code(&request, &created.session).await?;
    let code = url::Url::parse(&location)
        .ok()
        .and_then(|u| {
            u.query_pairs()
                .find(|(k, _)| k == "code")
                .map(|(_, v)| v.into_owned())
        })
        .ok_or_else(|| OidcError::Config("the issued code is missing from its redirect".into()))?;
    Ok(Established::Code { code, redirect_uri })
}

/// A refused state id may name a flow that expired unfinished: it is reported (abandoned) now
/// rather than at the next sweep. The refusal itself stands.
async fn note_abandoned(g: &Gatehouse, realm: &str, error: &CoreError, state: Option<&StateId>) {
    let (CoreError::Flow(FlowRefusal::InvalidState), Some(state)) = (error, state) else {
        return;
    };
    let now = Utc::now();
    match g.store.end_expired_flow(realm, state, now).await {
        Ok(Some(flow)) => {
            if let Err(e) = crate::flows::record(&g.store, FlowReport::abandoned(&flow, now)).await
            {
                tracing::warn!(error = %e, "the audit event of an abandoned flow could not be written");
            }
        }
        Ok(None) => {}
        Err(e) => tracing::warn!(error = %e, "an expired flow could not be looked up"),
    }
}
