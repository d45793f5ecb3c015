//! Accounts, their provider links, login statistics and the audit trail.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Account {
    Table,
    Id,
    Realm,
    Username,
    UsernameKey,
    Email,
    EmailKey,
    Name,
    DisabledReason,
    LockedUntil,
    Roles,
    Groups,
    Attributes,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Link {
    Table,
    Id,
    AccountId,
    ProviderId,
    ExternalId,
    Secret,
    Protected,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum AuditEvent {
    Table,
    Id,
    Realm,
    At,
    Kind,
    Login,
    AccountId,
    Success,
    Result,
    Attempts,
}

#[derive(DeriveIden)]
enum LoginStat {
    Table,
    AccountId,
    SuccessCount,
    FailureCount,
    LastSuccessAt,
    LastFailureAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Account::Table)
                    .col(string(Account::Id).primary_key())
                    .col(string(Account::Realm))
                    .col(string(Account::Username))
                    .col(string(Account::UsernameKey))
                    .col(string_null(Account::Email))
                    .col(string_null(Account::EmailKey))
                    .col(string_null(Account::Name))
                    .col(text_null(Account::DisabledReason))
                    .col(timestamp_with_time_zone_null(Account::LockedUntil))
                    .col(text(Account::Roles))
                    .col(text(Account::Groups))
                    .col(text(Account::Attributes))
                    .col(timestamp_with_time_zone(Account::CreatedAt))
                    .col(timestamp_with_time_zone(Account::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        // The login lookup (DESIGN.md step 2), and the guarantee that one login names one account.
        manager
            .create_index(
                Index::create()
                    .name("ux_account_realm_username_key")
                    .table(Account::Table)
                    .col(Account::Realm)
                    .col(Account::UsernameKey)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // Login by email; not unique, the store refuses ambiguous matches instead.
        manager
            .create_index(
                Index::create()
                    .name("ix_account_realm_email_key")
                    .table(Account::Table)
                    .col(Account::Realm)
                    .col(Account::EmailKey)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Link::Table)
                    .col(string(Link::Id).primary_key())
                    .col(string(Link::AccountId))
                    .col(string(Link::ProviderId))
                    .col(string_null(Link::ExternalId))
                    .col(text_null(Link::Secret))
                    .col(boolean(Link::Protected).default(false))
                    .col(timestamp_with_time_zone(Link::CreatedAt))
                    .col(timestamp_with_time_zone(Link::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_link_account")
                            .from(Link::Table, Link::AccountId)
                            .to(Account::Table, Account::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_link_account_provider")
                    .table(Link::Table)
                    .col(Link::AccountId)
                    .col(Link::ProviderId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // Redirect-provider callbacks find the account by the external id.
        manager
            .create_index(
                Index::create()
                    .name("ix_link_provider_external")
                    .table(Link::Table)
                    .col(Link::ProviderId)
                    .col(Link::ExternalId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(AuditEvent::Table)
                    .col(big_pk_auto(AuditEvent::Id))
                    .col(string(AuditEvent::Realm))
                    .col(timestamp_with_time_zone(AuditEvent::At))
                    .col(string(AuditEvent::Kind))
                    .col(text(AuditEvent::Login))
                    .col(string_null(AuditEvent::AccountId))
                    .col(boolean(AuditEvent::Success))
                    .col(string(AuditEvent::Result))
                    .col(text(AuditEvent::Attempts))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_audit_event_realm_at")
                    .table(AuditEvent::Table)
                    .col(AuditEvent::Realm)
                    .col(AuditEvent::At)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(LoginStat::Table)
                    .col(string(LoginStat::AccountId).primary_key())
                    .col(big_integer(LoginStat::SuccessCount).default(0))
                    .col(big_integer(LoginStat::FailureCount).default(0))
                    .col(timestamp_with_time_zone_null(LoginStat::LastSuccessAt))
                    .col(timestamp_with_time_zone_null(LoginStat::LastFailureAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_login_stat_account")
                            .from(LoginStat::Table, LoginStat::AccountId)
                            .to(Account::Table, Account::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            LoginStat::Table.into_iden(),
            AuditEvent::Table.into_iden(),
            Link::Table.into_iden(),
            Account::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
