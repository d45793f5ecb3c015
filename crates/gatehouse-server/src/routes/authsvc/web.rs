//! The web flow: `GET /realms/R/authsvc/policy/{id}` (or `/authsvc?PolicyId={id}`) starts a
//! flow and shows its first step; each page posts back to the same URL with `?StateId=` of the
//! page, and the answer is the next page. At success the browser session cookie is set.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use chrono::Utc;
use gatehouse_core::auth::{
    Answer, Completed, Field, FieldKind, FlowContext, FlowRefusal, FlowStart, Input, StateId,
};
use gatehouse_core::{CoreError, Secret};
use minijinja::Value;

use super::rest::policy_id;
use super::{Established, Origin, establish, note_abandoned};
use crate::app::{Gatehouse, RealmRuntime};
use crate::routes::oidc::http::{
    SESSION_COOKIE, auto_post_page, error_page, form_pairs, get, internal_page, page, query_pairs,
    see_other, set_cookie,
};
use crate::routes::peer::{Peer, ip};

const USED: &str = "This login page has expired or was already used. Please start again.";

/// Where the flow's pages post: the policy's path, or `/authsvc` when it was started by query.
struct Base {
    realm: String,
    /// From the path; `None` when the flow runs on `/authsvc?…`.
    path_policy: Option<String>,
    /// The policy, when known (the path, or the `PolicyId` the page carries along).
    policy: Option<String>,
    url: String,
}

impl Base {
    fn new(
        g: &Gatehouse,
        realm: &str,
        path_policy: Option<String>,
        policy: Option<String>,
    ) -> Self {
        let root = format!(
            "{}/realms/{realm}/authsvc",
            g.config.server.public_url.trim_end_matches('/')
        );
        let url = match &path_policy {
            Some(p) => format!("{root}/policy/{p}"),
            None => root,
        };
        Self {
            realm: realm.to_owned(),
            policy: path_policy.clone().or(policy),
            path_policy,
            url,
        }
    }

    fn action(&self, state: &StateId) -> String {
        format!("{}?StateId={}", self.url, state.as_str())
    }

    fn restart(&self) -> Option<String> {
        match (&self.path_policy, &self.policy) {
            (Some(_), _) => Some(self.url.clone()),
            (None, Some(p)) => Some(format!("{}?PolicyId={p}", self.url)),
            (None, None) => None,
        }
    }
}

pub async fn show_by_path(
    State(g): State<Arc<Gatehouse>>,
    Path((realm, policy)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    peer: Peer,
) -> Response {
    let base = Base::new(&g, &realm, Some(policy), None);
    show(&g, base, query.as_deref(), &peer).await
}

pub async fn show_by_query(
    State(g): State<Arc<Gatehouse>>,
    Path(realm): Path<String>,
    RawQuery(query): RawQuery,
    peer: Peer,
) -> Response {
    let params = query_pairs(query.as_deref());
    let policy = get(&params, "PolicyId").map(policy_id);
    let base = Base::new(&g, &realm, None, policy);
    show(&g, base, query.as_deref(), &peer).await
}

pub async fn submit_by_path(
    State(g): State<Arc<Gatehouse>>,
    Path((realm, policy)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let base = Base::new(&g, &realm, Some(policy), None);
    submit(&g, base, query.as_deref(), &headers, &body).await
}

pub async fn submit_by_query(
    State(g): State<Arc<Gatehouse>>,
    Path(realm): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = form_pairs(&body);
    let policy = get(&form, "PolicyId").map(policy_id);
    let base = Base::new(&g, &realm, None, policy);
    submit(&g, base, query.as_deref(), &headers, &body).await
}

/// A GET starts a flow. A GET naming a state id is a reloaded or bookmarked step: its id was
/// spent by the answer that showed it, so the user starts again.
async fn show(g: &Gatehouse, base: Base, query: Option<&str>, peer: &Peer) -> Response {
    let (Ok(runtime), Some(flows)) = (g.realm(&base.realm), g.flows.realm(&base.realm)) else {
        return error_page(&g.pages, StatusCode::NOT_FOUND, "No such realm.", None);
    };
    let params = query_pairs(query);
    if get(&params, "StateId").is_some() {
        return failed(g, runtime, &base, StatusCode::BAD_REQUEST, USED);
    }
    let policy = match (&base.path_policy, &base.policy) {
        (Some(p), _) => p.clone(),
        (None, Some(p)) if flows.authsvc.query_kickoff() => p.clone(),
        (None, Some(_)) => {
            return error_page(
                &g.pages,
                StatusCode::FORBIDDEN,
                "This login cannot be started this way. Use the link the application gave you.",
                Some("kickoff_disabled"),
            );
        }
        (None, None) => {
            return error_page(
                &g.pages,
                StatusCode::BAD_REQUEST,
                "This link does not name a login. Use the link the application gave you.",
                None,
            );
        }
    };
    let origin = Origin {
        transport: "web".to_owned(),
        ip: ip(peer),
        ..Origin::default()
    };
    let context = FlowContext {
        origin: gatehouse_core::LoginOrigin {
            client: origin.client_id.clone(),
            ip: origin.ip.clone(),
        },
        client: serde_json::to_value(origin).unwrap_or_default(),
        ..FlowContext::default()
    };
    let start = FlowStart {
        context,
        ..FlowStart::default()
    };
    let result = flows.engine.start(&policy, start, Utc::now()).await;
    render(g, runtime, &base, result).await
}

async fn submit(
    g: &Gatehouse,
    base: Base,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &Bytes,
) -> Response {
    let (Ok(runtime), Some(flows)) = (g.realm(&base.realm), g.flows.realm(&base.realm)) else {
        return error_page(&g.pages, StatusCode::NOT_FOUND, "No such realm.", None);
    };
    if cross_site(g, headers) {
        return error_page(&g.pages, StatusCode::FORBIDDEN, USED, Some("cross_site"));
    }
    let params = query_pairs(query);
    let form = form_pairs(body);
    let Some(state) = get(&params, "StateId").or_else(|| get(&form, "StateId")) else {
        return failed(g, runtime, &base, StatusCode::BAD_REQUEST, USED);
    };
    let state = StateId::from(state);
    let input = match get(&form, "choice") {
        Some(choice) => Input::Choice(choice.to_owned()),
        None => Input::Fields(
            form.iter()
                .filter(|(k, _)| k != "StateId" && k != "PolicyId")
                .map(|(k, v)| (k.clone(), Secret::new(v.clone())))
                .collect(),
        ),
    };
    let result = flows.engine.submit(&state, input, Utc::now()).await;
    if let Err(e) = &result {
        note_abandoned(g, &base.realm, e, Some(&state)).await;
    }
    render(g, runtime, &base, result).await
}

/// A form posted from another site (login CSRF: the victim's browser posting the attacker's
/// credentials into the attacker's flow). Browsers say where a POST comes from in
/// `Sec-Fetch-Site`; older ones in `Origin` (which is `null` on pages with `no-referrer`, as
/// ours are, so that one only counts when it names a site).
fn cross_site(g: &Gatehouse, headers: &HeaderMap) -> bool {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = text("sec-fetch-site") {
        // `same-site` too: a sibling subdomain is another application, not this page.
        return matches!(site, "cross-site" | "same-site");
    }
    match text(header::ORIGIN.as_str()) {
        Some(origin) if origin != "null" => {
            let ours = url::Url::parse(&g.config.server.public_url)
                .map(|u| u.origin().ascii_serialization())
                .unwrap_or_default();
            origin != ours
        }
        _ => false,
    }
}

async fn render(
    g: &Gatehouse,
    runtime: &RealmRuntime,
    base: &Base,
    result: Result<Answer, CoreError>,
) -> Response {
    match result {
        Ok(Answer::Challenge {
            state_id,
            mechanism,
            fields,
            error,
        }) => {
            let who = fields.iter().find_map(|f| f.value.clone());
            let (heading, submit, step_text) = match mechanism.name.as_str() {
                "password" if who.is_some() => ("Enter your password", "Log in", None),
                "password" => ("Log in", "Log in", None),
                _ => (
                    "Verify it's you",
                    "Verify",
                    Some("Enter the code to finish logging in."),
                ),
            };
            step_page(
                g,
                base,
                &state_id,
                minijinja::context! {
                    mode => "challenge",
                    heading,
                    submit,
                    step_text,
                    who,
                    fields => field_views(&fields),
                    error,
                },
            )
        }
        Ok(Answer::Choose {
            state_id,
            choices,
            error,
        }) => {
            let choices: Vec<Value> = choices
                .iter()
                .map(|c| minijinja::context! { id => &c.id, label => &c.label })
                .collect();
            step_page(
                g,
                base,
                &state_id,
                minijinja::context! {
                    mode => "choose",
                    heading => "Choose how to verify",
                    step_text => "Pick one of the ways you have set up.",
                    choices,
                    error,
                },
            )
        }
        Ok(Answer::Redirect { location, form, .. }) => match form {
            Some(fields) => auto_post_page(&g.pages, &location, &fields),
            None => see_other(&location),
        },
        Ok(Answer::Success(done)) => signed_in(g, runtime, &done).await,
        Ok(Answer::Failure(failure)) => {
            failed(g, runtime, base, StatusCode::OK, &failure.public_message)
        }
        Err(CoreError::Flow(FlowRefusal::UnknownPolicy)) => error_page(
            &g.pages,
            StatusCode::NOT_FOUND,
            "This login does not exist. Use the link the application gave you.",
            Some("unknown_policy"),
        ),
        Err(CoreError::Flow(FlowRefusal::InputTooLarge)) => failed(
            g,
            runtime,
            base,
            StatusCode::BAD_REQUEST,
            "What you entered is longer than this page accepts.",
        ),
        Err(CoreError::Flow(FlowRefusal::InvalidState)) => {
            failed(g, runtime, base, StatusCode::BAD_REQUEST, USED)
        }
        Err(e) => internal_page(&g.pages, e),
    }
}

fn field_views(fields: &[Field]) -> Vec<Value> {
    let mut focused = false;
    fields
        .iter()
        .map(|f| {
            let focus = f.value.is_none() && !focused;
            focused |= focus;
            minijinja::context! {
                name => &f.name,
                kind => match f.kind {
                    FieldKind::Text => "text",
                    FieldKind::Password => "password",
                    FieldKind::Otp => "otp",
                },
                label => &f.label,
                value => &f.value,
                focus,
            }
        })
        .collect()
}

fn step_page(g: &Gatehouse, base: &Base, state: &StateId, step: Value) -> Response {
    let html = g.pages.render(
        "authsvc.html",
        minijinja::context! {
            ..step,
            ..minijinja::context! {
                realm => &base.realm,
                action => base.action(state),
                state_id => state.as_str(),
                policy_field => if base.path_policy.is_none() { base.policy.clone() } else { None },
                restart_url => base.restart(),
            }
        },
    );
    page(StatusCode::OK, html)
}

fn failed(
    g: &Gatehouse,
    runtime: &RealmRuntime,
    base: &Base,
    status: StatusCode,
    message: &str,
) -> Response {
    let html = g.pages.render(
        "authsvc.html",
        minijinja::context! {
            realm => &runtime.name,
            mode => "failed",
            heading => "Login not completed",
            error => message,
            restart_url => base.restart(),
        },
    );
    page(status, html)
}

async fn signed_in(g: &Gatehouse, runtime: &RealmRuntime, done: &Completed) -> Response {
    let cookie = match establish(runtime, done).await {
        Ok(Established::Session(cookie)) => cookie,
        // The web flow never asks for a code.
        Ok(Established::Code { .. }) => String::new(),
        Err(e) => return internal_page(&g.pages, e),
    };
    let methods = done
        .passed
        .iter()
        .map(|p| method_name(&p.mechanism.name))
        .collect::<Vec<_>>()
        .join(" and ");
    let html = g.pages.render(
        "authsvc.html",
        minijinja::context! {
            realm => &runtime.name,
            mode => "done",
            heading => "Signed in",
            username => &done.account.username,
            methods,
            continue_url => g.pages.brand(Some(&runtime.name)).account_url.clone(),
        },
    );
    let mut response = page(StatusCode::OK, html);
    if !cookie.is_empty() {
        let oidc = &runtime.oidc;
        response.headers_mut().append(
            header::SET_COOKIE,
            set_cookie(oidc, SESSION_COOKIE, &cookie, oidc.tokens.session_s),
        );
    }
    response
}

/// How the done page names a passed mechanism.
fn method_name(mechanism: &str) -> String {
    match mechanism {
        "password" => "your password".to_owned(),
        "federated" => "your identity provider".to_owned(),
        other => other.replace('_', " "),
    }
}
