//! The replay cache of single-use upstream answers (SAML assertion ids): one row per id seen,
//! kept until the answer carrying it would be refused anyway, shared by every instance.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ReplayGuard {
    Table,
    IdHash,
    Realm,
    Provider,
    ExpiresAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ReplayGuard::Table)
                    // The primary key is what makes "first use wins" atomic on both backends.
                    .col(string(ReplayGuard::IdHash).primary_key())
                    .col(string(ReplayGuard::Realm))
                    .col(string(ReplayGuard::Provider))
                    .col(timestamp_with_time_zone(ReplayGuard::ExpiresAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_replay_guard_expires")
                    .table(ReplayGuard::Table)
                    .col(ReplayGuard::ExpiresAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ReplayGuard::Table).to_owned())
            .await
    }
}
