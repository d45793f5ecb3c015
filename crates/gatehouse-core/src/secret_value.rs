//! Secret configuration values: `env:NAME` reads an environment variable, `file:/path` reads a file
//! (one trailing newline dropped), anything else is the value itself. References are resolved while
//! the configuration is deserialised (the only reading core does), so `check-config` catches a
//! missing variable or an unreadable file, and connectors receive the value itself.

use std::fmt;

use crate::secret::Secret;
use serde::{Deserialize, Deserializer, de};

#[derive(Clone)]
pub struct SecretValue {
    /// How the value was given: `env:NAME`, `file:/path`, or `literal`. Safe to print.
    source: String,
    value: Secret,
}

impl SecretValue {
    pub fn literal(value: impl Into<String>) -> Self {
        Self {
            source: "literal".into(),
            value: Secret::new(value),
        }
    }

    pub fn resolve(reference: &str) -> Result<Self, String> {
        if let Some(var) = reference.strip_prefix("env:") {
            let value = std::env::var(var).map_err(|_| {
                format!("environment variable `{var}` is not set (referenced as `env:{var}`)")
            })?;
            return Ok(Self {
                source: reference.to_owned(),
                value: Secret::new(value),
            });
        }
        if let Some(path) = reference.strip_prefix("file:") {
            let mut value = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read secret file `{path}`: {e}"))?;
            if value.ends_with('\n') {
                value.pop();
                if value.ends_with('\r') {
                    value.pop();
                }
            }
            return Ok(Self {
                source: reference.to_owned(),
                value: Secret::new(value),
            });
        }
        Ok(Self::literal(reference))
    }

    pub fn secret(&self) -> &Secret {
        &self.value
    }

    pub fn expose(&self) -> &str {
        self.value.expose()
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretValue({}, [redacted])", self.source)
    }
}

impl<'de> Deserialize<'de> for SecretValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let reference = String::deserialize(d)?;
        Self::resolve(&reference).map_err(de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_files_and_hides_values() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pw");
        std::fs::write(&path, "s3cret\n").unwrap();
        let v = SecretValue::resolve(&format!("file:{}", path.display())).unwrap();
        assert_eq!(v.expose(), "s3cret");
        assert!(!format!("{v:?}").contains("s3cret"));
        assert_eq!(SecretValue::resolve("plain").unwrap().expose(), "plain");
    }

    #[test]
    fn missing_references_name_what_is_missing() {
        let err = SecretValue::resolve("file:/nonexistent/gatehouse-secret").unwrap_err();
        assert!(err.contains("/nonexistent/gatehouse-secret"), "{err}");
        let err = SecretValue::resolve("env:GATEHOUSE_TEST_SURELY_UNSET_VAR").unwrap_err();
        assert!(err.contains("GATEHOUSE_TEST_SURELY_UNSET_VAR"), "{err}");
    }
}
