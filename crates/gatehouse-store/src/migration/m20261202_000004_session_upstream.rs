//! Which redirect provider a browser session came through, and what that provider needs at
//! logout (an upstream ID token, a SAML NameID + SessionIndex): a broker logout then ends the
//! upstream session too (`global_logout`). The hint is encrypted by the caller before it gets
//! here; both columns are empty for password logins and for sessions made before this migration.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum BrowserSession {
    Table,
    UpstreamProvider,
    UpstreamLogoutHint,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite's ALTER TABLE adds one at a time.
        manager
            .alter_table(
                Table::alter()
                    .table(BrowserSession::Table)
                    .add_column(
                        ColumnDef::new(BrowserSession::UpstreamProvider)
                            .string()
                            .null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(BrowserSession::Table)
                    // bytea on PostgreSQL, blob on SQLite.
                    .add_column(
                        ColumnDef::new(BrowserSession::UpstreamLogoutHint)
                            .blob()
                            .null(),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            BrowserSession::UpstreamLogoutHint,
            BrowserSession::UpstreamProvider,
        ] {
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
