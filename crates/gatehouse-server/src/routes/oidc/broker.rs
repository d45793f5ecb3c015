//! Redirect providers (`oidc`, `oauth2`, `saml`) in the browser login: the start (a button of the login
//! page, identifier-first routing, `auto_redirect`) and the callback that turns the upstream's
//! answer into a session and a code for the waiting relying party.
//!
//! Between the two, what the connector needs back (PKCE verifier, nonce) is kept server-side as a
//! [`PendingRedirect`] keyed by the hash of the upstream `state`, bound to the browser's CSRF
//! cookie and to the original login transaction; the callback consumes it once. Which account the
//! upstream identity logs in as — and the replay cache of single-use answers — is core's
//! [`gatehouse_core::Federation`]; this module only translates HTTP.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::{Duration, Utc};
use gatehouse_core::federation::{SUCCESS, callback_record, known_as};
use gatehouse_core::{
    AccountRepository, Attempt, AttemptOutcome, CallbackError, FederationRefusal, LoginOrigin,
    PendingRedirect, PendingRedirectRepository, redirect_plan,
};
use gatehouse_oidc::AuthorizeRequest;
use gatehouse_oidc::crypto::{ct_eq, token_hash};
use gatehouse_store::LoginTransaction;

use super::finish;
use super::http::{
    CSRF_COOKIE, auto_post_page, cookie, error_page, form_pairs, get, internal_page, query_pairs,
};
use crate::app::{Gatehouse, RealmRuntime};
use crate::routes::peer::{self, Peer};

const EXPIRED: &str =
    "This login has expired or was already used. Return to the application and start again.";
const FAILED: &str = "The login could not be completed. Return to the application and try again.";

/// Audit result codes of refused callbacks.
const CSRF: &str = "csrf";
const EXPIRED_CODE: &str = "expired";
const NO_STATE: &str = "no_state";
const UPSTREAM_REFUSED: &str = "upstream_refused";

/// The field [`callback_post`] adds when it re-sends a cross-site POST from this site, so it
/// bounces once at most.
const BOUNCED: &str = "gatehouse_bounced";

/// `auto_redirect` (core's [`redirect_plan::auto_redirect`]) for the realm of `runtime`.
pub fn auto_redirect(runtime: &RealmRuntime) -> Option<&str> {
    redirect_plan::auto_redirect(&runtime.policy, &runtime.redirect_providers)
}

pub fn callback_url(runtime: &RealmRuntime, provider: &str) -> String {
    runtime
        .oidc
        .endpoint(&format!("broker/{provider}/callback"))
}

/// Begin a login at `provider` for the login transaction `found`: keep the connector's pending
/// state server-side, send the browser upstream.
pub async fn begin(
    g: &Gatehouse,
    runtime: &RealmRuntime,
    provider: &str,
    found: &LoginTransaction,
) -> Response {
    let Some(upstream) =
        redirect_plan::offered_provider(&runtime.policy, &runtime.redirect_providers, provider)
    else {
        return error_page(&g.pages, StatusCode::NOT_FOUND, FAILED, None);
    };
    let start = match upstream.begin(&callback_url(runtime, provider)).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(realm = %runtime.name, provider, error = %e, "redirect login could not start");
            return error_page(&g.pages, StatusCode::BAD_GATEWAY, FAILED, None);
        }
    };
    let now = Utc::now();
    let kept = PendingRedirect {
        realm: runtime.name.clone(),
        provider: provider.to_owned(),
        login_hash: found.id_hash.clone(),
        // The callback must come back to the browser that started it (login CSRF).
        csrf_hash: found.csrf_hash.clone(),
        connector_state: start.pending,
        created_at: now,
        expires_at: (now + Duration::minutes(10)).min(found.expires_at),
    };
    if let Err(e) = g
        .store
        .create_pending_redirect(&token_hash(&start.state), &kept)
        .await
    {
        return internal_page(&g.pages, e);
    }
    match &start.form {
        // HTTP-POST binding (SAML): the browser carries the request to the upstream in a form.
        Some(fields) => auto_post_page(&g.pages, &start.location, fields),
        None => super::http::see_other(&start.location),
    }
}

/// `POST /realms/{realm}/broker/{provider}/start`: a button of the login page.
pub async fn start(
    State(g): State<Arc<Gatehouse>>,
    Path((realm, provider)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Ok(runtime) = g.realm(&realm) else {
        return error_page(&g.pages, StatusCode::NOT_FOUND, "No such realm.", None);
    };
    let form = form_pairs(&body);
    let (Some(tx), Some(csrf)) = (get(&form, "tx"), get(&form, "csrf_token")) else {
        return error_page(&g.pages, StatusCode::BAD_REQUEST, EXPIRED, None);
    };
    if cookie(&headers, CSRF_COOKIE).is_none_or(|c| !ct_eq(&c, csrf)) {
        return error_page(&g.pages, StatusCode::FORBIDDEN, EXPIRED, Some("csrf"));
    }
    match runtime.oidc.load_login(tx, Some(csrf)).await {
        Ok(Some((found, _))) => begin(&g, runtime, &provider, &found).await,
        Ok(None) => error_page(&g.pages, StatusCode::BAD_REQUEST, EXPIRED, None),
        Err(e) => internal_page(&g.pages, e),
    }
}

pub async fn callback_get(
    State(g): State<Arc<Gatehouse>>,
    Path((realm, provider)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    peer: Peer,
) -> Response {
    callback(
        &g,
        &realm,
        &provider,
        query_pairs(query.as_deref()),
        &headers,
        peer::ip(&peer),
    )
    .await
}

/// `response_mode=form_post` upstreams and the SAML HTTP-POST binding (the ACS).
///
/// The upstream's page POSTs here from its own site, so the browser leaves out our SameSite=Lax
/// CSRF cookie, which the pending login is bound to. Such a POST is answered with a page of this
/// site that re-POSTs the same fields to the same URL once (marked by [`BOUNCED`]): that second
/// POST is same-site and carries the cookie. The bounce adds no power to a forged POST: the
/// callback still needs a pending login bound to this very browser's cookie.
pub async fn callback_post(
    State(g): State<Arc<Gatehouse>>,
    Path((realm, provider)): Path<(String, String)>,
    headers: HeaderMap,
    peer: Peer,
    body: Bytes,
) -> Response {
    let mut params = form_pairs(&body);
    let bounced = params.iter().any(|(k, _)| k == BOUNCED);
    params.retain(|(k, _)| k != BOUNCED);
    if !bounced
        && cookie(&headers, CSRF_COOKIE).is_none()
        && let Ok(runtime) = g.realm(&realm)
        && runtime.redirect_providers.contains_key(&provider)
    {
        params.push((BOUNCED.to_owned(), "1".to_owned()));
        return auto_post_page(&g.pages, &callback_url(runtime, &provider), &params);
    }
    callback(&g, &realm, &provider, params, &headers, peer::ip(&peer)).await
}

async fn callback(
    g: &Gatehouse,
    realm: &str,
    provider: &str,
    params: Vec<(String, String)>,
    headers: &HeaderMap,
    ip: Option<String>,
) -> Response {
    let Ok(runtime) = g.realm(realm) else {
        return error_page(&g.pages, StatusCode::NOT_FOUND, "No such realm.", None);
    };
    // Only a configured provider's callback is recorded: the path segment would otherwise put
    // any string a client makes up into the audit trail and the metrics' label sets.
    if !runtime.redirect_providers.contains_key(provider) {
        return error_page(&g.pages, StatusCode::NOT_FOUND, "No such provider.", None);
    }
    let began = Instant::now();
    // Refused before the upstream's answer is looked at: a re-POSTed or stale callback (its
    // login finished, expired or never existed), or one from another browser than the one that
    // started the login (login CSRF). Each is an audit event and a log line all the same.
    let refuse = |code: &'static str, login: Option<String>, client: Option<String>| {
        let ip = ip.clone();
        async move {
            tracing::warn!(
                realm,
                provider,
                result = code,
                "redirect login callback refused"
            );
            let attempt = Attempt {
                provider: provider.to_owned(),
                outcome: AttemptOutcome::Rejected,
                duration: began.elapsed(),
            };
            let origin = LoginOrigin { client, ip };
            record(g, realm, login.as_deref(), None, code, attempt, origin).await;
            if code == CSRF {
                error_page(&g.pages, StatusCode::FORBIDDEN, EXPIRED, Some(CSRF))
            } else {
                error_page(&g.pages, StatusCode::BAD_REQUEST, EXPIRED, None)
            }
        }
    };
    // OAuth 2.0 `state`, or the SAML RelayState that the connector chose as its state.
    let Some(state) = get(&params, "state").or_else(|| get(&params, "RelayState")) else {
        return refuse(NO_STATE, None, None).await;
    };
    let state_hash = token_hash(state);
    let pending = match g
        .store
        .find_pending_redirect(realm, &state_hash, Utc::now())
        .await
    {
        Ok(Some(pending)) => pending,
        Ok(None) => return refuse(EXPIRED_CODE, None, None).await,
        Err(e) => return internal_page(&g.pages, e),
    };
    // What the login was for and as whom, as far as the login this callback belongs to says.
    let original = match g
        .store
        .find_login_transaction(realm, &pending.login_hash, Utc::now())
        .await
    {
        Ok(found) => found,
        Err(e) => return internal_page(&g.pages, e),
    };
    let request = original
        .as_ref()
        .and_then(|o| serde_json::from_value::<AuthorizeRequest>(o.request.clone()).ok());
    let known_login = original.as_ref().and_then(|o| o.username.clone());
    let client = request.as_ref().map(|r| r.client_id.clone());
    // Only the browser that started this login may finish it.
    let browser = cookie(headers, CSRF_COOKIE).map(|c| token_hash(&c));
    if browser.is_none_or(|b| !ct_eq(&b, &pending.csrf_hash)) {
        return refuse(CSRF, known_login, client).await;
    }
    if pending.provider != provider {
        return refuse(EXPIRED_CODE, known_login, client).await;
    }
    // Single use: of two callbacks carrying the same state, only the one that deletes it goes on.
    match g.store.take_pending_redirect(&state_hash).await {
        Ok(true) => {}
        Ok(false) => return refuse(EXPIRED_CODE, known_login, client).await,
        Err(e) => return internal_page(&g.pages, e),
    }
    let (Some(original), Some(request)) = (original, request) else {
        return refuse(EXPIRED_CODE, known_login, client).await;
    };
    let Some(upstream) =
        redirect_plan::offered_provider(&runtime.policy, &runtime.redirect_providers, provider)
    else {
        return refuse(EXPIRED_CODE, known_login, client).await;
    };
    let origin = LoginOrigin {
        client: Some(request.client_id.clone()),
        ip,
    };
    let began = Instant::now();
    let identity = upstream
        .complete(
            &pending.connector_state,
            &callback_url(runtime, provider),
            &params,
        )
        .await;
    let attempt = |outcome: AttemptOutcome| Attempt {
        provider: provider.to_owned(),
        outcome,
        duration: began.elapsed(),
    };
    let identity = match identity {
        Ok(identity) => identity,
        Err(e) => {
            let (outcome, status) = match &e {
                CallbackError::Unavailable(why) => (
                    AttemptOutcome::Unavailable(why.clone()),
                    StatusCode::BAD_GATEWAY,
                ),
                _ => (AttemptOutcome::Rejected, StatusCode::BAD_REQUEST),
            };
            // The refusal can quote the upstream's unauthenticated answer (a SAML Destination,
            // Issuer, Status): bounded and on one line before it reaches a log.
            let why = one_line(&e.to_string(), 300);
            tracing::info!(realm, provider, error = %why, "redirect login refused");
            // The audit event carries a result code; which check failed is in the log line
            // above (and, for an unreachable upstream, in the attempt's outcome).
            record(
                g,
                realm,
                known_login.as_deref(),
                None,
                UPSTREAM_REFUSED,
                attempt(outcome),
                origin,
            )
            .await;
            return error_page(&g.pages, status, FAILED, None);
        }
    };
    let login = known_as(&identity);
    let federation = crate::federation::federation(g, runtime);
    match federation
        .account_for(provider, &identity, Utc::now())
        .await
    {
        Ok(account) => {
            record(
                g,
                realm,
                Some(&login),
                Some(account.account.id),
                SUCCESS,
                attempt(AttemptOutcome::Verified),
                origin,
            )
            .await;
            finish::complete(
                g,
                &runtime.oidc,
                &original,
                &request,
                account.account.id,
                "fed",
                Some(gatehouse_oidc::UpstreamLogin {
                    provider: provider.to_owned(),
                    logout_hint: identity
                        .logout_hint
                        .clone()
                        .map(gatehouse_core::Secret::new),
                }),
            )
            .await
        }
        Err(FederationRefusal::Store(e)) => internal_page(&g.pages, e),
        Err(refused) => {
            // A replayed answer is the upstream's word refused; the others were verified
            // upstream and refused here.
            let (outcome, status) = match refused {
                FederationRefusal::Replayed => (AttemptOutcome::Rejected, StatusCode::BAD_REQUEST),
                _ => (AttemptOutcome::Verified, StatusCode::FORBIDDEN),
            };
            record(
                g,
                realm,
                Some(&login),
                refused.account(),
                refused.code(),
                attempt(outcome),
                origin,
            )
            .await;
            error_page(&g.pages, status, refused.public_message(), None)
        }
    }
}

/// Writes the audit event of a callback ([`callback_record`]) and counts it.
async fn record(
    g: &Gatehouse,
    realm: &str,
    login: Option<&str>,
    account_id: Option<gatehouse_core::AccountId>,
    result: &str,
    attempt: Attempt,
    origin: LoginOrigin,
) {
    let record = callback_record(
        realm,
        login,
        account_id,
        result,
        attempt,
        origin,
        Utc::now(),
    );
    g.metrics.login(&record);
    let started = std::time::Instant::now();
    let written = g.store.record_login(&record).await;
    let answered = !matches!(&written, Err(e) if e.is_unavailable());
    crate::metrics::store_write("record_login", started.elapsed(), answered);
    if let Err(e) = written {
        tracing::error!(realm, error = %e, "could not record a redirect login");
    }
}

/// `text` with control characters as spaces, cut to `max` characters.
fn one_line(text: &str, max: usize) -> String {
    let mut out: String = text
        .chars()
        .take(max)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if text.chars().nth(max).is_some() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::one_line;

    #[test]
    fn refusals_reach_the_audit_on_one_bounded_line() {
        assert_eq!(
            one_line("destination: `a\nforged: line`", 100),
            "destination: `a forged: line`"
        );
        let long = "x".repeat(1000);
        assert_eq!(one_line(&long, 300).chars().count(), 301);
        assert_eq!(one_line("short", 300), "short");
    }
}
