//! The `oauth2` kind's own keys of a provider entry (issue 5: client_id, client_secret, auth_url,
//! token_url, profile_url, redirect_url, logout_url — plus the claim paths into the profile and the
//! scopes to ask for). `id`, `kind`, `enabled`, `supersedes`, `jit`, `link_existing` and
//! `auto_redirect` are the common part of the entry, which the server parses.

use gatehouse_core::SecretValue;
use serde::Deserialize;
use url::Url;

use crate::claims::{self, ANY_USERNAME, ClaimMapping};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Oauth2Settings {
    pub client_id: String,
    /// `env:NAME`, `file:/path` or the value itself. Absent for a public client (PKCE only).
    #[serde(default)]
    pub client_secret: Option<SecretValue>,
    /// The authorization endpoint the browser is sent to.
    pub auth_url: String,
    pub token_url: String,
    /// GET with the access token as Bearer; must answer a JSON object.
    pub profile_url: String,
    /// The callback URL registered at the upstream, when it differs from the one the broker
    /// derives from its `public_url` (a proxy in front, a legacy registration).
    #[serde(default)]
    pub redirect_url: Option<String>,
    /// Followed after a broker logout; `{return_to}` is replaced by the URL-encoded address the
    /// browser should come back to.
    #[serde(default)]
    pub logout_url: Option<String>,
    /// Scopes to ask for; none (no `scope` parameter) by default.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Claim paths into the profile JSON (`a.b` reads nested objects).
    #[serde(default = "default_id_claim")]
    pub id_claim: String,
    /// Default: the `id_claim`.
    #[serde(default)]
    pub username_claim: Option<String>,
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
}

fn default_id_claim() -> String {
    "id".into()
}
pub(crate) fn default_username_regex() -> String {
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

impl Oauth2Settings {
    /// Checks every key the way the login will use it, so a mistake fails at start-up with the key
    /// in the message.
    pub fn validate(&self) -> Result<(), String> {
        non_empty("client_id", &self.client_id)?;
        if self
            .client_secret
            .as_ref()
            .is_some_and(|s| s.expose().is_empty())
        {
            return Err("client_secret is empty; omit it for a public client".into());
        }
        endpoint_url("auth_url", &self.auth_url)?;
        endpoint_url("token_url", &self.token_url)?;
        endpoint_url("profile_url", &self.profile_url)?;
        if let Some(u) = &self.redirect_url {
            endpoint_url("redirect_url", u)?;
        }
        if let Some(u) = &self.logout_url {
            endpoint_url("logout_url", &u.replace("{return_to}", "x"))?;
        }
        scopes("scopes", &self.scopes)?;
        self.mapping().map(|_| ())
    }

    pub fn mapping(&self) -> Result<ClaimMapping, String> {
        for (key, value) in [
            ("id_claim", &self.id_claim),
            ("email_claim", &self.email_claim),
            ("email_verified_claim", &self.email_verified_claim),
            ("name_claim", &self.name_claim),
            ("groups_claim", &self.groups_claim),
        ] {
            non_empty(key, value)?;
        }
        if let Some(u) = &self.username_claim {
            non_empty("username_claim", u)?;
        }
        Ok(ClaimMapping {
            id: self.id_claim.clone(),
            username: self
                .username_claim
                .clone()
                .unwrap_or_else(|| self.id_claim.clone()),
            username_regex: claims::username_regex("username_regex", &self.username_regex)?,
            email: self.email_claim.clone(),
            email_verified: self.email_verified_claim.clone(),
            name: self.name_claim.clone(),
            groups: self.groups_claim.clone(),
        })
    }
}

pub fn non_empty(key: &str, value: &str) -> Result<(), String> {
    if value.trim().is_empty() {
        return Err(format!("{key} must not be empty"));
    }
    Ok(())
}

/// An absolute `https` URL — or `http` to a loopback host, for a broker and upstream on one
/// machine (and tests). Plain HTTP elsewhere would hand codes, tokens and the client secret to
/// anyone on the path.
pub fn endpoint_url(key: &str, value: &str) -> Result<Url, String> {
    let url = Url::parse(value).map_err(|e| format!("{key} `{value}` is not a URL: {e}"))?;
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match url.scheme() {
        "https" if url.host().is_some() => Ok(url),
        "http" if loopback => Ok(url),
        "http" => Err(format!(
            "{key} `{value}` uses plain http to a host other than this machine; use https"
        )),
        _ => Err(format!("{key} `{value}` must be an https URL")),
    }
}

/// Scope tokens (RFC 6749 §3.3): non-empty, no spaces or quotes.
pub fn scopes(key: &str, scopes: &[String]) -> Result<(), String> {
    for s in scopes {
        if s.is_empty()
            || s.chars()
                .any(|c| c.is_whitespace() || c == '"' || c == '\\')
        {
            return Err(format!(
                "{key}: `{s}` is not a scope token (no spaces, quotes or backslashes)"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
        client_id = "broker"
        client_secret = "s3cret"
        auth_url = "https://iam.example.org/oauth/authorize"
        token_url = "https://iam.example.org/oauth/token"
        profile_url = "https://iam.example.org/api/me"
    "#;

    fn parse(extra: &str) -> Result<Oauth2Settings, String> {
        toml::from_str(&format!("{MINIMAL}\n{extra}")).map_err(|e| e.to_string())
    }

    #[test]
    fn minimal_entry_gets_the_defaults() {
        let s = parse("").unwrap();
        assert_eq!(s.validate(), Ok(()));
        let m = s.mapping().unwrap();
        assert_eq!((m.id.as_str(), m.username.as_str()), ("id", "id"));
        assert_eq!(m.username_regex.as_str(), "(.*)");
        assert_eq!(m.groups, "groups");
        assert!(s.scopes.is_empty() && s.redirect_url.is_none() && s.logout_url.is_none());
        assert!(!format!("{s:?}").contains("s3cret"));
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = parse("issuer = \"https://x\"").unwrap_err();
        assert!(err.contains("issuer"), "{err}");
    }

    #[test]
    fn validate_names_the_key() {
        let bad = |extra: &str, key: &str| {
            let err = parse(extra).unwrap().validate().unwrap_err();
            assert!(err.starts_with(key), "{extra}: {err}");
        };
        bad("username_regex = \"^.*$\"", "username_regex");
        bad(
            "redirect_url = \"http://broker.example.org/cb\"",
            "redirect_url",
        );
        bad("logout_url = \"ftp://iam/logout\"", "logout_url");
        bad("scopes = [\"read write\"]", "scopes");
        bad("groups_claim = \"\"", "groups_claim");
        let err = toml::from_str::<Oauth2Settings>(
            &MINIMAL.replace("https://iam.example.org/api/me", "me"),
        )
        .unwrap()
        .validate()
        .unwrap_err();
        assert!(err.starts_with("profile_url"), "{err}");
    }

    #[test]
    fn loopback_http_is_allowed() {
        assert!(endpoint_url("k", "http://127.0.0.1:4000/token").is_ok());
        assert!(endpoint_url("k", "http://localhost/token").is_ok());
        assert!(endpoint_url("k", "http://[::1]:80/token").is_ok());
        assert!(endpoint_url("k", "http://10.0.0.1/token").is_err());
        let s = parse("logout_url = \"https://iam.example.org/logout?next={return_to}\"").unwrap();
        assert_eq!(s.validate(), Ok(()));
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
        let example = include_str!("../../../config/examples/oauth2-iam.toml");
        let entry = example_entry(example, "oauth2");
        let settings: Oauth2Settings = entry.try_into().unwrap();
        assert_eq!(settings.validate(), Ok(()));
    }
}
