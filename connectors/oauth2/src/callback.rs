//! What a code-flow login keeps between `begin` and `complete`, and the checks of the callback's
//! parameters. Shared with the `oidc` connector.

use std::collections::HashMap;

use gatehouse_core::CallbackError;
use oauth2::{ErrorResponse, RequestTokenError};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use crate::http::HttpError;

/// The `pending` JSON of a [`gatehouse_core::RedirectStart`]. The broker keeps it server-side;
/// no `Debug`, so the verifier never reaches a log by accident.
#[derive(Serialize, Deserialize)]
pub struct Pending {
    pub state: String,
    /// The PKCE (S256) code verifier.
    pub code_verifier: String,
    /// The OIDC nonce the ID token must carry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
}

impl Pending {
    pub fn to_value(&self) -> serde_json::Value {
        // A struct of strings always serialises; the fallback keeps `unwrap` out regardless.
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }

    pub fn from_value(value: &serde_json::Value) -> Result<Self, CallbackError> {
        Self::deserialize(value)
            .map_err(|_| CallbackError::Invalid("the pending login record is malformed".into()))
    }
}

/// How the callback must name the issuer (RFC 9207, against mix-up attacks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssCheck<'a> {
    /// Plain OAuth 2.0: no issuer to compare.
    None,
    /// `iss`, when present, must be this.
    IfPresent(&'a str),
    /// The upstream advertises `authorization_response_iss_parameter_supported`: `iss` must be
    /// present and be this.
    Required(&'a str),
}

/// Checks a callback's parameters against the pending login and returns the authorization code.
///
/// Order matters: the `state` is checked first, so that nobody can feed the broker an `error` (or
/// a code) for a login they did not start.
pub fn authorization_code(
    params: &[(String, String)],
    expected_state: &str,
    iss: IssCheck<'_>,
) -> Result<String, CallbackError> {
    let mut one: HashMap<&str, &str> = HashMap::new();
    for (k, v) in params {
        if one.insert(k.as_str(), v.as_str()).is_some()
            && matches!(k.as_str(), "state" | "code" | "error" | "iss")
        {
            return Err(CallbackError::Invalid(format!(
                "the callback repeats `{k}`"
            )));
        }
    }
    let state = one.get("state").copied().unwrap_or_default();
    if state.is_empty() || !bool::from(state.as_bytes().ct_eq(expected_state.as_bytes())) {
        return Err(CallbackError::State);
    }
    match (iss, one.get("iss")) {
        (IssCheck::IfPresent(want) | IssCheck::Required(want), Some(got)) if *got != want => {
            return Err(CallbackError::Invalid(format!(
                "the callback's `iss` is `{}`, not the configured issuer `{want}` (mix-up?)",
                printable(got)
            )));
        }
        (IssCheck::Required(_), None) => {
            return Err(CallbackError::Invalid(
                "the callback has no `iss` although the upstream promises one (RFC 9207)".into(),
            ));
        }
        _ => {}
    }
    if let Some(error) = one.get("error") {
        let description = one
            .get("error_description")
            .map(|d| format!(": {}", printable(d)));
        return Err(CallbackError::Upstream(format!(
            "{}{}",
            printable(error),
            description.unwrap_or_default()
        )));
    }
    match one.get("code") {
        Some(code) if !code.is_empty() => Ok((*code).to_owned()),
        _ => Err(CallbackError::Invalid(
            "the callback has neither `code` nor `error`".into(),
        )),
    }
}

/// Text from outside for a log line: printable characters only, bounded.
pub fn printable(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(200).collect()
}

/// A failed token request, in words that carry neither the code nor a token: the HTTP layer's
/// message, the upstream's RFC 6749 error, or where parsing the answer failed (not what it held).
pub fn token_error<RE: ErrorResponse + 'static>(
    e: RequestTokenError<HttpError, RE>,
) -> CallbackError {
    match e {
        RequestTokenError::Request(e) => CallbackError::Unavailable(format!("token endpoint: {e}")),
        RequestTokenError::ServerResponse(r) => {
            CallbackError::Upstream(format!("token endpoint: {}", printable(&r.to_string())))
        }
        RequestTokenError::Parse(e, _body) => CallbackError::Invalid(format!(
            "token endpoint: not a token response (at `{}`)",
            e.path()
        )),
        RequestTokenError::Other(m) => {
            CallbackError::Invalid(format!("token endpoint: {}", printable(&m)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn returns_the_code_when_state_matches() {
        let params = p(&[("code", "c1"), ("state", "s1"), ("iss", "https://op")]);
        assert_eq!(
            authorization_code(&params, "s1", IssCheck::Required("https://op")),
            Ok("c1".into())
        );
        assert_eq!(
            authorization_code(&params, "s1", IssCheck::None),
            Ok("c1".into())
        );
    }

    #[test]
    fn state_is_checked_before_anything_else() {
        let forged = p(&[("error", "access_denied"), ("state", "other")]);
        assert_eq!(
            authorization_code(&forged, "s1", IssCheck::None),
            Err(CallbackError::State)
        );
        assert_eq!(
            authorization_code(&p(&[("code", "c")]), "s1", IssCheck::None),
            Err(CallbackError::State)
        );
        // An empty expected state never matches an absent one.
        assert_eq!(
            authorization_code(&p(&[("code", "c")]), "", IssCheck::None),
            Err(CallbackError::State)
        );
    }

    #[test]
    fn repeated_parameters_are_refused() {
        let params = p(&[("code", "c"), ("state", "s1"), ("state", "s1")]);
        assert!(matches!(
            authorization_code(&params, "s1", IssCheck::None),
            Err(CallbackError::Invalid(_))
        ));
    }

    #[test]
    fn issuer_mix_up_is_refused() {
        let params = p(&[("code", "c"), ("state", "s"), ("iss", "https://evil")]);
        let err = authorization_code(&params, "s", IssCheck::IfPresent("https://op")).unwrap_err();
        assert!(err.to_string().contains("mix-up"), "{err}");
        let without = p(&[("code", "c"), ("state", "s")]);
        assert!(authorization_code(&without, "s", IssCheck::IfPresent("https://op")).is_ok());
        assert!(authorization_code(&without, "s", IssCheck::Required("https://op")).is_err());
    }

    #[test]
    fn upstream_errors_are_reported_clean() {
        let params = p(&[
            ("state", "s"),
            ("error", "access_denied"),
            ("error_description", "no\r\nway"),
        ]);
        assert_eq!(
            authorization_code(&params, "s", IssCheck::None),
            Err(CallbackError::Upstream("access_denied: noway".into()))
        );
    }

    #[test]
    fn pending_round_trips_and_refuses_garbage() {
        let pending = Pending {
            state: "s".into(),
            code_verifier: "v".into(),
            nonce: None,
        };
        let v = pending.to_value();
        assert!(v.get("nonce").is_none());
        assert_eq!(Pending::from_value(&v).unwrap().code_verifier, "v");
        assert!(Pending::from_value(&serde_json::json!({"state": 1})).is_err());
    }
}
