//! `[realms.R.mfa]`: the realm's second factors (issue #23), named after the keys of the
//! products Gatehouse replaces (ConSol CM's `2fa.*`, IMS's `Require2FA`); see
//! docs/second-factors.md for the mapping and for which keys are not wired into logins yet.

use gatehouse_core::SecretValue;
use serde::Deserialize;

use super::Problem;
use super::model::RealmConfig;

/// Which second factor a realm's implicit policy asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MfaMode {
    /// None (a policy may still place `totp`, `recovery_code`, `email_otp` steps).
    #[default]
    Off,
    /// An authenticator app (TOTP), or a recovery code in its place.
    Totp,
    /// A one-time code sent by email.
    Email,
}

/// Who must pass the second factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MfaScope {
    #[default]
    All,
    /// Accounts holding the `admin` role only.
    Admin,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MfaConfig {
    #[serde(default)]
    pub mode: MfaMode,
    /// IMS `Require2FA`: an account without a second factor is sent through enrolment.
    #[serde(default)]
    pub require_2fa: bool,
    #[serde(default)]
    pub scope: MfaScope,
    /// Logins that skip the second factor.
    #[serde(default)]
    pub whitelist: Vec<String>,
    /// Digits of an email code.
    #[serde(default = "default_code_length")]
    pub code_length: usize,
    #[serde(default = "default_code_validity_minutes")]
    pub code_validity_minutes: u32,
    /// Seconds between two sends of a code to one login.
    #[serde(default = "default_resend_interval")]
    pub resend_interval_seconds: u32,
    /// The name authenticator apps show above the code; the realm's display name when unset.
    #[serde(default)]
    pub issuer: Option<String>,
    #[serde(default)]
    pub smtp: Option<SmtpConfig>,
    #[serde(default)]
    pub remember_browser: RememberBrowserConfig,
}

impl Default for MfaConfig {
    fn default() -> Self {
        Self {
            mode: MfaMode::Off,
            require_2fa: false,
            scope: MfaScope::All,
            whitelist: Vec::new(),
            code_length: default_code_length(),
            code_validity_minutes: default_code_validity_minutes(),
            resend_interval_seconds: default_resend_interval(),
            issuer: None,
            smtp: None,
            remember_browser: RememberBrowserConfig::default(),
        }
    }
}

fn default_code_length() -> usize {
    6
}
fn default_code_validity_minutes() -> u32 {
    15
}
fn default_resend_interval() -> u32 {
    60
}

/// How the connection to the mail server is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS, refused if the server does not offer it.
    #[default]
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No TLS at all: only for a mail relay on the same host (or tests).
    None,
}

/// `[realms.R.mfa.smtp]`: where email codes go out.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    pub host: String,
    #[serde(default)]
    pub port: Option<u16>,
    #[serde(default)]
    pub tls: SmtpTls,
    #[serde(default)]
    pub username: Option<String>,
    /// `env:VAR` or `file:/path` recommended.
    #[serde(default)]
    pub password: Option<SecretValue>,
    /// The sender, e.g. `Gatehouse <no-reply@example.com>`.
    pub from: String,
    #[serde(default = "default_smtp_timeout")]
    pub timeout_seconds: u64,
}

fn default_smtp_timeout() -> u64 {
    10
}

impl SmtpConfig {
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(match self.tls {
            SmtpTls::Tls => 465,
            SmtpTls::Starttls => 587,
            SmtpTls::None => 25,
        })
    }
}

/// `[realms.R.mfa.remember_browser]` (ConSol CM `2fa.rememberBrowser.*`). Parsed and checked;
/// not wired into logins yet.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RememberBrowserConfig {
    #[serde(default)]
    pub enabled: bool,
    #[serde(default = "default_period_days")]
    pub period_days: u32,
    /// The name of the cookie that carries the token.
    #[serde(default = "default_key")]
    pub key: String,
}

impl Default for RememberBrowserConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            period_days: default_period_days(),
            key: default_key(),
        }
    }
}

fn default_period_days() -> u32 {
    30
}
fn default_key() -> String {
    "gatehouse_remember".into()
}

/// Checks the realm's `mfa` table; email codes need `smtp` whether the mode or a policy asks.
pub fn check_realm(name: &str, realm: &RealmConfig, problems: &mut Vec<Problem>) {
    let uses_email = realm.policies.iter().any(|p| {
        p.steps.iter().any(|s| {
            s.mechanism
                .iter()
                .chain(s.choice.iter().flatten())
                .any(|m| m.name == "email_otp")
        })
    });
    check(name, &realm.mfa, uses_email, problems);
}

fn check(name: &str, mfa: &MfaConfig, uses_email: bool, problems: &mut Vec<Problem>) {
    let at = |key: &str| format!("realms.{name}.mfa.{key}");
    if !(4..=10).contains(&mfa.code_length) {
        problems.push(Problem::new(
            at("code_length"),
            format!(
                "{} is out of range: an email code has 4 to 10 digits (default 6)",
                mfa.code_length
            ),
        ));
    }
    if !(1..=1440).contains(&mfa.code_validity_minutes) {
        problems.push(Problem::new(
            at("code_validity_minutes"),
            format!(
                "{} is out of range: give 1 to 1440 minutes (default 15)",
                mfa.code_validity_minutes
            ),
        ));
    }
    if !(10..=3600).contains(&mfa.resend_interval_seconds) {
        problems.push(Problem::new(
            at("resend_interval_seconds"),
            format!(
                "{} is out of range: give 10 to 3600 seconds (default 60)",
                mfa.resend_interval_seconds
            ),
        ));
    }
    for (i, login) in mfa.whitelist.iter().enumerate() {
        if login.trim().is_empty() || login.len() > 256 {
            problems.push(Problem::new(
                at(&format!("whitelist[{i}]")),
                "a whitelist entry is a login (1 to 256 characters)",
            ));
        }
    }
    if mfa
        .issuer
        .as_deref()
        .is_some_and(|i| i.contains(':') || i.trim().is_empty())
    {
        problems.push(Problem::new(
            at("issuer"),
            "the name apps show must not be empty nor contain `:`",
        ));
    }
    if mfa.require_2fa && mfa.mode == MfaMode::Off {
        problems.push(Problem::new(
            at("require_2fa"),
            "require_2fa needs a second factor: set mode = \"totp\" or mode = \"email\"",
        ));
    }
    let rb = &mfa.remember_browser;
    if !(1..=365).contains(&rb.period_days) {
        problems.push(Problem::new(
            at("remember_browser.period_days"),
            format!(
                "{} is out of range: give 1 to 365 days (default 30)",
                rb.period_days
            ),
        ));
    }
    if rb.key.is_empty()
        || rb.key.len() > 64
        || !rb
            .key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        problems.push(Problem::new(
            at("remember_browser.key"),
            "the cookie name takes letters, digits, `-` and `_` (at most 64)",
        ));
    }
    match &mfa.smtp {
        None if mfa.mode == MfaMode::Email || uses_email => problems.push(Problem::new(
            at("smtp"),
            "email codes need a mail server: add [realms.NAME.mfa.smtp] with host and from",
        )),
        None => {}
        Some(smtp) => check_smtp(&at, smtp, problems),
    }
}

fn check_smtp(at: &dyn Fn(&str) -> String, smtp: &SmtpConfig, problems: &mut Vec<Problem>) {
    if smtp.host.trim().is_empty() || smtp.host.contains(['/', ' ', ':']) {
        problems.push(Problem::new(
            at("smtp.host"),
            format!(
                "`{}` is not a host name or address (give the port in smtp.port)",
                smtp.host
            ),
        ));
    }
    if smtp.port == Some(0) {
        problems.push(Problem::new(at("smtp.port"), "0 is not a port"));
    }
    if smtp.from.parse::<lettre::message::Mailbox>().is_err() {
        problems.push(Problem::new(
            at("smtp.from"),
            format!(
                "`{}` is not a sender address such as `Gatehouse <no-reply@example.com>`",
                smtp.from
            ),
        ));
    }
    if smtp.password.is_some() && smtp.username.is_none() {
        problems.push(Problem::new(
            at("smtp.username"),
            "smtp.password is set without smtp.username; give both or neither",
        ));
    }
    if !(1..=300).contains(&smtp.timeout_seconds) {
        problems.push(Problem::new(
            at("smtp.timeout_seconds"),
            format!(
                "{} is out of range: give 1 to 300 seconds (default 10)",
                smtp.timeout_seconds
            ),
        ));
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    fn problems(extra: &str) -> Vec<String> {
        let text = format!(
            r#"
[realms.main]
chain = ["local"]
[[realms.main.providers]]
id = "local"
kind = "database"
{extra}
"#
        );
        match Config::from_toml(&text, "test", Vec::new()) {
            Ok(_) => Vec::new(),
            Err(e) => e
                .problems
                .into_iter()
                .map(|p| format!("{}: {}", p.key, p.message))
                .collect(),
        }
    }

    #[test]
    fn the_seed_keys_parse_with_their_defaults() {
        let text = r#"
[realms.main]
chain = ["local"]
[[realms.main.providers]]
id = "local"
kind = "database"
[realms.main.mfa]
mode = "email"
scope = "admin"
whitelist = ["svc-backup"]
require_2fa = true
[realms.main.mfa.smtp]
host = "127.0.0.1"
port = 2525
tls = "none"
from = "Gatehouse <no-reply@example.com>"
[realms.main.mfa.remember_browser]
enabled = true
period_days = 14
key = "gh_rb"
"#;
        let config = Config::from_toml(text, "test", Vec::new()).unwrap();
        let mfa = &config.realms["main"].mfa;
        assert_eq!(mfa.code_length, 6);
        assert_eq!(mfa.code_validity_minutes, 15);
        assert_eq!(mfa.scope, super::MfaScope::Admin);
        assert_eq!(mfa.smtp.as_ref().unwrap().port(), 2525);
        assert_eq!(mfa.remember_browser.period_days, 14);
    }

    #[test]
    fn each_bad_key_is_named() {
        let found = problems(
            r#"
[realms.main.mfa]
mode = "email"
code_length = 3
code_validity_minutes = 0
require_2fa = true
whitelist = [""]
[realms.main.mfa.smtp]
host = "mail.example.com:25"
from = "not an address"
password = "x"
[realms.main.mfa.remember_browser]
period_days = 0
key = "a b"
"#,
        );
        for key in [
            "realms.main.mfa.code_length",
            "realms.main.mfa.code_validity_minutes",
            "realms.main.mfa.whitelist[0]",
            "realms.main.mfa.smtp.host",
            "realms.main.mfa.smtp.from",
            "realms.main.mfa.smtp.username",
            "realms.main.mfa.remember_browser.period_days",
            "realms.main.mfa.remember_browser.key",
        ] {
            assert!(
                found.iter().any(|p| p.starts_with(key)),
                "{key} not in {found:#?}"
            );
        }
        assert!(problems("[realms.main.mfa]\nmode = \"sms\"")[0].contains("realms.main.mfa.mode"));
        assert!(
            problems("[realms.main.mfa]\nmode = \"email\"")[0].starts_with("realms.main.mfa.smtp:")
        );
        assert!(
            problems("[realms.main.mfa]\nrequire_2fa = true")[0]
                .starts_with("realms.main.mfa.require_2fa:")
        );
        assert!(problems("[realms.main.mfa]\nmode = \"totp\"").is_empty());
    }

    #[test]
    fn policies_may_name_the_second_factors() {
        let found = problems(
            r#"
[[realms.main.policies]]
id = "staff"
acr = "urn:example:acr:mfa"
[[realms.main.policies.steps]]
mechanism = "password"
[[realms.main.policies.steps]]
choice = ["totp", "recovery_code"]
"#,
        );
        assert!(found.is_empty(), "{found:#?}");
        let found = problems(
            r#"
[[realms.main.policies]]
id = "staff"
acr = "urn:example:acr:mfa"
[[realms.main.policies.steps]]
mechanism = "password"
[[realms.main.policies.steps]]
mechanism = "email_otp"
"#,
        );
        assert!(
            found.iter().any(|p| p.starts_with("realms.main.mfa.smtp")),
            "{found:#?}"
        );
    }
}
