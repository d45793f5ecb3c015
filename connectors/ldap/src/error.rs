/// Errors of the `ldap` connector. None carries a password: the service account's and the user's
/// stay out of every message, and so does anything the directory echoed back of a bind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DirectoryError {
    #[error("invalid ldap provider settings: {0}")]
    InvalidSettings(String),

    #[error("provider `{id}` is of kind `{kind}`, not `ldap`")]
    WrongKind { id: String, kind: String },

    #[error("TLS set-up: {0}")]
    Tls(String),

    /// No server could be reached or answered in time; the login can go on to the next provider.
    #[error("{0}")]
    Unavailable(String),

    /// A server answered an operation with an error result.
    #[error("{operation} failed: result code {code}{}", if .text.is_empty() { String::new() } else { format!(" ({})", .text) })]
    Operation {
        operation: &'static str,
        code: u32,
        text: String,
    },
}
