//! The end of every browser login, whichever way the user authenticated (the password form or a
//! redirect provider's callback): the login transaction is finished once, a session is made, and
//! the browser goes back to the relying party with its code.

use axum::http::{StatusCode, header};
use axum::response::Response;
use gatehouse_oidc::{AuthorizeRequest, OidcProvider, UpstreamLogin};
use gatehouse_store::LoginTransaction;

use super::http::{CSRF_COOKIE, SESSION_COOKIE, error_page, internal_page, see_other, set_cookie};
use crate::app::Gatehouse;

const EXPIRED: &str =
    "This login page has expired or was already used. Return to the application and start again.";

/// Session, cookie, code: back to the client. `amr` says how the user authenticated (`pwd`, or
/// `fed` through a redirect provider); `upstream` is that provider, which the session remembers
/// for the logout.
pub(super) async fn complete(
    g: &Gatehouse,
    oidc: &OidcProvider,
    found: &LoginTransaction,
    request: &AuthorizeRequest,
    account: gatehouse_core::AccountId,
    amr: &str,
    upstream: Option<UpstreamLogin>,
) -> Response {
    match oidc.finish_login(found).await {
        Ok(true) => {}
        Ok(false) => return error_page(&g.pages, StatusCode::BAD_REQUEST, EXPIRED, None),
        Err(e) => return internal_page(&g.pages, e),
    }
    let session = match oidc
        .create_session(account, vec![amr.into()], upstream)
        .await
    {
        Ok(s) => s,
        Err(e) => return internal_page(&g.pages, e),
    };
    match oidc.issue_code(request, &session.session).await {
        Ok(location) => {
            let mut response = see_other(&location);
            let headers = response.headers_mut();
            headers.append(
                header::SET_COOKIE,
                set_cookie(oidc, SESSION_COOKIE, &session.cookie, oidc.tokens.session_s),
            );
            headers.append(header::SET_COOKIE, set_cookie(oidc, CSRF_COOKIE, "", 0));
            response
        }
        Err(e) => internal_page(&g.pages, e),
    }
}
