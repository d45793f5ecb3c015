use thiserror::Error;

use crate::config::ConfigError;

#[derive(Debug, Error)]
pub enum ServerError {
    #[error("{0}")]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Store(#[from] gatehouse_store::StoreError),
    #[error("{0}")]
    Core(#[from] gatehouse_core::CoreError),
    #[error("provider `{provider}`: {message}")]
    Provider { provider: String, message: String },
    #[error("realm `{realm}`: OpenID provider: {message}")]
    Oidc { realm: String, message: String },
    #[error("{0}")]
    Keys(String),
    /// The outbound HTTP client of the redirect providers could not be built.
    #[error("{0}")]
    Http(String),
    #[error("{0}")]
    Theme(String),
    #[error("no realm `{name}` in the configuration (configured: {known})")]
    UnknownRealm { name: String, known: String },
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: String,
        source: std::io::Error,
    },
    #[error("server: {0}")]
    Serve(std::io::Error),
}
