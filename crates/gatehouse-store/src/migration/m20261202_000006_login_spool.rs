//! How far each login spool (`crate::login_spool`) has been applied to the audit trail: one row
//! per spool file, written in the same transaction as the records it counts, so a spool left by
//! a crash is replayed from exactly where it stopped.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum LoginSpool {
    Table,
    Name,
    Applied,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(LoginSpool::Table)
                    .col(string(LoginSpool::Name).primary_key())
                    .col(big_integer(LoginSpool::Applied))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(LoginSpool::Table).to_owned())
            .await
    }
}
