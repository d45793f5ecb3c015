//! sea-orm entities, one file a table. The schema itself is owned by [`crate::migration`]; these
//! structs only describe it to the query builder.
//!
//! Ids are stored as text ([`TextUuid`](sea_orm::prelude::TextUuid)) on both backends, so the
//! SQLite file stays readable with the `sqlite3` shell and a corrupt id is a decoding error rather
//! than a panic. List-valued fields (roles, groups, attributes, attempts) are JSON text, decoded by
//! the store with errors, never unwraps.

pub mod access_token;
pub mod account;
pub mod audit_event;
pub mod authorization_code;
pub mod browser_session;
pub mod email_code;
pub mod flow_state;
pub mod link;
pub mod login_stat;
pub mod login_throttle;
pub mod login_transaction;
pub mod password_history;
pub mod pending_redirect;
pub mod recovery_code;
pub mod refresh_token;
pub mod replay_guard;
pub mod signing_key;
pub mod totp_credential;
