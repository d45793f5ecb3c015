//! Brute-force counters (issue #24): one row per (realm, kind, scope, subject) — a login from an
//! IP, a login from everywhere, an IP — shared by every instance on the store.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum LoginThrottle {
    Table,
    Realm,
    Kind,
    Scope,
    Subject,
    AccountId,
    Failures,
    LastFailureAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(LoginThrottle::Table)
                    .col(string(LoginThrottle::Realm))
                    .col(string(LoginThrottle::Kind))
                    .col(string(LoginThrottle::Scope))
                    .col(string(LoginThrottle::Subject))
                    // No foreign key: a counter outlives nothing, and `user unlock` finds it.
                    .col(string_null(LoginThrottle::AccountId))
                    .col(integer(LoginThrottle::Failures))
                    .col(timestamp_with_time_zone(LoginThrottle::LastFailureAt))
                    .primary_key(
                        Index::create()
                            .col(LoginThrottle::Realm)
                            .col(LoginThrottle::Kind)
                            .col(LoginThrottle::Scope)
                            .col(LoginThrottle::Subject),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_login_throttle_account")
                    .table(LoginThrottle::Table)
                    .col(LoginThrottle::AccountId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_login_throttle_last_failure")
                    .table(LoginThrottle::Table)
                    .col(LoginThrottle::LastFailureAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(LoginThrottle::Table).to_owned())
            .await
    }
}
