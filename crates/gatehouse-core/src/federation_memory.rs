//! An in-memory [`FederationRepository`] and a realm harness for the tests of the redirect-login
//! decisions (federation, redirect_plan, supersession).

use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::account::{Account, AccountId, AccountWithLinks, Link, Profile};
use crate::provider::{ProviderDescriptor, ProviderKind};
use crate::realm::RealmPolicy;
use crate::repository::{AccountRepository, FederationRepository, LoginRecord, NewLink, RepoError};

#[derive(Default)]
pub(crate) struct Memory {
    pub accounts: Mutex<Vec<AccountWithLinks>>,
    /// (account, reason, result) of every `set_superseded`.
    pub superseded: Mutex<Vec<(AccountId, Option<String>, String)>>,
    seen: Mutex<Vec<(String, String, String)>>,
}

impl Memory {
    pub fn add(&self, username: &str, email: Option<&str>, links: &[(&str, &str)]) -> AccountId {
        let id = AccountId::generate();
        let account = Account {
            id,
            realm: "main".into(),
            username: username.into(),
            email: email.map(str::to_owned),
            name: None,
            disabled_reason: None,
            locked_until: None,
            roles: vec![],
            groups: vec![],
            attributes: Default::default(),
            created_at: Utc::now(),
        };
        let links = links
            .iter()
            .map(|(provider, external)| Link {
                id: Uuid::new_v4(),
                account_id: id,
                provider_id: provider.to_string(),
                external_id: Some(external.to_string()),
                secret: None,
                protected: false,
                created_at: Utc::now(),
            })
            .collect();
        self.accounts
            .lock()
            .unwrap()
            .push(AccountWithLinks { account, links });
        id
    }

    pub fn edit(&self, username: &str, f: impl FnOnce(&mut Account)) {
        let mut accounts = self.accounts.lock().unwrap();
        let a = accounts
            .iter_mut()
            .find(|a| a.account.username == username)
            .unwrap();
        f(&mut a.account);
    }

    pub fn get(&self, username: &str) -> Option<AccountWithLinks> {
        self.accounts
            .lock()
            .unwrap()
            .iter()
            .find(|a| a.account.username == username)
            .cloned()
    }

    pub fn count(&self) -> usize {
        self.accounts.lock().unwrap().len()
    }
}

#[async_trait]
impl AccountRepository for Memory {
    async fn find_for_login(
        &self,
        _realm: &str,
        key: &str,
        by_email: bool,
    ) -> Result<Option<AccountWithLinks>, RepoError> {
        let accounts = self.accounts.lock().unwrap();
        if let Some(found) = accounts
            .iter()
            .find(|a| a.account.username.to_lowercase() == key)
        {
            return Ok(Some(found.clone()));
        }
        if !by_email {
            return Ok(None);
        }
        let mut matching = accounts
            .iter()
            .filter(|a| a.account.email.as_deref().map(str::to_lowercase).as_deref() == Some(key));
        Ok(match (matching.next(), matching.next()) {
            (Some(one), None) => Some(one.clone()),
            _ => None,
        })
    }

    async fn provision(
        &self,
        _realm: &str,
        username: &str,
        _key: &str,
        profile: &Profile,
        link: NewLink,
    ) -> Result<AccountWithLinks, RepoError> {
        let external = link.external_id.clone().unwrap_or_default();
        let id = self.add(
            username,
            profile.email.as_deref(),
            &[(&link.provider_id, &external)],
        );
        let accounts = self.accounts.lock().unwrap();
        Ok(accounts
            .iter()
            .find(|a| a.account.id == id)
            .cloned()
            .unwrap())
    }

    async fn update_link_secret(&self, _: Uuid, _: &str) -> Result<(), RepoError> {
        Ok(())
    }

    async fn update_profile(&self, id: AccountId, profile: &Profile) -> Result<Account, RepoError> {
        let mut accounts = self.accounts.lock().unwrap();
        let a = accounts.iter_mut().find(|a| a.account.id == id).unwrap();
        a.account.groups = profile.groups.clone();
        if let Some(email) = &profile.email {
            a.account.email = Some(email.clone());
        }
        Ok(a.account.clone())
    }

    async fn record_login(&self, _: &LoginRecord) -> Result<(), RepoError> {
        Ok(())
    }
}

#[async_trait]
impl FederationRepository for Memory {
    async fn find_by_external_id(
        &self,
        _realm: &str,
        provider: &str,
        external_id: &str,
    ) -> Result<Option<AccountWithLinks>, RepoError> {
        Ok(self
            .accounts
            .lock()
            .unwrap()
            .iter()
            .find(|a| {
                a.links.iter().any(|l| {
                    l.provider_id == provider && l.external_id.as_deref() == Some(external_id)
                })
            })
            .cloned())
    }

    async fn get_account(&self, id: AccountId) -> Result<Option<AccountWithLinks>, RepoError> {
        Ok(self
            .accounts
            .lock()
            .unwrap()
            .iter()
            .find(|a| a.account.id == id)
            .cloned())
    }

    async fn upsert_link(&self, account: AccountId, link: NewLink) -> Result<(), RepoError> {
        let mut accounts = self.accounts.lock().unwrap();
        let a = accounts
            .iter_mut()
            .find(|a| a.account.id == account)
            .ok_or_else(|| RepoError::NotFound(format!("account {account}")))?;
        a.links.retain(|l| l.provider_id != link.provider_id);
        a.links.push(Link {
            id: Uuid::new_v4(),
            account_id: account,
            provider_id: link.provider_id,
            external_id: link.external_id,
            secret: None,
            protected: link.protected,
            created_at: Utc::now(),
        });
        Ok(())
    }

    async fn list_accounts(&self, _realm: &str) -> Result<Vec<AccountWithLinks>, RepoError> {
        Ok(self.accounts.lock().unwrap().clone())
    }

    async fn set_superseded(
        &self,
        _realm: &str,
        account: AccountId,
        _username: &str,
        reason: Option<String>,
        result: &str,
    ) -> Result<(), RepoError> {
        let mut accounts = self.accounts.lock().unwrap();
        let a = accounts
            .iter_mut()
            .find(|a| a.account.id == account)
            .unwrap();
        a.account.disabled_reason = reason.clone();
        self.superseded
            .lock()
            .unwrap()
            .push((account, reason, result.to_owned()));
        Ok(())
    }

    async fn first_use(
        &self,
        realm: &str,
        provider: &str,
        id: &str,
        _until: DateTime<Utc>,
    ) -> Result<bool, RepoError> {
        let entry = (realm.to_owned(), provider.to_owned(), id.to_owned());
        let mut seen = self.seen.lock().unwrap();
        if seen.contains(&entry) {
            return Ok(false);
        }
        seen.push(entry);
        Ok(true)
    }
}

pub(crate) fn descriptor(id: &str, kind: ProviderKind, supersedes: &[&str]) -> ProviderDescriptor {
    ProviderDescriptor {
        id: id.into(),
        kind,
        enabled: true,
        supersedes: supersedes.iter().map(|s| s.to_string()).collect(),
        jit: false,
    }
}

pub(crate) fn policy(providers: Vec<ProviderDescriptor>) -> RealmPolicy {
    RealmPolicy {
        name: "main".into(),
        chain: providers.iter().map(|p| p.id.clone()).collect(),
        providers,
        on_unavailable: Default::default(),
        usernames_case_sensitive: false,
        login_with_email: true,
    }
}
