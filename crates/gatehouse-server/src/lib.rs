//! The Gatehouse server: configuration, the runtime that wires store, providers and resolvers
//! together, and the HTTP routes.

pub mod app;
pub mod config;
pub mod edge;
pub mod error;
pub mod federation;
pub mod files;
pub mod flows;
pub mod linger;
pub mod mailer;
pub mod metrics;
pub mod pages;
pub mod routes;
pub mod second_factors;
pub mod serve;
pub mod supersede;
pub mod telemetry;

pub use app::{Gatehouse, RealmRuntime};
pub use config::{Config, ConfigError};
pub use error::ServerError;
pub use serve::{serve, serve_on};
