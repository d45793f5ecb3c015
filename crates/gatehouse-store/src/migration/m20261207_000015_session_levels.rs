//! What a browser session passed, for step-up: each mechanism with its time (`passed`) and each
//! level a flow reached (`levels`: policy, acr, time), both JSON arrays. A level expires with its
//! policy's `max_age`; the session's `acr` alone could not say when. Sessions made before this
//! migration read as empty arrays and are answered from their `acr` and `auth_time`.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum BrowserSession {
    Table,
    Passed,
    Levels,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite's ALTER TABLE adds one at a time.
        for column in [BrowserSession::Passed, BrowserSession::Levels] {
            manager
                .alter_table(
                    Table::alter()
                        .table(BrowserSession::Table)
                        .add_column(ColumnDef::new(column).text().not_null().default("[]"))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [BrowserSession::Levels, BrowserSession::Passed] {
            manager
                .alter_table(
                    Table::alter()
                        .table(BrowserSession::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
