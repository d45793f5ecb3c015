//! OAuth 2.0 / OpenID Connect error codes (RFC 6749 §4.1.2.1 and §5.2, RFC 6750, OIDC Core
//! §3.1.2.6) in one place, and the crate's internal errors.

use thiserror::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    UnsupportedResponseType,
    InvalidScope,
    AccessDenied,
    LoginRequired,
    /// OpenID Connect Core errata (§3.1.2.6): an essential `acr` the OP cannot meet.
    UnmetAuthenticationRequirements,
    InvalidToken,
    ServerError,
    TemporarilyUnavailable,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidClient => "invalid_client",
            ErrorCode::InvalidGrant => "invalid_grant",
            ErrorCode::UnauthorizedClient => "unauthorized_client",
            ErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            ErrorCode::UnsupportedResponseType => "unsupported_response_type",
            ErrorCode::InvalidScope => "invalid_scope",
            ErrorCode::AccessDenied => "access_denied",
            ErrorCode::LoginRequired => "login_required",
            ErrorCode::UnmetAuthenticationRequirements => "unmet_authentication_requirements",
            ErrorCode::InvalidToken => "invalid_token",
            ErrorCode::ServerError => "server_error",
            ErrorCode::TemporarilyUnavailable => "temporarily_unavailable",
        }
    }

    /// The HTTP status of a JSON error answer with this code.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::InvalidClient | ErrorCode::InvalidToken => 401,
            ErrorCode::ServerError => 500,
            ErrorCode::TemporarilyUnavailable => 503,
            _ => 400,
        }
    }
}

/// An error answer of the protocol. The description is for developers; it never holds a secret.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{}: {description}", code.as_str())]
pub struct OAuthError {
    pub code: ErrorCode,
    pub description: String,
}

impl OAuthError {
    pub fn new(code: ErrorCode, description: impl Into<String>) -> Self {
        Self {
            code,
            description: description.into(),
        }
    }

    pub fn invalid_request(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, d)
    }
    pub fn invalid_grant(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidGrant, d)
    }
    pub fn invalid_client() -> Self {
        Self::new(ErrorCode::InvalidClient, "client authentication failed")
    }
}

/// Faults of ours, as opposed to refusals of a request.
#[derive(Debug, Error)]
pub enum OidcError {
    #[error("{0}")]
    Store(#[from] gatehouse_store::StoreError),
    #[error("{0}")]
    Core(#[from] gatehouse_core::CoreError),
    #[error("crypto: {0}")]
    Crypto(String),
    #[error("{0}")]
    Config(String),
}

impl OidcError {
    /// The store is away for now: a temporary failure (RFC 6749 `temporarily_unavailable`).
    pub fn is_unavailable(&self) -> bool {
        match self {
            OidcError::Store(e) => e.is_unavailable(),
            OidcError::Core(e) => e.is_store_unavailable(),
            OidcError::Crypto(_) | OidcError::Config(_) => false,
        }
    }
}

impl From<OidcError> for OAuthError {
    fn from(e: OidcError) -> Self {
        if e.is_unavailable() {
            // The store's watcher logs the outage once; a line per request would drown it.
            tracing::debug!(error = %e, "OpenID provider: the store is unavailable");
            return OAuthError::new(
                ErrorCode::TemporarilyUnavailable,
                "the service is temporarily unavailable; try again shortly",
            );
        }
        tracing::error!(error = %e, "OpenID provider fault");
        OAuthError::new(ErrorCode::ServerError, "internal error")
    }
}
