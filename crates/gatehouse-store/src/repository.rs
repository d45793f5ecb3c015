//! What the login resolver needs (`gatehouse_core::AccountRepository`).

use async_trait::async_trait;
use gatehouse_core::{
    Account, AccountId, AccountRepository, AccountWithLinks, LoginRecord, NewLink, Profile,
    RepoError,
};
use sea_orm::prelude::TextUuid;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use crate::accounts::{
    account_from_model, directory_roles, email_key, insert_account, joined, link_from_model,
    new_account_row, not_found, to_json, with_links_joined,
};
use crate::entities::{account, link};
use crate::error::StoreError;
use crate::store::{Store, now};
use crate::types::NewAccount;

impl Store {
    /// The account a login names, with its links, as stored now: never a copy, so that an
    /// administrator's disable, lock or supersession holds from the very next login on every
    /// instance.
    async fn read_for_login(
        &self,
        realm: &str,
        login_key: &str,
        by_email: bool,
    ) -> Result<Option<AccountWithLinks>, StoreError> {
        let by_username = account::Entity::find()
            .filter(account::Column::Realm.eq(realm))
            .filter(account::Column::UsernameKey.eq(login_key));
        // The username key is unique in a realm: one account at most.
        if let Some(found) = with_links_joined(&self.db, by_username).await? {
            return Ok(Some(found));
        }
        let Some(key) = email_key(login_key).filter(|_| by_email) else {
            return Ok(None);
        };
        // Two rows are enough to know the email is ambiguous (a join would not bound the
        // accounts read, so the links come in a second query).
        let mut matches = account::Entity::find()
            .filter(account::Column::Realm.eq(realm))
            .filter(account::Column::EmailKey.eq(key))
            .limit(2)
            .all(&self.db)
            .await?;
        if matches.len() != 1 {
            return Ok(None);
        }
        let Some(m) = matches.pop() else {
            return Ok(None);
        };
        let links = link::Entity::find()
            .filter(link::Column::AccountId.eq(m.id))
            .order_by_asc(link::Column::CreatedAt)
            .order_by_asc(link::Column::Id)
            .all(&self.db)
            .await?;
        joined(m, links)
    }

    async fn provision_account(
        &self,
        realm: &str,
        username: &str,
        username_key: &str,
        profile: &Profile,
        new_link: NewLink,
    ) -> Result<AccountWithLinks, StoreError> {
        let new = NewAccount {
            realm: realm.to_owned(),
            username: username.to_owned(),
            username_key: username_key.to_owned(),
            email: profile.email.clone(),
            name: profile.name.clone(),
            roles: Vec::new(),
        };
        let id = AccountId::generate();
        let row = new_account_row(id, &new, &profile.groups, &profile.roles)?;
        let at = now();
        let txn = self.begin_write().await?;
        let account = insert_account(&txn, row, &new).await?;
        let link = link::Entity::insert(link::ActiveModel {
            id: Set(Uuid::now_v7().into()),
            account_id: Set(TextUuid(id.0)),
            provider_id: Set(new_link.provider_id),
            external_id: Set(new_link.external_id),
            secret: Set(new_link.secret),
            protected: Set(new_link.protected),
            created_at: Set(at),
            updated_at: Set(at),
        })
        .exec_with_returning(&txn)
        .await?;
        txn.commit().await?;
        Ok(AccountWithLinks {
            account: account_from_model(account)?,
            links: vec![link_from_model(link)],
        })
    }

    async fn store_link_secret(&self, link_id: Uuid, secret: &str) -> Result<(), StoreError> {
        let done = link::Entity::update_many()
            .col_expr(link::Column::Secret, Expr::value(secret))
            .col_expr(link::Column::UpdatedAt, Expr::value(now()))
            .filter(link::Column::Id.eq(TextUuid(link_id)))
            .exec(&self.db)
            .await?;
        if done.rows_affected == 0 {
            return Err(StoreError::NotFound(format!("link {link_id}")));
        }
        Ok(())
    }

    /// A provider's profile overwrites what it carries: email and name when present; groups and
    /// granted roles always, since an empty list from a directory means the user left every
    /// group. Administrator-assigned roles are another column and stay. Most logins bring the
    /// profile the account already has: they read the account and write nothing.
    async fn store_profile(&self, id: AccountId, profile: &Profile) -> Result<Account, StoreError> {
        let current = account::Entity::find_by_id(TextUuid(id.0))
            .one(&self.db)
            .await?
            .ok_or_else(|| not_found(id))?;
        let granted = directory_roles(&current)?;
        let current = account_from_model(current)?;
        if unchanged(&current, &granted, profile) {
            return Ok(current);
        }
        let mut update = account::Entity::update_many()
            .col_expr(
                account::Column::Groups,
                Expr::value(to_json(&profile.groups)?),
            )
            .col_expr(
                account::Column::DirectoryRoles,
                Expr::value(to_json(&profile.roles)?),
            )
            .col_expr(account::Column::UpdatedAt, Expr::value(now()));
        if let Some(email) = &profile.email {
            update = update
                .col_expr(account::Column::Email, Expr::value(email.clone()))
                .col_expr(account::Column::EmailKey, Expr::value(email_key(email)));
        }
        if let Some(name) = &profile.name {
            update = update.col_expr(account::Column::Name, Expr::value(name.clone()));
        }
        // RETURNING on both backends: the account as stored, in the same statement.
        let updated = update
            .filter(account::Column::Id.eq(TextUuid(id.0)))
            .exec_with_returning(&self.db)
            .await;
        match updated?.into_iter().next() {
            Some(m) => account_from_model(m),
            None => Err(not_found(id)),
        }
    }
}

/// Whether storing `profile` would leave the account as it is.
fn unchanged(current: &Account, granted: &[String], profile: &Profile) -> bool {
    current.groups == profile.groups
        && granted == profile.roles.as_slice()
        && profile
            .email
            .as_ref()
            .is_none_or(|e| current.email.as_ref() == Some(e))
        && profile
            .name
            .as_ref()
            .is_none_or(|n| current.name.as_ref() == Some(n))
}

#[async_trait]
impl AccountRepository for Store {
    async fn find_for_login(
        &self,
        realm: &str,
        login_key: &str,
        by_email: bool,
    ) -> Result<Option<AccountWithLinks>, RepoError> {
        Ok(Box::pin(self.read_for_login(realm, login_key, by_email)).await?)
    }

    async fn provision(
        &self,
        realm: &str,
        username: &str,
        username_key: &str,
        profile: &Profile,
        link: NewLink,
    ) -> Result<AccountWithLinks, RepoError> {
        Ok(self
            .provision_account(realm, username, username_key, profile, link)
            .await?)
    }

    async fn update_link_secret(&self, link_id: Uuid, secret: &str) -> Result<(), RepoError> {
        Ok(self.store_link_secret(link_id, secret).await?)
    }

    async fn update_profile(
        &self,
        account_id: AccountId,
        profile: &Profile,
    ) -> Result<Account, RepoError> {
        Ok(self.store_profile(account_id, profile).await?)
    }

    async fn record_login(&self, record: &LoginRecord) -> Result<(), RepoError> {
        if let Some(log) = &self.login_log
            && let Some(written) = log.append(record).await
        {
            return Ok(written?);
        }
        // Boxed: only a store without a login log writes here.
        Ok(Box::pin(self.write_login_alone(record)).await?)
    }
}
