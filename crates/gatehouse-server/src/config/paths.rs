//! Relative paths in the configuration are relative to the configuration file's folder, so a
//! command run from elsewhere (`--config other/dir/gatehouse.toml`) opens the same store and key
//! file as `serve` does there, rather than silently creating new ones in its working directory.
//!
//! What counts as a path: the value of any key ending in `_file` or `_dir`, a `file:` secret
//! reference, and the file of a `sqlite:` store URL (given or by default).

use std::path::Path;

use toml::{Table, Value};

use super::model::Config;

/// Rewrites, before deserialisation, every relative path the table spells out: `file:` references
/// are read while deserialising, so they must be absolute by then.
pub fn resolve_table(table: &mut Table, base: &Path) {
    for (key, value) in table.iter_mut() {
        resolve_value(key, value, base);
    }
}

fn resolve_value(key: &str, value: &mut Value, base: &Path) {
    match value {
        Value::String(s) => {
            if let Some(path) = s.strip_prefix("file:") {
                if let Some(joined) = join(base, path) {
                    *s = format!("file:{joined}");
                }
            } else if (key.ends_with("_file") || key.ends_with("_dir"))
                && let Some(joined) = join(base, s)
            {
                *s = joined;
            }
        }
        Value::Table(t) => resolve_table(t, base),
        Value::Array(items) => {
            for item in items {
                resolve_value(key, item, base);
            }
        }
        _ => {}
    }
}

/// The paths that defaults or secret references supply, after deserialisation.
pub fn resolve_config(config: &mut Config, base: &Path) {
    if let Some(joined) = join(base, &config.keys.encryption_key_file) {
        config.keys.encryption_key_file = joined;
    }
    if let Some(dir) = &config.server.theme_dir
        && let Some(joined) = join(base, dir)
    {
        config.server.theme_dir = Some(joined);
    }
    if let Some(url) = sqlite_url_in(config.store.url.expose(), base) {
        config.store.url = gatehouse_core::SecretValue::literal(url);
    }
}

/// `base/path` when `path` is relative and not empty.
fn join(base: &Path, path: &str) -> Option<String> {
    if path.is_empty() || Path::new(path).is_absolute() {
        return None;
    }
    Some(base.join(path).to_string_lossy().into_owned())
}

/// The file of a `sqlite:` URL as written (`None` for another backend or an in-memory database).
pub fn sqlite_file(url: &str) -> Option<&str> {
    let rest = url.trim().strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let (path, query) = match rest.find('?') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    if path.is_empty() || path.contains(":memory:") || query.contains("mode=memory") {
        return None;
    }
    Some(path)
}

/// `sqlite://rel.db?mode=rwc` → `sqlite://BASE/rel.db?mode=rwc`; `None` for an absolute path, an
/// in-memory database or another backend.
fn sqlite_url_in(url: &str, base: &Path) -> Option<String> {
    let path = sqlite_file(url)?;
    let query = url.find('?').map(|i| &url[i..]).unwrap_or("");
    let joined = join(base, path)?;
    Some(format!("sqlite://{joined}{query}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_follow_the_config_folder() {
        let base = Path::new("/etc/gh");
        assert_eq!(
            sqlite_url_in("sqlite://gatehouse.db?mode=rwc", base).as_deref(),
            Some("sqlite:///etc/gh/gatehouse.db?mode=rwc")
        );
        assert_eq!(
            sqlite_url_in("sqlite:data/g.db", base).as_deref(),
            Some("sqlite:///etc/gh/data/g.db")
        );
        assert_eq!(sqlite_url_in("sqlite:///var/g.db?mode=rwc", base), None);
        assert_eq!(sqlite_url_in("sqlite::memory:", base), None);
        assert_eq!(sqlite_url_in("postgres://u@h/db", base), None);
    }

    #[test]
    fn path_keys_and_file_references_follow_the_config_folder() {
        let mut table: Table = r#"
            [keys]
            encryption_key_file = "gatehouse.key"
            [[realms.main.providers]]
            ca_file = "certs/ca.pem"
            bind_password = "file:secrets/bind"
            url = "ldap://dir.example"
            other = "/abs/ca.pem"
        "#
        .parse()
        .unwrap();
        resolve_table(&mut table, Path::new("/etc/gh"));
        let text = table.to_string();
        assert!(
            text.contains(r#"encryption_key_file = "/etc/gh/gatehouse.key""#),
            "{text}"
        );
        assert!(
            text.contains(r#"ca_file = "/etc/gh/certs/ca.pem""#),
            "{text}"
        );
        assert!(
            text.contains(r#"bind_password = "file:/etc/gh/secrets/bind""#),
            "{text}"
        );
        assert!(text.contains(r#"url = "ldap://dir.example""#), "{text}");
        assert!(text.contains(r#"other = "/abs/ca.pem""#), "{text}");
    }
}
