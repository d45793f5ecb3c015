//! The OpenID Provider's shared state: signing keys, browser sessions, pending logins,
//! authorization codes, refresh-token families and the access-token revocation list.
//!
//! Secrets (session ids, codes, refresh tokens) are never stored: the `*_hash` columns hold their
//! SHA-256 hex digests, computed by the caller. Rows carry no foreign key to `account`: a revoked
//! access token must stay revoked whatever happens to its account, and a future rebuild of the
//! `account` table on SQLite (drop + copy, with foreign keys on) must not cascade into sessions.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum SigningKey {
    Table,
    Kid,
    Realm,
    Alg,
    PrivateKey,
    PublicJwk,
    CreatedAt,
    RetiredAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum BrowserSession {
    Table,
    IdHash,
    Realm,
    AccountId,
    AuthTime,
    Amr,
    Acr,
    CreatedAt,
    ExpiresAt,
    LastSeenAt,
}

#[derive(DeriveIden)]
enum LoginTransaction {
    Table,
    IdHash,
    Realm,
    Request,
    CsrfHash,
    Username,
    CreatedAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum AuthorizationCode {
    Table,
    CodeHash,
    Realm,
    ClientId,
    RedirectUri,
    AccountId,
    SessionIdHash,
    Scope,
    Nonce,
    CodeChallenge,
    CodeChallengeMethod,
    AuthTime,
    Amr,
    Acr,
    CreatedAt,
    ExpiresAt,
    UsedAt,
    FamilyId,
    RevokedAt,
}

#[derive(DeriveIden)]
enum RefreshToken {
    Table,
    TokenHash,
    FamilyId,
    Realm,
    ClientId,
    AccountId,
    SessionIdHash,
    Scope,
    AuthTime,
    Amr,
    Acr,
    CreatedAt,
    ExpiresAt,
    UsedAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum AccessToken {
    Table,
    Jti,
    Realm,
    ClientId,
    AccountId,
    FamilyId,
    CodeHash,
    SessionIdHash,
    ExpiresAt,
    RevokedAt,
}

fn index(
    name: &str,
    table: impl IntoIden,
    cols: impl IntoIterator<Item = DynIden>,
) -> IndexCreateStatement {
    let mut index = Index::create();
    index.name(name).table(table);
    for col in cols {
        index.col(col);
    }
    index.to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(SigningKey::Table)
                    .col(string(SigningKey::Kid).primary_key())
                    .col(string(SigningKey::Realm))
                    .col(string(SigningKey::Alg))
                    // Already encrypted by the caller; bytea on PostgreSQL, blob on SQLite.
                    .col(blob(SigningKey::PrivateKey))
                    .col(text(SigningKey::PublicJwk))
                    .col(timestamp_with_time_zone(SigningKey::CreatedAt))
                    .col(timestamp_with_time_zone_null(SigningKey::RetiredAt))
                    .col(timestamp_with_time_zone_null(SigningKey::ExpiresAt))
                    .to_owned(),
            )
            .await?;
        // The JWKS and the signer list a realm's keys by age.
        manager
            .create_index(index(
                "ix_signing_key_realm_created",
                SigningKey::Table,
                [
                    SigningKey::Realm.into_iden(),
                    SigningKey::CreatedAt.into_iden(),
                ],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(BrowserSession::Table)
                    .col(string(BrowserSession::IdHash).primary_key())
                    .col(string(BrowserSession::Realm))
                    .col(string(BrowserSession::AccountId))
                    .col(timestamp_with_time_zone(BrowserSession::AuthTime))
                    .col(text(BrowserSession::Amr))
                    .col(string(BrowserSession::Acr))
                    .col(timestamp_with_time_zone(BrowserSession::CreatedAt))
                    .col(timestamp_with_time_zone(BrowserSession::ExpiresAt))
                    .col(timestamp_with_time_zone(BrowserSession::LastSeenAt))
                    .to_owned(),
            )
            .await?;
        // purge_expired, and listing an account's sessions later on.
        manager
            .create_index(index(
                "ix_browser_session_expires",
                BrowserSession::Table,
                [BrowserSession::ExpiresAt.into_iden()],
            ))
            .await?;
        manager
            .create_index(index(
                "ix_browser_session_account",
                BrowserSession::Table,
                [BrowserSession::AccountId.into_iden()],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(LoginTransaction::Table)
                    .col(string(LoginTransaction::IdHash).primary_key())
                    .col(string(LoginTransaction::Realm))
                    .col(text(LoginTransaction::Request))
                    .col(string(LoginTransaction::CsrfHash))
                    .col(text_null(LoginTransaction::Username))
                    .col(timestamp_with_time_zone(LoginTransaction::CreatedAt))
                    .col(timestamp_with_time_zone(LoginTransaction::ExpiresAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "ix_login_transaction_expires",
                LoginTransaction::Table,
                [LoginTransaction::ExpiresAt.into_iden()],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(AuthorizationCode::Table)
                    .col(string(AuthorizationCode::CodeHash).primary_key())
                    .col(string(AuthorizationCode::Realm))
                    .col(string(AuthorizationCode::ClientId))
                    .col(text(AuthorizationCode::RedirectUri))
                    .col(string(AuthorizationCode::AccountId))
                    .col(string_null(AuthorizationCode::SessionIdHash))
                    .col(text(AuthorizationCode::Scope))
                    .col(text_null(AuthorizationCode::Nonce))
                    .col(string_null(AuthorizationCode::CodeChallenge))
                    .col(string_null(AuthorizationCode::CodeChallengeMethod))
                    .col(timestamp_with_time_zone(AuthorizationCode::AuthTime))
                    .col(text(AuthorizationCode::Amr))
                    .col(string(AuthorizationCode::Acr))
                    .col(timestamp_with_time_zone(AuthorizationCode::CreatedAt))
                    .col(timestamp_with_time_zone(AuthorizationCode::ExpiresAt))
                    .col(timestamp_with_time_zone_null(AuthorizationCode::UsedAt))
                    .col(string_null(AuthorizationCode::FamilyId))
                    // Set when a replay revoked what the code issued; the family check reads it so
                    // tokens issued in the same instant as the replay are caught too.
                    .col(timestamp_with_time_zone_null(AuthorizationCode::RevokedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "ix_authorization_code_family",
                AuthorizationCode::Table,
                [AuthorizationCode::FamilyId.into_iden()],
            ))
            .await?;
        manager
            .create_index(index(
                "ix_authorization_code_expires",
                AuthorizationCode::Table,
                [AuthorizationCode::ExpiresAt.into_iden()],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(RefreshToken::Table)
                    .col(string(RefreshToken::TokenHash).primary_key())
                    .col(string(RefreshToken::FamilyId))
                    .col(string(RefreshToken::Realm))
                    .col(string(RefreshToken::ClientId))
                    .col(string(RefreshToken::AccountId))
                    .col(string_null(RefreshToken::SessionIdHash))
                    .col(text(RefreshToken::Scope))
                    .col(timestamp_with_time_zone(RefreshToken::AuthTime))
                    .col(text(RefreshToken::Amr))
                    .col(string(RefreshToken::Acr))
                    .col(timestamp_with_time_zone(RefreshToken::CreatedAt))
                    .col(timestamp_with_time_zone(RefreshToken::ExpiresAt))
                    .col(timestamp_with_time_zone_null(RefreshToken::UsedAt))
                    .col(timestamp_with_time_zone_null(RefreshToken::RevokedAt))
                    .to_owned(),
            )
            .await?;
        for (name, col) in [
            ("ix_refresh_token_family", RefreshToken::FamilyId),
            ("ix_refresh_token_session", RefreshToken::SessionIdHash),
            ("ix_refresh_token_expires", RefreshToken::ExpiresAt),
        ] {
            manager
                .create_index(index(name, RefreshToken::Table, [col.into_iden()]))
                .await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(AccessToken::Table)
                    .col(string(AccessToken::Jti).primary_key())
                    .col(string(AccessToken::Realm))
                    .col(string(AccessToken::ClientId))
                    .col(string_null(AccessToken::AccountId))
                    .col(string_null(AccessToken::FamilyId))
                    .col(string_null(AccessToken::CodeHash))
                    .col(string_null(AccessToken::SessionIdHash))
                    .col(timestamp_with_time_zone(AccessToken::ExpiresAt))
                    .col(timestamp_with_time_zone_null(AccessToken::RevokedAt))
                    .to_owned(),
            )
            .await?;
        for (name, col) in [
            ("ix_access_token_family", AccessToken::FamilyId),
            ("ix_access_token_code", AccessToken::CodeHash),
            ("ix_access_token_session", AccessToken::SessionIdHash),
            ("ix_access_token_expires", AccessToken::ExpiresAt),
        ] {
            manager
                .create_index(index(name, AccessToken::Table, [col.into_iden()]))
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            AccessToken::Table.into_iden(),
            RefreshToken::Table.into_iden(),
            AuthorizationCode::Table.into_iden(),
            LoginTransaction::Table.into_iden(),
            BrowserSession::Table.into_iden(),
            SigningKey::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
