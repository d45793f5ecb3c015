//! The passwords a database link had (issue #24): argon2 PHC strings of the latest ones, so a
//! policy's `history` can refuse a reuse, and when each was set, so `max_age_days` can expire it.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Account {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum PasswordHistory {
    Table,
    Id,
    AccountId,
    ProviderId,
    Secret,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(PasswordHistory::Table)
                    .col(string(PasswordHistory::Id).primary_key())
                    .col(string(PasswordHistory::AccountId))
                    .col(string(PasswordHistory::ProviderId))
                    .col(text(PasswordHistory::Secret))
                    .col(timestamp_with_time_zone(PasswordHistory::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_password_history_account")
                            .from(PasswordHistory::Table, PasswordHistory::AccountId)
                            .to(Account::Table, Account::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_password_history_link")
                    .table(PasswordHistory::Table)
                    .col(PasswordHistory::AccountId)
                    .col(PasswordHistory::ProviderId)
                    .col(PasswordHistory::CreatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(PasswordHistory::Table).to_owned())
            .await
    }
}
