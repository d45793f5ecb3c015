//! The Gatehouse store: sea-orm entities, migrations and repositories on SQLite (the embedded
//! default) and PostgreSQL (several instances, one population).
//!
//! [`Store`] is the entry point: [`Store::connect`], [`Store::migrate`], the administrators'
//! operations, and [`gatehouse_core::AccountRepository`] for the login resolver.

mod accounts;
mod audit;
pub mod entities;
mod error;
mod federation;
mod flow_audit;
mod flows;
mod health;
mod login_counts;
mod login_log;
pub mod migration;
mod pending_redirect;
mod pool;
mod protection;
mod replay;
mod repository;
mod second_factors;
mod store;
mod types;
mod url;

#[cfg(feature = "testing")]
pub mod testing;

pub use error::{ErrorKind, StoreError};
pub use flow_audit::flow_attempts;
pub use health::StoreAvailability;
pub use login_log::LoginLogStats;
pub use migration::Migrator;
pub use pool::PoolSettings;
pub use protection::PasswordChange;
pub use store::{READY_CHECK_LIMIT, Store};
pub use types::{AuditEvent, AuditQuery, LoginStats, NewAccount};
pub use url::{SCHEMA_PARAM, redact as redact_url};

mod oidc;
pub use oidc::{
    AccessTokenRecord, AuthorizationCode, BrowserSession, CODE_REPLAY_GRACE, CodeUse,
    LoginTransaction, RefreshTokenRecord, RefreshUse, SessionUpstream, SigningKeyRecord,
};
