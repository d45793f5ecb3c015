//! Account protection (issue #24): the password history of database links, and the brute-force
//! counters every instance shares ([`ProtectionRepository`]).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use gatehouse_core::protection::{Counter, ThrottleKey, ThrottleScope};
use gatehouse_core::{AccountId, ProtectionRepository, RepoError, Secret};
use sea_orm::ExprTrait;
use sea_orm::prelude::TextUuid;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use crate::accounts::not_found;
use crate::entities::{account, audit_event, link, login_throttle, password_history};
use crate::error::StoreError;
use crate::oidc::end_account_in;
use crate::store::{Store, now, stamp};

/// A password to store on a database link ([`Store::change_link_password`]).
pub struct PasswordChange<'a> {
    /// For the audit event.
    pub realm: &'a str,
    pub username: &'a str,
    pub account: AccountId,
    pub provider: &'a str,
    /// The new PHC string.
    pub phc: &'a str,
    /// The break-glass administrator's link stays protected.
    pub protected: bool,
    /// How many passwords the history keeps (the new one included); 0 keeps none.
    pub keep: usize,
    /// End the account's sessions and revoke its tokens (a password change by anyone but a
    /// first set-up).
    pub end_sessions: bool,
}

impl Store {
    /// The PHC strings of the link's latest `limit` passwords, newest first, the current one
    /// included when it was set through [`Store::change_link_password`].
    pub async fn password_history(
        &self,
        account: AccountId,
        provider: &str,
        limit: usize,
    ) -> Result<Vec<Secret>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let rows = password_history::Entity::find()
            .filter(password_history::Column::AccountId.eq(TextUuid(account.0)))
            .filter(password_history::Column::ProviderId.eq(provider))
            .order_by_desc(password_history::Column::CreatedAt)
            .order_by_desc(password_history::Column::Id)
            .limit(limit as u64)
            .all(&self.db)
            .await?;
        Ok(rows.into_iter().map(|r| Secret::new(r.secret)).collect())
    }

    /// Sets a database link's password in one transaction: the link (created if needed), the
    /// history (trimmed to `keep`), and — when asked — the end of every session and token of the
    /// account, and an audit event `password_change` when the link had a password before.
    /// Returns how many sessions, codes and tokens it ended.
    pub async fn change_link_password(
        &self,
        change: PasswordChange<'_>,
    ) -> Result<u64, StoreError> {
        let id = TextUuid(change.account.0);
        let txn = self.begin_write().await?;
        if account::Entity::find_by_id(id).one(&txn).await?.is_none() {
            return Err(not_found(change.account));
        }
        let at = now();
        // A first password is a set-up, not a change: only a change is audited.
        let changed = link::Entity::find()
            .filter(link::Column::AccountId.eq(id))
            .filter(link::Column::ProviderId.eq(change.provider))
            .filter(link::Column::Secret.is_not_null())
            .one(&txn)
            .await?
            .is_some();
        link::Entity::insert(link::ActiveModel {
            id: Set(Uuid::now_v7().into()),
            account_id: Set(id),
            provider_id: Set(change.provider.to_owned()),
            external_id: Set(None),
            secret: Set(Some(change.phc.to_owned())),
            protected: Set(change.protected),
            created_at: Set(at),
            updated_at: Set(at),
        })
        .on_conflict(
            OnConflict::columns([link::Column::AccountId, link::Column::ProviderId])
                .update_columns([
                    link::Column::Secret,
                    link::Column::Protected,
                    link::Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec_without_returning(&txn)
        .await?;
        if change.keep > 0 {
            password_history::Entity::insert(password_history::ActiveModel {
                id: Set(Uuid::now_v7().into()),
                account_id: Set(id),
                provider_id: Set(change.provider.to_owned()),
                secret: Set(change.phc.to_owned()),
                created_at: Set(at),
            })
            .exec_without_returning(&txn)
            .await?;
        }
        trim_history(&txn, id, change.provider, change.keep).await?;
        let ended = if change.end_sessions {
            end_account_in(&txn, change.account, at).await?
        } else {
            0
        };
        if changed {
            admin_event(
                &txn,
                change.realm,
                change.account,
                change.username,
                PASSWORD_CHANGE,
                change.provider,
            )
            .await?;
        }
        txn.commit().await?;
        Ok(ended)
    }

    /// The brute-force counters about an account in a realm (`user show`).
    pub async fn account_counters(
        &self,
        realm: &str,
        account: AccountId,
    ) -> Result<Vec<Counter>, StoreError> {
        let rows = login_throttle::Entity::find()
            .filter(login_throttle::Column::Realm.eq(realm))
            .filter(login_throttle::Column::AccountId.eq(account.0.to_string()))
            .order_by_asc(login_throttle::Column::Kind)
            .order_by_asc(login_throttle::Column::Scope)
            .all(&self.db)
            .await?;
        Ok(rows.into_iter().filter_map(counter_from_row).collect())
    }

    /// Forgets every brute-force counter about the account, each kind, each IP (`user unlock`),
    /// with its audit event. Returns how many were removed.
    pub async fn unlock_account(
        &self,
        realm: &str,
        account: AccountId,
        username: &str,
    ) -> Result<u64, StoreError> {
        let txn = self.begin_write().await?;
        let removed = login_throttle::Entity::delete_many()
            .filter(login_throttle::Column::Realm.eq(realm))
            .filter(login_throttle::Column::AccountId.eq(account.0.to_string()))
            .exec(&txn)
            .await?
            .rows_affected;
        admin_event(&txn, realm, account, username, ACCOUNT_UNLOCK, "unlocked").await?;
        txn.commit().await?;
        Ok(removed)
    }

    /// Removes counters whose last failure is older than `before` (the periodic purge).
    pub async fn purge_throttle(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        Ok(login_throttle::Entity::delete_many()
            .filter(login_throttle::Column::LastFailureAt.lt(stamp(before)))
            .exec(&self.db)
            .await?
            .rows_affected)
    }

    async fn read_counters(
        &self,
        db: &impl ConnectionTrait,
        realm: &str,
        keys: &[ThrottleKey],
    ) -> Result<Vec<Counter>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut any = Condition::any();
        for k in keys {
            any = any.add(
                Condition::all()
                    .add(login_throttle::Column::Kind.eq(k.kind.as_str()))
                    .add(login_throttle::Column::Scope.eq(k.scope.as_str()))
                    .add(login_throttle::Column::Subject.eq(k.subject.as_str())),
            );
        }
        let rows = login_throttle::Entity::find()
            .filter(login_throttle::Column::Realm.eq(realm))
            .filter(any)
            .all(db)
            .await?;
        Ok(rows.into_iter().filter_map(counter_from_row).collect())
    }
}

/// Audit kinds of this module.
pub const PASSWORD_CHANGE: &str = "password_change";
pub const ACCOUNT_UNLOCK: &str = "account_unlock";

async fn admin_event(
    db: &impl ConnectionTrait,
    realm: &str,
    account: AccountId,
    username: &str,
    kind: &str,
    result: &str,
) -> Result<(), StoreError> {
    audit_event::Entity::insert(audit_event::ActiveModel {
        id: NotSet,
        realm: Set(realm.to_owned()),
        at: Set(now()),
        kind: Set(kind.to_owned()),
        login: Set(username.to_owned()),
        account_id: Set(Some(account.to_string())),
        success: Set(true),
        result: Set(result.to_owned()),
        attempts: Set("[]".to_owned()),
        client: Set(None),
        ip: Set(None),
    })
    .exec_without_returning(db)
    .await?;
    Ok(())
}

async fn trim_history(
    db: &impl ConnectionTrait,
    account: TextUuid,
    provider: &str,
    keep: usize,
) -> Result<(), StoreError> {
    use password_history::Column as C;
    let kept: Vec<TextUuid> = password_history::Entity::find()
        .select_only()
        .column(C::Id)
        .filter(C::AccountId.eq(account))
        .filter(C::ProviderId.eq(provider))
        .order_by_desc(C::CreatedAt)
        .order_by_desc(C::Id)
        .limit(keep as u64)
        .into_tuple()
        .all(db)
        .await?;
    password_history::Entity::delete_many()
        .filter(C::AccountId.eq(account))
        .filter(C::ProviderId.eq(provider))
        .filter(C::Id.is_not_in(kept))
        .exec(db)
        .await?;
    Ok(())
}

fn counter_from_row(row: login_throttle::Model) -> Option<Counter> {
    let scope = match row.scope.as_str() {
        "login_ip" => ThrottleScope::LoginIp,
        "login" => ThrottleScope::Login,
        "ip" => ThrottleScope::Ip,
        // A scope a later version wrote: not this version's business.
        _ => return None,
    };
    Some(Counter {
        key: ThrottleKey {
            kind: row.kind,
            scope,
            subject: row.subject,
            account: row
                .account_id
                .and_then(|a| a.parse::<Uuid>().ok())
                .map(AccountId),
        },
        failures: u32::try_from(row.failures).unwrap_or(0),
        last_failure_at: row.last_failure_at,
    })
}

#[async_trait]
impl ProtectionRepository for Store {
    async fn counters(&self, realm: &str, keys: &[ThrottleKey]) -> Result<Vec<Counter>, RepoError> {
        Ok(self.read_counters(&self.db, realm, keys).await?)
    }

    async fn add_failure(
        &self,
        realm: &str,
        keys: &[ThrottleKey],
        at: DateTime<Utc>,
        forget_before: DateTime<Utc>,
    ) -> Result<Vec<Counter>, RepoError> {
        use login_throttle::Column as C;
        let at = stamp(at);
        let txn = self.begin_write().await.map_err(StoreError::from)?;
        for k in keys {
            // One upsert a counter: instances racing on the same key each add their one.
            let stale =
                Expr::col((login_throttle::Entity, C::LastFailureAt)).lt(stamp(forget_before));
            let next = Expr::case(stale, Expr::val(1))
                .finally(Expr::col((login_throttle::Entity, C::Failures)).add(1));
            login_throttle::Entity::insert(login_throttle::ActiveModel {
                realm: Set(realm.to_owned()),
                kind: Set(k.kind.clone()),
                scope: Set(k.scope.as_str().to_owned()),
                subject: Set(k.subject.clone()),
                account_id: Set(k.account.map(|a| a.0.to_string())),
                failures: Set(1),
                last_failure_at: Set(at),
            })
            .on_conflict(
                OnConflict::columns([C::Realm, C::Kind, C::Scope, C::Subject])
                    .value(C::Failures, next)
                    .update_column(C::LastFailureAt)
                    .to_owned(),
            )
            .exec_without_returning(&txn)
            .await
            .map_err(StoreError::from)?;
        }
        let after = self.read_counters(&txn, realm, keys).await?;
        txn.commit().await.map_err(StoreError::from)?;
        Ok(after)
    }

    async fn clear(&self, realm: &str, key: &ThrottleKey) -> Result<(), RepoError> {
        use login_throttle::Column as C;
        login_throttle::Entity::delete_many()
            .filter(C::Realm.eq(realm))
            .filter(C::Kind.eq(key.kind.as_str()))
            .filter(C::Scope.eq(key.scope.as_str()))
            .filter(C::Subject.eq(key.subject.as_str()))
            .exec(&self.db)
            .await
            .map_err(StoreError::from)?;
        Ok(())
    }

    async fn password_changed_at(
        &self,
        account: AccountId,
        provider: &str,
    ) -> Result<Option<DateTime<Utc>>, RepoError> {
        let id = TextUuid(account.0);
        let newest: Option<DateTime<Utc>> = password_history::Entity::find()
            .select_only()
            .column(password_history::Column::CreatedAt)
            .filter(password_history::Column::AccountId.eq(id))
            .filter(password_history::Column::ProviderId.eq(provider))
            .order_by_desc(password_history::Column::CreatedAt)
            .into_tuple()
            .one(&self.db)
            .await
            .map_err(StoreError::from)?;
        if newest.is_some() {
            return Ok(newest);
        }
        // A password set before the history existed: its age is counted from the link's
        // creation, the earliest it can have been set (so a policy errs towards a change).
        let created: Option<DateTime<Utc>> = link::Entity::find()
            .select_only()
            .column(link::Column::CreatedAt)
            .filter(link::Column::AccountId.eq(id))
            .filter(link::Column::ProviderId.eq(provider))
            .filter(link::Column::Secret.is_not_null())
            .into_tuple()
            .one(&self.db)
            .await
            .map_err(StoreError::from)?;
        Ok(created)
    }
}

#[cfg(all(test, feature = "testing"))]
#[path = "protection_tests.rs"]
mod tests;
