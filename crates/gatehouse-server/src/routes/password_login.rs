//! `POST /realms/{realm}/api/v1/password-login`: the JSON authentication API for a password login.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use gatehouse_core::{Account, AccountId, LoginDecision, LoginOrigin, Refusal, Secret};
use serde::{Deserialize, Serialize};

use super::JsonError;
use crate::app::Gatehouse;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    login: String,
    password: Secret,
}

/// The answer to a successful login, serialised from the resolver's account as it is: a login
/// builds no intermediate JSON tree.
#[derive(Serialize)]
struct LoginResponse<'a> {
    account: AccountView<'a>,
    provider: Option<&'a str>,
}

#[derive(Serialize)]
struct AccountView<'a> {
    id: AccountId,
    username: &'a str,
    email: Option<&'a str>,
    name: Option<&'a str>,
    roles: &'a [String],
    groups: &'a [String],
}

impl<'a> AccountView<'a> {
    fn of(account: &'a Account) -> Self {
        Self {
            id: account.id,
            username: &account.username,
            email: account.email.as_deref(),
            name: account.name.as_deref(),
            roles: &account.roles,
            groups: &account.groups,
        }
    }
}

pub async fn password_login(
    State(gatehouse): State<Arc<Gatehouse>>,
    Path(realm): Path<String>,
    peer: super::peer::Peer,
    body: Result<Json<LoginRequest>, JsonRejection>,
) -> Result<Response, JsonError> {
    let Ok(realm) = gatehouse.realm(&realm) else {
        return Err(JsonError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "No such realm.",
        ));
    };
    let Json(request) = body.map_err(|rejection| {
        // A body over the limit is refused as such (413), not as malformed.
        let status = match rejection.status() {
            StatusCode::PAYLOAD_TOO_LARGE => StatusCode::PAYLOAD_TOO_LARGE,
            _ => StatusCode::BAD_REQUEST,
        };
        JsonError::new(
            status,
            "invalid_request",
            format!(
                "expected a JSON body {{\"login\": \"…\", \"password\": \"…\"}}: {}",
                rejection.body_text()
            ),
        )
    })?;
    let result = realm
        .resolver
        .resolve_from(
            &request.login,
            &request.password,
            &LoginOrigin {
                client: None,
                ip: super::peer::ip(&peer),
            },
        )
        .await
        .map_err(JsonError::internal)?;
    match (&result.decision, &result.account) {
        (LoginDecision::Success, Some(account)) => Ok(Json(LoginResponse {
            account: AccountView::of(account),
            provider: result.attempts.last().map(|a| a.provider.as_str()),
        })
        .into_response()),
        (LoginDecision::Refused(refusal), _) if refusal.is_temporary() => Err(JsonError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            refusal.public_message(),
        )),
        // Only the owner reaches this (the password was right); no token until it is changed.
        (LoginDecision::Refused(Refusal::PasswordExpired), _) => Err(JsonError::new(
            StatusCode::FORBIDDEN,
            "password_expired",
            Refusal::PasswordExpired.public_message(),
        )),
        // The same status, code and words as a wrong password, with how long to wait.
        (LoginDecision::Refused(refusal), _) if refusal.retry_after().is_some() => {
            let mut response = JsonError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_credentials",
                refusal.public_message(),
            )
            .into_response();
            let seconds = refusal.retry_after().unwrap_or_default().as_secs().max(1);
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, seconds.into());
            Ok(response)
        }
        (LoginDecision::Refused(refusal), _) => Err(JsonError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
            refusal.public_message(),
        )),
        (LoginDecision::Success, None) => Err(JsonError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
            Refusal::InvalidCredentials.public_message(),
        )),
    }
}
