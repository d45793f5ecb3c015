//! Schema migrations, written with the sea-query schema builder so the same code creates the
//! schema on SQLite and PostgreSQL. A migration, once released, is never edited: add a new one.
//! The identifiers are declared here rather than borrowed from [`crate::entities`], so a later
//! change to an entity cannot silently rewrite history.

use sea_orm_migration::prelude::*;

mod m20261122_000001_initial;
mod m20261122_000002_directory_roles;
mod m20261122_000003_oidc;
mod m20261202_000004_session_upstream;
mod m20261202_000005_saml_replay;
mod m20261202_000006_login_spool;
mod m20261204_000007_login_event_batch;
mod m20261207_000008_login_event_batch_zlib;
mod m20261207_000009_audit_rows;
mod m20261207_000010_flow_state;
mod m20261207_000011_password_history;
mod m20261207_000012_login_throttle;
mod m20261207_000013_totp_credential;
mod m20261207_000014_second_factor_codes;
mod m20261207_000015_session_levels;
mod m20261207_000017_pending_redirect;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_000001_initial::Migration),
            Box::new(m20261122_000002_directory_roles::Migration),
            Box::new(m20261122_000003_oidc::Migration),
            Box::new(m20261202_000004_session_upstream::Migration),
            Box::new(m20261202_000005_saml_replay::Migration),
            Box::new(m20261202_000006_login_spool::Migration),
            Box::new(m20261204_000007_login_event_batch::Migration),
            Box::new(m20261207_000008_login_event_batch_zlib::Migration),
            Box::new(m20261207_000009_audit_rows::Migration),
            Box::new(m20261207_000010_flow_state::Migration),
            Box::new(m20261207_000011_password_history::Migration),
            Box::new(m20261207_000012_login_throttle::Migration),
            Box::new(m20261207_000013_totp_credential::Migration),
            Box::new(m20261207_000014_second_factor_codes::Migration),
            Box::new(m20261207_000015_session_levels::Migration),
            Box::new(m20261207_000017_pending_redirect::Migration),
        ]
    }
}
