//! Authentication flows between two requests (issue #20): one row per running flow, found by the
//! digest of its current state id, which every step replaces. Rows past `expires_at` are refused
//! and purged.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum FlowState {
    Table,
    FlowId,
    StateHash,
    Realm,
    PolicyId,
    Data,
    CreatedAt,
    ExpiresAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(FlowState::Table)
                    .col(string(FlowState::FlowId).primary_key())
                    // Unique: a take moves the row from one digest to the next in one UPDATE,
                    // and the index is what finds it.
                    .col(string(FlowState::StateHash).unique_key())
                    .col(string(FlowState::Realm))
                    .col(string(FlowState::PolicyId))
                    .col(text(FlowState::Data))
                    .col(timestamp_with_time_zone(FlowState::CreatedAt))
                    .col(timestamp_with_time_zone(FlowState::ExpiresAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_flow_state_expires")
                    .table(FlowState::Table)
                    .col(FlowState::ExpiresAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(FlowState::Table).to_owned())
            .await
    }
}
