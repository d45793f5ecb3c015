//! Second factors I (issue #23): an account's authenticator app. The shared secret is sealed by
//! the key vault before it reaches the store; `last_step` is the last RFC 6238 time step
//! accepted, so a code is never accepted twice (on any instance).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum TotpCredential {
    Table,
    AccountId,
    SealedSecret,
    Confirmed,
    LastStep,
    CreatedAt,
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
                    .table(TotpCredential::Table)
                    // One app per account: re-enrolment replaces the unconfirmed row.
                    .col(string(TotpCredential::AccountId).primary_key())
                    .col(blob(TotpCredential::SealedSecret))
                    .col(boolean(TotpCredential::Confirmed))
                    .col(big_integer_null(TotpCredential::LastStep))
                    .col(timestamp_with_time_zone(TotpCredential::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_totp_credential_account")
                            .from(TotpCredential::Table, TotpCredential::AccountId)
                            .to(Account::Table, Account::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(TotpCredential::Table).to_owned())
            .await
    }
}
