//! `/authorize`: validate, answer from the session, or send the browser to the login page when
//! it has none, or one too old or too low for the request (step-up).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use gatehouse_core::auth::StepUp;
use gatehouse_oidc::AuthorizeRejection;

use super::http::{
    CSRF_COOKIE, SESSION_COOKIE, cookie, error_page, form_pairs, internal_page, query_pairs,
    see_other, set_cookie,
};
use crate::app::Gatehouse;

pub async fn authorize_get(
    State(g): State<Arc<Gatehouse>>,
    Path(realm): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    authorize(&g, &realm, query_pairs(query.as_deref()), &headers).await
}

pub async fn authorize_post(
    State(g): State<Arc<Gatehouse>>,
    Path(realm): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    authorize(&g, &realm, form_pairs(&body), &headers).await
}

async fn authorize(
    g: &Gatehouse,
    realm: &str,
    params: Vec<(String, String)>,
    headers: &HeaderMap,
) -> Response {
    let Ok(runtime) = g.realm(realm) else {
        return error_page(&g.pages, StatusCode::NOT_FOUND, "No such realm.", None);
    };
    let oidc = &runtime.oidc;
    let request = match oidc.validate_authorize(&params) {
        Ok(r) => r,
        Err(AuthorizeRejection::Page(e)) => {
            return error_page(
                &g.pages,
                StatusCode::BAD_REQUEST,
                &e.description,
                Some(e.code.as_str()),
            );
        }
        Err(AuthorizeRejection::Redirect(location)) => return see_other(&location),
    };
    let session = match oidc
        .current_session(cookie(headers, SESSION_COOKIE).as_deref())
        .await
    {
        Ok(s) => s,
        Err(e) => return internal_page(&g.pages, e),
    };
    match oidc.step_up(&request, session.as_ref(), Utc::now()) {
        StepUp::Satisfied(_) => {
            if let Some(session) = &session {
                return match oidc.issue_code(&request, session).await {
                    Ok(location) => see_other(&location),
                    Err(e) => internal_page(&g.pages, e),
                };
            }
        }
        StepUp::Unmet => return see_other(&oidc.unmet_requirements(&request)),
        // The login page runs the login again; the policy engine's transports will run only
        // the missing steps (`Engine::start` with the still-valid `passed`).
        StepUp::Needed { .. } => {}
    }
    if request.forbids_login_page() {
        return see_other(&oidc.login_required(&request));
    }
    match oidc.start_login(&request).await {
        Ok((tx, csrf)) => {
            let mut response = match super::broker::auto_redirect(runtime) {
                // The realm offers nothing but one upstream: skip the login page.
                Some(provider) => match oidc.load_login(&tx, None).await {
                    Ok(Some((found, _))) => {
                        super::broker::begin(g, runtime, provider, &found).await
                    }
                    Ok(None) => see_other(&format!("{}?tx={tx}", oidc.endpoint("login"))),
                    Err(e) => return internal_page(&g.pages, e),
                },
                None => see_other(&format!("{}?tx={tx}", oidc.endpoint("login"))),
            };
            response.headers_mut().append(
                header::SET_COOKIE,
                set_cookie(oidc, CSRF_COOKIE, &csrf, 1800),
            );
            response.into_response()
        }
        Err(e) => internal_page(&g.pages, e),
    }
}
