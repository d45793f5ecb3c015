//! The `database` credential provider: passwords checked against argon2id hashes kept in the
//! account's link, with all hashing bounded by one process-wide [`HashPool`].
//!
//! Knows nothing of the store or of HTTP: it is given its settings and a check, and answers with
//! an outcome; storing a rehashed secret is the resolver's business.

mod error;
mod pool;
mod provider;
mod settings;
mod workers;

#[cfg(test)]
mod tests;

pub use error::DatabaseError;
pub use pool::{HashPool, Verification};
pub use provider::DatabaseProvider;
pub use settings::{Argon2Settings, DatabaseSettings};
