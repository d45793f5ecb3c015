//! The `ldap` credential provider, for OpenLDAP, Active Directory and other LDAPv3 directories:
//! search for the login with a pooled service connection, bind as the entry found, read its groups
//! (nested, cycle-safe), and map them to roles. Several servers are tried in order; an unreachable
//! one is skipped for a while.
//!
//! Knows nothing of the store or of HTTP: it is given its settings and a check, and answers with
//! an outcome; provisioning and storing the profile are the resolver's business.

mod ad;
mod connection_pool;
mod entry;
mod error;
mod filter;
mod groups;
mod pool;
mod provider;
mod settings;
mod tls;

pub use error::DirectoryError;
pub use filter::escape as escape_filter_value;
pub use provider::LdapProvider;
pub use settings::{
    GroupSearch, LdapSettings, PoolSettings, Roles, Scope, UserMatcher, UserSearch,
};
