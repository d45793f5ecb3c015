//! Redirect logins between the start and the callback (issue #20): a table of their own instead
//! of a login transaction row whose `request` held broker JSON in place of an authorization
//! request. Rows past `expires_at` are refused and purged.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum PendingRedirect {
    Table,
    StateHash,
    Realm,
    Provider,
    LoginHash,
    CsrfHash,
    ConnectorState,
    CreatedAt,
    ExpiresAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(PendingRedirect::Table)
                    .col(string(PendingRedirect::StateHash).primary_key())
                    .col(string(PendingRedirect::Realm))
                    .col(string(PendingRedirect::Provider))
                    .col(string(PendingRedirect::LoginHash))
                    .col(string(PendingRedirect::CsrfHash))
                    .col(text(PendingRedirect::ConnectorState))
                    .col(timestamp_with_time_zone(PendingRedirect::CreatedAt))
                    .col(timestamp_with_time_zone(PendingRedirect::ExpiresAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_pending_redirect_expires")
                    .table(PendingRedirect::Table)
                    .col(PendingRedirect::ExpiresAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(PendingRedirect::Table).to_owned())
            .await
    }
}
