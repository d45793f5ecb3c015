//! The OpenID provider's configuration: per realm `[realms.R.tokens]` and `[[realms.R.clients]]`.

use std::collections::HashSet;

use gatehouse_core::SecretValue;
use serde::Deserialize;

use crate::keys::SigningAlg;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TokenSettings {
    pub authorization_code_s: u64,
    pub access_token_s: u64,
    pub id_token_s: u64,
    pub refresh_token_s: u64,
    pub session_s: u64,
    pub signing_alg: SigningAlg,
}

impl Default for TokenSettings {
    fn default() -> Self {
        Self {
            authorization_code_s: 60,
            access_token_s: 300,
            id_token_s: 300,
            refresh_token_s: 86_400,
            session_s: 36_000,
            signing_alg: SigningAlg::RS256,
        }
    }
}

impl TokenSettings {
    /// Problems as (key relative to `tokens`, message).
    pub fn validate(&self) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        if !(1..=60).contains(&self.authorization_code_s) {
            problems.push((
                "authorization_code_s".into(),
                "authorization codes live between 1 and 60 seconds".into(),
            ));
        }
        for (key, value) in [
            ("access_token_s", self.access_token_s),
            ("id_token_s", self.id_token_s),
            ("refresh_token_s", self.refresh_token_s),
            ("session_s", self.session_s),
        ] {
            if value == 0 {
                problems.push((key.into(), "must be at least 1 second".into()));
            }
        }
        problems
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    AuthorizationCode,
    RefreshToken,
    ClientCredentials,
    Password,
}

impl GrantType {
    pub const ALL: [GrantType; 4] = [
        GrantType::AuthorizationCode,
        GrantType::RefreshToken,
        GrantType::ClientCredentials,
        GrantType::Password,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            GrantType::AuthorizationCode => "authorization_code",
            GrantType::RefreshToken => "refresh_token",
            GrantType::ClientCredentials => "client_credentials",
            GrantType::Password => "password",
        }
    }
}

/// The scopes Gatehouse gives meaning to; clients may list others (passed through in tokens).
pub const STANDARD_SCOPES: [&str; 5] = ["openid", "profile", "email", "groups", "offline_access"];

fn default_grants() -> Vec<GrantType> {
    vec![GrantType::AuthorizationCode, GrantType::RefreshToken]
}

fn default_scopes() -> Vec<String> {
    STANDARD_SCOPES.iter().map(|s| s.to_string()).collect()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientSettings {
    pub client_id: String,
    /// What the login page calls the application ("Log in to continue to {name}").
    #[serde(default)]
    pub name: Option<String>,
    /// A literal, an `env:`/`file:` reference, or a PHC hash (`$argon2id$…`); absent: a public client.
    #[serde(default)]
    pub client_secret: Option<SecretValue>,
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    #[serde(default = "default_grants")]
    pub grant_types: Vec<GrantType>,
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    #[serde(default)]
    pub access_token_s: Option<u64>,
    #[serde(default)]
    pub id_token_s: Option<u64>,
    #[serde(default)]
    pub refresh_token_s: Option<u64>,
    /// OIDC Dynamic Client Registration's `require_auth_time`. Accepted for configurations
    /// written for other providers: every ID token carries `auth_time` anyway.
    #[serde(default)]
    pub require_auth_time: bool,
}

impl ClientSettings {
    pub fn is_public(&self) -> bool {
        self.client_secret.is_none()
    }

    /// The name shown to users: `name`, else the client id.
    pub fn display_name(&self) -> &str {
        self.name
            .as_deref()
            .filter(|n| !n.trim().is_empty())
            .unwrap_or(&self.client_id)
    }

    /// Problems as (key relative to the client entry, message).
    pub fn validate(&self) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        if self.client_id.is_empty() || self.client_id.len() > 128 || self.client_id.contains(':') {
            problems.push((
                "client_id".into(),
                "must be 1 to 128 characters without `:`".into(),
            ));
        }
        for (key, uris) in [
            ("redirect_uris", &self.redirect_uris),
            ("post_logout_redirect_uris", &self.post_logout_redirect_uris),
        ] {
            for (i, uri) in uris.iter().enumerate() {
                match url::Url::parse(uri) {
                    Ok(u) if u.fragment().is_none() && !u.cannot_be_a_base() => {}
                    _ => problems.push((
                        format!("{key}[{i}]"),
                        format!("`{uri}` must be an absolute URL without a fragment"),
                    )),
                }
            }
        }
        if self.grant_types.contains(&GrantType::AuthorizationCode) && self.redirect_uris.is_empty()
        {
            problems.push((
                "redirect_uris".into(),
                "the authorization_code grant needs at least one redirect URI".into(),
            ));
        }
        if self.is_public() {
            for grant in [GrantType::ClientCredentials, GrantType::Password] {
                if self.grant_types.contains(&grant) {
                    problems.push((
                        "grant_types".into(),
                        format!(
                            "`{}` needs a client_secret: a public client cannot authenticate",
                            grant.as_str()
                        ),
                    ));
                }
            }
        }
        let mut seen = HashSet::new();
        for (i, scope) in self.scopes.iter().enumerate() {
            if scope.is_empty() || scope.contains(char::is_whitespace) || !seen.insert(scope) {
                problems.push((
                    format!("scopes[{i}]"),
                    format!("`{scope}` is empty, has spaces or is listed twice"),
                ));
            }
        }
        for (key, value) in [
            ("access_token_s", self.access_token_s),
            ("id_token_s", self.id_token_s),
            ("refresh_token_s", self.refresh_token_s),
        ] {
            if value == Some(0) {
                problems.push((key.into(), "must be at least 1 second".into()));
            }
        }
        problems
    }
}
