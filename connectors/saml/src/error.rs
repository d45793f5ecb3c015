/// Errors of setting up a `saml` provider (settings, IdP metadata, SP key). Login failures are
/// [`gatehouse_core::CallbackError`]s. None carries key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SamlError {
    #[error("invalid saml provider settings: {0}")]
    InvalidSettings(String),

    /// The IdP metadata is unreadable or unusable (no signing certificate, no SSO endpoint for
    /// the binding…). The message names the source and what is missing.
    #[error("IdP metadata: {0}")]
    Metadata(String),

    #[error("provider `{id}` is of kind `{kind}`, not `saml`")]
    WrongKind { id: String, kind: String },
}
