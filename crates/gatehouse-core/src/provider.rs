use std::fmt;
use std::str::FromStr;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::account::{Link, Profile};
use crate::secret::Secret;

/// The connector kinds a provider can be an instance of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    Database,
    Ldap,
    Oidc,
    Oauth2,
    Saml,
}

impl ProviderKind {
    pub const ALL: [ProviderKind; 5] = [
        ProviderKind::Database,
        ProviderKind::Ldap,
        ProviderKind::Oidc,
        ProviderKind::Oauth2,
        ProviderKind::Saml,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Database => "database",
            ProviderKind::Ldap => "ldap",
            ProviderKind::Oidc => "oidc",
            ProviderKind::Oauth2 => "oauth2",
            ProviderKind::Saml => "saml",
        }
    }

    /// Password providers check a login + password; the others redirect the browser.
    pub fn is_password(self) -> bool {
        matches!(self, ProviderKind::Database | ProviderKind::Ldap)
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ProviderKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ProviderKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("unknown provider kind `{s}`"))
    }
}

/// What the resolver needs to know of a configured provider, whatever its kind.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderDescriptor {
    pub id: String,
    pub kind: ProviderKind,
    pub enabled: bool,
    /// Kinds (`"ldap"`) or provider ids whose links this provider makes inert while it is enabled.
    pub supersedes: Vec<String>,
    /// Searches for logins that have no account yet and provisions them (directory providers).
    pub jit: bool,
}

impl ProviderDescriptor {
    /// Whether `other` is superseded by this provider's `supersedes` list.
    pub fn supersedes(&self, other: &ProviderDescriptor) -> bool {
        self.id != other.id
            && self
                .supersedes
                .iter()
                .any(|s| *s == other.id || *s == other.kind.as_str())
    }
}

/// One password check handed to a provider.
pub struct PasswordCheck<'a> {
    /// The normalised login (DESIGN.md step 1).
    pub login: &'a str,
    pub password: &'a Secret,
    /// The account's link to this provider; `None` for a just-in-time search of an unknown login.
    pub link: Option<&'a Link>,
}

/// A successful check. `Debug` redacts the rehashed PHC string.
#[derive(Clone, Default, PartialEq)]
pub struct VerifiedIdentity {
    /// The id the provider knows the user by (DN, objectGUID); `None` for database links.
    pub external_id: Option<String>,
    /// A new PHC string when the stored hash used outdated parameters (transparent rehash).
    pub rehashed_secret: Option<String>,
    /// Username to give a just-in-time account (the directory's spelling of it).
    pub username: Option<String>,
    pub profile: Option<Profile>,
}

impl std::fmt::Debug for VerifiedIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifiedIdentity")
            .field("external_id", &self.external_id)
            .field(
                "rehashed_secret",
                &self.rehashed_secret.as_ref().map(|_| "[redacted]"),
            )
            .field("username", &self.username)
            .field("profile", &self.profile)
            .finish()
    }
}

/// The four outcomes of DESIGN.md step 4.
#[derive(Debug, Clone, PartialEq)]
pub enum PasswordOutcome {
    Verified(VerifiedIdentity),
    /// Wrong password, or no such entry.
    Rejected,
    /// Every server of the provider unreachable or timing out.
    Unavailable(String),
    /// Disabled, expired or locked in the directory; never falls through to another provider.
    Disabled(String),
}

impl PasswordOutcome {
    pub fn label(&self) -> &'static str {
        match self {
            PasswordOutcome::Verified(_) => "verified",
            PasswordOutcome::Rejected => "rejected",
            PasswordOutcome::Unavailable(_) => "unavailable",
            PasswordOutcome::Disabled(_) => "disabled",
        }
    }
}

#[async_trait]
pub trait PasswordProvider: Send + Sync {
    fn descriptor(&self) -> &ProviderDescriptor;

    async fn verify(&self, check: PasswordCheck<'_>) -> PasswordOutcome;

    /// Spend the time of a real verification against a dummy hash, so an unknown login costs about
    /// what a wrong password costs. Returns false when the provider has no hash to spend time on.
    async fn verify_dummy(&self, _password: &Secret) -> bool {
        false
    }

    /// How long a password this provider keeps stays valid (its policy's `max_age_days`); `None`
    /// for providers whose passwords live elsewhere (a directory ages its own).
    fn password_max_age(&self) -> Option<chrono::Duration> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desc(id: &str, kind: ProviderKind, supersedes: &[&str]) -> ProviderDescriptor {
        ProviderDescriptor {
            id: id.into(),
            kind,
            enabled: true,
            supersedes: supersedes.iter().map(|s| s.to_string()).collect(),
            jit: false,
        }
    }

    #[test]
    fn supersedes_by_kind_and_by_id_but_never_itself() {
        let iam = desc(
            "iam",
            ProviderKind::Oauth2,
            &["ldap", "old-db", "iam", "oauth2"],
        );
        assert!(iam.supersedes(&desc("corp", ProviderKind::Ldap, &[])));
        assert!(iam.supersedes(&desc("old-db", ProviderKind::Database, &[])));
        assert!(!iam.supersedes(&desc("local", ProviderKind::Database, &[])));
        assert!(!iam.supersedes(&iam.clone()));
    }

    #[test]
    fn kinds_round_trip() {
        for k in ProviderKind::ALL {
            assert_eq!(k.as_str().parse::<ProviderKind>(), Ok(k));
        }
        assert!("kerberos".parse::<ProviderKind>().is_err());
        assert!(ProviderKind::Ldap.is_password());
        assert!(!ProviderKind::Saml.is_password());
    }

    #[test]
    fn phc_strings_stay_out_of_debug() {
        let phc = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g";
        let verified = VerifiedIdentity {
            rehashed_secret: Some(phc.into()),
            ..Default::default()
        };
        let link = crate::NewLink {
            provider_id: "local".into(),
            external_id: None,
            secret: Some(phc.into()),
            protected: false,
        };
        for printed in [format!("{verified:?}"), format!("{link:?}")] {
            assert!(!printed.contains("argon2id"), "{printed}");
            assert!(printed.contains("[redacted]"), "{printed}");
        }
    }
}
