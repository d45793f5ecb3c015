//! Second factors I (issue #23): recovery codes (SHA-256 digests, each used once) and the email
//! codes waiting for their flows (a salted digest, failures counted, used once).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum RecoveryCode {
    Table,
    Digest,
    AccountId,
    CreatedAt,
    UsedAt,
}

#[derive(DeriveIden)]
enum EmailCode {
    Table,
    Id,
    AccountId,
    Digest,
    Salt,
    SentAt,
    ExpiresAt,
    Failures,
    Used,
}

#[derive(DeriveIden)]
enum Account {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(RecoveryCode::Table)
                    // The digest includes the account id: unique across accounts, and the key a
                    // use is a conditional UPDATE on.
                    .col(string(RecoveryCode::Digest).primary_key())
                    .col(string(RecoveryCode::AccountId))
                    .col(timestamp_with_time_zone(RecoveryCode::CreatedAt))
                    .col(timestamp_with_time_zone_null(RecoveryCode::UsedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_recovery_code_account")
                            .from(RecoveryCode::Table, RecoveryCode::AccountId)
                            .to(Account::Table, Account::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_recovery_code_account")
                    .table(RecoveryCode::Table)
                    .col(RecoveryCode::AccountId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(EmailCode::Table)
                    .col(string(EmailCode::Id).primary_key())
                    .col(string(EmailCode::AccountId))
                    .col(string(EmailCode::Digest))
                    .col(string(EmailCode::Salt))
                    .col(timestamp_with_time_zone(EmailCode::SentAt))
                    .col(timestamp_with_time_zone(EmailCode::ExpiresAt))
                    .col(integer(EmailCode::Failures))
                    .col(boolean(EmailCode::Used))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_email_code_account")
                            .from(EmailCode::Table, EmailCode::AccountId)
                            .to(Account::Table, Account::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_email_code_expires")
                    .table(EmailCode::Table)
                    .col(EmailCode::ExpiresAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(EmailCode::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(RecoveryCode::Table).to_owned())
            .await
    }
}
