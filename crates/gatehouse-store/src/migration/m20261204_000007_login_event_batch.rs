//! Logins applied from an SQLite login spool, stored as one row per realm and apply transaction
//! rather than one row per login: a row and its index entry cost ~6 µs of CPU inside a large
//! transaction, on the cores that the directory and the logins share, an event of a batch of a
//! thousand 1.5–2. The events of a batch take their ids from the same
//! sequence as `audit_event` rows (`first_event_id` onwards), so ids stay unique in the trail.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum LoginEventBatch {
    Table,
    Id,
    Realm,
    FirstAt,
    LastAt,
    FirstEventId,
    Count,
    Events,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(LoginEventBatch::Table)
                    .col(big_pk_auto(LoginEventBatch::Id))
                    .col(string(LoginEventBatch::Realm))
                    .col(timestamp_with_time_zone(LoginEventBatch::FirstAt))
                    .col(timestamp_with_time_zone(LoginEventBatch::LastAt))
                    .col(big_integer(LoginEventBatch::FirstEventId))
                    .col(integer(LoginEventBatch::Count))
                    .col(text(LoginEventBatch::Events))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_login_event_batch_realm_last_at")
                    .table(LoginEventBatch::Table)
                    .col(LoginEventBatch::Realm)
                    .col(LoginEventBatch::LastAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(LoginEventBatch::Table).to_owned())
            .await
    }
}
