//! The account page's two-factor section, `/realms/{realm}/account/two-factor`: set up an
//! authenticator app (QR code, the key in text, confirmed by a code, then eight recovery codes
//! shown once), remove it, get new recovery codes. Every change needs a recent login — the
//! browser session's `auth_time` within [`FRESH_LOGIN`] — else the user logs in again
//! (`prompt=login`); every change is audited. The decisions are `gatehouse_mfa::SecondFactors`'.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::{Duration, Utc};
use gatehouse_core::AccountWithLinks;
use gatehouse_mfa::{MfaError, TotpSetup, TotpStatus};
use gatehouse_oidc::AccountPageSession;

use super::account::{begin_login_with, realm_error, signed_in};
use super::oidc::http::{form_pairs, get, internal_page, page, see_other};
use crate::app::{Gatehouse, RealmRuntime};

/// How recent a login must be to change second factors.
pub const FRESH_LOGIN: Duration = Duration::minutes(5);

/// Audit event kinds.
pub const EVENT_ENROLLED: &str = "mfa_totp_enrolled";
pub const EVENT_REMOVED: &str = "mfa_totp_removed";
pub const EVENT_RECOVERY_CODES: &str = "mfa_recovery_codes_issued";

struct SignedIn<'a> {
    g: &'a Gatehouse,
    runtime: &'a RealmRuntime,
    session: AccountPageSession,
    account: AccountWithLinks,
    /// The browser session logged in within [`FRESH_LOGIN`].
    fresh: bool,
}

impl SignedIn<'_> {
    fn url(&self, path: &str) -> String {
        self.runtime.oidc.endpoint(path)
    }

    fn render(&self, status: StatusCode, context: minijinja::Value) -> Response {
        let base = minijinja::context! {
            realm => &self.runtime.name,
            csrf_token => &self.session.csrf,
            overview_url => self.url("account/two-factor"),
            account_page => self.url("account"),
            start_action => self.url("account/two-factor/totp/start"),
            confirm_action => self.url("account/two-factor/totp/confirm"),
            remove_action => self.url("account/two-factor/totp/remove"),
            recovery_action => self.url("account/two-factor/recovery-codes"),
        };
        page(
            status,
            self.g.pages.render(
                "account_mfa.html",
                minijinja::context! { ..context, ..base },
            ),
        )
    }

    async fn overview(
        &self,
        status: StatusCode,
        notice: Option<&str>,
        error: Option<&str>,
    ) -> Response {
        let factors = &self.runtime.mfa.factors;
        let (app, remaining) = match factors.status(&self.account.account).await {
            Ok(s) => s,
            Err(e) => return internal_page(&self.g.pages, e),
        };
        let app = match app {
            TotpStatus::None => "none",
            TotpStatus::Pending => "pending",
            TotpStatus::Enrolled => "enrolled",
        };
        self.render(
            status,
            minijinja::context! { view => "overview", status => app, remaining, notice, error },
        )
    }

    fn setup(&self, status: StatusCode, setup: &TotpSetup, error: Option<&str>) -> Response {
        self.render(
            status,
            minijinja::context! {
                view => "setup",
                qr_svg => &setup.qr_svg,
                secret_text => &setup.secret_text,
                otpauth_uri => &setup.otpauth_uri,
                error,
            },
        )
    }

    fn codes(&self, codes: &[String], fresh_enrolment: bool) -> Response {
        self.render(
            StatusCode::OK,
            minijinja::context! { view => "codes", codes => codes.to_vec(), fresh_enrolment },
        )
    }

    async fn audit(&self, kind: &str) {
        let a = &self.account.account;
        if let Err(e) = self
            .g
            .store
            .record_second_factor_event(&self.runtime.name, a.id, &a.username, kind, "success")
            .await
        {
            tracing::error!(realm = %self.runtime.name, account = %a.id, kind, error = %e, "second-factor audit event not written");
        }
    }
}

enum Gate<'a> {
    In(Box<SignedIn<'a>>),
    Out(Response),
}

async fn enter<'a>(g: &'a Gatehouse, realm: &str, headers: &HeaderMap) -> Gate<'a> {
    let Ok(runtime) = g.realm(realm) else {
        return Gate::Out(realm_error(g, "", StatusCode::NOT_FOUND, "No such realm."));
    };
    match signed_in(g, runtime, headers).await {
        Ok(Some((session, account, sessions))) => {
            let now = Utc::now();
            let fresh = sessions
                .iter()
                .find(|s| s.id_hash == session.sid)
                .is_some_and(|s| now - s.auth_time <= FRESH_LOGIN);
            Gate::In(Box::new(SignedIn {
                g,
                runtime,
                session,
                account,
                fresh,
            }))
        }
        Ok(None) => Gate::Out(see_other(&runtime.oidc.endpoint("account"))),
        Err(e) => Gate::Out(internal_page(&g.pages, e)),
    }
}

/// A change: signed in, the form's CSRF token, and a recent login (else log in again).
async fn enter_change<'a>(
    g: &'a Gatehouse,
    realm: &str,
    headers: &HeaderMap,
    form: &[(String, String)],
) -> Gate<'a> {
    let me = match enter(g, realm, headers).await {
        Gate::In(me) => me,
        out => return out,
    };
    // The token is in the sealed cookie and in the page: another site can post neither.
    if !get(form, "csrf_token").is_some_and(|t| gatehouse_oidc::crypto::ct_eq(t, &me.session.csrf))
    {
        return Gate::Out(realm_error(
            g,
            realm,
            StatusCode::FORBIDDEN,
            "This page has expired. Open your account page again.",
        ));
    }
    if !me.fresh {
        return Gate::Out(begin_login_with(g, me.runtime, true));
    }
    Gate::In(me)
}

/// `GET /realms/{realm}/account/two-factor`.
pub async fn show(
    State(g): State<Arc<Gatehouse>>,
    Path(realm): Path<String>,
    headers: HeaderMap,
) -> Response {
    let me = match enter(&g, &realm, &headers).await {
        Gate::In(me) => me,
        Gate::Out(r) => return r,
    };
    me.overview(StatusCode::OK, None, None).await
}

/// `POST …/two-factor/totp/start`: a new secret, shown as QR code and text.
pub async fn start(
    State(g): State<Arc<Gatehouse>>,
    Path(realm): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = form_pairs(&body);
    let me = match enter_change(&g, &realm, &headers, &form).await {
        Gate::In(me) => me,
        Gate::Out(r) => return r,
    };
    match me
        .runtime
        .mfa
        .factors
        .start_totp(&me.account.account, Utc::now())
        .await
    {
        Ok(setup) => me.setup(StatusCode::OK, &setup, None),
        Err(MfaError::AlreadyEnrolled) => {
            me.overview(
                StatusCode::CONFLICT,
                None,
                Some("An authenticator app is already set up. Remove it first to set up another."),
            )
            .await
        }
        Err(e) => internal_page(&g.pages, e),
    }
}

/// `POST …/two-factor/totp/confirm`: the first code from the app; then the recovery codes.
pub async fn confirm(
    State(g): State<Arc<Gatehouse>>,
    Path(realm): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = form_pairs(&body);
    let me = match enter_change(&g, &realm, &headers, &form).await {
        Gate::In(me) => me,
        Gate::Out(r) => return r,
    };
    let factors = &me.runtime.mfa.factors;
    let typed = get(&form, "code").unwrap_or("");
    match factors
        .confirm_totp(&me.account.account, typed, Utc::now())
        .await
    {
        Ok(codes) => {
            me.audit(EVENT_ENROLLED).await;
            me.codes(&codes, true)
        }
        Err(MfaError::BadCode(message)) => match factors.pending_totp(&me.account.account).await {
            Ok(Some(setup)) => me.setup(StatusCode::BAD_REQUEST, &setup, Some(&message)),
            Ok(None) => {
                me.overview(StatusCode::BAD_REQUEST, None, Some(&message))
                    .await
            }
            Err(e) => internal_page(&g.pages, e),
        },
        Err(e @ (MfaError::NoPendingEnrolment | MfaError::AlreadyEnrolled)) => {
            me.overview(
                StatusCode::CONFLICT,
                None,
                Some(&upper_first(&e.to_string())),
            )
            .await
        }
        Err(e) => internal_page(&g.pages, e),
    }
}

/// `POST …/two-factor/totp/remove`: the app and its recovery codes go.
pub async fn remove(
    State(g): State<Arc<Gatehouse>>,
    Path(realm): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = form_pairs(&body);
    let me = match enter_change(&g, &realm, &headers, &form).await {
        Gate::In(me) => me,
        Gate::Out(r) => return r,
    };
    match me.runtime.mfa.factors.remove(&me.account.account).await {
        Ok(true) => {
            me.audit(EVENT_REMOVED).await;
            me.overview(
                StatusCode::OK,
                Some("Your authenticator app and recovery codes were removed. You can set up a new device now."),
                None,
            )
            .await
        }
        Ok(false) => {
            me.overview(StatusCode::OK, Some("Nothing to remove."), None)
                .await
        }
        Err(e) => internal_page(&g.pages, e),
    }
}

/// `POST …/two-factor/recovery-codes`: eight new codes; the old ones stop working.
pub async fn recovery_codes(
    State(g): State<Arc<Gatehouse>>,
    Path(realm): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = form_pairs(&body);
    let me = match enter_change(&g, &realm, &headers, &form).await {
        Gate::In(me) => me,
        Gate::Out(r) => return r,
    };
    match me
        .runtime
        .mfa
        .factors
        .regenerate_recovery_codes(&me.account.account, Utc::now())
        .await
    {
        Ok(codes) => {
            me.audit(EVENT_RECOVERY_CODES).await;
            me.codes(&codes, false)
        }
        Err(MfaError::NotEnrolled) => {
            me.overview(
                StatusCode::CONFLICT,
                None,
                Some("Recovery codes come with an authenticator app: set one up first."),
            )
            .await
        }
        Err(e) => internal_page(&g.pages, e),
    }
}

fn upper_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect::<String>() + ".",
        None => String::new(),
    }
}
