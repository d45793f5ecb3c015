#![allow(dead_code)]

use std::time::Duration;

use chrono::Utc;
use gatehouse_core::{AccountId, Attempt, AttemptOutcome, LoginRecord, NewLink};
use gatehouse_store::NewAccount;

pub const REALM: &str = "main";

/// An account whose key is the case-folded username, as a case-insensitive realm supplies it.
pub fn new_account(username: &str, email: Option<&str>) -> NewAccount {
    NewAccount {
        realm: REALM.to_owned(),
        username: username.to_owned(),
        username_key: username.trim().to_lowercase(),
        email: email.map(str::to_owned),
        name: Some(format!("{username} Example")),
        roles: vec!["user".to_owned()],
    }
}

pub fn db_link(hash: &str) -> NewLink {
    NewLink {
        provider_id: "local".to_owned(),
        external_id: None,
        secret: Some(hash.to_owned()),
        protected: false,
    }
}

pub fn attempt(provider: &str, outcome: AttemptOutcome, ms: u64) -> Attempt {
    Attempt {
        provider: provider.to_owned(),
        outcome,
        duration: Duration::from_millis(ms),
    }
}

pub fn login(account_id: Option<AccountId>, success: bool, attempts: Vec<Attempt>) -> LoginRecord {
    LoginRecord {
        realm: REALM.to_owned(),
        login: "alice".to_owned(),
        account_id,
        success,
        result: if success {
            "success"
        } else {
            "invalid_credentials"
        }
        .to_owned(),
        attempts,
        at: Utc::now(),
        redirect: false,
        origin: Default::default(),
    }
}
