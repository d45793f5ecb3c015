//! Every configuration value can be overridden from the environment:
//! `GATEHOUSE_SERVER__LISTEN=0.0.0.0:8080` sets `server.listen`. Path segments are separated by a
//! double underscore and matched case-insensitively; inside an array of tables (providers), a
//! segment names an entry by its `id` or by its index:
//! `GATEHOUSE_REALMS__MAIN__PROVIDERS__LOCAL__ENABLED=false`. A shell variable name cannot hold
//! `-`, so `_` in the segment also matches a `-` of the id (`CORP_SSO` names `corp-sso`); an id
//! spelled exactly as the segment wins.

use toml::{Table, Value};

pub const PREFIX: &str = "GATEHOUSE_";
const SEPARATOR: &str = "__";

/// One override that was applied, for error messages.
#[derive(Debug, Clone)]
pub struct Applied {
    pub var: String,
    pub path: String,
}

/// Apply every `GATEHOUSE_…__…` variable of `vars` to `root`. Variables without a `__` (such as
/// `GATEHOUSE_CONFIG`) are not configuration paths and are left alone.
pub fn apply(
    root: &mut Table,
    vars: impl IntoIterator<Item = (String, String)>,
) -> Result<Vec<Applied>, String> {
    let mut applied = Vec::new();
    let mut vars: Vec<_> = vars
        .into_iter()
        .filter(|(k, _)| k.starts_with(PREFIX) && k.contains(SEPARATOR))
        .collect();
    // Deterministic order, so the same environment always gives the same configuration.
    vars.sort();
    for (var, raw) in vars {
        let segments: Vec<String> = var[PREFIX.len()..]
            .split(SEPARATOR)
            .map(str::to_lowercase)
            .collect();
        if segments.iter().any(String::is_empty) {
            return Err(format!("{var}: empty path segment (use `__` between keys)"));
        }
        let path = set(root, &segments, &raw).map_err(|e| format!("{var}: {e}"))?;
        applied.push(Applied { var, path });
    }
    Ok(applied)
}

fn set(table: &mut Table, segments: &[String], raw: &str) -> Result<String, String> {
    let (first, rest) = segments.split_first().ok_or("no key")?;
    if rest.is_empty() {
        let value = parse_value(raw, table.get(first));
        table.insert(first.clone(), value);
        return Ok(first.clone());
    }
    let child = table
        .entry(first.clone())
        .or_insert_with(|| Value::Table(Table::new()));
    let sub = match child {
        Value::Table(t) => set(t, rest, raw)?,
        Value::Array(items) => set_in_array(items, rest, raw)?,
        _ => return Err(format!("`{first}` is a value, not a table")),
    };
    Ok(format!("{first}.{sub}"))
}

fn set_in_array(items: &mut [Value], segments: &[String], raw: &str) -> Result<String, String> {
    let (selector, rest) = segments.split_first().ok_or("no key")?;
    let id_is = |matches: &dyn Fn(&str) -> bool| {
        items
            .iter()
            .position(|item| item.get("id").and_then(Value::as_str).is_some_and(matches))
    };
    let index = selector
        .parse::<usize>()
        .ok()
        .or_else(|| id_is(&|id| id.eq_ignore_ascii_case(selector)))
        .or_else(|| id_is(&|id| id.replace('-', "_").eq_ignore_ascii_case(selector)));
    let Some(index) = index.filter(|i| *i < items.len()) else {
        return Err(format!("no entry with id or index `{selector}`"));
    };
    let Value::Table(entry) = &mut items[index] else {
        return Err(format!("entry `{selector}` is not a table"));
    };
    if rest.is_empty() {
        return Err(format!("entry `{selector}` needs a key after it"));
    }
    Ok(format!("[{index}].{}", set(entry, rest, raw)?))
}

/// Where the file already holds a string, the variable stays a string (a password of digits must
/// not turn into a number). Elsewhere it is read as a TOML value (`true`, `3`, `["a", "b"]`) and
/// falls back to a string.
fn parse_value(raw: &str, existing: Option<&Value>) -> Value {
    if matches!(existing, Some(Value::String(_))) {
        return Value::String(raw.to_owned());
    }
    format!("v = {raw}")
        .parse::<Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| Value::String(raw.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn base() -> Table {
        r#"
            [server]
            listen = "127.0.0.1:8080"
            [realms.main]
            chain = ["local"]
            [[realms.main.providers]]
            id = "local"
            kind = "database"
        "#
        .parse()
        .unwrap()
    }

    #[test]
    fn overrides_nested_keys_and_array_entries_by_id_or_index() {
        let mut t = base();
        let applied = apply(
            &mut t,
            vars(&[
                ("GATEHOUSE_SERVER__LISTEN", "0.0.0.0:9000"),
                ("GATEHOUSE_REALMS__MAIN__CHAIN", r#"["local", "corp"]"#),
                ("GATEHOUSE_REALMS__MAIN__PROVIDERS__LOCAL__ENABLED", "false"),
                (
                    "GATEHOUSE_REALMS__MAIN__PROVIDERS__0__ARGON2__ITERATIONS",
                    "3",
                ),
                ("GATEHOUSE_CONFIG", "ignored.toml"),
                ("OTHER__THING", "ignored"),
            ]),
        )
        .unwrap();
        assert_eq!(applied.len(), 4);
        assert_eq!(t["server"]["listen"].as_str(), Some("0.0.0.0:9000"));
        assert_eq!(t["realms"]["main"]["chain"].as_array().unwrap().len(), 2);
        let local = &t["realms"]["main"]["providers"][0];
        assert_eq!(local["enabled"].as_bool(), Some(false));
        assert_eq!(local["argon2"]["iterations"].as_integer(), Some(3));
        assert!(
            applied
                .iter()
                .any(|a| a.path == "realms.main.providers.[0].enabled")
        );
    }

    #[test]
    fn an_underscore_names_an_id_with_a_dash() {
        let mut t: Table = r#"
            [[realms.main.providers]]
            id = "corp-sso"
            kind = "oidc"
            [[realms.main.providers]]
            id = "corp_sso"
            kind = "oidc"
        "#
        .parse()
        .unwrap();
        apply(
            &mut t,
            vars(&[("GATEHOUSE_REALMS__MAIN__PROVIDERS__CORP_SSO__ISSUER", "x")]),
        )
        .unwrap();
        // The exact spelling wins over the dash-for-underscore one.
        let providers = t["realms"]["main"]["providers"].as_array().unwrap();
        assert!(providers[0].get("issuer").is_none());
        assert_eq!(providers[1]["issuer"].as_str(), Some("x"));
        t["realms"]["main"]["providers"]
            .as_array_mut()
            .unwrap()
            .remove(1);
        apply(
            &mut t,
            vars(&[("GATEHOUSE_REALMS__MAIN__PROVIDERS__CORP_SSO__ISSUER", "y")]),
        )
        .unwrap();
        assert_eq!(
            t["realms"]["main"]["providers"][0]["issuer"].as_str(),
            Some("y")
        );
    }

    #[test]
    fn strings_stay_strings() {
        let mut t = base();
        t.insert("secretish".into(), Value::String("x".into()));
        apply(&mut t, vars(&[("GATEHOUSE_SECRETISH", "1234")])).unwrap();
        // No `__`: not a path, not applied.
        assert_eq!(t["secretish"].as_str(), Some("x"));
        apply(&mut t, vars(&[("GATEHOUSE_SERVER__LISTEN", "1234")])).unwrap();
        assert_eq!(t["server"]["listen"].as_str(), Some("1234"));
    }

    #[test]
    fn names_the_variable_when_the_path_is_wrong() {
        let mut t = base();
        let err = apply(
            &mut t,
            vars(&[("GATEHOUSE_REALMS__MAIN__PROVIDERS__NOPE__ENABLED", "true")]),
        )
        .unwrap_err();
        assert!(
            err.contains("GATEHOUSE_REALMS__MAIN__PROVIDERS__NOPE__ENABLED"),
            "{err}"
        );
        assert!(err.contains("nope"), "{err}");
    }
}
