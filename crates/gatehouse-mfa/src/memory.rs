//! In-memory stand-ins for the store, the key vault and the mail server, for this crate's unit
//! tests (the real ones are tested in gatehouse-store and the end-to-end tests).

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use gatehouse_core::auth::{FlowContext, FlowView, Input, PassedMechanism};
use gatehouse_core::second_factor::{
    CodeMessage, CodeSender, EmailCodeRecord, EmailCodeRepository, RecoveryCodeRepository,
    SealError, SecretSealer, SendError, TotpCredential, TotpRepository,
};
use gatehouse_core::{Account, AccountId, RepoError, Secret};
use uuid::Uuid;

#[derive(Default)]
pub struct Memory {
    totp: Mutex<HashMap<AccountId, TotpCredential>>,
    recovery: Mutex<Vec<(AccountId, String, bool)>>,
    email: Mutex<HashMap<Uuid, EmailCodeRecord>>,
    pub sent: Mutex<Vec<CodeMessage>>,
}

pub fn account(username: &str) -> Account {
    Account {
        id: AccountId::generate(),
        realm: "main".into(),
        username: username.into(),
        email: Some(format!("{username}@example.com")),
        name: None,
        disabled_reason: None,
        locked_until: None,
        roles: vec![],
        groups: vec![],
        attributes: serde_json::Map::new(),
        created_at: Utc::now(),
    }
}

pub fn view<'a>(
    account: &'a Account,
    context: &'a FlowContext,
    passed: &'a [PassedMechanism],
) -> FlowView<'a> {
    FlowView {
        realm: "main",
        account: Some(account),
        passed,
        context,
    }
}

pub fn input(code: &str) -> Input {
    Input::Fields(BTreeMap::from([("code".to_owned(), Secret::new(code))]))
}

#[async_trait]
impl TotpRepository for Memory {
    async fn totp(&self, account: AccountId) -> Result<Option<TotpCredential>, RepoError> {
        Ok(self.totp.lock().unwrap().get(&account).cloned())
    }

    async fn begin_totp(
        &self,
        account: AccountId,
        sealed_secret: &[u8],
        now: DateTime<Utc>,
    ) -> Result<(), RepoError> {
        let mut map = self.totp.lock().unwrap();
        if map.get(&account).is_some_and(|c| c.confirmed) {
            return Err(RepoError::Conflict("confirmed".into()));
        }
        map.insert(
            account,
            TotpCredential {
                account_id: account,
                sealed_secret: sealed_secret.to_vec(),
                confirmed: false,
                last_step: None,
                created_at: now,
            },
        );
        Ok(())
    }

    async fn confirm_totp(&self, account: AccountId, step: i64) -> Result<bool, RepoError> {
        let mut map = self.totp.lock().unwrap();
        match map.get_mut(&account) {
            Some(c) if !c.confirmed => {
                c.confirmed = true;
                c.last_step = Some(step);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn accept_totp_step(&self, account: AccountId, step: i64) -> Result<bool, RepoError> {
        let mut map = self.totp.lock().unwrap();
        match map.get_mut(&account) {
            Some(c) if c.confirmed && c.last_step.is_none_or(|last| last < step) => {
                c.last_step = Some(step);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn remove_totp(&self, account: AccountId) -> Result<bool, RepoError> {
        Ok(self.totp.lock().unwrap().remove(&account).is_some())
    }
}

#[async_trait]
impl RecoveryCodeRepository for Memory {
    async fn replace_recovery_codes(
        &self,
        account: AccountId,
        digests: &[String],
        _now: DateTime<Utc>,
    ) -> Result<(), RepoError> {
        let mut codes = self.recovery.lock().unwrap();
        codes.retain(|(a, _, _)| *a != account);
        codes.extend(digests.iter().map(|d| (account, d.clone(), false)));
        Ok(())
    }

    async fn use_recovery_code(
        &self,
        account: AccountId,
        digest: &str,
        _now: DateTime<Utc>,
    ) -> Result<bool, RepoError> {
        let mut codes = self.recovery.lock().unwrap();
        match codes
            .iter_mut()
            .find(|(a, d, used)| *a == account && d == digest && !used)
        {
            Some(code) => {
                code.2 = true;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn remaining_recovery_codes(&self, account: AccountId) -> Result<u32, RepoError> {
        Ok(self
            .recovery
            .lock()
            .unwrap()
            .iter()
            .filter(|(a, _, used)| *a == account && !used)
            .count() as u32)
    }

    async fn remove_recovery_codes(&self, account: AccountId) -> Result<u64, RepoError> {
        let mut codes = self.recovery.lock().unwrap();
        let before = codes.len();
        codes.retain(|(a, _, _)| *a != account);
        Ok((before - codes.len()) as u64)
    }
}

#[async_trait]
impl EmailCodeRepository for Memory {
    async fn put_email_code(&self, record: &EmailCodeRecord) -> Result<(), RepoError> {
        let mut map = self.email.lock().unwrap();
        let failures = map.get(&record.id).map_or(record.failures, |r| r.failures);
        map.insert(
            record.id,
            EmailCodeRecord {
                failures,
                ..record.clone()
            },
        );
        Ok(())
    }

    async fn email_code(&self, id: Uuid) -> Result<Option<EmailCodeRecord>, RepoError> {
        Ok(self.email.lock().unwrap().get(&id).cloned())
    }

    async fn fail_email_code(&self, id: Uuid) -> Result<u32, RepoError> {
        let mut map = self.email.lock().unwrap();
        Ok(map.get_mut(&id).map_or(0, |r| {
            r.failures += 1;
            r.failures
        }))
    }

    async fn use_email_code(
        &self,
        id: Uuid,
        max_failures: u32,
        now: DateTime<Utc>,
    ) -> Result<bool, RepoError> {
        let mut map = self.email.lock().unwrap();
        match map.get_mut(&id) {
            Some(r) if !r.used && r.failures < max_failures && r.expires_at > now => {
                r.used = true;
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

/// Not encryption: binds the context and reverses the bytes, enough to tell sealed from clear.
impl SecretSealer for Memory {
    fn seal(&self, context: &str, plaintext: &[u8]) -> Result<Vec<u8>, SealError> {
        let mut out = context.as_bytes().to_vec();
        out.push(0);
        out.extend(plaintext.iter().rev());
        Ok(out)
    }

    fn open(&self, context: &str, sealed: &[u8]) -> Result<Vec<u8>, SealError> {
        let prefix = [context.as_bytes(), &[0]].concat();
        let rest = sealed
            .strip_prefix(prefix.as_slice())
            .ok_or_else(|| SealError("wrong context".into()))?;
        Ok(rest.iter().rev().copied().collect())
    }
}

#[async_trait]
impl CodeSender for Memory {
    async fn send_code(&self, message: &CodeMessage) -> Result<(), SendError> {
        self.sent.lock().unwrap().push(message.clone());
        Ok(())
    }
}
