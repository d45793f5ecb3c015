//! The account page, `/realms/{realm}/account`: who you are, your linked providers, your
//! sessions, "log out everywhere". It signs in through the realm's own `/authorize` as the
//! built-in public client `account` (PKCE), so it shows the same login pages as any application
//! (`gatehouse_oidc::account`). Its cookie names the broker session the code was issued for, and
//! every view checks that session in the store: the page is signed in exactly as long as the
//! browser's session is.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use chrono::{DateTime, Utc};
use gatehouse_core::{AccountWithLinks, LinkState, plan::link_state};
use gatehouse_oidc::{AccountPageSession, OidcProvider};
use gatehouse_store::BrowserSession;

use super::oidc::http::{
    SESSION_COOKIE, cookie, form_pairs, get, internal_page, page, query_pairs, see_other,
    set_cookie,
};
use crate::app::{Gatehouse, RealmRuntime};

/// The account page's own session (sealed; see the module comment).
const ACCOUNT_COOKIE: &str = "gatehouse_account";
/// The pending authorization request of the account page's login (sealed).
const LOGIN_COOKIE: &str = "gatehouse_account_login";

/// HttpOnly, SameSite=Lax, the account page's path only, Secure when the public URL is https.
fn account_cookie(oidc: &OidcProvider, name: &str, value: &str, max_age: u64) -> HeaderValue {
    let secure = if oidc.secure_cookies { "; Secure" } else { "" };
    let text = format!(
        "{name}={value}; Path={}account; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}",
        oidc.cookie_path()
    );
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

pub(super) fn realm_error(
    g: &Gatehouse,
    realm: &str,
    status: StatusCode,
    message: &str,
) -> Response {
    page(
        status,
        g.pages.render(
            "error.html",
            minijinja::context! { realm, message, code => None::<&str> },
        ),
    )
}

pub async fn show(
    State(g): State<Arc<Gatehouse>>,
    Path(realm): Path<String>,
    headers: HeaderMap,
) -> Response {
    let Ok(runtime) = g.realm(&realm) else {
        return realm_error(&g, "", StatusCode::NOT_FOUND, "No such realm.");
    };
    match signed_in(&g, runtime, &headers).await {
        Ok(Some((session, account, sessions))) => render(&g, runtime, &session, &account, sessions),
        Ok(None) => begin_login(&g, runtime),
        Err(e) => internal_page(&g.pages, e),
    }
}

/// The account page's session, when its cookie opens and the broker session it names still
/// runs for the same account; with the account and its sessions.
pub(super) async fn signed_in(
    g: &Gatehouse,
    runtime: &RealmRuntime,
    headers: &HeaderMap,
) -> Result<Option<(AccountPageSession, AccountWithLinks, Vec<BrowserSession>)>, String> {
    let oidc = &runtime.oidc;
    let Some(session) = oidc.open_account_session(cookie(headers, ACCOUNT_COOKIE).as_deref())
    else {
        return Ok(None);
    };
    let now = Utc::now();
    let Some(broker) = g
        .store
        .find_session(&runtime.name, &session.sid, now)
        .await
        .map_err(|e| e.to_string())?
    else {
        return Ok(None);
    };
    if broker.account_id.to_string() != session.sub {
        return Ok(None);
    }
    let Some(account) = g
        .store
        .get_account(broker.account_id)
        .await
        .map_err(|e| e.to_string())?
    else {
        return Ok(None);
    };
    let sessions = g
        .store
        .account_sessions(&runtime.name, broker.account_id, now)
        .await
        .map_err(|e| e.to_string())?;
    Ok(Some((session, account, sessions)))
}

fn begin_login(g: &Gatehouse, runtime: &RealmRuntime) -> Response {
    begin_login_with(g, runtime, false)
}

/// `fresh`: the user must type their credentials again, even with a live session (`prompt=login`).
pub(super) fn begin_login_with(g: &Gatehouse, runtime: &RealmRuntime, fresh: bool) -> Response {
    let oidc = &runtime.oidc;
    let (mut location, pending) = match oidc.start_account_login() {
        Ok(x) => x,
        Err(e) => return internal_page(&g.pages, e),
    };
    if fresh {
        location.push_str("&prompt=login");
    }
    let mut response = see_other(&location);
    let headers = response.headers_mut();
    headers.append(
        header::SET_COOKIE,
        account_cookie(oidc, LOGIN_COOKIE, &pending, 1800),
    );
    headers.append(
        header::SET_COOKIE,
        account_cookie(oidc, ACCOUNT_COOKIE, "", 0),
    );
    response
}

/// `GET /realms/{realm}/account/callback`: back from `/authorize`.
pub async fn callback(
    State(g): State<Arc<Gatehouse>>,
    Path(realm): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let Ok(runtime) = g.realm(&realm) else {
        return realm_error(&g, "", StatusCode::NOT_FOUND, "No such realm.");
    };
    let oidc = &runtime.oidc;
    let params = query_pairs(query.as_deref());
    // The query is anyone's to write: a fixed message per code, never its `error_description`,
    // so a crafted link cannot put words on a page of the broker's own domain.
    if let Some(error) = get(&params, "error") {
        let message = match error {
            "access_denied" => "The login was cancelled or refused.",
            "login_required" | "interaction_required" => "Please log in again.",
            "temporarily_unavailable" => "The service is busy; please try again in a moment.",
            _ => "The login did not complete; please try again.",
        };
        return realm_error(&g, &realm, StatusCode::BAD_REQUEST, message);
    }
    let (Some(code), Some(state)) = (get(&params, "code"), get(&params, "state")) else {
        return realm_error(
            &g,
            &realm,
            StatusCode::BAD_REQUEST,
            "The login answer is incomplete.",
        );
    };
    let pending = cookie(&headers, LOGIN_COOKIE);
    let session = match oidc
        .finish_account_login(pending.as_deref(), state, code, &runtime.resolver)
        .await
    {
        Ok(Some(s)) => s,
        // Not restarted automatically: a browser that drops the cookie would loop.
        Ok(None) => {
            return realm_error(
                &g,
                &realm,
                StatusCode::BAD_REQUEST,
                "This login has expired or was started in another browser. Open your account page again.",
            );
        }
        Err(e) => {
            tracing::warn!(realm = %realm, error = %e.description, "account page login failed");
            return realm_error(
                &g,
                &realm,
                StatusCode::BAD_REQUEST,
                "The login could not be completed. Open your account page again.",
            );
        }
    };
    let sealed = match oidc.seal_account_session(&session) {
        Ok(s) => s,
        Err(e) => return internal_page(&g.pages, e),
    };
    let mut response = see_other(&oidc.endpoint("account"));
    let headers = response.headers_mut();
    headers.append(
        header::SET_COOKIE,
        account_cookie(oidc, ACCOUNT_COOKIE, &sealed, oidc.tokens.session_s),
    );
    headers.append(
        header::SET_COOKIE,
        account_cookie(oidc, LOGIN_COOKIE, "", 0),
    );
    response
}

/// `POST /realms/{realm}/account/logout-everywhere`: ends every session of the account.
pub async fn logout_everywhere(
    State(g): State<Arc<Gatehouse>>,
    Path(realm): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Ok(runtime) = g.realm(&realm) else {
        return realm_error(&g, "", StatusCode::NOT_FOUND, "No such realm.");
    };
    let oidc = &runtime.oidc;
    let form = form_pairs(&body);
    let (session, account) = match signed_in(&g, runtime, &headers).await {
        Ok(Some((session, account, _))) => (session, account),
        Ok(None) => return see_other(&oidc.endpoint("account")),
        Err(e) => return internal_page(&g.pages, e),
    };
    // The token is in the sealed cookie and in the page: another site can post neither.
    if !get(&form, "csrf_token").is_some_and(|t| gatehouse_oidc::crypto::ct_eq(t, &session.csrf)) {
        return realm_error(
            &g,
            &realm,
            StatusCode::FORBIDDEN,
            "This page has expired. Open your account page again.",
        );
    }
    let ended = match oidc.end_account_sessions(account.account.id).await {
        Ok(n) => n,
        Err(e) => return internal_page(&g.pages, e),
    };
    tracing::info!(realm = %realm, account = %account.account.id, sessions = ended,
        "account page: logged out everywhere");
    let mut response = page(
        StatusCode::OK,
        g.pages.render(
            "logged_out.html",
            minijinja::context! { realm => &realm, ended },
        ),
    );
    let headers = response.headers_mut();
    headers.append(
        header::SET_COOKIE,
        account_cookie(oidc, ACCOUNT_COOKIE, "", 0),
    );
    headers.append(header::SET_COOKIE, set_cookie(oidc, SESSION_COOKIE, "", 0));
    response
}

fn when(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

fn render(
    g: &Gatehouse,
    runtime: &RealmRuntime,
    session: &AccountPageSession,
    account: &AccountWithLinks,
    sessions: Vec<BrowserSession>,
) -> Response {
    let config = g.config.realms.get(&runtime.name);
    let links: Vec<minijinja::Value> = account
        .links
        .iter()
        .map(|link| {
            let kind = config
                .and_then(|c| c.provider(&link.provider_id))
                .map(|p| p.kind().to_string());
            let state = match link_state(&runtime.policy, link) {
                LinkState::Live => "active".to_owned(),
                LinkState::Inert { superseded_by } => format!("replaced by {superseded_by}"),
                LinkState::ProviderDisabled => "provider disabled".to_owned(),
                LinkState::NotChained => "not in use".to_owned(),
                LinkState::UnknownProvider => "unknown provider".to_owned(),
            };
            minijinja::context! {
                provider => &link.provider_id,
                kind,
                live => state == "active",
                state,
                since => when(link.created_at),
            }
        })
        .collect();
    let sessions: Vec<minijinja::Value> = sessions
        .iter()
        .map(|s| {
            let method = match &s.upstream {
                Some(u) => format!("via {}", u.provider),
                None if s.amr.iter().any(|a| a == "pwd") => "password".to_owned(),
                None => s.amr.join(", "),
            };
            minijinja::context! {
                current => s.id_hash == session.sid,
                signed_in => when(s.auth_time),
                last_seen => when(s.last_seen_at),
                expires => when(s.expires_at),
                method,
            }
        })
        .collect();
    let a = &account.account;
    let html = g.pages.render(
        "account.html",
        minijinja::context! {
            realm => &runtime.name,
            wide => true,
            account => minijinja::context! {
                id => a.id.to_string(),
                username => &a.username,
                name => &a.name,
                email => &a.email,
                roles => &a.roles,
                groups => &a.groups,
                created => when(a.created_at),
            },
            links,
            sessions,
            csrf_token => &session.csrf,
            logout_everywhere_action => runtime.oidc.endpoint("account/logout-everywhere"),
            logout_url => runtime.oidc.endpoint("logout"),
            two_factor_url => runtime.oidc.endpoint("account/two-factor"),
        },
    );
    page(StatusCode::OK, html)
}
