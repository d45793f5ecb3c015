//! Claims → [`ExternalIdentity`]: claim paths, `username_claim` + `username_regex`, and the
//! profile claims. Shared with the `oidc` connector, which maps ID token + userinfo claims the
//! same way.

use gatehouse_core::{CallbackError, ExternalIdentity, Profile};
use regex::Regex;
use serde_json::{Map, Value};

/// The default `username_regex`: the whole claim value.
pub const ANY_USERNAME: &str = "(.*)";

/// Which claims hold what, as configured.
#[derive(Debug, Clone)]
pub struct ClaimMapping {
    /// The stable id at the upstream (`sub` for OIDC; `id_claim` for OAuth 2.0).
    pub id: String,
    pub username: String,
    pub username_regex: Regex,
    pub email: String,
    pub email_verified: String,
    pub name: String,
    pub groups: String,
}

/// What `username_regex` maps `value` to: the first capture group that took part in the match
/// (so alternations like `^(\w+)@a\.org$|^(\w+)@b\.org$` work), unless empty.
pub fn mapped_username(username_regex: &Regex, value: &str) -> Option<String> {
    username_regex
        .captures(value)?
        .iter()
        .skip(1)
        .flatten()
        .next()
        .map(|m| m.as_str().to_owned())
        .filter(|u| !u.is_empty())
}

/// Compiles a `username_regex`, refusing one without a capture group: its first capture group is
/// the local username, so a pattern without one could never map anybody.
pub fn username_regex(key: &str, pattern: &str) -> Result<Regex, String> {
    let re =
        Regex::new(pattern).map_err(|e| format!("{key} is not a valid regular expression: {e}"))?;
    if re.captures_len() < 2 {
        return Err(format!(
            "{key} `{pattern}` has no capture group: its first capture group is the local \
             username, e.g. `^([^@]+)@example\\.org$`"
        ));
    }
    Ok(re)
}

/// A claim by name, or by a dotted path into nested objects (`realm_access.roles`). A top-level
/// claim whose name contains dots (`https://example.org/groups`) wins over the path reading.
/// `null` counts as absent.
pub fn claim<'a>(claims: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    let found = match claims.get(path) {
        Some(v) => Some(v),
        None => {
            let mut parts = path.split('.');
            let mut current = claims.get(parts.next()?)?;
            for part in parts {
                current = current.as_object()?.get(part)?;
            }
            Some(current)
        }
    };
    found.filter(|v| !v.is_null())
}

/// A claim that is a string, or a number (numeric user ids are common in OAuth 2.0 profiles).
fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

impl ClaimMapping {
    /// Maps `claims` to an identity. Refused (never silently emptied): no id claim, no username
    /// claim, a username that `username_regex` does not match or maps to an empty string.
    /// Messages name the setting and claim, never a token.
    pub fn identity(&self, claims: &Map<String, Value>) -> Result<ExternalIdentity, CallbackError> {
        let external_id = claim(claims, &self.id)
            .and_then(scalar)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                CallbackError::Invalid(format!(
                    "the upstream's claims have no `{}` (the id claim)",
                    self.id
                ))
            })?;
        Ok(ExternalIdentity {
            external_id,
            username: Some(self.username(claims)?),
            email_verified: claim(claims, &self.email_verified).is_some_and(|v| match v {
                Value::Bool(b) => *b,
                // Some IAM servers (Cognito, older Keycloak mappers) send the flag as a string.
                Value::String(s) => s.eq_ignore_ascii_case("true"),
                _ => false,
            }),
            profile: Profile {
                email: claim(claims, &self.email)
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                name: claim(claims, &self.name)
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                groups: match claim(claims, &self.groups) {
                    Some(Value::Array(items)) => items.iter().filter_map(scalar).collect(),
                    Some(v) => scalar(v).into_iter().collect(),
                    None => Vec::new(),
                },
                roles: Vec::new(),
            },
            logout_hint: None,
            replay_guard: None,
        })
    }

    /// `username_claim` through `username_regex` ([`mapped_username`]).
    fn username(&self, claims: &Map<String, Value>) -> Result<String, CallbackError> {
        let value = claim(claims, &self.username)
            .and_then(scalar)
            .ok_or_else(|| {
                CallbackError::Invalid(format!(
                    "the upstream's claims have no `{}` (username_claim)",
                    self.username
                ))
            })?;
        let username = mapped_username(&self.username_regex, &value).ok_or_else(|| {
            CallbackError::Invalid(format!(
                "the `{}` claim does not match username_regex `{}`",
                self.username,
                self.username_regex.as_str()
            ))
        })?;
        Ok(username)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn mapping(username: &str, regex: &str) -> ClaimMapping {
        ClaimMapping {
            id: "sub".into(),
            username: username.into(),
            username_regex: username_regex("username_regex", regex).unwrap(),
            email: "email".into(),
            email_verified: "email_verified".into(),
            name: "name".into(),
            groups: "realm_access.roles".into(),
        }
    }

    fn claims(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn maps_paths_regex_and_profile() {
        let c = claims(json!({
            "sub": 42, "email": "ann@example.org", "email_verified": "TRUE", "name": "Ann",
            "realm_access": {"roles": ["a", 7, null, "b"]},
        }));
        let id = mapping("email", r"^([^@]+)@example\.org$")
            .identity(&c)
            .unwrap();
        assert_eq!(id.external_id, "42");
        assert_eq!(id.username.as_deref(), Some("ann"));
        assert!(id.email_verified);
        assert_eq!(id.profile.email.as_deref(), Some("ann@example.org"));
        assert_eq!(id.profile.name.as_deref(), Some("Ann"));
        assert_eq!(id.profile.groups, ["a", "7", "b"]);
    }

    #[test]
    fn dotted_top_level_names_win_and_null_is_absent() {
        let c = claims(json!({"https://x.org/g": "one", "a": {"b": null}}));
        assert_eq!(claim(&c, "https://x.org/g"), Some(&json!("one")));
        assert_eq!(claim(&c, "a.b"), None);
        assert_eq!(claim(&c, "a.b.c"), None);
    }

    #[test]
    fn first_participating_group_is_the_username() {
        let m = mapping("email", r"^(\w+)@a\.org$|^(\w+)@b\.org$");
        let c = claims(json!({"sub": "s", "email": "bo@b.org"}));
        assert_eq!(m.identity(&c).unwrap().username.as_deref(), Some("bo"));
    }

    #[test]
    fn refusals_name_the_setting() {
        let m = mapping("email", r"^([^@]+)@example\.org$");
        let err = m
            .identity(&claims(json!({"sub": "s", "email": "x@evil.org"})))
            .unwrap_err();
        assert!(err.to_string().contains("username_regex"), "{err}");
        let err = m.identity(&claims(json!({"sub": "s"}))).unwrap_err();
        assert!(err.to_string().contains("username_claim"), "{err}");
        let err = m
            .identity(&claims(json!({"email": "a@example.org"})))
            .unwrap_err();
        assert!(err.to_string().contains("`sub`"), "{err}");
        let empty = mapping("email", "^(.*)@example\\.org$");
        assert!(
            empty
                .identity(&claims(json!({"sub": "s", "email": "@example.org"})))
                .is_err()
        );
    }

    #[test]
    fn a_regex_without_a_group_is_refused() {
        let err = username_regex("username_regex", "^.*$").unwrap_err();
        assert!(err.starts_with("username_regex"), "{err}");
        assert!(
            username_regex("username_regex", "(")
                .unwrap_err()
                .starts_with("username_regex")
        );
        assert!(username_regex("username_regex", ANY_USERNAME).is_ok());
    }
}
