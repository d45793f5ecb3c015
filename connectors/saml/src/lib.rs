//! The `saml` redirect provider, for an upstream SAML 2.0 IdP (ADFS, Shibboleth, Keycloak,
//! pysaml2…): SP-initiated SSO over the HTTP-Redirect or HTTP-POST binding (AuthnRequests signed
//! on request), the Response checked at the ACS (signature by the IdP metadata's certificates
//! through samael + xmlsec, only signed content trusted, status, Destination, Audience,
//! Recipient, InResponseTo, validity window), the Assertion mapped to an
//! [`gatehouse_core::ExternalIdentity`] with a replay guard, SP metadata, and single logout.
//!
//! Module map: [`settings`] (keys) · `metadata` (IdP metadata) · `authn_request` · `envelope`
//! (the unverified first look) · `response` (the ACS checks) · `mapping` · `logout` ·
//! `logout_response` (the IdP's answer to the broker's LogoutRequest) ·
//! `sp_metadata` · `signing` (SP key, templates, query signatures) · `provider`.

mod authn_request;
mod envelope;
mod error;
mod logout;
mod logout_response;
mod mapping;
mod metadata;
mod provider;
mod response;
pub mod settings;
mod signing;
mod sp_metadata;
mod xml_log;

pub use error::SamlError;
pub use gatehouse_connector_oauth2::http_client;
pub use logout::IdpLogoutRequest;
pub use logout_response::IdpLogoutResponse;
pub use mapping::LogoutHint;
pub use provider::{MAX_SAML_RESPONSE_BYTES, SamlProvider, SpUrls};
pub use settings::{Binding, SamlSettings};
pub use signing::signature_template;
