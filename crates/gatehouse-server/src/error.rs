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
    /// Second factors (`[realms.R.mfa]`): a mail transport that cannot be built.
    #[error("{0}")]
    SecondFactor(String),
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

/// Seconds a client is asked to wait (`Retry-After`) when the store is away: it is back in use
/// within a second of its return.
pub const RETRY_AFTER_SECS: &str = "1";

/// A fault of ours on its way to an HTTP answer: an outage of the store is answered "try again"
/// (503 + `Retry-After`) and logged once by the store's watcher, not once per request.
pub trait Fault: std::fmt::Display {
    fn is_unavailable(&self) -> bool;
}

impl Fault for gatehouse_store::StoreError {
    fn is_unavailable(&self) -> bool {
        gatehouse_store::StoreError::is_unavailable(self)
    }
}

impl Fault for gatehouse_core::CoreError {
    fn is_unavailable(&self) -> bool {
        self.is_store_unavailable()
    }
}

impl Fault for gatehouse_oidc::OidcError {
    fn is_unavailable(&self) -> bool {
        gatehouse_oidc::OidcError::is_unavailable(self)
    }
}

impl Fault for ServerError {
    fn is_unavailable(&self) -> bool {
        match self {
            ServerError::Store(e) => e.is_unavailable(),
            ServerError::Core(e) => e.is_store_unavailable(),
            _ => false,
        }
    }
}

impl Fault for gatehouse_core::RepoError {
    fn is_unavailable(&self) -> bool {
        gatehouse_core::RepoError::is_unavailable(self)
    }
}

impl Fault for serde_json::Error {
    fn is_unavailable(&self) -> bool {
        false
    }
}

impl Fault for String {
    fn is_unavailable(&self) -> bool {
        false
    }
}

/// A fault kept past its type (in an enum of refusals): its message and whether it is an outage.
#[derive(Debug)]
pub struct DescribedFault {
    message: String,
    unavailable: bool,
}

impl DescribedFault {
    pub fn of(fault: &impl Fault) -> Self {
        Self {
            message: fault.to_string(),
            unavailable: fault.is_unavailable(),
        }
    }
}

impl std::fmt::Display for DescribedFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl Fault for DescribedFault {
    fn is_unavailable(&self) -> bool {
        self.unavailable
    }
}

/// Logs a fault unless it is an outage (which the store logs once when it starts).
pub fn log_fault(fault: &impl Fault) {
    if fault.is_unavailable() {
        tracing::debug!(error = %fault, "request failed: the store is unavailable");
    } else {
        tracing::error!(error = %fault, "request failed");
    }
}
