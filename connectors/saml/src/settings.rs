//! The `saml` kind's own keys of a provider entry. `id`, `kind`, `enabled`, `supersedes`, `jit`,
//! `link_existing` and `auto_redirect` are the common part of the entry, which the server parses.

use std::path::PathBuf;

use gatehouse_connector_oauth2::claims::{self, ANY_USERNAME};
use gatehouse_connector_oauth2::{endpoint_url, non_empty};
use regex::Regex;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SamlSettings {
    /// The IdP's metadata (an `EntityDescriptor` with an `IDPSSODescriptor`) from a file…
    #[serde(default)]
    pub idp_metadata_file: Option<PathBuf>,
    /// …or from a URL, fetched at start and refreshed every `metadata_refresh_s`.
    #[serde(default)]
    pub idp_metadata_url: Option<String>,
    /// The SP entity id; default (set by the server) `{public_url}/realms/{realm}/broker/{id}`.
    #[serde(default)]
    pub sp_entity_id: Option<String>,
    /// The Assertion Consumer Service URL; default (set by the server) the broker callback.
    #[serde(default)]
    pub acs_url: Option<String>,
    /// How the AuthnRequest travels to the IdP.
    #[serde(default)]
    pub binding: Binding,
    /// Sign AuthnRequests and LogoutRequests with `sp_key_file`; `sp_cert_file` goes into the
    /// SP metadata.
    #[serde(default)]
    pub sign_requests: bool,
    /// PEM private key (PKCS#1 `RSA PRIVATE KEY` or PKCS#8 `PRIVATE KEY`).
    #[serde(default)]
    pub sp_key_file: Option<PathBuf>,
    /// PEM certificate of `sp_key_file`.
    #[serde(default)]
    pub sp_cert_file: Option<PathBuf>,
    /// Accept Responses that answer no AuthnRequest of this broker (no `InResponseTo`).
    #[serde(default)]
    pub allow_idp_initiated: bool,
    /// Tolerance on NotBefore / NotOnOrAfter, in seconds.
    #[serde(default = "default_clock_skew_s")]
    pub clock_skew_s: u64,
    /// Attribute (Name or FriendlyName) holding the username; absent = the NameID.
    #[serde(default)]
    pub username_attribute: Option<String>,
    /// Its first capture group is the local username.
    #[serde(default = "default_username_regex")]
    pub username_regex: String,
    #[serde(default = "default_email_attribute")]
    pub email_attribute: String,
    #[serde(default = "default_name_attribute")]
    pub name_attribute: String,
    #[serde(default = "default_groups_attribute")]
    pub groups_attribute: String,
    /// Treat the email attribute as verified by the IdP (for `link_existing = "verified_email"`).
    #[serde(default)]
    pub email_verified: bool,
    /// When not empty, a user in none of these groups is refused.
    #[serde(default)]
    pub allowed_groups: Vec<String>,
    /// After a broker logout, send the browser on to the IdP's SLO endpoint too.
    #[serde(default)]
    pub global_logout: bool,
    /// How often IdP metadata from `idp_metadata_url` is fetched again, in seconds.
    #[serde(default = "default_metadata_refresh_s")]
    pub metadata_refresh_s: u64,
}

/// The SAML binding of the AuthnRequest.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Binding {
    /// HTTP-Redirect: deflated, base64 in the query string.
    #[default]
    Redirect,
    /// HTTP-POST: an auto-submitted form.
    Post,
}

pub const HTTP_REDIRECT: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";
pub const HTTP_POST: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";

impl Binding {
    pub fn urn(self) -> &'static str {
        match self {
            Binding::Redirect => HTTP_REDIRECT,
            Binding::Post => HTTP_POST,
        }
    }
}

fn default_clock_skew_s() -> u64 {
    60
}
fn default_username_regex() -> String {
    ANY_USERNAME.into()
}
fn default_email_attribute() -> String {
    "mail".into()
}
fn default_name_attribute() -> String {
    "displayName".into()
}
fn default_groups_attribute() -> String {
    "groups".into()
}
fn default_metadata_refresh_s() -> u64 {
    3600
}

/// Skews above this are a typo (minutes meant as seconds, say), not a clock.
const MAX_CLOCK_SKEW_S: u64 = 600;

impl SamlSettings {
    /// Checks every key the way the login will use it, so a mistake fails at start-up with the
    /// key in the message. Files are read by [`crate::SamlProvider::new`].
    pub fn validate(&self) -> Result<(), String> {
        match (&self.idp_metadata_file, &self.idp_metadata_url) {
            (Some(_), Some(_)) => {
                return Err(
                    "idp_metadata_file and idp_metadata_url are both set; keep exactly one".into(),
                );
            }
            (None, None) => {
                return Err(
                    "idp_metadata_file or idp_metadata_url is required (the IdP's SAML metadata)"
                        .into(),
                );
            }
            (None, Some(url)) => {
                endpoint_url("idp_metadata_url", url)?;
            }
            (Some(_), None) => {}
        }
        if let Some(id) = &self.sp_entity_id {
            non_empty("sp_entity_id", id)?;
        }
        if let Some(acs) = &self.acs_url {
            endpoint_url("acs_url", acs)?;
        }
        if self.sign_requests {
            if self.sp_key_file.is_none() {
                return Err("sp_key_file is required when sign_requests = true".into());
            }
            if self.sp_cert_file.is_none() {
                return Err("sp_cert_file is required when sign_requests = true".into());
            }
        } else if self.sp_key_file.is_some() != self.sp_cert_file.is_some() {
            return Err("sp_key_file and sp_cert_file go together; set both (or neither)".into());
        }
        if self.clock_skew_s > MAX_CLOCK_SKEW_S {
            return Err(format!(
                "clock_skew_s = {} is more than {MAX_CLOCK_SKEW_S} seconds; it is a tolerance for \
                 clock drift, not a validity period",
                self.clock_skew_s
            ));
        }
        if self.metadata_refresh_s < 60 {
            return Err("metadata_refresh_s must be at least 60 (seconds)".into());
        }
        if let Some(a) = &self.username_attribute {
            non_empty("username_attribute", a)?;
        }
        for (key, value) in [
            ("email_attribute", &self.email_attribute),
            ("name_attribute", &self.name_attribute),
            ("groups_attribute", &self.groups_attribute),
        ] {
            non_empty(key, value)?;
        }
        if self.allowed_groups.iter().any(|g| g.trim().is_empty()) {
            return Err("allowed_groups must not contain an empty group name".into());
        }
        self.username_regex().map(|_| ())
    }

    pub(crate) fn username_regex(&self) -> Result<Regex, String> {
        claims::username_regex("username_regex", &self.username_regex)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"idp_metadata_file = "/etc/gatehouse/idp.xml""#;

    fn parse(extra: &str) -> SamlSettings {
        toml::from_str(&format!("{MINIMAL}\n{extra}")).unwrap()
    }

    #[test]
    fn minimal_entry_gets_the_defaults() {
        let s = parse("");
        assert_eq!(s.validate(), Ok(()));
        assert_eq!(s.binding, Binding::Redirect);
        assert!(!s.sign_requests && !s.allow_idp_initiated && !s.global_logout);
        assert_eq!((s.clock_skew_s, s.metadata_refresh_s), (60, 3600));
        assert_eq!(s.username_attribute, None);
        assert_eq!(s.username_regex, "(.*)");
        assert_eq!(
            (
                s.email_attribute.as_str(),
                s.name_attribute.as_str(),
                s.groups_attribute.as_str()
            ),
            ("mail", "displayName", "groups")
        );
        assert!(s.allowed_groups.is_empty());
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err =
            toml::from_str::<SamlSettings>(&format!("{MINIMAL}\nclient_id = \"x\"")).unwrap_err();
        assert!(err.to_string().contains("client_id"), "{err}");
        let err = toml::from_str::<SamlSettings>(&format!("{MINIMAL}\nbinding = \"artifact\""))
            .unwrap_err();
        assert!(err.to_string().contains("artifact"), "{err}");
    }

    #[test]
    fn validate_names_the_key() {
        let bad = |extra: &str, key: &str| {
            let err = parse(extra).validate().unwrap_err();
            assert!(err.starts_with(key), "{extra}: {err}");
        };
        bad(
            "idp_metadata_url = \"https://idp.example.org/md\"",
            "idp_metadata_file",
        );
        bad("sign_requests = true", "sp_key_file");
        bad(
            "sign_requests = true\nsp_key_file = \"/k.pem\"",
            "sp_cert_file",
        );
        bad("sp_key_file = \"/k.pem\"", "sp_key_file");
        bad("clock_skew_s = 3600", "clock_skew_s");
        bad("metadata_refresh_s = 5", "metadata_refresh_s");
        bad("username_regex = \"^.*$\"", "username_regex");
        bad("username_attribute = \"\"", "username_attribute");
        bad("email_attribute = \" \"", "email_attribute");
        bad("allowed_groups = [\"\"]", "allowed_groups");
        bad("acs_url = \"http://sp.example.org/acs\"", "acs_url");
        let none: SamlSettings = toml::from_str("").unwrap();
        assert!(
            none.validate()
                .unwrap_err()
                .starts_with("idp_metadata_file")
        );
        let url: SamlSettings =
            toml::from_str("idp_metadata_url = \"ftp://idp.example.org/md\"").unwrap();
        assert!(url.validate().unwrap_err().starts_with("idp_metadata_url"));
    }
}
