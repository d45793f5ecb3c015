//! Checks that need the whole configuration: references between keys, formats, kind settings.

use std::collections::HashSet;
use std::net::SocketAddr;

use gatehouse_core::ProviderKind;

use super::Problem;
use super::model::{Config, ProviderSettings, RealmConfig, StoreConfig};

pub fn check(config: &Config) -> Vec<Problem> {
    let mut problems = Vec::new();
    if config.server.listen.parse::<SocketAddr>().is_err() {
        problems.push(Problem::new(
            "server.listen",
            format!(
                "`{}` is not an address and port such as 127.0.0.1:8080",
                config.server.listen
            ),
        ));
    }
    check_metrics(config, &mut problems);
    let public_url = &config.server.public_url;
    if !(public_url.starts_with("http://") || public_url.starts_with("https://"))
        || public_url.contains(['?', '#'])
    {
        problems.push(Problem::new(
            "server.public_url",
            format!("`{public_url}` must be an http:// or https:// URL without query or fragment"),
        ));
    }
    let server = &config.server;
    for (key, value) in [
        ("server.header_read_timeout_s", server.header_read_timeout_s),
        ("server.body_read_timeout_s", server.body_read_timeout_s),
        ("server.keep_alive_timeout_s", server.keep_alive_timeout_s),
    ] {
        if !(1..=3600).contains(&value) {
            problems.push(Problem::new(
                key,
                format!("{value} is out of range: give 1 to 3600 seconds"),
            ));
        }
    }
    if !(1..=1_000_000).contains(&server.max_connections) {
        problems.push(Problem::new(
            "server.max_connections",
            format!(
                "{} is out of range: give 1 to 1000000 (default 10000)",
                server.max_connections
            ),
        ));
    }
    let store_url = config.store.url.expose();
    if !["sqlite:", "postgres://", "postgresql://"]
        .iter()
        .any(|scheme| store_url.starts_with(scheme))
    {
        problems.push(Problem::new(
            "store.url",
            "must start with sqlite:// (e.g. sqlite://gatehouse.db?mode=rwc) or postgres://",
        ));
    }
    check_store(&config.store, &mut problems);
    if config.realms.is_empty() {
        problems.push(Problem::new(
            "realms",
            "no realm is configured; add a [realms.main] table with a chain and its providers",
        ));
    }
    for (name, realm) in &config.realms {
        check_realm(name, realm, &mut problems);
    }
    problems
}

fn check_metrics(config: &Config, problems: &mut Vec<Problem>) {
    let metrics = &config.server.metrics;
    if let Some(listen) = &metrics.listen {
        if listen.parse::<SocketAddr>().is_err() {
            problems.push(Problem::new(
                "server.metrics.listen",
                format!("`{listen}` is not an address and port such as 127.0.0.1:9090"),
            ));
        } else if *listen == config.server.listen {
            problems.push(Problem::new(
                "server.metrics.listen",
                "must differ from server.listen; leave it out to serve /metrics on server.listen",
            ));
        }
    }
    if metrics
        .bearer_token
        .as_ref()
        .is_some_and(|t| t.expose().trim().len() < 16)
    {
        problems.push(Problem::new(
            "server.metrics.bearer_token",
            "must be at least 16 characters (without surrounding spaces); e.g. env:GATEHOUSE_METRICS_TOKEN",
        ));
    }
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn check_realm(name: &str, realm: &RealmConfig, problems: &mut Vec<Problem>) {
    let at = |key: &str| format!("realms.{name}.{key}");
    if !valid_name(name) {
        problems.push(Problem::new(
            format!("realms.{name}"),
            "realm names appear in URLs: use letters, digits, `-` and `_` (at most 64)",
        ));
    }
    let mut ids = HashSet::new();
    for (i, provider) in realm.providers.iter().enumerate() {
        if !valid_name(&provider.id) {
            problems.push(Problem::new(
                at(&format!("providers[{i}].id")),
                format!(
                    "`{}` is not a valid id: use letters, digits, `-` and `_` (at most 64)",
                    provider.id
                ),
            ));
        }
        if !ids.insert(provider.id.as_str()) {
            problems.push(Problem::new(
                at(&format!("providers[{i}].id")),
                format!(
                    "provider id `{}` is used twice in this realm; ids must be unique",
                    provider.id
                ),
            ));
        }
    }
    if realm.chain.is_empty() {
        problems.push(Problem::new(
            at("chain"),
            "the chain is empty; list the provider ids to try, e.g. chain = [\"local\"]",
        ));
    }
    check_clients(name, realm, problems);
    super::policies::check(name, realm, problems);
    super::authsvc::check(name, realm, problems);
    super::mfa::check_realm(name, realm, problems);
    check_display(name, realm, problems);
    let mut seen = HashSet::new();
    for (i, id) in realm.chain.iter().enumerate() {
        if realm.provider(id).is_none() {
            problems.push(Problem::new(
                at(&format!("chain[{i}]")),
                format!(
                    "no provider `{id}` in this realm; add a [[realms.{name}.providers]] entry with id = \"{id}\" or remove it from the chain"
                ),
            ));
        }
        if !seen.insert(id) {
            problems.push(Problem::new(
                at(&format!("chain[{i}]")),
                format!("provider `{id}` appears twice in the chain"),
            ));
        }
    }
    for (i, provider) in realm.providers.iter().enumerate() {
        for (j, target) in provider.supersedes.iter().enumerate() {
            let key = at(&format!("providers[{i}].supersedes[{j}]"));
            if *target == provider.id {
                problems.push(Problem::new(key, "a provider cannot supersede itself"));
            } else if target.parse::<ProviderKind>().is_err() && realm.provider(target).is_none() {
                problems.push(Problem::new(
                    key,
                    format!(
                        "`{target}` is neither a provider kind (database, ldap, oidc, oauth2, saml) nor a provider id of this realm"
                    ),
                ));
            }
        }
        match &provider.settings {
            ProviderSettings::Database(settings) => {
                if let Err(e) = settings.validate() {
                    problems.push(Problem::new(at(&format!("providers[{i}]")), e));
                }
            }
            ProviderSettings::Ldap(settings) => {
                // One problem per key, each named under the provider entry.
                for e in settings.problems() {
                    problems.push(Problem::new(at(&format!("providers[{i}]")), e));
                }
            }
            // The connectors' own checks (URLs, scopes, claim regex) name the key; the same ones
            // run again when the provider is built, so check-config and serve agree.
            ProviderSettings::Oidc(settings) => {
                if let Err(e) = settings
                    .validate()
                    .and_then(|()| settings.mapping().map(|_| ()))
                {
                    problems.push(Problem::new(at(&format!("providers[{i}]")), e));
                }
            }
            ProviderSettings::Oauth2(settings) => {
                if let Err(e) = settings
                    .validate()
                    .and_then(|()| settings.mapping().map(|_| ()))
                {
                    problems.push(Problem::new(at(&format!("providers[{i}]")), e));
                }
            }
            // The metadata and key files are read (and a metadata URL fetched) when the provider
            // is built at start-up; here only what needs no I/O.
            ProviderSettings::Saml(settings) => {
                if let Err(e) = settings.validate() {
                    problems.push(Problem::new(at(&format!("providers[{i}]")), e));
                }
                // The connector could check an unsolicited Response, but the broker has no
                // relying party to send its user back to: refused rather than accepted and
                // then failing at every IdP-initiated login.
                if settings.allow_idp_initiated {
                    problems.push(Problem::new(
                        at(&format!("providers[{i}].allow_idp_initiated")),
                        "IdP-initiated login is not supported by the broker yet (an unsolicited \
                         Response has no relying party to return to); remove \
                         `allow_idp_initiated` or set it to false, and start logins at the \
                         relying party",
                    ));
                }
            }
        }
    }
}

fn check_clients(name: &str, realm: &RealmConfig, problems: &mut Vec<Problem>) {
    for (key, message) in realm.tokens.validate() {
        problems.push(Problem::new(format!("realms.{name}.tokens.{key}"), message));
    }
    let mut ids = HashSet::new();
    for (i, client) in realm.clients.iter().enumerate() {
        let at = format!("realms.{name}.clients[{i}]");
        if client.client_id == gatehouse_oidc::ACCOUNT_CLIENT_ID {
            problems.push(Problem::new(
                format!("{at}.client_id"),
                "`account` is the realm's built-in account page client; choose another client_id",
            ));
        }
        if !ids.insert(client.client_id.as_str()) {
            problems.push(Problem::new(
                format!("{at}.client_id"),
                format!(
                    "client_id `{}` is used twice in this realm",
                    client.client_id
                ),
            ));
        }
        for (key, message) in client.validate() {
            problems.push(Problem::new(format!("{at}.{key}"), message));
        }
    }
}

fn check_store(store: &StoreConfig, problems: &mut Vec<Problem>) {
    if store.max_connections == Some(0) {
        problems.push(Problem::new(
            "store.max_connections",
            "must be at least 1 (or left out for the default)",
        ));
    }
    // Below this a busy but healthy database would answer 503; above a minute a request hangs.
    if !(50..=60_000).contains(&store.acquire_timeout_ms) {
        problems.push(Problem::new(
            "store.acquire_timeout_ms",
            format!(
                "{} is out of range: use 50 to 60000 (default 1000)",
                store.acquire_timeout_ms
            ),
        ));
    }
    if store.idle_timeout_s == 0 || store.max_lifetime_s == 0 {
        let key = if store.idle_timeout_s == 0 {
            "store.idle_timeout_s"
        } else {
            "store.max_lifetime_s"
        };
        problems.push(Problem::new(key, "must be at least 1 second"));
    }
    if store.sqlite_busy_timeout_ms > 60_000 {
        problems.push(Problem::new(
            "store.sqlite_busy_timeout_ms",
            "must be at most 60000 (default 5000)",
        ));
    }
}

/// The display keys end up in pages (a style sheet, `src` and `href` attributes): only values
/// that cannot leave their place are taken.
fn check_display(name: &str, realm: &RealmConfig, problems: &mut Vec<Problem>) {
    let at = |key: &str| format!("realms.{name}.{key}");
    if let Some(n) = &realm.display_name
        && (n.trim().is_empty() || n.chars().count() > 80)
    {
        problems.push(Problem::new(
            at("display_name"),
            "must be 1 to 80 characters; remove the key to show the realm id",
        ));
    }
    if let Some(color) = &realm.primary_color
        && !is_hex_color(color)
    {
        problems.push(Problem::new(
            at("primary_color"),
            format!("`{color}` is not a colour such as \"#1d4ed8\" (#rgb or #rrggbb)"),
        ));
    }
    for (key, value, schemes) in [
        ("logo_url", &realm.logo_url, &["http", "https"][..]),
        (
            "help_url",
            &realm.help_url,
            &["http", "https", "mailto"][..],
        ),
    ] {
        if let Some(value) = value
            && !url::Url::parse(value).is_ok_and(|u| schemes.contains(&u.scheme()))
        {
            problems.push(Problem::new(
                at(key),
                format!("`{value}` must be an absolute {} URL", schemes.join(" or ")),
            ));
        }
    }
}

fn is_hex_color(s: &str) -> bool {
    s.strip_prefix('#')
        .is_some_and(|hex| matches!(hex.len(), 3 | 6) && hex.chars().all(|c| c.is_ascii_hexdigit()))
}
