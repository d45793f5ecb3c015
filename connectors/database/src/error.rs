/// Errors of the `database` connector. None carries a password or a stored hash: messages name
/// what was wrong, never the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DatabaseError {
    #[error("invalid database provider settings: {0}")]
    InvalidSettings(String),

    #[error("provider `{id}` is of kind `{kind}`, not `database`")]
    WrongKind { id: String, kind: String },

    /// The stored value is not an argon2 PHC string this connector can verify.
    #[error("malformed password hash: {0}")]
    MalformedHash(String),

    /// argon2 itself failed (out of memory, no randomness): the password was not checked.
    #[error("password hashing failed: {0}")]
    Hashing(String),

    /// A new password the provider's policy refuses; the message names the rule.
    #[error("{0}")]
    Policy(#[from] gatehouse_core::PolicyViolation),

    /// The blocking task died (panic, runtime shutting down) before answering.
    #[error("password hashing task did not complete")]
    TaskFailed,
}
