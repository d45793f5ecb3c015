//! The password policy of a `database` provider (issue #24, seed: `policy.password.pattern`,
//! `policy.password.age`, `policy.rotation.ratio`): which new passwords are acceptable, how long
//! one stays valid, and how many earlier ones may not come back.
//!
//! Pure rules: comparing against earlier hashes needs argon2, which the provider does with the
//! [`PasswordPolicy::history`] count this gives it.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::secret::Secret;

/// The seed's `policy.password.pattern`: at least 7 characters with a digit, an upper-case and a
/// lower-case letter.
pub const SEED_PATTERN: &str = "^(?=.*[0-9])(?=.*[A-Z])(?=.*[a-z]).{7,}$";

/// How many backtracking steps one match may take: a pattern such as `(a+)+$` against a long
/// input would otherwise spin a core for minutes. A password that hits it is refused.
const BACKTRACK_LIMIT: usize = 100_000;

/// No policy may allow more than this: argon2 never sees a megabyte, whatever the configuration.
pub const MAX_LENGTH_CEILING: usize = 4096;

/// `[realms.R.providers.password_policy]` of a `database` provider, as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PasswordPolicySettings {
    /// A regular expression (look-around allowed) every new password must match.
    pub pattern: String,
    /// Days a password stays valid; then the login refuses to issue anything until it is changed.
    pub max_age_days: u32,
    /// How many of the latest passwords (the current one included) may not be set again.
    pub history: u32,
    /// Characters.
    pub min_length: usize,
    /// Characters; longer passwords are refused before any hashing, at login too.
    pub max_length: usize,
}

impl Default for PasswordPolicySettings {
    fn default() -> Self {
        Self {
            pattern: SEED_PATTERN.to_owned(),
            max_age_days: 5500,
            history: 5,
            min_length: 7,
            max_length: 256,
        }
    }
}

/// A setting that cannot work; `key` is relative to `password_policy`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("password_policy.{key}: {message}")]
pub struct PolicySettingError {
    pub key: &'static str,
    pub message: String,
}

/// Why a new password was refused. The messages name the rule, never the password.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PolicyViolation {
    #[error("the password is shorter than {min} characters (password_policy.min_length)")]
    TooShort { min: usize },
    #[error("the password is longer than {max} characters (password_policy.max_length)")]
    TooLong { max: usize },
    #[error(
        "the password does not match the required pattern `{pattern}` (password_policy.pattern)"
    )]
    Pattern { pattern: String },
    #[error(
        "the password is one of the last {history} passwords of this account (password_policy.history)"
    )]
    Reused { history: u32 },
}

/// [`PasswordPolicySettings`] checked and compiled (at configuration load).
#[derive(Debug, Clone)]
pub struct PasswordPolicy {
    settings: PasswordPolicySettings,
    pattern: fancy_regex::Regex,
}

impl PasswordPolicy {
    pub fn compile(settings: PasswordPolicySettings) -> Result<Self, PolicySettingError> {
        let fail = |key, message: String| Err(PolicySettingError { key, message });
        if settings.max_length == 0 || settings.max_length > MAX_LENGTH_CEILING {
            return fail(
                "max_length",
                format!(
                    "must be between 1 and {MAX_LENGTH_CEILING} characters, got {}",
                    settings.max_length
                ),
            );
        }
        if settings.min_length > settings.max_length {
            return fail(
                "min_length",
                format!(
                    "{} is more than max_length ({}); no password could be set",
                    settings.min_length, settings.max_length
                ),
            );
        }
        if settings.max_age_days == 0 {
            return fail(
                "max_age_days",
                "must be at least 1 (5500, the seed's default, never forces a change in practice)"
                    .to_owned(),
            );
        }
        if settings.history > 100 {
            return fail(
                "history",
                format!(
                    "at most 100 earlier passwords are compared, got {}",
                    settings.history
                ),
            );
        }
        let pattern = fancy_regex::RegexBuilder::new(&settings.pattern)
            .backtrack_limit(BACKTRACK_LIMIT)
            .build()
            .map_err(|e| PolicySettingError {
                key: "pattern",
                message: format!("is not a valid regular expression: {e}"),
            })?;
        Ok(Self { settings, pattern })
    }

    pub fn settings(&self) -> &PasswordPolicySettings {
        &self.settings
    }

    /// The rules a password must meet on its own (length, then pattern); the history is the
    /// provider's part, as it needs the stored hashes.
    pub fn check(&self, password: &Secret) -> Result<(), PolicyViolation> {
        let length = password.expose().chars().count();
        if length > self.settings.max_length {
            return Err(PolicyViolation::TooLong {
                max: self.settings.max_length,
            });
        }
        if length < self.settings.min_length {
            return Err(PolicyViolation::TooShort {
                min: self.settings.min_length,
            });
        }
        // A match that exceeds the backtrack limit is a refusal, not a pass.
        match self.pattern.is_match(password.expose()) {
            Ok(true) => Ok(()),
            Ok(false) | Err(_) => Err(PolicyViolation::Pattern {
                pattern: self.settings.pattern.clone(),
            }),
        }
    }

    /// Whether a presented password is too long to be worth hashing: such a login is refused
    /// before argon2 runs (no policy allows setting one).
    pub fn too_long_to_verify(&self, password: &Secret) -> bool {
        // Bytes first: counting the characters of a megabyte is itself work to avoid.
        let bytes = password.expose().len();
        bytes > self.settings.max_length.saturating_mul(4)
            || (bytes > self.settings.max_length
                && password.expose().chars().count() > self.settings.max_length)
    }

    /// How many earlier passwords (the current one included) a new one may not repeat.
    pub fn history(&self) -> usize {
        self.settings.history as usize
    }

    pub fn max_age(&self) -> Duration {
        Duration::days(i64::from(self.settings.max_age_days))
    }

    /// A password set at `changed_at` has expired by `now`.
    pub fn is_expired(&self, changed_at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        now - changed_at >= self.max_age()
    }
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        // The seed pattern is a constant that compiles (tested below).
        Self::compile(PasswordPolicySettings::default()).unwrap_or_else(|e| panic!("{e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(policy: &PasswordPolicy, password: &str) -> Result<(), PolicyViolation> {
        policy.check(&Secret::new(password))
    }

    #[test]
    fn the_seed_pattern_accepts_and_refuses_as_the_seed_says() {
        let policy = PasswordPolicy::default();
        assert_eq!(check(&policy, "Abcdef1"), Ok(()));
        for refused in ["abcdefg1", "ABCDEFG1", "Abcdefg"] {
            assert!(
                matches!(
                    check(&policy, refused),
                    Err(PolicyViolation::Pattern { .. })
                ),
                "{refused}"
            );
        }
        assert_eq!(
            check(&policy, "Ab1"),
            Err(PolicyViolation::TooShort { min: 7 })
        );
    }

    #[test]
    fn messages_name_the_rule_and_never_the_password() {
        let policy = PasswordPolicy::default();
        let err = check(&policy, "lowercase-only-secret")
            .unwrap_err()
            .to_string();
        assert!(err.contains("password_policy.pattern"), "{err}");
        assert!(!err.contains("lowercase-only-secret"), "{err}");
        let long = "Aa1".repeat(200);
        let err = check(&policy, &long).unwrap_err();
        assert_eq!(err, PolicyViolation::TooLong { max: 256 });
        assert!(policy.too_long_to_verify(&Secret::new("x".repeat(1 << 20))));
        assert!(!policy.too_long_to_verify(&Secret::new("Abcdef1")));
        // 256 four-byte characters are 1 KiB and still a password of 256 characters.
        assert!(!policy.too_long_to_verify(&Secret::new("😀".repeat(256))));
        assert!(policy.too_long_to_verify(&Secret::new("😀".repeat(257))));
    }

    #[test]
    fn a_bad_pattern_is_refused_naming_the_key() {
        let err = PasswordPolicy::compile(PasswordPolicySettings {
            pattern: "^(?=.*[0-9]".into(),
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(err.key, "pattern");
        assert!(
            err.to_string().starts_with("password_policy.pattern"),
            "{err}"
        );
        for (settings, key) in [
            (
                PasswordPolicySettings {
                    max_length: 1 << 20,
                    ..Default::default()
                },
                "max_length",
            ),
            (
                PasswordPolicySettings {
                    min_length: 300,
                    ..Default::default()
                },
                "min_length",
            ),
            (
                PasswordPolicySettings {
                    max_age_days: 0,
                    ..Default::default()
                },
                "max_age_days",
            ),
        ] {
            assert_eq!(PasswordPolicy::compile(settings).unwrap_err().key, key);
        }
    }

    #[test]
    fn catastrophic_backtracking_is_a_refusal_not_a_hang() {
        let policy = PasswordPolicy::compile(PasswordPolicySettings {
            pattern: "^(a|a)+$(?<=b)".into(),
            max_length: 4096,
            min_length: 1,
            ..Default::default()
        })
        .unwrap();
        let started = std::time::Instant::now();
        assert!(check(&policy, &"a".repeat(40)).is_err());
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn expiry_counts_whole_days() {
        let policy = PasswordPolicy::compile(PasswordPolicySettings {
            max_age_days: 90,
            ..Default::default()
        })
        .unwrap();
        let now = Utc::now();
        assert!(!policy.is_expired(now - Duration::days(89), now));
        assert!(policy.is_expired(now - Duration::days(90), now));
        let seed = PasswordPolicy::default();
        assert!(!seed.is_expired(now - Duration::days(5499), now));
    }

    #[test]
    fn settings_parse_with_defaults_and_refuse_unknown_keys() {
        let s: PasswordPolicySettings = serde_json::from_str(r#"{"history": 3}"#).unwrap();
        assert_eq!(s.history, 3);
        assert_eq!(s.pattern, SEED_PATTERN);
        assert_eq!(s.max_age_days, 5500);
        assert!(serde_json::from_str::<PasswordPolicySettings>(r#"{"histroy": 3}"#).is_err());
    }
}
