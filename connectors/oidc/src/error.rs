/// Errors of setting up an `oidc` provider. Login failures are [`gatehouse_core::CallbackError`]s.
/// None carries the client secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OidcError {
    #[error("invalid oidc provider settings: {0}")]
    InvalidSettings(String),

    #[error("provider `{id}` is of kind `{kind}`, not `oidc`")]
    WrongKind { id: String, kind: String },
}
