//! Gatehouse as an OpenID Provider: signing keys and JWKS, discovery, the authorization, token,
//! userinfo, introspection, revocation and end-session logic, clients, codes and refresh-token
//! families. HTTP lives in the server; this crate takes parameters and answers with outcomes.

mod account;
mod authorize;
mod clients;
pub mod crypto;
mod error;
mod introspect;
mod jwt;
pub mod keys;
mod logout;
pub mod pkce;
mod provider;
mod settings;
mod step_up;
mod token;
mod tokens;

pub use account::{ACCOUNT_CLIENT_ID, AccountPageSession, account_client};
pub use authorize::{AuthorizeRejection, AuthorizeRequest, NewSession, error_redirect};
pub use clients::{Client, ClientCredentials, ClientRegistry, PhcVerifier};
pub use error::{ErrorCode, OAuthError, OidcError};
pub use keys::{KeyRing, KeyVault, SigningAlg};
pub use logout::{AfterLogout, UpstreamLogin};
pub use provider::OidcProvider;
pub use settings::{ClientSettings, GrantType, STANDARD_SCOPES, TokenSettings};
pub use step_up::{SessionGrant, levels_of, requested_acr};
pub use token::TokenResponse;
pub use tokens::AccessClaims;
