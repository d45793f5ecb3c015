//! The second factors' credentials (issue #23): an account's authenticator app, its recovery
//! codes, and the email codes waiting for their flows. Every single-use rule is one conditional
//! `UPDATE`, so two instances on one PostgreSQL cannot both accept the same code.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use gatehouse_core::second_factor::{
    EmailCodeRecord, EmailCodeRepository, RecoveryCodeRepository, TotpCredential, TotpRepository,
};
use gatehouse_core::{AccountId, RepoError};
use sea_orm::prelude::TextUuid;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, TransactionTrait,
};
use uuid::Uuid;

use crate::entities::{email_code, recovery_code, totp_credential};
use crate::error::StoreError;
use crate::oidc::insert_error;
use crate::store::{Store, stamp};

fn totp_from(row: totp_credential::Model) -> TotpCredential {
    TotpCredential {
        account_id: AccountId(row.account_id.0),
        sealed_secret: row.sealed_secret,
        confirmed: row.confirmed,
        last_step: row.last_step,
        created_at: row.created_at,
    }
}

fn email_from(row: email_code::Model) -> EmailCodeRecord {
    EmailCodeRecord {
        id: row.id.0,
        account_id: AccountId(row.account_id.0),
        digest: row.digest,
        salt: row.salt,
        sent_at: row.sent_at,
        expires_at: row.expires_at,
        failures: u32::try_from(row.failures).unwrap_or(0),
        used: row.used,
    }
}

#[async_trait]
impl TotpRepository for Store {
    async fn totp(&self, account: AccountId) -> Result<Option<TotpCredential>, RepoError> {
        Ok(totp_credential::Entity::find_by_id(TextUuid(account.0))
            .one(&self.db)
            .await
            .map_err(StoreError::from)?
            .map(totp_from))
    }

    async fn begin_totp(
        &self,
        account: AccountId,
        sealed_secret: &[u8],
        now: DateTime<Utc>,
    ) -> Result<(), RepoError> {
        let txn = self.begin_write().await.map_err(StoreError::from)?;
        // Only an unconfirmed set-up is replaced; a confirmed app stays until it is removed.
        totp_credential::Entity::delete_many()
            .filter(totp_credential::Column::AccountId.eq(TextUuid(account.0)))
            .filter(totp_credential::Column::Confirmed.eq(false))
            .exec(&txn)
            .await
            .map_err(StoreError::from)?;
        totp_credential::Entity::insert(totp_credential::ActiveModel {
            account_id: Set(TextUuid(account.0)),
            sealed_secret: Set(sealed_secret.to_vec()),
            confirmed: Set(false),
            last_step: Set(None),
            created_at: Set(stamp(now)),
        })
        .exec_without_returning(&txn)
        .await
        .map_err(|e| insert_error(e, "an authenticator app for this account"))?;
        txn.commit().await.map_err(StoreError::from)?;
        Ok(())
    }

    async fn confirm_totp(&self, account: AccountId, step: i64) -> Result<bool, RepoError> {
        let done = totp_credential::Entity::update_many()
            .col_expr(totp_credential::Column::Confirmed, Expr::value(true))
            .col_expr(totp_credential::Column::LastStep, Expr::value(step))
            .filter(totp_credential::Column::AccountId.eq(TextUuid(account.0)))
            .filter(totp_credential::Column::Confirmed.eq(false))
            .exec(&self.db)
            .await
            .map_err(StoreError::from)?;
        Ok(done.rows_affected == 1)
    }

    async fn accept_totp_step(&self, account: AccountId, step: i64) -> Result<bool, RepoError> {
        use sea_orm::sea_query::Condition;
        let done = totp_credential::Entity::update_many()
            .col_expr(totp_credential::Column::LastStep, Expr::value(step))
            .filter(totp_credential::Column::AccountId.eq(TextUuid(account.0)))
            .filter(totp_credential::Column::Confirmed.eq(true))
            .filter(
                Condition::any()
                    .add(totp_credential::Column::LastStep.is_null())
                    .add(totp_credential::Column::LastStep.lt(step)),
            )
            .exec(&self.db)
            .await
            .map_err(StoreError::from)?;
        Ok(done.rows_affected == 1)
    }

    async fn remove_totp(&self, account: AccountId) -> Result<bool, RepoError> {
        let done = totp_credential::Entity::delete_by_id(TextUuid(account.0))
            .exec(&self.db)
            .await
            .map_err(StoreError::from)?;
        Ok(done.rows_affected == 1)
    }
}

#[async_trait]
impl RecoveryCodeRepository for Store {
    async fn replace_recovery_codes(
        &self,
        account: AccountId,
        digests: &[String],
        now: DateTime<Utc>,
    ) -> Result<(), RepoError> {
        let txn = self.db.begin().await.map_err(StoreError::from)?;
        recovery_code::Entity::delete_many()
            .filter(recovery_code::Column::AccountId.eq(TextUuid(account.0)))
            .exec(&txn)
            .await
            .map_err(StoreError::from)?;
        if !digests.is_empty() {
            recovery_code::Entity::insert_many(digests.iter().map(|d| {
                recovery_code::ActiveModel {
                    digest: Set(d.clone()),
                    account_id: Set(TextUuid(account.0)),
                    created_at: Set(stamp(now)),
                    used_at: Set(None),
                }
            }))
            .exec_without_returning(&txn)
            .await
            .map_err(|e| insert_error(e, "a recovery code"))?;
        }
        txn.commit().await.map_err(StoreError::from)?;
        Ok(())
    }

    async fn use_recovery_code(
        &self,
        account: AccountId,
        digest: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, RepoError> {
        let done = recovery_code::Entity::update_many()
            .col_expr(recovery_code::Column::UsedAt, Expr::value(stamp(now)))
            .filter(recovery_code::Column::Digest.eq(digest))
            .filter(recovery_code::Column::AccountId.eq(TextUuid(account.0)))
            .filter(recovery_code::Column::UsedAt.is_null())
            .exec(&self.db)
            .await
            .map_err(StoreError::from)?;
        Ok(done.rows_affected == 1)
    }

    async fn remaining_recovery_codes(&self, account: AccountId) -> Result<u32, RepoError> {
        let n = recovery_code::Entity::find()
            .filter(recovery_code::Column::AccountId.eq(TextUuid(account.0)))
            .filter(recovery_code::Column::UsedAt.is_null())
            .count(&self.db)
            .await
            .map_err(StoreError::from)?;
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    async fn remove_recovery_codes(&self, account: AccountId) -> Result<u64, RepoError> {
        let done = recovery_code::Entity::delete_many()
            .filter(recovery_code::Column::AccountId.eq(TextUuid(account.0)))
            .exec(&self.db)
            .await
            .map_err(StoreError::from)?;
        Ok(done.rows_affected)
    }
}

#[async_trait]
impl EmailCodeRepository for Store {
    async fn put_email_code(&self, record: &EmailCodeRecord) -> Result<(), RepoError> {
        // A resend replaces the code and its times, never the failures counted so far.
        email_code::Entity::insert(email_code::ActiveModel {
            id: Set(TextUuid(record.id)),
            account_id: Set(TextUuid(record.account_id.0)),
            digest: Set(record.digest.clone()),
            salt: Set(record.salt.clone()),
            sent_at: Set(stamp(record.sent_at)),
            expires_at: Set(stamp(record.expires_at)),
            failures: Set(i32::try_from(record.failures).unwrap_or(i32::MAX)),
            used: Set(record.used),
        })
        .on_conflict(
            OnConflict::column(email_code::Column::Id)
                .update_columns([
                    email_code::Column::Digest,
                    email_code::Column::Salt,
                    email_code::Column::SentAt,
                    email_code::Column::ExpiresAt,
                    email_code::Column::Used,
                ])
                .to_owned(),
        )
        .exec_without_returning(&self.db)
        .await
        .map_err(StoreError::from)?;
        Ok(())
    }

    async fn email_code(&self, id: Uuid) -> Result<Option<EmailCodeRecord>, RepoError> {
        Ok(email_code::Entity::find_by_id(TextUuid(id))
            .one(&self.db)
            .await
            .map_err(StoreError::from)?
            .map(email_from))
    }

    async fn fail_email_code(&self, id: Uuid) -> Result<u32, RepoError> {
        email_code::Entity::update_many()
            .col_expr(
                email_code::Column::Failures,
                Expr::col(email_code::Column::Failures).add(1),
            )
            .filter(email_code::Column::Id.eq(TextUuid(id)))
            .exec(&self.db)
            .await
            .map_err(StoreError::from)?;
        Ok(self.email_code(id).await?.map_or(0, |r| r.failures))
    }

    async fn use_email_code(
        &self,
        id: Uuid,
        max_failures: u32,
        now: DateTime<Utc>,
    ) -> Result<bool, RepoError> {
        let done = email_code::Entity::update_many()
            .col_expr(email_code::Column::Used, Expr::value(true))
            .filter(email_code::Column::Id.eq(TextUuid(id)))
            .filter(email_code::Column::Used.eq(false))
            .filter(
                email_code::Column::Failures.lt(i32::try_from(max_failures).unwrap_or(i32::MAX)),
            )
            .filter(email_code::Column::ExpiresAt.gt(stamp(now)))
            .exec(&self.db)
            .await
            .map_err(StoreError::from)?;
        Ok(done.rows_affected == 1)
    }
}

impl Store {
    /// An administrator's reset (`gatehouse user mfa reset`): removes the account's app and
    /// recovery codes and writes one audit event of `kind`, in one transaction. True when there
    /// was anything to remove.
    pub async fn reset_second_factors_audited(
        &self,
        realm: &str,
        id: AccountId,
        username: &str,
        kind: &str,
    ) -> Result<bool, StoreError> {
        let txn = self.begin_write().await?;
        let app = totp_credential::Entity::delete_by_id(TextUuid(id.0))
            .exec(&txn)
            .await?
            .rows_affected;
        let codes = recovery_code::Entity::delete_many()
            .filter(recovery_code::Column::AccountId.eq(TextUuid(id.0)))
            .exec(&txn)
            .await?
            .rows_affected;
        let removed = app + codes > 0;
        insert_account_event(
            &txn,
            realm,
            id,
            username,
            kind,
            if removed {
                "success"
            } else {
                "nothing_enrolled"
            },
        )
        .await?;
        txn.commit().await?;
        Ok(removed)
    }

    /// One audit event about an account's second factors (set up, removed, new recovery codes).
    pub async fn record_second_factor_event(
        &self,
        realm: &str,
        id: AccountId,
        username: &str,
        kind: &str,
        result: &str,
    ) -> Result<(), StoreError> {
        insert_account_event(&self.db, realm, id, username, kind, result).await
    }
}

async fn insert_account_event(
    db: &impl sea_orm::ConnectionTrait,
    realm: &str,
    id: AccountId,
    username: &str,
    kind: &str,
    result: &str,
) -> Result<(), StoreError> {
    use crate::entities::audit_event;
    use sea_orm::ActiveValue::NotSet;
    audit_event::Entity::insert(audit_event::ActiveModel {
        id: NotSet,
        realm: Set(realm.to_owned()),
        at: Set(crate::store::now()),
        kind: Set(kind.to_owned()),
        login: Set(username.to_owned()),
        account_id: Set(Some(id.to_string())),
        success: Set(result == "success"),
        result: Set(result.to_owned()),
        attempts: Set("[]".to_owned()),
        client: Set(None),
        ip: Set(None),
    })
    .exec_without_returning(db)
    .await?;
    Ok(())
}
