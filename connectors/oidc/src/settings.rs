//! The `oidc` kind's own keys of a provider entry. `id`, `kind`, `enabled`, `supersedes`, `jit`,
//! `link_existing` and `auto_redirect` are the common part of the entry, which the server parses.

use gatehouse_connector_oauth2::claims::{self, ANY_USERNAME, ClaimMapping};
use gatehouse_connector_oauth2::{endpoint_url, non_empty, scopes};
use gatehouse_core::SecretValue;
use openidconnect::core::CoreJwsSigningAlgorithm;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcSettings {
    /// The upstream's issuer identifier: ID tokens must name exactly this, and discovery reads
    /// `{issuer}/.well-known/openid-configuration`.
    pub issuer: String,
    /// Read the endpoints from the discovery document. With `false`, `authorization_endpoint`,
    /// `token_endpoint` and `jwks_uri` are required; with `true`, any endpoint given here
    /// overrides the discovered one.
    #[serde(default = "yes")]
    pub discovery: bool,
    #[serde(default)]
    pub authorization_endpoint: Option<String>,
    #[serde(default)]
    pub token_endpoint: Option<String>,
    #[serde(default)]
    pub userinfo_endpoint: Option<String>,
    #[serde(default)]
    pub jwks_uri: Option<String>,
    pub client_id: String,
    /// `env:NAME`, `file:/path` or the value itself. Absent for a public client (PKCE only).
    #[serde(default)]
    pub client_secret: Option<SecretValue>,
    #[serde(default)]
    pub token_endpoint_auth_method: TokenAuthMethod,
    /// `openid` must be among them.
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// Also read the userinfo endpoint (when there is one); its claims win over the ID token's.
    #[serde(default = "yes")]
    pub userinfo: bool,
    /// JWS algorithms accepted on ID tokens.
    #[serde(default = "default_signing_algs")]
    pub signing_algs: Vec<String>,
    /// Claim paths (`a.b` reads nested objects) into the ID token + userinfo claims.
    #[serde(default = "default_username_claim")]
    pub username_claim: String,
    #[serde(default = "default_username_regex")]
    pub username_regex: String,
    #[serde(default = "default_email_claim")]
    pub email_claim: String,
    #[serde(default = "default_email_verified_claim")]
    pub email_verified_claim: String,
    #[serde(default = "default_name_claim")]
    pub name_claim: String,
    #[serde(default = "default_groups_claim")]
    pub groups_claim: String,
    /// Where to end the upstream session; default the discovered `end_session_endpoint`.
    #[serde(default)]
    pub logout_url: Option<String>,
    /// After a broker logout, send the browser on to end the upstream session too.
    #[serde(default)]
    pub global_logout: bool,
}

/// How the client authenticates at the token endpoint (when it has a secret).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenAuthMethod {
    #[default]
    ClientSecretBasic,
    ClientSecretPost,
}

fn yes() -> bool {
    true
}
fn default_scopes() -> Vec<String> {
    ["openid", "email", "profile"].map(String::from).to_vec()
}
fn default_signing_algs() -> Vec<String> {
    vec!["RS256".into()]
}
fn default_username_claim() -> String {
    "sub".into()
}
fn default_username_regex() -> String {
    ANY_USERNAME.into()
}
fn default_email_claim() -> String {
    "email".into()
}
fn default_email_verified_claim() -> String {
    "email_verified".into()
}
fn default_name_claim() -> String {
    "name".into()
}
fn default_groups_claim() -> String {
    "groups".into()
}

/// Asymmetric algorithms only: `none` is no signature, and the HMAC ones would make the client
/// secret a verification key.
const SIGNING_ALGS: [&str; 10] = [
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA",
];

impl OidcSettings {
    /// Checks every key the way the login will use it, so a mistake fails at start-up with the
    /// key in the message.
    pub fn validate(&self) -> Result<(), String> {
        endpoint_url("issuer", &self.issuer)?;
        non_empty("client_id", &self.client_id)?;
        if self
            .client_secret
            .as_ref()
            .is_some_and(|s| s.expose().is_empty())
        {
            return Err("client_secret is empty; omit it for a public client".into());
        }
        for (key, value) in self.endpoints() {
            if let Some(v) = value {
                endpoint_url(key, v)?;
            } else if !self.discovery && key != "userinfo_endpoint" {
                return Err(format!("{key} is required when discovery = false"));
            }
        }
        if let Some(u) = &self.logout_url {
            endpoint_url("logout_url", u)?;
        }
        scopes("scopes", &self.scopes)?;
        if !self.scopes.iter().any(|s| s == "openid") {
            return Err("scopes must include `openid`".into());
        }
        self.signing_algs()?;
        self.mapping().map(|_| ())
    }

    fn endpoints(&self) -> [(&'static str, Option<&String>); 4] {
        [
            (
                "authorization_endpoint",
                self.authorization_endpoint.as_ref(),
            ),
            ("token_endpoint", self.token_endpoint.as_ref()),
            ("jwks_uri", self.jwks_uri.as_ref()),
            ("userinfo_endpoint", self.userinfo_endpoint.as_ref()),
        ]
    }

    pub(crate) fn signing_algs(&self) -> Result<Vec<CoreJwsSigningAlgorithm>, String> {
        if self.signing_algs.is_empty() {
            return Err("signing_algs must name at least one algorithm".into());
        }
        self.signing_algs
            .iter()
            .map(|a| {
                if !SIGNING_ALGS.contains(&a.as_str()) {
                    return Err(format!(
                        "signing_algs: `{a}` is not one of {}",
                        SIGNING_ALGS.join(", ")
                    ));
                }
                serde_json::from_value(serde_json::Value::String(a.clone()))
                    .map_err(|e| format!("signing_algs: `{a}`: {e}"))
            })
            .collect()
    }

    pub fn mapping(&self) -> Result<ClaimMapping, String> {
        for (key, value) in [
            ("username_claim", &self.username_claim),
            ("email_claim", &self.email_claim),
            ("email_verified_claim", &self.email_verified_claim),
            ("name_claim", &self.name_claim),
            ("groups_claim", &self.groups_claim),
        ] {
            non_empty(key, value)?;
        }
        Ok(ClaimMapping {
            id: "sub".into(),
            username: self.username_claim.clone(),
            username_regex: claims::username_regex("username_regex", &self.username_regex)?,
            email: self.email_claim.clone(),
            email_verified: self.email_verified_claim.clone(),
            name: self.name_claim.clone(),
            groups: self.groups_claim.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
        issuer = "https://login.example.org/realms/corp"
        client_id = "gatehouse"
        client_secret = "s3cret"
    "#;

    fn parse(extra: &str) -> OidcSettings {
        toml::from_str(&format!("{MINIMAL}\n{extra}")).unwrap()
    }

    #[test]
    fn minimal_entry_gets_the_defaults() {
        let s = parse("");
        assert_eq!(s.validate(), Ok(()));
        assert!(s.discovery && s.userinfo && !s.global_logout);
        assert_eq!(s.scopes, ["openid", "email", "profile"]);
        assert_eq!(
            s.token_endpoint_auth_method,
            TokenAuthMethod::ClientSecretBasic
        );
        assert_eq!(
            s.signing_algs().unwrap(),
            [CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256]
        );
        let m = s.mapping().unwrap();
        assert_eq!((m.id.as_str(), m.username.as_str()), ("sub", "sub"));
        assert_eq!(m.username_regex.as_str(), "(.*)");
        assert_eq!((m.email.as_str(), m.groups.as_str()), ("email", "groups"));
        assert!(!format!("{s:?}").contains("s3cret"));
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err =
            toml::from_str::<OidcSettings>(&format!("{MINIMAL}\nprofile_url = \"x\"")).unwrap_err();
        assert!(err.to_string().contains("profile_url"), "{err}");
    }

    #[test]
    fn validate_names_the_key() {
        let bad = |extra: &str, key: &str| {
            let err = parse(extra).validate().unwrap_err();
            assert!(err.starts_with(key), "{extra}: {err}");
        };
        bad("scopes = [\"email\"]", "scopes");
        bad("signing_algs = [\"HS256\"]", "signing_algs");
        bad("signing_algs = [\"none\"]", "signing_algs");
        bad("signing_algs = []", "signing_algs");
        bad("username_regex = \"[\"", "username_regex");
        bad("discovery = false", "authorization_endpoint");
        bad(
            "token_endpoint = \"http://login.example.org/token\"",
            "token_endpoint",
        );
        bad("logout_url = \"nope\"", "logout_url");
        bad("email_claim = \" \"", "email_claim");
        let replaced = |from: &str, to: &str| {
            toml::from_str::<OidcSettings>(&MINIMAL.replace(from, to))
                .unwrap()
                .validate()
                .unwrap_err()
        };
        assert!(replaced("https://login", "http://login").starts_with("issuer"));
        assert!(replaced("\"s3cret\"", "\"\"").starts_with("client_secret"));
    }

    #[test]
    fn explicit_endpoints_without_discovery() {
        let s = parse(
            r#"discovery = false
            authorization_endpoint = "https://login.example.org/auth"
            token_endpoint = "https://login.example.org/token"
            jwks_uri = "https://login.example.org/jwks"
            token_endpoint_auth_method = "client_secret_post"
            signing_algs = ["RS256", "ES256", "EdDSA"]"#,
        );
        assert_eq!(s.validate(), Ok(()));
        assert_eq!(
            s.token_endpoint_auth_method,
            TokenAuthMethod::ClientSecretPost
        );
        assert_eq!(s.signing_algs().unwrap().len(), 3);
    }

    /// The provider entry of kind `{kind}` in `example`, without the keys the server parses, its
    /// secret reference replaced by a value: the example must stay what this crate accepts.
    fn example_entry(example: &str, kind: &str) -> toml::Table {
        let doc: toml::Table = toml::from_str(example).unwrap();
        let providers = doc["realms"]["main"]["providers"].as_array().unwrap();
        let mut entry = providers
            .iter()
            .find(|p| p["kind"].as_str() == Some(kind))
            .and_then(|p| p.as_table().cloned())
            .unwrap();
        for shared in [
            "id",
            "kind",
            "enabled",
            "supersedes",
            "jit",
            "link_existing",
            "auto_redirect",
        ] {
            entry.remove(shared);
        }
        entry.insert("client_secret".into(), "example-secret".into());
        entry
    }

    #[test]
    fn the_config_example_is_accepted() {
        let example = include_str!("../../../config/examples/upstream-oidc.toml");
        let entry = example_entry(example, "oidc");
        let settings: OidcSettings = entry.try_into().unwrap();
        assert_eq!(settings.validate(), Ok(()));
    }
}
