//! A bounded pool of persistent directory connections, each carrying up to `per_connection`
//! operations at a time.
//!
//! Searches share service connections: LDAP tells concurrent operations on one connection apart by
//! message ID, and a server that finds several requests on one socket reads them in one wake-up,
//! which costs it and us less per operation than one request per connection. A user bind needs a
//! connection to itself (RFC 4511 §4.2.1: nothing else may be outstanding while a bind runs, and the
//! bind changes the connection's identity), so the bind pool has `per_connection = 1`.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use ldap3::Ldap;
use tokio::sync::{Semaphore, SemaphorePermit};

struct Pooled {
    id: u64,
    ldap: Ldap,
    server: usize,
    in_flight: usize,
    /// When it last finished an operation (or was opened).
    since: Instant,
}

#[derive(Default)]
struct Slots {
    conns: Vec<Pooled>,
    next_id: u64,
}

/// One operation's use of a pooled connection; hand it back with [`ConnectionPool::release`] or
/// [`ConnectionPool::discard`].
pub struct Lease {
    pub ldap: Ldap,
    pub server: usize,
    id: u64,
}

pub struct ConnectionPool {
    slots: Mutex<Slots>,
    /// Bounds the operations in flight to what the connections may carry.
    permits: Semaphore,
    max_size: usize,
    per_connection: usize,
    idle_timeout: Duration,
    /// A shared pool opens one connection at a time, so that a burst of searches fills one
    /// connection instead of opening one each.
    opening: tokio::sync::Mutex<()>,
}

impl ConnectionPool {
    pub fn new(max_size: usize, per_connection: usize, idle_timeout: Duration) -> Self {
        let per_connection = per_connection.max(1);
        Self {
            slots: Mutex::new(Slots::default()),
            permits: Semaphore::new(max_size.saturating_mul(per_connection)),
            max_size,
            per_connection,
            idle_timeout,
            opening: tokio::sync::Mutex::new(()),
        }
    }

    pub fn max_size(&self) -> usize {
        self.max_size
    }

    pub fn per_connection(&self) -> usize {
        self.per_connection
    }

    /// The right to run one operation, or `None` after `timeout` with every slot busy.
    pub async fn permit(&self, timeout: Duration) -> Option<SemaphorePermit<'_>> {
        match tokio::time::timeout(timeout, self.permits.acquire()).await {
            Ok(Ok(permit)) => Some(permit),
            _ => None,
        }
    }

    fn slots(&self) -> std::sync::MutexGuard<'_, Slots> {
        // A panic while holding the lock cannot leave the list inconsistent: keep using it.
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A live connection with room for one more operation: the busiest such one, so the load
    /// packs onto few connections, then the most recently used, so a hot set stays warm and the
    /// rest expires. A full shared pool overloads its least busy connection rather than wait
    /// (the permits bound the total). `None`: open a new connection.
    pub fn lease(&self) -> Option<Lease> {
        let mut slots = self.slots();
        let idle_timeout = self.idle_timeout;
        slots.conns.retain_mut(|c| {
            !c.ldap.is_closed() && (c.in_flight > 0 || c.since.elapsed() < idle_timeout)
        });
        let per_connection = self.per_connection;
        let full = slots.conns.len() >= self.max_size;
        let spare = slots
            .conns
            .iter()
            .enumerate()
            .filter(|(_, c)| c.in_flight < per_connection)
            .max_by_key(|(_, c)| (c.in_flight, c.since))
            .map(|(at, _)| at);
        let at = match spare {
            Some(at) => at,
            None if per_connection > 1 && full => slots
                .conns
                .iter()
                .enumerate()
                .min_by_key(|(_, c)| c.in_flight)
                .map(|(at, _)| at)?,
            None => return None,
        };
        let chosen = &mut slots.conns[at];
        chosen.in_flight += 1;
        Some(Lease {
            ldap: chosen.ldap.clone(),
            server: chosen.server,
            id: chosen.id,
        })
    }

    /// Held while opening a connection for a shared pool (`None` for a pool of one operation per
    /// connection, which opens as many as it needs at once); lease again once it is held.
    pub async fn opening(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        if self.per_connection > 1 {
            Some(self.opening.lock().await)
        } else {
            None
        }
    }

    /// Adds a connection just opened, leased to the operation that opened it.
    pub fn add(&self, ldap: Ldap, server: usize) -> Lease {
        let mut slots = self.slots();
        let id = slots.next_id;
        slots.next_id += 1;
        slots.conns.push(Pooled {
            id,
            ldap: ldap.clone(),
            server,
            in_flight: 1,
            since: Instant::now(),
        });
        Lease { ldap, server, id }
    }

    /// The operation is over and its connection fine.
    pub fn release(&self, mut lease: Lease) {
        let closed = lease.ldap.is_closed();
        let mut slots = self.slots();
        if let Some(at) = slots.conns.iter().position(|c| c.id == lease.id) {
            if closed {
                slots.conns.swap_remove(at);
            } else {
                let c = &mut slots.conns[at];
                c.in_flight = c.in_flight.saturating_sub(1);
                c.since = Instant::now();
            }
        }
    }

    /// The connection failed on the wire: nobody gets it again (operations still running on it
    /// fail on their own).
    pub fn discard(&self, lease: Lease) {
        self.slots().conns.retain(|c| c.id != lease.id);
    }

    /// Drops every connection to `server`.
    pub fn forget_server(&self, server: usize) {
        self.slots().conns.retain(|c| c.server != server);
    }

    /// Connections held now.
    pub fn connections(&self) -> usize {
        self.slots().conns.len()
    }
}
