//! Accounts and links: reading them into domain types, and the administrators' operations.

use std::collections::HashMap;

use gatehouse_core::{Account, AccountId, AccountWithLinks, Link, NewLink, Secret};
use sea_orm::prelude::TextUuid;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Select,
};
use uuid::Uuid;

use crate::entities::{account, link, login_stat};
use crate::error::{StoreError, corrupt, is_unique_violation};
use crate::store::{Store, now};
use crate::types::NewAccount;

/// The email lookup key: trimmed and lowercased, `None` when empty.
pub(crate) fn email_key(email: &str) -> Option<String> {
    let key = email.trim().to_lowercase();
    (!key.is_empty()).then_some(key)
}

pub(crate) fn to_json<T: serde::Serialize + ?Sized>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Db(format!("cannot encode JSON: {e}")))
}

fn decode<T: serde::de::DeserializeOwned>(
    text: &str,
    what: &str,
    id: TextUuid,
) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| corrupt(what, format_args!("account {id}"), e))
}

/// The effective roles: the administrator's, then those a provider granted (without repeats).
fn effective_roles(m: &account::Model) -> Result<Vec<String>, StoreError> {
    let mut roles: Vec<String> = decode(&m.roles, "roles", m.id)?;
    for role in decode::<Vec<String>>(&m.directory_roles, "directory roles", m.id)? {
        if !roles.contains(&role) {
            roles.push(role);
        }
    }
    Ok(roles)
}

pub(crate) fn account_from_model(m: account::Model) -> Result<Account, StoreError> {
    Ok(Account {
        id: AccountId(m.id.0),
        roles: effective_roles(&m)?,
        groups: decode(&m.groups, "groups", m.id)?,
        attributes: decode(&m.attributes, "attributes", m.id)?,
        realm: m.realm,
        username: m.username,
        email: m.email,
        name: m.name,
        disabled_reason: m.disabled_reason,
        locked_until: m.locked_until,
        created_at: m.created_at,
    })
}

pub(crate) fn link_from_model(m: link::Model) -> Link {
    Link {
        id: m.id.0,
        account_id: AccountId(m.account_id.0),
        provider_id: m.provider_id,
        external_id: m.external_id,
        secret: m.secret.map(Secret::from),
        protected: m.protected,
        created_at: m.created_at,
    }
}

pub(crate) async fn links_of(
    db: &impl ConnectionTrait,
    id: TextUuid,
) -> Result<Vec<Link>, StoreError> {
    Ok(link::Entity::find()
        .filter(link::Column::AccountId.eq(id))
        .order_by_asc(link::Column::CreatedAt)
        .order_by_asc(link::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(link_from_model)
        .collect())
}

pub(crate) async fn with_links(
    db: &impl ConnectionTrait,
    m: account::Model,
) -> Result<AccountWithLinks, StoreError> {
    let links = links_of(db, m.id).await?;
    Ok(AccountWithLinks {
        account: account_from_model(m)?,
        links,
    })
}

/// The roles a provider granted, apart from the administrator's.
pub(crate) fn directory_roles(m: &account::Model) -> Result<Vec<String>, StoreError> {
    decode(&m.directory_roles, "directory roles", m.id)
}

/// The one account `select` finds (`None` when it finds none or several), with its links, in
/// one query: a login's lookup reads the store once, not once for the account and once for its
/// links.
pub(crate) async fn with_links_joined(
    db: &impl ConnectionTrait,
    select: Select<account::Entity>,
) -> Result<Option<AccountWithLinks>, StoreError> {
    let mut rows = select
        .find_with_related(link::Entity)
        .order_by_asc(link::Column::CreatedAt)
        .order_by_asc(link::Column::Id)
        .all(db)
        .await?;
    if rows.len() != 1 {
        return Ok(None);
    }
    let Some((m, links)) = rows.pop() else {
        return Ok(None);
    };
    joined(m, links)
}

/// An account row and its link rows.
pub(crate) fn joined(
    m: account::Model,
    links: Vec<link::Model>,
) -> Result<Option<AccountWithLinks>, StoreError> {
    Ok(Some(AccountWithLinks {
        account: account_from_model(m)?,
        links: links.into_iter().map(link_from_model).collect(),
    }))
}

pub(crate) fn conflict(username: &str, realm: &str) -> StoreError {
    StoreError::Conflict(format!(
        "an account `{username}` already exists in realm `{realm}`"
    ))
}

pub(crate) fn not_found(id: AccountId) -> StoreError {
    StoreError::NotFound(format!("account {id}"))
}

/// The row of a new account; `groups` and `directory_roles` come from a provider's profile.
pub(crate) fn new_account_row(
    id: AccountId,
    new: &NewAccount,
    groups: &[String],
    directory_roles: &[String],
) -> Result<account::ActiveModel, StoreError> {
    let at = now();
    Ok(account::ActiveModel {
        id: Set(id.0.into()),
        realm: Set(new.realm.clone()),
        username: Set(new.username.clone()),
        username_key: Set(new.username_key.clone()),
        email_key: Set(new.email.as_deref().and_then(email_key)),
        email: Set(new.email.clone()),
        name: Set(new.name.clone()),
        disabled_reason: Set(None),
        locked_until: Set(None),
        roles: Set(to_json(&new.roles)?),
        groups: Set(to_json(groups)?),
        directory_roles: Set(to_json(directory_roles)?),
        attributes: Set("{}".to_owned()),
        created_at: Set(at),
        updated_at: Set(at),
    })
}

/// Inserts an account and its empty statistics; the caller owns the transaction.
pub(crate) async fn insert_account(
    db: &impl ConnectionTrait,
    row: account::ActiveModel,
    new: &NewAccount,
) -> Result<account::Model, StoreError> {
    let model = account::Entity::insert(row)
        .exec_with_returning(db)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                conflict(&new.username, &new.realm)
            } else {
                e.into()
            }
        })?;
    login_stat::Entity::insert(login_stat::ActiveModel {
        account_id: Set(model.id),
        success_count: Set(0),
        failure_count: Set(0),
        last_success_at: Set(None),
        last_failure_at: Set(None),
    })
    .exec_without_returning(db)
    .await?;
    Ok(model)
}

impl Store {
    /// Creates an account with no links. A username key already taken in the realm is a
    /// [`StoreError::Conflict`].
    pub async fn create_account(&self, new: NewAccount) -> Result<Account, StoreError> {
        let row = new_account_row(AccountId::generate(), &new, &[], &[])?;
        let txn = self.begin_write().await?;
        let model = insert_account(&txn, row, &new).await?;
        txn.commit().await?;
        account_from_model(model)
    }

    /// The account of `realm` whose username key is `username_key`.
    pub async fn find_account(
        &self,
        realm: &str,
        username_key: &str,
    ) -> Result<Option<AccountWithLinks>, StoreError> {
        let found = account::Entity::find()
            .filter(account::Column::Realm.eq(realm))
            .filter(account::Column::UsernameKey.eq(username_key))
            .one(&self.db)
            .await?;
        match found {
            Some(m) => Ok(Some(with_links(&self.db, m).await?)),
            None => Ok(None),
        }
    }

    pub async fn get_account(&self, id: AccountId) -> Result<Option<AccountWithLinks>, StoreError> {
        match account::Entity::find_by_id(TextUuid(id.0))
            .one(&self.db)
            .await?
        {
            Some(m) => Ok(Some(with_links(&self.db, m).await?)),
            None => Ok(None),
        }
    }

    /// Every account of `realm` with its links, by username.
    pub async fn list_accounts(&self, realm: &str) -> Result<Vec<AccountWithLinks>, StoreError> {
        let accounts = account::Entity::find()
            .filter(account::Column::Realm.eq(realm))
            .order_by_asc(account::Column::Username)
            .order_by_asc(account::Column::Id)
            .all(&self.db)
            .await?;
        // One query for all the links rather than one per account.
        let links = link::Entity::find()
            .inner_join(account::Entity)
            .filter(account::Column::Realm.eq(realm))
            .order_by_asc(link::Column::CreatedAt)
            .order_by_asc(link::Column::Id)
            .all(&self.db)
            .await?;
        let mut by_account: HashMap<Uuid, Vec<Link>> = HashMap::new();
        for l in links {
            by_account
                .entry(l.account_id.0)
                .or_default()
                .push(link_from_model(l));
        }
        accounts
            .into_iter()
            .map(|m| {
                let links = by_account.remove(&m.id.0).unwrap_or_default();
                Ok(AccountWithLinks {
                    account: account_from_model(m)?,
                    links,
                })
            })
            .collect()
    }

    /// Disables the account with `Some(reason)`, ending its sessions and revoking its tokens in
    /// the same transaction; enables it with `None`.
    pub async fn set_disabled(
        &self,
        id: AccountId,
        reason: Option<String>,
    ) -> Result<(), StoreError> {
        let ends = reason.is_some();
        self.update_account_ending(id, account::Column::DisabledReason, reason, ends)
            .await
    }

    /// Locks the account until the given time (ending its sessions and revoking its tokens in the
    /// same transaction, as a disable does), or unlocks it with `None`.
    pub async fn set_locked_until(
        &self,
        id: AccountId,
        until: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<(), StoreError> {
        let ends = until.is_some_and(|t| t > chrono::Utc::now());
        self.update_account_ending(
            id,
            account::Column::LockedUntil,
            until.map(crate::store::stamp),
            ends,
        )
        .await
    }

    /// [`Self::update_account`], and with `end` the account's sessions and tokens end in the same
    /// transaction (`oidc::account_end`).
    async fn update_account_ending(
        &self,
        id: AccountId,
        column: account::Column,
        value: impl Into<sea_orm::Value>,
        end: bool,
    ) -> Result<(), StoreError> {
        if !end {
            return self.update_account(id, column, value).await;
        }
        let at = now();
        let txn = self.begin_write().await?;
        let done = account::Entity::update_many()
            .col_expr(column, Expr::value(value))
            .col_expr(account::Column::UpdatedAt, Expr::value(at))
            .filter(account::Column::Id.eq(TextUuid(id.0)))
            .exec(&txn)
            .await?;
        if done.rows_affected == 0 {
            return Err(not_found(id));
        }
        crate::oidc::end_account_in(&txn, id, at).await?;
        txn.commit().await?;
        Ok(())
    }

    /// Replaces the roles an administrator assigned. [`Account::roles`] also holds the roles a
    /// directory granted; given back here (read, add one, write), those stay the directory's, so
    /// they still go when the group membership that gave them ends.
    pub async fn set_roles(&self, id: AccountId, roles: Vec<String>) -> Result<(), StoreError> {
        let Some(current) = account::Entity::find_by_id(TextUuid(id.0))
            .one(&self.db)
            .await?
        else {
            return Err(not_found(id));
        };
        let assigned: Vec<String> = decode(&current.roles, "roles", current.id)?;
        let granted: Vec<String> = decode(&current.directory_roles, "directory roles", current.id)?;
        let roles: Vec<String> = roles
            .into_iter()
            .filter(|r| assigned.contains(r) || !granted.contains(r))
            .collect();
        self.update_account(id, account::Column::Roles, to_json(&roles)?)
            .await
    }

    async fn update_account(
        &self,
        id: AccountId,
        column: account::Column,
        value: impl Into<sea_orm::Value>,
    ) -> Result<(), StoreError> {
        let done = account::Entity::update_many()
            .col_expr(column, Expr::value(value))
            .col_expr(account::Column::UpdatedAt, Expr::value(now()))
            .filter(account::Column::Id.eq(TextUuid(id.0)))
            .exec(&self.db)
            .await?;
        if done.rows_affected == 0 {
            return Err(not_found(id));
        }
        Ok(())
    }

    /// Creates the account's link to `link.provider_id`, or replaces the external id, secret and
    /// protected flag of the one it has.
    pub async fn upsert_link(
        &self,
        account_id: AccountId,
        new: NewLink,
    ) -> Result<Link, StoreError> {
        let id = TextUuid(account_id.0);
        let txn = self.begin_write().await?;
        // Checked first so a missing account is NotFound, not a foreign-key error.
        if account::Entity::find_by_id(id).one(&txn).await?.is_none() {
            return Err(not_found(account_id));
        }
        let at = now();
        link::Entity::insert(link::ActiveModel {
            id: Set(Uuid::now_v7().into()),
            account_id: Set(id),
            provider_id: Set(new.provider_id.clone()),
            external_id: Set(new.external_id),
            secret: Set(new.secret),
            protected: Set(new.protected),
            created_at: Set(at),
            updated_at: Set(at),
        })
        .on_conflict(
            OnConflict::columns([link::Column::AccountId, link::Column::ProviderId])
                .update_columns([
                    link::Column::ExternalId,
                    link::Column::Secret,
                    link::Column::Protected,
                    link::Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec_without_returning(&txn)
        .await?;
        let stored = link::Entity::find()
            .filter(link::Column::AccountId.eq(id))
            .filter(link::Column::ProviderId.eq(new.provider_id.as_str()))
            .one(&txn)
            .await?
            .ok_or_else(|| StoreError::Db("link vanished while being written".to_owned()))?;
        txn.commit().await?;
        Ok(link_from_model(stored))
    }

    /// Removes the account's link to `provider_id`; false when there was none.
    pub async fn remove_link(
        &self,
        account_id: AccountId,
        provider_id: &str,
    ) -> Result<bool, StoreError> {
        let done = link::Entity::delete_many()
            .filter(link::Column::AccountId.eq(TextUuid(account_id.0)))
            .filter(link::Column::ProviderId.eq(provider_id))
            .exec(&self.db)
            .await?;
        Ok(done.rows_affected > 0)
    }

    /// The account of `realm` whose link to `provider_id` carries `external_id` (a redirect
    /// provider's callback).
    pub async fn find_by_external_id(
        &self,
        realm: &str,
        provider_id: &str,
        external_id: &str,
    ) -> Result<Option<AccountWithLinks>, StoreError> {
        let found = account::Entity::find()
            .inner_join(link::Entity)
            .filter(account::Column::Realm.eq(realm))
            .filter(link::Column::ProviderId.eq(provider_id))
            .filter(link::Column::ExternalId.eq(external_id))
            .limit(1)
            .one(&self.db)
            .await?;
        match found {
            Some(m) => Ok(Some(with_links(&self.db, m).await?)),
            None => Ok(None),
        }
    }
}
