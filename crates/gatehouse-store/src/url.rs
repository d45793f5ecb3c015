//! Database URLs: which backend, what to hand to sqlx, and how to print them without the password.

use crate::error::StoreError;

/// The URL query parameter naming the PostgreSQL schema the store lives in (see [`crate::Store::connect`]).
pub const SCHEMA_PARAM: &str = "gatehouse_schema";

const ACCEPTED: &str =
    "sqlite://PATH?mode=rwc, sqlite::memory:, postgres://USER@HOST/DB, postgresql://…";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// A parsed store URL.
pub(crate) struct Target {
    pub backend: Backend,
    /// What sqlx gets: the URL without our own parameters.
    pub driver_url: String,
    pub schema: Option<String>,
    /// For messages: the URL with the password replaced.
    pub redacted: String,
    password: Option<String>,
}

impl Target {
    pub fn parse(url: &str) -> Result<Target, StoreError> {
        let url = url.trim();
        let redacted = redact(url);
        let scheme = url.split_once(':').map(|(s, _)| s).unwrap_or("");
        let backend = match scheme.to_ascii_lowercase().as_str() {
            "sqlite" => Backend::Sqlite,
            "postgres" | "postgresql" => Backend::Postgres,
            _ => {
                let scheme = if scheme.is_empty() { "(none)" } else { scheme };
                return Err(StoreError::Connect(format!(
                    "unsupported database URL scheme `{scheme}` in `{redacted}`; accepted: {ACCEPTED}"
                )));
            }
        };
        let (driver_url, schema) = take_param(url, SCHEMA_PARAM);
        if let Some(schema) = &schema {
            if backend != Backend::Postgres {
                return Err(StoreError::Connect(format!(
                    "`{SCHEMA_PARAM}` is a PostgreSQL option; remove it from `{redacted}`"
                )));
            }
            validate_schema(schema)?;
        }
        Ok(Target {
            backend,
            driver_url,
            schema,
            redacted,
            password: password(url),
        })
    }

    pub fn is_memory(&self) -> bool {
        self.driver_url.contains(":memory:") || self.driver_url.contains("mode=memory")
    }

    /// A driver message, with the URL and the password taken out wherever they appear.
    pub fn scrub(&self, message: &str) -> String {
        let mut message = message.replace(&self.driver_url, &self.redacted);
        if let Some(password) = self.password.as_deref().filter(|p| !p.is_empty()) {
            message = message.replace(password, "***");
        }
        message
    }
}

/// Schema names go into DDL unquoted by the driver, so only plain identifiers are accepted.
pub(crate) fn validate_schema(schema: &str) -> Result<(), StoreError> {
    let mut chars = schema.chars();
    let ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && schema.len() <= 63;
    if ok {
        Ok(())
    } else {
        Err(StoreError::Connect(format!(
            "invalid schema name `{schema}`: use letters, digits and `_` (at most 63), not starting with a digit"
        )))
    }
}

/// The authority part of `scheme://authority/…`, as a byte range.
fn authority(url: &str) -> Option<(usize, usize)> {
    let start = url.find("://")? + 3;
    let len = url[start..]
        .find(['/', '?', '#'])
        .unwrap_or(url.len() - start);
    Some((start, start + len))
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`.
pub fn redact(url: &str) -> String {
    let Some((start, end)) = authority(url) else {
        return url.to_owned();
    };
    let Some(at) = url[start..end].rfind('@') else {
        return url.to_owned();
    };
    let userinfo = &url[start..start + at];
    let Some(colon) = userinfo.find(':') else {
        return url.to_owned();
    };
    format!("{}:***{}", &url[..start + colon], &url[start + at..])
}

fn password(url: &str) -> Option<String> {
    let (start, end) = authority(url)?;
    let at = url[start..end].rfind('@')?;
    let (_, password) = url[start..start + at].split_once(':')?;
    Some(password.to_owned())
}

/// Removes `name=value` from the query string; returns the rest of the URL and the value.
fn take_param(url: &str, name: &str) -> (String, Option<String>) {
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_owned(), None);
    };
    let mut value = None;
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| match pair.split_once('=') {
            Some((k, v)) if k == name => {
                value = Some(v.to_owned());
                false
            }
            _ => !pair.is_empty(),
        })
        .collect();
    let url = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    (url, value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_only_the_password() {
        assert_eq!(
            redact("postgres://app:s3cr@t@db:5432/gh"),
            "postgres://app:***@db:5432/gh"
        );
        assert_eq!(redact("postgres://app@db/gh"), "postgres://app@db/gh");
        assert_eq!(
            redact("sqlite://data/g.db?mode=rwc"),
            "sqlite://data/g.db?mode=rwc"
        );
    }

    #[test]
    fn names_the_scheme_and_hides_the_password() {
        let Err(e) = Target::parse("mysql://root:hunter2@db/gh") else {
            panic!("mysql accepted");
        };
        let msg = e.to_string();
        assert!(
            msg.contains("`mysql`") && msg.contains("postgres://"),
            "{msg}"
        );
        assert!(!msg.contains("hunter2"), "{msg}");
    }

    #[test]
    fn takes_the_schema_parameter_out() {
        let t = Target::parse("postgres://u@h/db?sslmode=disable&gatehouse_schema=t_1").unwrap();
        assert_eq!(t.driver_url, "postgres://u@h/db?sslmode=disable");
        assert_eq!(t.schema.as_deref(), Some("t_1"));
        let t = Target::parse("postgres://u@h/db?gatehouse_schema=t_1").unwrap();
        assert_eq!(t.driver_url, "postgres://u@h/db");
        assert!(Target::parse("postgres://u@h/db?gatehouse_schema=a;drop").is_err());
        assert!(Target::parse("sqlite://x.db?gatehouse_schema=a").is_err());
    }

    #[test]
    fn scrubs_driver_messages() {
        let t = Target::parse("postgres://u:pw123@h/db").unwrap();
        let msg = t.scrub("cannot parse 'postgres://u:pw123@h/db' (pw123)");
        assert!(!msg.contains("pw123"), "{msg}");
    }
}
