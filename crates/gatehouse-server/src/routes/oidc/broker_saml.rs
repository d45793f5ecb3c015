//! The routes only SAML providers have, beside the shared start and callback (the ACS):
//! the SP metadata the IdP is configured from, and the SP's SingleLogoutService, where the IdP
//! sends the browser to end its broker session (IdP-initiated single logout) and answers the
//! LogoutRequest the broker sent on its own logout (`global_logout`).

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use gatehouse_oidc::crypto::token_hash;

use super::http::{
    CSRF_COOKIE, SESSION_COOKIE, cookie, error_page, internal_page, page, query_pairs, see_other,
    set_cookie,
};
use crate::app::Gatehouse;

/// `GET /realms/{realm}/broker/{provider}/metadata`: the SP's metadata (entity id, ACS, SLO,
/// signing certificate when requests are signed).
pub async fn metadata(
    State(g): State<Arc<Gatehouse>>,
    Path((realm, provider)): Path<(String, String)>,
) -> Response {
    let Some(saml) = g
        .realm(&realm)
        .ok()
        .and_then(|r| r.saml_providers.get(&provider))
    else {
        return (StatusCode::NOT_FOUND, "no such SAML provider\n").into_response();
    };
    (
        [
            (header::CONTENT_TYPE, "application/samlmetadata+xml"),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        saml.sp_metadata_xml(),
    )
        .into_response()
}

/// `GET /realms/{realm}/broker/{provider}/slo`: a signed LogoutRequest from the IdP (HTTP-Redirect
/// binding). This browser's session ends when it belongs to the account linked to the request's
/// NameID; either way the IdP gets its LogoutResponse, so its own logout chain goes on.
/// A `SAMLResponse` instead is the IdP's answer to the broker's own LogoutRequest.
pub async fn slo(
    State(g): State<Arc<Gatehouse>>,
    Path((realm, provider)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let Ok(runtime) = g.realm(&realm) else {
        return error_page(&g.pages, StatusCode::NOT_FOUND, "No such realm.", None);
    };
    let Some(saml) = runtime.saml_providers.get(&provider) else {
        return error_page(&g.pages, StatusCode::NOT_FOUND, "No such provider.", None);
    };
    let params = query_pairs(query.as_deref());
    if params.iter().any(|(k, _)| k == "SAMLResponse")
        && !params.iter().any(|(k, _)| k == "SAMLRequest")
    {
        return logout_response(&runtime.oidc, &realm, &provider, saml, query.as_deref());
    }
    // The connector refuses an unsigned LogoutRequest (SAML profiles §4.4.3.1).
    // The signature covers the query exactly as the IdP encoded it.
    let request = match saml.parse_logout_request_query(query.as_deref().unwrap_or("")) {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(realm, provider, error = %e, "IdP logout request refused");
            return error_page(
                &g.pages,
                StatusCode::BAD_REQUEST,
                "This logout request is not valid.",
                None,
            );
        }
    };
    let session_cookie = cookie(&headers, SESSION_COOKIE);
    let mut ended = false;
    if let Some(value) = session_cookie.as_deref() {
        let session = match g
            .store
            .find_session(&realm, &token_hash(value), Utc::now())
            .await
        {
            Ok(s) => s,
            Err(e) => return internal_page(&g.pages, e),
        };
        let linked = match g
            .store
            .find_by_external_id(&realm, &provider, &request.name_id)
            .await
        {
            Ok(a) => a,
            Err(e) => return internal_page(&g.pages, e),
        };
        // Another user's LogoutRequest (or one for an account this browser is not logged in as)
        // must not end this browser's session.
        if let (Some(session), Some(account)) = (session, linked)
            && session.account_id == account.account.id
        {
            if let Err(e) = runtime.oidc.end_session(Some(value)).await {
                return internal_page(&g.pages, e);
            }
            ended = true;
        }
    }
    tracing::info!(realm, provider, ended, "IdP-initiated logout");
    let relay_state = params
        .iter()
        .find(|(k, _)| k == "RelayState")
        .map(|(_, v)| v.as_str());
    let Some(location) = saml.logout_response_location(&request, relay_state) else {
        // No SLO endpoint in the IdP's metadata to answer at: the session has ended all the same.
        return page(
            StatusCode::OK,
            g.pages.render(
                "logged_out.html",
                minijinja::context! { realm => &runtime.name },
            ),
        );
    };
    let mut response = see_other(&location);
    if ended {
        let oidc = &runtime.oidc;
        let headers = response.headers_mut();
        headers.append(header::SET_COOKIE, set_cookie(oidc, SESSION_COOKIE, "", 0));
        headers.append(header::SET_COOKIE, set_cookie(oidc, CSRF_COOKIE, "", 0));
    }
    response
}

/// The IdP's LogoutResponse after the broker's logout sent it a LogoutRequest. The broker
/// session ended before the browser left, so whatever the answer says the browser goes on to
/// the realm's fixed `/logged-out` (which follows the sealed destination the logout left in a
/// cookie) — never to the RelayState as received, which anyone could have written (an open
/// redirect otherwise). An answer that fails the checks or reports a failure is logged.
fn logout_response(
    oidc: &gatehouse_oidc::OidcProvider,
    realm: &str,
    provider: &str,
    saml: &gatehouse_connector_saml::SamlProvider,
    query: Option<&str>,
) -> Response {
    match saml.parse_logout_response_query(query.unwrap_or("")) {
        Ok(r) if r.is_success() => {
            tracing::info!(
                realm,
                provider,
                "SP-initiated logout: the IdP ended its session"
            );
        }
        Ok(r) => tracing::warn!(
            realm,
            provider,
            status = %r.status,
            "SP-initiated logout: the IdP did not end its session (the broker session has ended)"
        ),
        Err(e) => tracing::warn!(
            realm,
            provider,
            error = %e,
            "SP-initiated logout: the IdP's LogoutResponse is refused (the broker session has ended)"
        ),
    }
    see_other(&oidc.logged_out_url())
}
