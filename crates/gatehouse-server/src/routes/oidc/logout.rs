//! `/logout`: RP-Initiated Logout 1.0. With a valid `id_token_hint` the session ends at once;
//! without one the user confirms, so another site cannot log people out with a link.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use gatehouse_oidc::AfterLogout;

use super::http::{
    CSRF_COOKIE, SESSION_COOKIE, cookie, error_page, form_pairs, get, internal_page, page,
    query_pairs, see_other, set_cookie,
};
use crate::app::{Gatehouse, RealmRuntime};

pub async fn logout_get(
    State(g): State<Arc<Gatehouse>>,
    Path(realm): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    logout(&g, &realm, query_pairs(query.as_deref()), &headers, false).await
}

pub async fn logout_post(
    State(g): State<Arc<Gatehouse>>,
    Path(realm): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    logout(&g, &realm, form_pairs(&body), &headers, true).await
}

async fn logout(
    g: &Gatehouse,
    realm: &str,
    params: Vec<(String, String)>,
    headers: &HeaderMap,
    post: bool,
) -> Response {
    let Ok(runtime) = g.realm(realm) else {
        return error_page(&g.pages, StatusCode::NOT_FOUND, "No such realm.", None);
    };
    let oidc = &runtime.oidc;
    let (after, hinted) = match oidc.check_logout(&params).await {
        Ok(a) => a,
        Err(e) => {
            return error_page(
                &g.pages,
                StatusCode::BAD_REQUEST,
                &e.description,
                Some(e.code.as_str()),
            );
        }
    };
    let confirmed = post
        && get(&params, "confirm").is_some()
        && match (get(&params, "csrf_token"), cookie(headers, CSRF_COOKIE)) {
            (Some(form), Some(c)) => gatehouse_oidc::crypto::ct_eq(form, &c),
            _ => false,
        };
    if !hinted && !confirmed {
        return confirm_page(g, runtime);
    }
    if let Err(e) = oidc
        .end_session(cookie(headers, SESSION_COOKIE).as_deref())
        .await
    {
        return internal_page(&g.pages, e);
    }
    let mut response = match after {
        AfterLogout::Redirect(location) => see_other(&location),
        AfterLogout::Page => page(
            StatusCode::OK,
            g.pages.render(
                "logged_out.html",
                minijinja::context! { realm => &runtime.name },
            ),
        ),
    };
    let headers = response.headers_mut();
    headers.append(header::SET_COOKIE, set_cookie(oidc, SESSION_COOKIE, "", 0));
    headers.append(header::SET_COOKIE, set_cookie(oidc, CSRF_COOKIE, "", 0));
    response
}

fn confirm_page(g: &Gatehouse, runtime: &RealmRuntime) -> Response {
    let csrf = gatehouse_oidc::crypto::random_token();
    let html = g.pages.render(
        "logout.html",
        minijinja::context! { realm => &runtime.name, action => runtime.oidc.endpoint("logout"), csrf_token => &csrf },
    );
    let mut response = page(StatusCode::OK, html);
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(&runtime.oidc, CSRF_COOKIE, &csrf, 600),
    );
    response
}
