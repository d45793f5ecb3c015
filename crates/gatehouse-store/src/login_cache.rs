//! A short-lived copy of the accounts password logins look up, so that a login of a known account
//! reads the store only when its copy is older than [`TTL`]. Without it, every directory login
//! paid three SQLite reads through sqlx (account, links, and the account again to compare the
//! directory's profile), which cost the broker more CPU than the directory's search and bind.
//!
//! The copy is rebuildable state (DESIGN.md, "in-process caches"): bounded, expiring, and dropped
//! whole by every account or link write made through this store — a generation counter keeps a
//! lookup that raced such a write from putting its older copy back. A write made by another
//! process (the `gatehouse` CLI, another instance on the same PostgreSQL) is seen by this
//! process's logins within [`TTL`]: for that long, an account disabled or locked elsewhere can
//! still log in here. Only the password-login lookup and its profile comparison use the copy;
//! administration, tokens and sessions read the store.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use gatehouse_core::{AccountId, AccountWithLinks};
// The synchronous cache: nothing here loads through it, and its reads cost a login less than
// the future cache's (no shared housekeeping future polled on the read path).
use moka::sync::Cache;
use uuid::Uuid;

/// How long a looked-up account answers logins before the store is read again.
pub const TTL: Duration = Duration::from_secs(1);
/// Accounts kept at most (a few KiB each).
const CAPACITY: u64 = 10_000;

/// An account as a login found it, with what its profile comparison needs.
pub(crate) struct Cached {
    pub found: AccountWithLinks,
    /// The roles a provider granted (the `directory_roles` column), apart from the effective ones.
    pub directory_roles: Vec<String>,
}

pub(crate) struct LoginCache {
    /// By realm, lookup kind and login key.
    by_login: Cache<String, Arc<Cached>>,
    by_id: Cache<Uuid, Arc<Cached>>,
    /// Bumped by every write: a lookup that started before it must not store what it read.
    generation: AtomicU64,
}

fn key(realm: &str, login_key: &str, by_email: bool) -> String {
    // A realm name never holds a NUL, so the parts cannot run into one another.
    format!("{realm}\0{}\0{login_key}", u8::from(by_email))
}

impl LoginCache {
    pub(crate) fn new() -> Self {
        Self {
            by_login: Cache::builder()
                .max_capacity(CAPACITY)
                .time_to_live(TTL)
                .build(),
            by_id: Cache::builder()
                .max_capacity(CAPACITY)
                .time_to_live(TTL)
                .build(),
            generation: AtomicU64::new(0),
        }
    }

    /// Read before the store is, and handed back to [`LoginCache::insert`].
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub(crate) fn get(&self, realm: &str, login_key: &str, by_email: bool) -> Option<Arc<Cached>> {
        self.by_login.get(&key(realm, login_key, by_email))
    }

    /// The copy of the account a login just looked up, if it is still fresh.
    pub(crate) fn account(&self, id: AccountId) -> Option<Arc<Cached>> {
        self.by_id.get(&id.0)
    }

    /// Keeps what a lookup read at `generation`, unless a write came in meanwhile.
    pub(crate) fn insert(
        &self,
        generation: u64,
        realm: &str,
        login_key: &str,
        by_email: bool,
        value: Arc<Cached>,
    ) {
        if self.generation() != generation {
            return;
        }
        let key = key(realm, login_key, by_email);
        let id = value.found.account.id.0;
        self.by_login.insert(key.clone(), value.clone());
        self.by_id.insert(id, value);
        // A write that bumped the generation after the check above may have cleared the caches
        // before these inserts: take them out again.
        if self.generation() != generation {
            self.by_login.invalidate(&key);
            self.by_id.invalidate(&id);
        }
    }

    /// After any account or link write through this store.
    pub(crate) fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.by_login.invalidate_all();
        self.by_id.invalidate_all();
    }
}
