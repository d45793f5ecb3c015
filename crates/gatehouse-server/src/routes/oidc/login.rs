//! The login page: identifier first, then password; one generic error.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use gatehouse_core::{LoginDecision, LoginOrigin, Refusal, Secret, redirect_plan};

use super::http::{
    CSRF_COOKIE, cookie, error_page, form_pairs, get, internal_page, page, query_pairs, see_other,
};
use super::{broker, finish};
use crate::app::{Gatehouse, RealmRuntime};

const EXPIRED: &str =
    "This login page has expired or was already used. Return to the application and start again.";

pub async fn show(
    State(g): State<Arc<Gatehouse>>,
    Path(realm): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let Ok(runtime) = g.realm(&realm) else {
        return error_page(&g.pages, StatusCode::NOT_FOUND, "No such realm.", None);
    };
    let params = query_pairs(query.as_deref());
    let (Some(tx), Some(csrf)) = (get(&params, "tx"), cookie(&headers, CSRF_COOKIE)) else {
        return error_page(&g.pages, StatusCode::BAD_REQUEST, EXPIRED, None);
    };
    match runtime.oidc.load_login(tx, Some(&csrf)).await {
        Ok(Some((found, request))) => render(
            &g,
            runtime,
            Form {
                tx,
                csrf: &csrf,
                login_hint: request.login_hint.as_deref(),
                client_id: &request.client_id,
            },
            found.username.as_deref(),
            None,
            StatusCode::OK,
        ),
        Ok(None) => error_page(&g.pages, StatusCode::BAD_REQUEST, EXPIRED, None),
        Err(e) => internal_page(&g.pages, e),
    }
}

pub async fn submit(
    State(g): State<Arc<Gatehouse>>,
    Path(realm): Path<String>,
    headers: HeaderMap,
    peer: crate::routes::peer::Peer,
    body: Bytes,
) -> Response {
    let Ok(runtime) = g.realm(&realm) else {
        return error_page(&g.pages, StatusCode::NOT_FOUND, "No such realm.", None);
    };
    let oidc = &runtime.oidc;
    let form = form_pairs(&body);
    // Double submit: the form's token must be the cookie's, and the cookie's must be the one the
    // transaction was created with, so another site cannot post a login into this browser.
    let (Some(tx), Some(csrf)) = (get(&form, "tx"), get(&form, "csrf_token")) else {
        return error_page(&g.pages, StatusCode::BAD_REQUEST, EXPIRED, None);
    };
    if cookie(&headers, CSRF_COOKIE).is_none_or(|c| !gatehouse_oidc::crypto::ct_eq(&c, csrf)) {
        return error_page(&g.pages, StatusCode::FORBIDDEN, EXPIRED, Some("csrf"));
    }
    let (found, request) = match oidc.load_login(tx, Some(csrf)).await {
        Ok(Some(f)) => f,
        Ok(None) => return error_page(&g.pages, StatusCode::BAD_REQUEST, EXPIRED, None),
        Err(e) => return internal_page(&g.pages, e),
    };
    let again = format!("{}?tx={tx}", oidc.endpoint("login"));
    if get(&form, "restart").is_some() {
        return match oidc.set_login_username(&found, None).await {
            Ok(()) => see_other(&again),
            Err(e) => internal_page(&g.pages, e),
        };
    }
    if let Some(username) = get(&form, "username") {
        let username = username.trim();
        if username.is_empty() {
            return see_other(&again);
        }
        // Identifier first: an account whose first live link belongs to a redirect provider logs
        // in there, not here.
        let known = redirect_plan::redirect_for(
            &runtime.policy,
            &runtime.redirect_providers,
            &g.store,
            username,
        )
        .await;
        match known {
            Ok(Some(provider)) => return broker::begin(&g, runtime, &provider, &found).await,
            Ok(None) => {}
            Err(e) => return internal_page(&g.pages, e),
        }
        return match oidc
            .set_login_username(&found, Some(username.to_owned()))
            .await
        {
            Ok(()) => see_other(&again),
            Err(e) => internal_page(&g.pages, e),
        };
    }
    let (Some(username), Some(password)) = (found.username.clone(), get(&form, "password")) else {
        return see_other(&again);
    };
    let result = match runtime
        .resolver
        .resolve_from(
            &username,
            &Secret::new(password),
            &LoginOrigin {
                client: Some(request.client_id.clone()),
                ip: crate::routes::peer::ip(&peer),
            },
        )
        .await
    {
        Ok(r) => r,
        Err(e) => return internal_page(&g.pages, e),
    };
    match (result.decision, result.account) {
        (LoginDecision::Success, Some(account)) => {
            finish::complete(&g, oidc, &found, &request, account.id, "pwd", None).await
        }
        (LoginDecision::Refused(refusal), _) => {
            let status = if refusal.is_temporary() {
                StatusCode::SERVICE_UNAVAILABLE
            } else {
                StatusCode::OK
            };
            render(
                &g,
                runtime,
                Form {
                    tx,
                    csrf,
                    login_hint: None,
                    client_id: &request.client_id,
                },
                Some(&username),
                Some(refusal.public_message()),
                status,
            )
        }
        (LoginDecision::Success, None) => {
            let message = Refusal::InvalidCredentials.public_message();
            render(
                &g,
                runtime,
                Form {
                    tx,
                    csrf,
                    login_hint: None,
                    client_id: &request.client_id,
                },
                Some(&username),
                Some(message),
                StatusCode::OK,
            )
        }
    }
}

/// What every rendering of the login form carries.
struct Form<'a> {
    tx: &'a str,
    csrf: &'a str,
    login_hint: Option<&'a str>,
    /// The application the user is logging in to, named on the page.
    client_id: &'a str,
}

fn render(
    g: &Gatehouse,
    runtime: &RealmRuntime,
    form: Form<'_>,
    username: Option<&str>,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    // One button per offered redirect provider, in chain order.
    let providers: Vec<minijinja::Value> =
        redirect_plan::offered(&runtime.policy, &runtime.redirect_providers)
            .into_iter()
            .map(|(id, _)| {
                minijinja::context! {
                    id,
                    action => runtime.oidc.endpoint(&format!("broker/{id}/start")),
                }
            })
            .collect();
    let html = g.pages.render(
        "login.html",
        minijinja::context! {
            realm => &runtime.name,
            action => runtime.oidc.endpoint("login"),
            tx => form.tx,
            csrf_token => form.csrf,
            providers => providers,
            login_hint => form.login_hint,
            client_name => runtime.oidc.clients.get(form.client_id).map(|c| c.settings.display_name()),
            username,
            error,
        },
    );
    page(status, html)
}
