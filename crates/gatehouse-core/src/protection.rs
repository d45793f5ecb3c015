//! Brute-force defence (issue #24, point 4): failures counted in the store, so every instance on
//! it throttles alike, and growing delays rather than a lock anyone could set off.
//!
//! A known account is counted per (account, IP) — a success resets only that counter, so the
//! owner's login never clears an attacker's — per account across every IP (the temporary lock),
//! and per IP across every login. An unknown login is counted the same way with the login as
//! typed in place of the account, so nothing about throttling tells whether an account exists.
//! Each counter belongs to a *kind* (`password`, or a second factor's own), so one table serves
//! the mechanisms too.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::account::AccountId;
use crate::repository::RepoError;

/// The counters of the password step; second factors use their mechanism's name.
pub const PASSWORD_KIND: &str = "password";

/// `[realms.R.brute_force]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BruteForceSettings {
    pub enabled: bool,
    /// Failures of one login from one IP before each further try has to wait.
    pub free_failures: u32,
    /// The longest wait between two tries (the waits double from 1 s up to it).
    pub max_delay_s: u64,
    /// Failures of one login from all IPs together that lock it (for `lock_minutes`).
    pub max_failures: u32,
    pub lock_minutes: u32,
    /// Keep the lock until an administrator runs `gatehouse user unlock`. Off: it lets anyone who
    /// knows a username lock its owner out (keycloak#26172).
    pub permanent_lockout: bool,
    /// Failures from one IP, whatever the login, before its tries have to wait.
    pub ip_free_failures: u32,
    /// A counter whose last failure is older than this starts again from zero.
    pub failure_reset_hours: u32,
}

impl Default for BruteForceSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            free_failures: 5,
            max_delay_s: 900,
            max_failures: 30,
            lock_minutes: 15,
            permanent_lockout: false,
            ip_free_failures: 100,
            failure_reset_hours: 12,
        }
    }
}

impl BruteForceSettings {
    /// A message naming the key (relative to `brute_force`) for settings that cannot work.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut problems = Vec::new();
        if self.free_failures == 0 {
            problems.push((
                "free_failures",
                "must be at least 1: with 0, a single typo would make the owner wait".to_owned(),
            ));
        }
        if self.max_failures <= self.free_failures {
            problems.push((
                "max_failures",
                format!(
                    "must be more than free_failures ({}); the delays come before the lock",
                    self.free_failures
                ),
            ));
        }
        if self.max_delay_s == 0 || self.max_delay_s > 86_400 {
            problems.push((
                "max_delay_s",
                format!("must be between 1 and 86400, got {}", self.max_delay_s),
            ));
        }
        if self.lock_minutes == 0 && !self.permanent_lockout {
            problems.push(("lock_minutes", "must be at least 1".to_owned()));
        }
        if self.ip_free_failures == 0 {
            problems.push(("ip_free_failures", "must be at least 1".to_owned()));
        }
        if self.failure_reset_hours == 0 {
            problems.push(("failure_reset_hours", "must be at least 1".to_owned()));
        }
        problems
    }

    /// The wait after `failures` failures under a threshold of `free`: none up to it, then 1, 2,
    /// 4 … s up to `max_delay_s`.
    pub fn delay_after(&self, failures: u32, free: u32) -> Duration {
        if failures < free {
            return Duration::ZERO;
        }
        let doublings = (failures - free).min(40);
        Duration::from_secs((1u64 << doublings).min(self.max_delay_s))
    }

    fn forget_after(&self) -> chrono::Duration {
        chrono::Duration::hours(i64::from(self.failure_reset_hours))
    }
}

/// What a counter counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ThrottleScope {
    /// One login (an account, or an unknown login as typed) from one IP: the growing delays.
    LoginIp,
    /// One login from every IP: the lock.
    Login,
    /// One IP, whatever the login.
    Ip,
}

impl ThrottleScope {
    pub fn as_str(self) -> &'static str {
        match self {
            ThrottleScope::LoginIp => "login_ip",
            ThrottleScope::Login => "login",
            ThrottleScope::Ip => "ip",
        }
    }
}

/// One counter's identity. `subject` is `acct:{id}` or `login:{typed}`, with `|{ip}` for
/// [`ThrottleScope::LoginIp`], or the IP.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ThrottleKey {
    pub kind: String,
    pub scope: ThrottleScope,
    pub subject: String,
    /// The account the counter is about, when known (for `user unlock` and `user show`).
    pub account: Option<AccountId>,
}

/// A counter as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counter {
    pub key: ThrottleKey,
    pub failures: u32,
    pub last_failure_at: DateTime<Utc>,
}

/// Whether a try may go ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    Open,
    /// Too many recent failures: try again after the wait.
    Wait(Duration),
    /// `max_failures` reached: locked for the duration, or until unlocked (`None`).
    Locked(Option<Duration>),
}

impl Gate {
    pub fn is_open(self) -> bool {
        self == Gate::Open
    }

    /// What `Retry-After` says (a permanent lock: the longest delay, so clients back off).
    pub fn retry_after(self, settings: &BruteForceSettings) -> Option<Duration> {
        match self {
            Gate::Open => None,
            Gate::Wait(d) | Gate::Locked(Some(d)) => Some(d),
            Gate::Locked(None) => Some(Duration::from_secs(settings.max_delay_s)),
        }
    }
}

/// The counters one try touches.
#[derive(Debug, Clone)]
pub struct TryKeys {
    pub login_ip: ThrottleKey,
    pub login: ThrottleKey,
    pub ip: Option<ThrottleKey>,
}

impl TryKeys {
    /// `login` is the normalised login; used when `account` is `None`. Without an IP (a caller
    /// that does not know it) there is no per-IP counter, and the per-login-and-IP one uses `-`.
    pub fn new(kind: &str, account: Option<AccountId>, login: &str, ip: Option<&str>) -> Self {
        let who = match account {
            Some(id) => format!("acct:{id}"),
            None => format!("login:{login}"),
        };
        let key = |scope, subject| ThrottleKey {
            kind: kind.to_owned(),
            scope,
            subject,
            account,
        };
        Self {
            login_ip: key(
                ThrottleScope::LoginIp,
                format!("{who}|{}", ip.unwrap_or("-")),
            ),
            login: key(ThrottleScope::Login, who),
            ip: ip.map(|ip| ThrottleKey {
                account: None,
                ..key(ThrottleScope::Ip, ip.to_owned())
            }),
        }
    }

    pub fn all(&self) -> Vec<ThrottleKey> {
        let mut keys = vec![self.login_ip.clone(), self.login.clone()];
        keys.extend(self.ip.clone());
        keys
    }
}

/// Where the counters live: the store, shared by every instance.
#[async_trait]
pub trait ProtectionRepository: Send + Sync {
    /// The stored counters among `keys` (missing ones have no failures).
    async fn counters(&self, realm: &str, keys: &[ThrottleKey]) -> Result<Vec<Counter>, RepoError>;

    /// One more failure on each key, atomically with respect to other instances; a counter whose
    /// last failure is before `forget_before` starts again from zero. Returns the counters after.
    async fn add_failure(
        &self,
        realm: &str,
        keys: &[ThrottleKey],
        at: DateTime<Utc>,
        forget_before: DateTime<Utc>,
    ) -> Result<Vec<Counter>, RepoError>;

    /// Forget one counter (a success from that IP).
    async fn clear(&self, realm: &str, key: &ThrottleKey) -> Result<(), RepoError>;

    /// When the password of the account's link to `provider` was last set; `None` when unknown.
    async fn password_changed_at(
        &self,
        account: AccountId,
        provider: &str,
    ) -> Result<Option<DateTime<Utc>>, RepoError>;
}

/// The settings and the counters' home, as the resolver (and the mechanisms) use them.
#[derive(Clone)]
pub struct Protection {
    pub settings: BruteForceSettings,
    pub repo: std::sync::Arc<dyn ProtectionRepository>,
}

impl Protection {
    /// The gate the counters set at `now`.
    pub fn gate(&self, counters: &[Counter], now: DateTime<Utc>) -> Gate {
        let s = &self.settings;
        if !s.enabled {
            return Gate::Open;
        }
        let mut wait = Duration::ZERO;
        for c in counters {
            let since = (now - c.last_failure_at).to_std().unwrap_or(Duration::ZERO);
            let fresh = now - c.last_failure_at < s.forget_after();
            match c.key.scope {
                ThrottleScope::Login if c.failures >= s.max_failures => {
                    if s.permanent_lockout {
                        return Gate::Locked(None);
                    }
                    let lock = Duration::from_secs(u64::from(s.lock_minutes) * 60);
                    if since < lock {
                        return Gate::Locked(Some(lock - since));
                    }
                }
                ThrottleScope::Login => {}
                ThrottleScope::LoginIp | ThrottleScope::Ip if fresh => {
                    let free = if c.key.scope == ThrottleScope::Ip {
                        s.ip_free_failures
                    } else {
                        s.free_failures
                    };
                    let delay = s.delay_after(c.failures, free);
                    if since < delay {
                        wait = wait.max(delay - since);
                    }
                }
                ThrottleScope::LoginIp | ThrottleScope::Ip => {}
            }
        }
        if wait.is_zero() {
            Gate::Open
        } else {
            // Whole seconds up: `Retry-After` is in seconds, and waking early would be refused.
            Gate::Wait(Duration::from_secs(wait.as_secs() + 1))
        }
    }

    /// Before `forget_before`, a counter's failures are forgotten at its next failure.
    pub fn forget_before(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now - self.settings.forget_after()
    }

    /// Whether the failure that produced `after` started a lock (so it is audited as one).
    /// Failures are only counted through an open gate, so any count at the threshold is a lock
    /// that starts now (the first, or again after the last one ran out).
    pub fn started_lock(&self, after: &[Counter]) -> bool {
        self.settings.enabled
            && after.iter().any(|c| {
                c.key.scope == ThrottleScope::Login && c.failures >= self.settings.max_failures
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn protection(settings: BruteForceSettings) -> Protection {
        struct Nothing;
        #[async_trait]
        impl ProtectionRepository for Nothing {
            async fn counters(
                &self,
                _: &str,
                _: &[ThrottleKey],
            ) -> Result<Vec<Counter>, RepoError> {
                Ok(vec![])
            }
            async fn add_failure(
                &self,
                _: &str,
                _: &[ThrottleKey],
                _: DateTime<Utc>,
                _: DateTime<Utc>,
            ) -> Result<Vec<Counter>, RepoError> {
                Ok(vec![])
            }
            async fn clear(&self, _: &str, _: &ThrottleKey) -> Result<(), RepoError> {
                Ok(())
            }
            async fn password_changed_at(
                &self,
                _: AccountId,
                _: &str,
            ) -> Result<Option<DateTime<Utc>>, RepoError> {
                Ok(None)
            }
        }
        Protection {
            settings,
            repo: std::sync::Arc::new(Nothing),
        }
    }

    fn counter(keys: &TryKeys, scope: ThrottleScope, failures: u32, ago_s: i64) -> Counter {
        let key = match scope {
            ThrottleScope::LoginIp => keys.login_ip.clone(),
            ThrottleScope::Login => keys.login.clone(),
            ThrottleScope::Ip => keys.ip.clone().unwrap(),
        };
        Counter {
            key,
            failures,
            last_failure_at: Utc::now() - chrono::Duration::seconds(ago_s),
        }
    }

    #[test]
    fn delays_grow_from_one_second_to_the_ceiling() {
        let s = BruteForceSettings::default();
        let delays: Vec<u64> = (0..20).map(|n| s.delay_after(n, 5).as_secs()).collect();
        assert_eq!(&delays[..9], &[0, 0, 0, 0, 0, 1, 2, 4, 8]);
        assert_eq!(delays[15], 900);
        assert_eq!(s.delay_after(u32::MAX, 5).as_secs(), 900);
        assert!(s.problems().is_empty());
    }

    #[test]
    fn the_gate_waits_locks_and_opens() {
        let p = protection(BruteForceSettings::default());
        let keys = TryKeys::new(PASSWORD_KIND, None, "bob", Some("10.0.0.1"));
        let now = Utc::now();
        assert_eq!(p.gate(&[], now), Gate::Open);
        let four = counter(&keys, ThrottleScope::LoginIp, 4, 0);
        assert_eq!(p.gate(&[four], now), Gate::Open);
        let twenty = counter(&keys, ThrottleScope::LoginIp, 20, 0);
        assert!(matches!(p.gate(&[twenty], now), Gate::Wait(d) if d.as_secs() >= 899));
        let waited = counter(&keys, ThrottleScope::LoginIp, 6, 3);
        assert_eq!(p.gate(&[waited], now), Gate::Open);
        let locked = counter(&keys, ThrottleScope::Login, 30, 60);
        assert!(
            matches!(p.gate(std::slice::from_ref(&locked), now), Gate::Locked(Some(d)) if d.as_secs() > 800)
        );
        let lock_over = counter(&keys, ThrottleScope::Login, 30, 16 * 60);
        assert_eq!(p.gate(std::slice::from_ref(&lock_over), now), Gate::Open);
        let ip = counter(&keys, ThrottleScope::Ip, 99, 0);
        assert_eq!(p.gate(&[ip], now), Gate::Open);
        let ip = counter(&keys, ThrottleScope::Ip, 100, 0);
        assert!(matches!(p.gate(&[ip], now), Gate::Wait(_)));
        // A stale counter no longer delays.
        let stale = counter(&keys, ThrottleScope::LoginIp, 20, 13 * 3600);
        assert_eq!(p.gate(&[stale], now), Gate::Open);

        let permanent = protection(BruteForceSettings {
            permanent_lockout: true,
            ..Default::default()
        });
        assert_eq!(permanent.gate(&[lock_over], now), Gate::Locked(None));
        let off = protection(BruteForceSettings {
            enabled: false,
            ..Default::default()
        });
        assert_eq!(off.gate(&[locked], now), Gate::Open);
    }

    #[test]
    fn known_and_unknown_logins_are_keyed_alike() {
        let id = AccountId::generate();
        let known = TryKeys::new(PASSWORD_KIND, Some(id), "alice", Some("10.0.0.1"));
        let unknown = TryKeys::new(PASSWORD_KIND, None, "mallory", Some("10.0.0.1"));
        assert_eq!(known.login_ip.subject, format!("acct:{id}|10.0.0.1"));
        assert_eq!(unknown.login_ip.subject, "login:mallory|10.0.0.1");
        assert_eq!(known.ip, unknown.ip);
        assert_eq!(known.all().len(), 3);
        // No IP: no shared per-IP counter that every caller without one would fill.
        assert_eq!(TryKeys::new("totp", Some(id), "alice", None).all().len(), 2);
    }

    #[test]
    fn a_failure_at_or_past_the_threshold_starts_a_lock() {
        let p = protection(BruteForceSettings::default());
        let keys = TryKeys::new(PASSWORD_KIND, None, "bob", Some("10.0.0.1"));
        assert!(!p.started_lock(&[counter(&keys, ThrottleScope::Login, 29, 0)]));
        assert!(p.started_lock(&[counter(&keys, ThrottleScope::Login, 30, 0)]));
        assert!(p.started_lock(&[counter(&keys, ThrottleScope::Login, 31, 0)]));
        assert!(!p.started_lock(&[counter(&keys, ThrottleScope::LoginIp, 30, 0)]));
    }

    #[test]
    fn settings_that_cannot_work_are_named() {
        let bad = BruteForceSettings {
            free_failures: 0,
            max_failures: 0,
            ..Default::default()
        };
        let keys: Vec<_> = bad.problems().into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["free_failures", "max_failures"]);
    }
}
