//! Configuration: one TOML file, every value overridable from the environment, secrets by
//! reference, validated as a whole with messages that name the key and the fix.

mod authsvc;
mod env_overlay;
mod mfa;
mod model;
mod paths;
mod policies;
mod protection;
mod validate;

use std::fmt;
use std::path::Path;

pub use authsvc::{AuthsvcConfig, KickoffMethod};
pub use gatehouse_core::SecretValue;
pub use model::{
    Config, KeysConfig, LinkExisting, LogFormat, MetricsConfig, ProviderConfig, ProviderSettings,
    RealmConfig, RedirectOptions, ServerConfig, StoreConfig,
};

pub use mfa::{MfaConfig, MfaMode, MfaScope, RememberBrowserConfig, SmtpConfig, SmtpTls};
pub use paths::sqlite_file;

/// The default path of the configuration file; `--config` and `GATEHOUSE_CONFIG` override it.
pub const DEFAULT_PATH: &str = "config/gatehouse.toml";

/// One thing wrong with the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The dotted key at fault, e.g. `realms.main.chain[1]`.
    pub key: String,
    pub message: String,
}

impl Problem {
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into(),
        }
    }
}

#[derive(Debug)]
pub struct ConfigError {
    pub source: String,
    pub problems: Vec<Problem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "configuration {} is invalid:", self.source)?;
        for p in &self.problems {
            writeln!(f, "  - {}: {}", p.key, p.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Read, overlay the process environment, check. The same path for `serve` and `check-config`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            source: path.display().to_string(),
            problems: vec![Problem::new(
                "(file)",
                format!(
                    "cannot read it: {e}; pass --config FILE or set GATEHOUSE_CONFIG to an existing file"
                ),
            )],
        })?;
        // Relative paths in the file are relative to its folder (`paths`), not to the working
        // directory of whoever runs the command.
        let folder = path.parent().unwrap_or(Path::new(""));
        let base = std::path::absolute(folder).unwrap_or_else(|_| folder.to_path_buf());
        Self::parse(
            &text,
            &path.display().to_string(),
            std::env::vars(),
            Some(&base),
        )
    }

    /// Paths stay as written (relative to the working directory).
    pub fn from_toml(
        text: &str,
        source: &str,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        Self::parse(text, source, env, None)
    }

    /// [`Config::from_toml`] with relative paths resolved against `base` (the file's folder).
    pub fn from_toml_in(
        text: &str,
        source: &str,
        env: impl IntoIterator<Item = (String, String)>,
        base: &Path,
    ) -> Result<Config, ConfigError> {
        Self::parse(text, source, env, Some(base))
    }

    fn parse(
        text: &str,
        source: &str,
        env: impl IntoIterator<Item = (String, String)>,
        base: Option<&Path>,
    ) -> Result<Config, ConfigError> {
        let fail = |problems| ConfigError {
            source: source.to_owned(),
            problems,
        };
        let mut table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            fail(vec![Problem::new("(syntax)", e.to_string().trim())])
        })?;
        let applied = env_overlay::apply(&mut table, env)
            .map_err(|e| fail(vec![Problem::new("(environment)", e)]))?;
        if let Some(base) = base {
            paths::resolve_table(&mut table, base);
        }

        let mut config: Config = serde_path_to_error::deserialize(toml::Value::Table(table))
            .map_err(|e| {
                let key = match e.path().to_string() {
                    p if p == "." => "(top level)".to_owned(),
                    p => p,
                };
                let mut message = e.inner().message().to_owned();
                if message.contains("unknown field") {
                    message.push_str(
                        "; remove it or correct its spelling (see README, Configuration)",
                    );
                }
                if let Some(a) = applied.iter().find(|a| key.starts_with(a.path.as_str())) {
                    message.push_str(&format!(" (set by {})", a.var));
                }
                fail(vec![Problem::new(key, message)])
            })?;
        if let Some(base) = base {
            paths::resolve_config(&mut config, base);
        }

        let mut problems = validate::check(&config);
        problems.extend(protection::check(&config));
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(fail(problems))
        }
    }

    pub fn realm(&self, name: &str) -> Option<&RealmConfig> {
        self.realms.get(name)
    }
}

#[cfg(test)]
mod policy_tests;
#[cfg(test)]
mod redirect_tests;
#[cfg(test)]
mod tests;
