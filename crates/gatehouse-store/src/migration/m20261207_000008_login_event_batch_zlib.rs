//! A batch's events compressed: JSON lines of logins repeat their keys, realm, providers and
//! results, and zlib stores them in about a ninth of the bytes. Under load an SQLite file wrote
//! ~480 bytes a login to the disk (the WAL, then its checkpoint), ~130 with them compressed
//! (docs/benchmarks.md). Rows written before keep their `events` text; new rows leave it empty
//! and fill `events_zlib` (RFC 1950) with `events_size`, the length of the lines, which is what
//! the `sqlite3` shell's `sqlar_uncompress` needs.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum LoginEventBatch {
    Table,
    EventsZlib,
    EventsSize,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column a statement: SQLite's ALTER TABLE adds one at a time.
        for mut column in [
            blob_null(LoginEventBatch::EventsZlib),
            big_integer_null(LoginEventBatch::EventsSize),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(LoginEventBatch::Table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [LoginEventBatch::EventsSize, LoginEventBatch::EventsZlib] {
            manager
                .alter_table(
                    Table::alter()
                        .table(LoginEventBatch::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
