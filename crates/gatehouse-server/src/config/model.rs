//! The configuration file's shape. Every table refuses unknown keys.

use std::collections::BTreeMap;
use std::time::Duration;

use gatehouse_connector_database::DatabaseSettings;
use gatehouse_connector_ldap::LdapSettings;
use gatehouse_connector_oauth2::Oauth2Settings;
use gatehouse_connector_oidc::OidcSettings;
use gatehouse_connector_saml::SamlSettings;
use gatehouse_core::auth::{FlowLimits, PolicySpec};
use gatehouse_core::{OnUnavailable, ProviderDescriptor, ProviderKind, RealmPolicy, SecretValue};
use gatehouse_oidc::{ClientSettings, TokenSettings};
use gatehouse_store::PoolSettings;
use serde::{Deserialize, Deserializer, de};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub store: StoreConfig,
    #[serde(default)]
    pub keys: KeysConfig,
    #[serde(default)]
    pub realms: BTreeMap<String, RealmConfig>,
}

/// Encryption of signing keys at rest.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeysConfig {
    /// The key-encryption secret (at least 16 bytes; `env:`/`file:` reference recommended). Every
    /// instance sharing a store needs the same one.
    #[serde(default)]
    pub encryption_key: Option<SecretValue>,
    /// Used when `encryption_key` is not set: read, or created with a random secret on first start.
    #[serde(default = "default_key_file")]
    pub encryption_key_file: String,
}

impl Default for KeysConfig {
    fn default() -> Self {
        Self {
            encryption_key: None,
            encryption_key_file: default_key_file(),
        }
    }
}

fn default_key_file() -> String {
    "gatehouse.key".into()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    #[serde(default = "default_listen")]
    pub listen: String,
    #[serde(default = "default_public_url")]
    pub public_url: String,
    #[serde(default)]
    pub log_format: LogFormat,
    /// A tracing filter such as `info` or `gatehouse=debug,info`; `GATEHOUSE_LOG` wins over it.
    #[serde(default = "default_log_level")]
    pub log_level: String,
    /// A folder whose templates (login.html, error.html, logout.html, logged_out.html) replace
    /// the built-in ones.
    #[serde(default)]
    pub theme_dir: Option<String>,
    /// A new connection's first request head must be complete within this many seconds.
    #[serde(default = "default_header_read_timeout")]
    pub header_read_timeout_s: u64,
    /// A request body must be read completely within this many seconds of its head.
    #[serde(default = "default_body_read_timeout")]
    pub body_read_timeout_s: u64,
    /// A kept-alive connection waiting for (and reading the head of) its next request is closed
    /// after this many seconds.
    #[serde(default = "default_keep_alive_timeout")]
    pub keep_alive_timeout_s: u64,
    /// Connections served at once; further ones wait in the listen backlog.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    #[serde(default)]
    pub metrics: MetricsConfig,
}

/// `[server.metrics]`: Prometheus `/metrics`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// A separate address for `/metrics` (e.g. `127.0.0.1:9090`); when set, the main listener
    /// does not serve it.
    #[serde(default)]
    pub listen: Option<String>,
    /// Scrapers must send `Authorization: Bearer <token>` (`env:`/`file:` reference recommended).
    #[serde(default)]
    pub bearer_token: Option<SecretValue>,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: None,
            bearer_token: None,
        }
    }
}

fn default_true() -> bool {
    true
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            public_url: default_public_url(),
            log_format: LogFormat::default(),
            log_level: default_log_level(),
            theme_dir: None,
            metrics: MetricsConfig::default(),
            header_read_timeout_s: default_header_read_timeout(),
            body_read_timeout_s: default_body_read_timeout(),
            keep_alive_timeout_s: default_keep_alive_timeout(),
            max_connections: default_max_connections(),
        }
    }
}

fn default_header_read_timeout() -> u64 {
    10
}
fn default_body_read_timeout() -> u64 {
    30
}
fn default_keep_alive_timeout() -> u64 {
    60
}
fn default_max_connections() -> usize {
    10_000
}

fn default_listen() -> String {
    "127.0.0.1:8080".into()
}
fn default_public_url() -> String {
    "http://127.0.0.1:8080".into()
}
fn default_log_level() -> String {
    "info".into()
}

/// The store and its connection pool (docs/operations.md: what happens during an outage).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// `sqlite://…` or `postgres://…`; may be an `env:` or `file:` reference (it can hold a password).
    #[serde(default = "default_store_url")]
    pub url: SecretValue,
    /// Pool size; unset: 16 on PostgreSQL, 8 on SQLite.
    #[serde(default)]
    pub max_connections: Option<u32>,
    /// How long a request waits for a database connection before it is answered 503.
    #[serde(default = "default_acquire_timeout_ms")]
    pub acquire_timeout_ms: u64,
    /// An idle connection is closed after this long.
    #[serde(default = "default_idle_timeout_s")]
    pub idle_timeout_s: u64,
    /// A connection is closed once this old.
    #[serde(default = "default_max_lifetime_s")]
    pub max_lifetime_s: u64,
    /// PostgreSQL: check each connection with a round trip before use.
    #[serde(default = "default_test_before_acquire")]
    pub test_before_acquire: bool,
    /// SQLite: how long a write waits for the file's lock before it is answered 503.
    #[serde(default = "default_sqlite_busy_timeout_ms")]
    pub sqlite_busy_timeout_ms: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            url: default_store_url(),
            max_connections: None,
            acquire_timeout_ms: default_acquire_timeout_ms(),
            idle_timeout_s: default_idle_timeout_s(),
            max_lifetime_s: default_max_lifetime_s(),
            test_before_acquire: default_test_before_acquire(),
            sqlite_busy_timeout_ms: default_sqlite_busy_timeout_ms(),
        }
    }
}

impl StoreConfig {
    pub fn pool_settings(&self) -> PoolSettings {
        PoolSettings {
            max_connections: self.max_connections,
            acquire_timeout: Duration::from_millis(self.acquire_timeout_ms),
            idle_timeout: Duration::from_secs(self.idle_timeout_s),
            max_lifetime: Duration::from_secs(self.max_lifetime_s),
            test_before_acquire: self.test_before_acquire,
            sqlite_busy_timeout: Duration::from_millis(self.sqlite_busy_timeout_ms),
        }
    }
}

fn default_acquire_timeout_ms() -> u64 {
    duration_ms(PoolSettings::default().acquire_timeout)
}
fn default_idle_timeout_s() -> u64 {
    PoolSettings::default().idle_timeout.as_secs()
}
fn default_max_lifetime_s() -> u64 {
    PoolSettings::default().max_lifetime.as_secs()
}
fn default_test_before_acquire() -> bool {
    PoolSettings::default().test_before_acquire
}
fn default_sqlite_busy_timeout_ms() -> u64 {
    duration_ms(PoolSettings::default().sqlite_busy_timeout)
}
fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn default_store_url() -> SecretValue {
    SecretValue::literal("sqlite://gatehouse.db?mode=rwc")
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RealmConfig {
    pub chain: Vec<String>,
    #[serde(default)]
    pub on_unavailable: OnUnavailable,
    #[serde(default)]
    pub usernames_case_sensitive: bool,
    #[serde(default = "yes")]
    pub login_with_email: bool,
    #[serde(default)]
    pub providers: Vec<ProviderConfig>,
    /// The relying parties of this realm's OpenID provider.
    #[serde(default)]
    pub clients: Vec<ClientSettings>,
    #[serde(default)]
    pub tokens: TokenSettings,
    /// `[[realms.R.policies]]`; none: the implicit `default` policy (docs/authentication-policies.md).
    #[serde(default)]
    pub policies: Vec<PolicySpec>,
    /// `[realms.R.flows]`: the bounds of every authentication flow.
    #[serde(default)]
    pub flows: FlowLimits,
    /// `[realms.R.authsvc]`: starting policies over HTTP (the web and REST flows).
    #[serde(default)]
    pub authsvc: super::authsvc::AuthsvcConfig,
    /// `[realms.R.brute_force]`: the brute-force defence (docs/account-protection.md).
    #[serde(default)]
    pub brute_force: gatehouse_core::BruteForceSettings,
    /// The realm's name on its pages ("Sign in to {display_name}"); the realm id when unset.
    #[serde(default)]
    pub display_name: Option<String>,
    /// An image (http or https URL) shown above the pages' title.
    #[serde(default)]
    pub logo_url: Option<String>,
    /// The colour of buttons and links, `#rgb` or `#rrggbb`.
    #[serde(default)]
    pub primary_color: Option<String>,
    /// A link in the pages' footer ("Help"): an http(s) or mailto: URL.
    #[serde(default)]
    pub help_url: Option<String>,
    /// `[realms.R.mfa]`: second factors (docs/second-factors.md).
    #[serde(default)]
    pub mfa: super::mfa::MfaConfig,
}

fn yes() -> bool {
    true
}

impl RealmConfig {
    pub fn policy(&self, name: &str) -> RealmPolicy {
        RealmPolicy {
            name: name.to_owned(),
            providers: self
                .providers
                .iter()
                .map(ProviderConfig::descriptor)
                .collect(),
            chain: self.chain.clone(),
            on_unavailable: self.on_unavailable,
            usernames_case_sensitive: self.usernames_case_sensitive,
            login_with_email: self.login_with_email,
        }
    }

    pub fn provider(&self, id: &str) -> Option<&ProviderConfig> {
        self.providers.iter().find(|p| p.id == id)
    }

    /// The first database provider in chain order, then any other one.
    pub fn first_database_provider(&self) -> Option<&ProviderConfig> {
        self.chain
            .iter()
            .filter_map(|id| self.provider(id))
            .chain(self.providers.iter())
            .find(|p| p.kind() == ProviderKind::Database)
    }
}

/// One `[[realms.R.providers]]` entry: the keys every kind shares, and the kind's own settings.
#[derive(Debug, Clone)]
pub struct ProviderConfig {
    pub id: String,
    pub enabled: bool,
    pub supersedes: Vec<String>,
    /// The shared keys of redirect providers; their defaults for password providers, which refuse
    /// them.
    pub redirect: RedirectOptions,
    pub settings: ProviderSettings,
}

#[derive(Debug, Clone)]
pub enum ProviderSettings {
    Database(DatabaseSettings),
    Ldap(Box<LdapSettings>),
    Oidc(Box<OidcSettings>),
    Oauth2(Box<Oauth2Settings>),
    Saml(Box<SamlSettings>),
}

/// What a redirect provider's callback may do with an identity that has no link yet.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkExisting {
    /// Link only by an existing (provider, external id) link.
    #[default]
    Never,
    /// Link to the account whose username is the mapped username.
    Username,
    /// Link to the one account with that email, and only when the upstream says it is verified.
    VerifiedEmail,
}

/// The keys every redirect provider (`oidc`, `oauth2`, `saml`) shares, parsed beside `id`/`kind`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedirectOptions {
    /// Create an account (and link) for an identity nothing else matched.
    #[serde(default)]
    pub jit: bool,
    #[serde(default)]
    pub link_existing: LinkExisting,
    /// Skip the login page when this is the realm's only chained provider.
    #[serde(default)]
    pub auto_redirect: bool,
}

impl ProviderConfig {
    pub fn kind(&self) -> ProviderKind {
        match self.settings {
            ProviderSettings::Database(_) => ProviderKind::Database,
            ProviderSettings::Ldap(_) => ProviderKind::Ldap,
            ProviderSettings::Oidc(_) => ProviderKind::Oidc,
            ProviderSettings::Oauth2(_) => ProviderKind::Oauth2,
            ProviderSettings::Saml(_) => ProviderKind::Saml,
        }
    }

    pub fn descriptor(&self) -> ProviderDescriptor {
        ProviderDescriptor {
            id: self.id.clone(),
            kind: self.kind(),
            enabled: self.enabled,
            supersedes: self.supersedes.clone(),
            jit: match &self.settings {
                ProviderSettings::Database(_) => false,
                ProviderSettings::Ldap(ldap) => ldap.jit,
                ProviderSettings::Oidc(_)
                | ProviderSettings::Oauth2(_)
                | ProviderSettings::Saml(_) => self.redirect.jit,
            },
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SharedKeys {
    id: String,
    kind: String,
    #[serde(default = "yes")]
    enabled: bool,
    #[serde(default)]
    supersedes: Vec<String>,
}

const SHARED_KEYS: [&str; 4] = ["id", "kind", "enabled", "supersedes"];

/// Shared by redirect providers only. `jit` is not refused on password providers here: `ldap` has a
/// `jit` of its own (directory search), and `database` refuses it as an unknown key.
const REDIRECT_KEYS: [&str; 3] = ["jit", "link_existing", "auto_redirect"];
const REDIRECT_ONLY_KEYS: [&str; 2] = ["link_existing", "auto_redirect"];

/// Split the shared keys from the kind's own, so each kind's settings can refuse unknown keys while
/// the shared ones are written once.
impl<'de> Deserialize<'de> for ProviderConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut own = toml::Table::deserialize(d)?;
        let mut shared = toml::Table::new();
        for key in SHARED_KEYS {
            if let Some(v) = own.remove(key) {
                shared.insert(key.to_owned(), v);
            }
        }
        let shared =
            SharedKeys::deserialize(toml::Value::Table(shared)).map_err(de::Error::custom)?;
        let kind = shared.kind.parse::<ProviderKind>().map_err(|_| {
            de::Error::custom(format!(
                "provider `{}`: unknown kind `{}`; this build offers `database`, `ldap`, `oidc`, `oauth2` and `saml`",
                shared.id, shared.kind
            ))
        })?;
        let id = &shared.id;
        let mut redirect = RedirectOptions::default();
        if kind.is_password() {
            if let Some(key) = REDIRECT_ONLY_KEYS.iter().find(|k| own.contains_key(**k)) {
                return Err(de::Error::custom(format!(
                    "provider `{id}` ({kind}): `{key}` applies to redirect providers (oidc, oauth2, saml) only; remove it"
                )));
            }
        } else {
            let mut keys = toml::Table::new();
            for key in REDIRECT_KEYS {
                if let Some(v) = own.remove(key) {
                    keys.insert(key.to_owned(), v);
                }
            }
            redirect = RedirectOptions::deserialize(toml::Value::Table(keys)).map_err(|e| {
                de::Error::custom(format!("provider `{id}` ({kind}): {}", e.message()))
            })?;
        }
        let own = toml::Value::Table(own);
        let named = |e: toml::de::Error| {
            de::Error::custom(format!("provider `{id}` ({kind}): {}", e.message()))
        };
        let settings = match kind {
            ProviderKind::Database => {
                ProviderSettings::Database(DatabaseSettings::deserialize(own).map_err(named)?)
            }
            ProviderKind::Ldap => {
                ProviderSettings::Ldap(Box::new(LdapSettings::deserialize(own).map_err(named)?))
            }
            ProviderKind::Oidc => {
                ProviderSettings::Oidc(Box::new(OidcSettings::deserialize(own).map_err(named)?))
            }
            ProviderKind::Oauth2 => {
                ProviderSettings::Oauth2(Box::new(Oauth2Settings::deserialize(own).map_err(named)?))
            }
            ProviderKind::Saml => {
                ProviderSettings::Saml(Box::new(SamlSettings::deserialize(own).map_err(named)?))
            }
        };
        Ok(ProviderConfig {
            id: shared.id,
            enabled: shared.enabled,
            supersedes: shared.supersedes,
            redirect,
            settings,
        })
    }
}
