/// Errors of setting up an `oauth2` provider. Login failures are [`gatehouse_core::CallbackError`]s.
/// None carries the client secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Oauth2Error {
    #[error("invalid oauth2 provider settings: {0}")]
    InvalidSettings(String),

    #[error("provider `{id}` is of kind `{kind}`, not `oauth2`")]
    WrongKind { id: String, kind: String },
}
