//! The `oidc` redirect provider, for an upstream OpenID Provider (Keycloak, Entra ID, Google, another
//! Gatehouse…): endpoints by discovery or from the settings; the authorization-code flow with PKCE
//! (S256), `state` and `nonce`; the ID token checked (signature against the upstream's JWKS — cached,
//! fetched again once on an unknown `kid` —, issuer, audience, expiry, nonce, `at_hash`); userinfo
//! read; claims mapped to an [`gatehouse_core::ExternalIdentity`]; RP-Initiated Logout.
//!
//! The OAuth 2.0 plumbing (callback checks, claim mapping, the HTTP adapter) is the `oauth2`
//! connector's: OpenID Connect is OAuth 2.0 plus an ID token.

mod error;
mod keys;
mod metadata;
mod provider;
mod settings;

pub use error::OidcError;
pub use gatehouse_connector_oauth2::http_client;
pub use keys::JWKS_TTL;
pub use metadata::METADATA_TTL;
pub use provider::OidcProvider;
pub use settings::{OidcSettings, TokenAuthMethod};

/// Prometheus gauge: when a document of the upstream was last fetched, in Unix seconds (the age
/// is `time() - …` in PromQL; a gauge of the age itself would stand still between fetches).
const FETCHED: &str = "gatehouse_upstream_fetched_timestamp_seconds";

/// Records a successful fetch of `document` (`oidc_metadata`, `jwks`) from `issuer`.
fn fetched(issuer: &str, document: &'static str) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    metrics::gauge!(FETCHED, "upstream" => issuer.to_owned(), "document" => document).set(now);
}
