use argon2::Params;
use gatehouse_core::{PasswordPolicy, PasswordPolicySettings};
use serde::{Deserialize, Serialize};

/// The `database` kind's own keys of a provider entry. The provider's id, kind, `enabled` and
/// `supersedes` belong to the common part of the entry, which the server parses.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    #[serde(default)]
    pub argon2: Argon2Settings,
    /// `[realms.R.providers.password_policy]`: the seed's policy unless told otherwise.
    #[serde(default)]
    pub password_policy: PasswordPolicySettings,
}

impl DatabaseSettings {
    /// Checks the settings the way argon2 will, so a bad value fails at start-up with the config
    /// key in the message instead of at the first login.
    pub fn validate(&self) -> Result<(), String> {
        self.argon2.params()?;
        self.policy().map(|_| ())
    }

    /// The password policy, compiled; the error names the key.
    pub fn policy(&self) -> Result<PasswordPolicy, String> {
        PasswordPolicy::compile(self.password_policy.clone()).map_err(|e| e.to_string())
    }
}

/// Argon2id cost parameters for new hashes. Stored hashes keep their own parameters and are
/// upgraded to these on the next successful login.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Argon2Settings {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for Argon2Settings {
    /// OWASP's argon2id recommendation (19 MiB, 2 passes, 1 lane), also argon2's own default.
    fn default() -> Self {
        Self {
            memory_kib: Params::DEFAULT_M_COST,
            iterations: Params::DEFAULT_T_COST,
            parallelism: Params::DEFAULT_P_COST,
        }
    }
}

impl Argon2Settings {
    /// The argon2 parameters, or a message naming the offending key.
    pub(crate) fn params(&self) -> Result<Params, String> {
        Params::new(self.memory_kib, self.iterations, self.parallelism, None).map_err(|e| {
            use argon2::Error as E;
            match e {
                E::ThreadsTooFew | E::ThreadsTooMany => format!(
                    "argon2.parallelism must be between {} and {}, got {}",
                    Params::MIN_P_COST,
                    Params::MAX_P_COST,
                    self.parallelism
                ),
                E::TimeTooSmall => format!(
                    "argon2.iterations must be at least {}, got {}",
                    Params::MIN_T_COST,
                    self.iterations
                ),
                E::MemoryTooLittle | E::MemoryTooMuch => format!(
                    "argon2.memory_kib must be at least 8 × parallelism ({} KiB here), got {}",
                    self.parallelism.saturating_mul(8).max(Params::MIN_M_COST),
                    self.memory_kib
                ),
                other => format!("argon2 settings are invalid: {other}"),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_owasp_and_valid() {
        let s = DatabaseSettings::default();
        assert_eq!(
            s.argon2,
            Argon2Settings {
                memory_kib: 19456,
                iterations: 2,
                parallelism: 1
            }
        );
        assert_eq!(s.validate(), Ok(()));
    }

    #[test]
    fn parses_the_provider_entry_keys_and_fills_defaults() {
        let s: DatabaseSettings = toml::from_str("argon2 = { memory_kib = 65536 }").unwrap();
        assert_eq!(s.argon2.memory_kib, 65536);
        assert_eq!(s.argon2.iterations, 2);
        let empty: DatabaseSettings = toml::from_str("").unwrap();
        assert_eq!(empty, DatabaseSettings::default());
    }

    #[test]
    fn unknown_keys_are_refused_at_both_levels() {
        let top = toml::from_str::<DatabaseSettings>("argon3 = {}").unwrap_err();
        assert!(top.to_string().contains("argon3"), "{top}");
        let nested = toml::from_str::<DatabaseSettings>("argon2 = { memory = 1024 }").unwrap_err();
        assert!(nested.to_string().contains("memory"), "{nested}");
    }

    #[test]
    fn validate_names_the_bad_key() {
        let with = |memory_kib, iterations, parallelism| DatabaseSettings {
            argon2: Argon2Settings {
                memory_kib,
                iterations,
                parallelism,
            },
            ..Default::default()
        };
        let err = with(1, 2, 1).validate().unwrap_err();
        assert!(err.starts_with("argon2.memory_kib"), "{err}");
        let err = with(64, 2, 16).validate().unwrap_err();
        assert!(
            err.starts_with("argon2.memory_kib") && err.contains("128"),
            "{err}"
        );
        let err = with(19456, 0, 1).validate().unwrap_err();
        assert!(err.starts_with("argon2.iterations"), "{err}");
        let err = with(19456, 2, 0).validate().unwrap_err();
        assert!(err.starts_with("argon2.parallelism"), "{err}");
    }

    #[test]
    fn the_password_policy_is_parsed_and_a_bad_pattern_named() {
        let s: DatabaseSettings =
            toml::from_str("[password_policy]\nhistory = 3\nmax_age_days = 90").unwrap();
        assert_eq!(s.password_policy.history, 3);
        assert_eq!(s.password_policy.max_age_days, 90);
        assert_eq!(s.validate(), Ok(()));
        let bad: DatabaseSettings =
            toml::from_str("[password_policy]\npattern = \"^(?=[a-z]\"").unwrap();
        let err = bad.validate().unwrap_err();
        assert!(err.starts_with("password_policy.pattern"), "{err}");
        let typo = toml::from_str::<DatabaseSettings>("[password_policy]\nhistroy = 3");
        assert!(typo.unwrap_err().to_string().contains("histroy"));
    }
}
