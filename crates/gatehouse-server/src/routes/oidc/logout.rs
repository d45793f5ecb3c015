//! `/logout`: RP-Initiated Logout 1.0. With a valid `id_token_hint` the session ends at once;
//! without one the user confirms, so another site cannot log people out with a link.
//!
//! A session created through a redirect provider that asks for it (`global_logout`, an oauth2
//! `logout_url`) then goes on to end the upstream session: the browser is sent to the upstream's
//! logout with `/logged-out` as the address to come back to, and a sealed cookie remembers where
//! the broker's logout would have gone (the RP's `post_logout_redirect_uri`, or the logged-out
//! page). One fixed return address is what an upstream can register (OIDC matches
//! `post_logout_redirect_uri` exactly), whichever relying party started the logout.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use gatehouse_oidc::{AfterLogout, UpstreamLogin};

use super::http::{
    CSRF_COOKIE, SESSION_COOKIE, cookie, error_page, form_pairs, get, internal_page, page,
    query_pairs, see_other, set_cookie,
};
use crate::app::{Gatehouse, RealmRuntime};

/// Carries the sealed destination of a logout across the upstream's logout.
const RETURN_COOKIE: &str = "gatehouse_logout";

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
    // Confirmation protects a session from a logout link on another site: without a session
    // there is nothing to protect, and the logout goes straight on.
    if !hinted && !confirmed {
        match oidc
            .current_session(cookie(headers, SESSION_COOKIE).as_deref())
            .await
        {
            Ok(Some(session)) => return confirm_page(g, runtime, &session).await,
            Ok(None) => {}
            Err(e) => return internal_page(&g.pages, e),
        }
    }
    let upstream = match oidc
        .end_session(cookie(headers, SESSION_COOKIE).as_deref())
        .await
    {
        Ok(u) => u,
        Err(e) => return internal_page(&g.pages, e),
    };
    let upstream_logout = match &upstream {
        Some(u) => upstream_location(runtime, u).await,
        None => None,
    };
    let mut response = match upstream_logout {
        Some(location) => {
            let sealed = match oidc.seal_logout_return(&after) {
                Ok(s) => s,
                Err(e) => return internal_page(&g.pages, e),
            };
            let mut response = see_other(&location);
            response.headers_mut().append(
                header::SET_COOKIE,
                set_cookie(oidc, RETURN_COOKIE, &sealed, 600),
            );
            response
        }
        None => finish(g, runtime, after),
    };
    let headers = response.headers_mut();
    headers.append(header::SET_COOKIE, set_cookie(oidc, SESSION_COOKIE, "", 0));
    headers.append(header::SET_COOKIE, set_cookie(oidc, CSRF_COOKIE, "", 0));
    response
}

/// Where the upstream the session came through ends its own session, when its provider asks for
/// that (the connector answers `None` otherwise). A provider since disabled is not followed.
async fn upstream_location(runtime: &RealmRuntime, upstream: &UpstreamLogin) -> Option<String> {
    let provider = runtime
        .redirect_providers
        .get(&upstream.provider)
        .filter(|p| p.descriptor().enabled)?;
    provider.prepare_logout().await;
    let location = provider.logout_location(
        upstream.logout_hint.as_ref().map(|h| h.expose()),
        &runtime.oidc.logged_out_url(),
    )?;
    tracing::info!(realm = %runtime.name, provider = %upstream.provider,
        "logout continues at the upstream");
    Some(location)
}

/// `GET /realms/{realm}/logged-out`: back from the upstream's logout, on to where the broker's
/// logout would have gone.
pub async fn logged_out(
    State(g): State<Arc<Gatehouse>>,
    Path(realm): Path<String>,
    headers: HeaderMap,
) -> Response {
    let Ok(runtime) = g.realm(&realm) else {
        return error_page(&g.pages, StatusCode::NOT_FOUND, "No such realm.", None);
    };
    let oidc = &runtime.oidc;
    let after = oidc.open_logout_return(cookie(&headers, RETURN_COOKIE).as_deref());
    let mut response = finish(&g, runtime, after);
    response
        .headers_mut()
        .append(header::SET_COOKIE, set_cookie(oidc, RETURN_COOKIE, "", 0));
    response
}

fn finish(g: &Gatehouse, runtime: &RealmRuntime, after: AfterLogout) -> Response {
    match after {
        AfterLogout::Redirect(location) => see_other(&location),
        AfterLogout::Page => page(
            StatusCode::OK,
            g.pages.render(
                "logged_out.html",
                minijinja::context! { realm => &runtime.name },
            ),
        ),
    }
}

async fn confirm_page(
    g: &Gatehouse,
    runtime: &RealmRuntime,
    session: &gatehouse_store::BrowserSession,
) -> Response {
    let csrf = gatehouse_oidc::crypto::random_token();
    // Only a name for the page: an account that cannot be read is logged out all the same.
    let username = match g.store.get_account(session.account_id).await {
        Ok(found) => found.map(|a| a.account.username),
        Err(e) => {
            tracing::warn!(error = %e, "logout page: cannot read the account");
            None
        }
    };
    let html = g.pages.render(
        "logout.html",
        minijinja::context! {
            realm => &runtime.name,
            action => runtime.oidc.endpoint("logout"),
            csrf_token => &csrf,
            username,
        },
    );
    let mut response = page(StatusCode::OK, html);
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(&runtime.oidc, CSRF_COOKIE, &csrf, 600),
    );
    response
}
