//! The `oauth2` redirect provider, for plain OAuth 2.0 "IAM" servers without OpenID Connect: the
//! authorization-code flow with PKCE (S256) and `state`, the code exchanged at `token_url`, the user
//! read from `profile_url` with the access token, and claims mapped to an
//! [`gatehouse_core::ExternalIdentity`].
//!
//! The modules [`callback`], [`claims`] and [`http`] are the plumbing every code-flow connector
//! needs; the `oidc` connector (OpenID Connect is OAuth 2.0 plus an ID token) builds on them.

pub mod callback;
pub mod claims;
mod error;
pub mod http;
mod provider;
mod settings;

pub use error::Oauth2Error;
pub use http::http_client;
pub use provider::Oauth2Provider;
pub use settings::{Oauth2Settings, endpoint_url, non_empty, scopes};
