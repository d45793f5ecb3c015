//! Signing keys: generated on first start, stored encrypted in the store, shared by every instance,
//! rotated on demand; the JWKS publishes every key whose tokens may still be alive.

mod ring;
mod signing_key;
mod vault;

pub use ring::KeyRing;
pub use signing_key::{SigningAlg, SigningKey};
pub use vault::KeyVault;
