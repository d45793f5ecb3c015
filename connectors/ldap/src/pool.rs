//! Connections to the directory: servers tried in order with a back-off for unreachable ones, and
//! two bounded pools of persistent connections — one bound as the service account, whose
//! connections each carry several searches at a time, one for user binds, one at a time (a user
//! bind changes a connection's identity, so the two never mix).
//!
//! An operation that fails on the wire (connection reset, timeout) is retried on another
//! connection, after the dead server's idle connections are dropped; a server that cannot be
//! connected to, or times out, is skipped for `backoff`. So a server dying under load costs at
//! most a retry to the logins in flight on it.

use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use gatehouse_core::Secret;
use ldap3::adapters::{Adapter, EntriesOnly, PagedResults};
use ldap3::{
    Ldap, LdapConnAsync, LdapConnSettings, LdapError, ResultEntry, SearchOptions, StdStream,
};
use rustls::ClientConfig;

use crate::connection_pool::{ConnectionPool, Lease};
use crate::entry::Entry;
use crate::error::DirectoryError;
use crate::settings::Scope;

/// Result codes a search may end with and still be answered.
const SUCCESS: u32 = 0;
const SIZE_LIMIT_EXCEEDED: u32 = 4;
const NO_SUCH_OBJECT: u32 = 32;

/// 1 after a connection to the server succeeded, 0 once it is backed off (Prometheus gauge).
const SERVER_UP: &str = "gatehouse_ldap_server_up";

struct Server {
    url: String,
    ldaps: bool,
    down_until: Mutex<Option<Instant>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Search,
    Bind,
}

/// One operation, described rather than passed as a closure so its future stays `Send`.
pub enum Op<'a> {
    Search {
        base: &'a str,
        scope: Scope,
        filter: &'a str,
        attrs: &'a [String],
        /// Stop after this many entries (0: the server's limit).
        size_limit: i32,
        /// RFC 2696 page size; 0 for one plain search.
        page_size: u32,
    },
    Bind {
        dn: &'a str,
        password: &'a Secret,
    },
}

#[derive(Debug)]
pub enum Answer {
    /// The entries found; `truncated` when the size limit cut the result short.
    Entries {
        entries: Vec<Entry>,
        truncated: bool,
    },
    /// A bind's result code and diagnostic text (AD puts its sub-code there).
    Bind { code: u32, text: String },
}

enum Failure {
    /// Nothing usable came back: try another connection or server.
    Wire { why: String, timed_out: bool },
    /// The server answered with an error; its connection is fine.
    Answered(DirectoryError),
}

pub struct Directory {
    servers: Vec<Server>,
    tls: Option<Arc<ClientConfig>>,
    start_tls: bool,
    timeout: Duration,
    backoff: Duration,
    service: Option<(String, Secret)>,
    search: ConnectionPool,
    bind: ConnectionPool,
}

pub struct DirectoryConfig {
    pub urls: Vec<String>,
    pub tls: Option<Arc<ClientConfig>>,
    pub start_tls: bool,
    pub timeout: Duration,
    pub backoff: Duration,
    pub service: Option<(String, Secret)>,
    pub max_size: usize,
    /// Searches one service connection carries at a time.
    pub searches_per_connection: usize,
    pub idle_timeout: Duration,
}

impl Directory {
    pub fn new(c: DirectoryConfig) -> Self {
        Self {
            servers: c
                .urls
                .into_iter()
                .map(|url| Server {
                    ldaps: url.starts_with("ldaps://"),
                    url,
                    down_until: Mutex::new(None),
                })
                .collect(),
            tls: c.tls,
            start_tls: c.start_tls,
            timeout: c.timeout,
            backoff: c.backoff,
            service: c.service,
            search: ConnectionPool::new(c.max_size, c.searches_per_connection, c.idle_timeout),
            bind: ConnectionPool::new(c.max_size, 1, c.idle_timeout),
        }
    }

    fn pool(&self, purpose: Purpose) -> &ConnectionPool {
        match purpose {
            Purpose::Search => &self.search,
            Purpose::Bind => &self.bind,
        }
    }

    /// Runs `op` on a pooled connection, failing over as the module documentation says.
    pub async fn run(&self, purpose: Purpose, op: &Op<'_>) -> Result<Answer, DirectoryError> {
        let pool = self.pool(purpose);
        let Some(_permit) = pool.permit(self.timeout).await else {
            return Err(DirectoryError::Unavailable(format!(
                "all {} connections busy for {} ms (pool.max_size{})",
                pool.max_size(),
                self.timeout.as_millis(),
                match purpose {
                    Purpose::Search => format!(
                        ", {} searches each: pool.searches_per_connection",
                        pool.per_connection()
                    ),
                    Purpose::Bind => String::new(),
                }
            )));
        };
        // Each server may cost a stale pooled connection and a fresh one.
        let attempts = 2 * self.servers.len() + 1;
        let mut last = String::from("no attempt made");
        for _ in 0..attempts {
            let mut lease = match pool.lease() {
                Some(lease) => lease,
                // Boxed: opening (TCP, TLS, the service bind) is rare and its state machine large;
                // inline, it would grow every operation's future, which each login allocates
                // and copies.
                None => Box::pin(self.open(pool, purpose)).await?,
            };
            match execute(&mut lease.ldap, op, self.timeout).await {
                Ok(answer) => {
                    pool.release(lease);
                    return Ok(answer);
                }
                Err(Failure::Answered(e)) => {
                    pool.release(lease);
                    return Err(e);
                }
                Err(Failure::Wire { why, timed_out }) => {
                    let server = lease.server;
                    let url = &self.servers[server].url;
                    tracing::warn!(server = %url, error = %why, "directory connection failed; retrying elsewhere");
                    pool.discard(lease);
                    pool.forget_server(server);
                    if timed_out {
                        self.mark_down(server);
                    }
                    last = format!("{url}: {why}");
                }
            }
        }
        Err(DirectoryError::Unavailable(last))
    }

    fn mark_down(&self, server: usize) {
        let s = &self.servers[server];
        *s.down_until.lock().unwrap_or_else(|e| e.into_inner()) =
            Some(Instant::now() + self.backoff);
        metrics::gauge!(SERVER_UP, "url" => s.url.clone()).set(0.0);
        self.search.forget_server(server);
        self.bind.forget_server(server);
        tracing::warn!(server = %s.url, backoff_s = self.backoff.as_secs(), "directory server unreachable; skipping it for a while");
    }

    fn is_down(&self, server: usize) -> bool {
        let mut until = self.servers[server]
            .down_until
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        match *until {
            Some(t) if t > Instant::now() => true,
            Some(_) => {
                *until = None;
                false
            }
            None => false,
        }
    }

    /// A connection for one operation when the pool had none to lease: a shared pool opens one at
    /// a time and leases again first, since the one opened meanwhile may have room.
    async fn open(&self, pool: &ConnectionPool, purpose: Purpose) -> Result<Lease, DirectoryError> {
        let opening = pool.opening().await;
        if opening.is_some()
            && let Some(lease) = pool.lease()
        {
            return Ok(lease);
        }
        let (ldap, server) = self.connect_any(purpose).await?;
        let lease = pool.add(ldap, server);
        drop(opening);
        Ok(lease)
    }

    /// Connections held now: (searching, binding).
    pub fn connections(&self) -> (usize, usize) {
        (self.search.connections(), self.bind.connections())
    }

    /// A new connection to the first server in order that is not backed off.
    async fn connect_any(&self, purpose: Purpose) -> Result<(Ldap, usize), DirectoryError> {
        let mut last = None;
        for server in 0..self.servers.len() {
            if self.is_down(server) {
                continue;
            }
            match self.connect(server, purpose).await {
                Ok(ldap) => return Ok((ldap, server)),
                Err(why) => {
                    let url = &self.servers[server].url;
                    tracing::warn!(server = %url, error = %why, "cannot connect to directory server");
                    self.mark_down(server);
                    last = Some(format!("{url}: {why}"));
                }
            }
        }
        Err(DirectoryError::Unavailable(match last {
            Some(why) => format!("no directory server answered (last: {why})"),
            None => format!(
                "every directory server is backed off after failing (retried after {} s)",
                self.backoff.as_secs()
            ),
        }))
    }

    async fn connect(&self, server: usize, purpose: Purpose) -> Result<Ldap, String> {
        let s = &self.servers[server];
        let started = Instant::now();
        let tcp = self.tcp(&s.url).await?;
        // One `timeout_ms` for the whole connection, TCP and TLS together, as ldap3 alone gave.
        let mut settings = LdapConnSettings::new()
            .set_conn_timeout(self.timeout.saturating_sub(started.elapsed()))
            .set_std_stream(StdStream::Tcp(tcp));
        if let Some(tls) = &self.tls
            && (s.ldaps || self.start_tls)
        {
            settings = settings.set_config(tls.clone());
        }
        if self.start_tls && !s.ldaps {
            settings = settings.set_starttls(true);
        }
        let (conn, mut ldap) = LdapConnAsync::with_settings(settings, &s.url)
            .await
            .map_err(|e| describe(&e))?;
        tokio::spawn(async move {
            if let Err(e) = conn.drive().await {
                tracing::debug!(error = %e, "directory connection ended");
            }
        });
        if purpose == Purpose::Search
            && let Some((dn, password)) = &self.service
        {
            let result = ldap
                .with_timeout(self.timeout)
                .simple_bind(dn, password.expose())
                .await
                .map_err(|e| describe(&e))?;
            if result.rc != SUCCESS {
                tracing::error!(server = %s.url, code = result.rc,
                    "the directory refused the service account (bind_dn / bind_password)");
                return Err(format!(
                    "service account bind refused (result code {})",
                    result.rc
                ));
            }
        }
        metrics::gauge!(SERVER_UP, "url" => s.url.clone()).set(1.0);
        Ok(ldap)
    }

    /// The TCP connection under an LDAP one, with Nagle's algorithm off: a search written while
    /// an earlier one on the same connection is unanswered must go out at once, not wait for the
    /// server's acknowledgement of the first (ldap3 leaves the socket's default).
    async fn tcp(&self, url: &str) -> Result<std::net::TcpStream, String> {
        let parsed = url::Url::parse(url).map_err(|e| format!("{url}: {e}"))?;
        let host = parsed
            .host_str()
            .filter(|h| !h.is_empty())
            .unwrap_or("localhost");
        let port = parsed
            .port()
            .unwrap_or(if parsed.scheme() == "ldaps" { 636 } else { 389 });
        let stream = tokio::time::timeout(
            self.timeout,
            tokio::net::TcpStream::connect(format!("{host}:{port}")),
        )
        .await
        .map_err(|_| "timed out".to_owned())?
        .map_err(|e| e.to_string())?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        stream.into_std().map_err(|e| e.to_string())
    }
}

fn describe(e: &LdapError) -> String {
    e.to_string()
}

fn wire(e: LdapError) -> Failure {
    match e {
        LdapError::Timeout { .. } => Failure::Wire {
            why: "timed out".into(),
            timed_out: true,
        },
        LdapError::Io { .. }
        | LdapError::OpSend { .. }
        | LdapError::ResultRecv { .. }
        | LdapError::IdScrubSend { .. }
        | LdapError::EndOfStream => Failure::Wire {
            why: describe(&e),
            timed_out: false,
        },
        other => Failure::Answered(DirectoryError::Operation {
            operation: "request",
            code: 0,
            text: describe(&other),
        }),
    }
}

fn ldap_scope(scope: Scope) -> ldap3::Scope {
    match scope {
        Scope::Sub => ldap3::Scope::Subtree,
        Scope::One => ldap3::Scope::OneLevel,
        Scope::Base => ldap3::Scope::Base,
    }
}

async fn execute(ldap: &mut Ldap, op: &Op<'_>, timeout: Duration) -> Result<Answer, Failure> {
    match *op {
        Op::Bind { dn, password } => {
            let r = ldap
                .with_timeout(timeout)
                .simple_bind(dn, password.expose())
                .await
                .map_err(wire)?;
            Ok(Answer::Bind {
                code: r.rc,
                text: r.text,
            })
        }
        Op::Search {
            base,
            scope,
            filter,
            attrs,
            size_limit,
            page_size,
        } => {
            let (raw, result) = if page_size == 0 {
                let r = ldap
                    .with_timeout(timeout)
                    .with_search_options(SearchOptions::new().sizelimit(size_limit))
                    .search(base, ldap_scope(scope), filter, attrs.to_vec())
                    .await
                    .map_err(wire)?;
                (r.0, r.1)
            } else {
                // Boxed for the same reason as `open`: only group searches page.
                Box::pin(paged(
                    ldap, base, scope, filter, attrs, size_limit, page_size, timeout,
                ))
                .await?
            };
            match result.rc {
                SUCCESS | SIZE_LIMIT_EXCEEDED => {}
                NO_SUCH_OBJECT => {
                    tracing::warn!(
                        base,
                        "search base does not exist in the directory (base_dn)"
                    );
                }
                code => {
                    return Err(Failure::Answered(DirectoryError::Operation {
                        operation: "search",
                        code,
                        text: result.text,
                    }));
                }
            }
            let entries = raw.into_iter().filter_map(Entry::parse).collect();
            Ok(Answer::Entries {
                entries,
                truncated: result.rc == SIZE_LIMIT_EXCEEDED,
            })
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn paged(
    ldap: &mut Ldap,
    base: &str,
    scope: Scope,
    filter: &str,
    attrs: &[String],
    size_limit: i32,
    page_size: u32,
    timeout: Duration,
) -> Result<(Vec<ResultEntry>, ldap3::LdapResult), Failure> {
    let adapters: Vec<Box<dyn Adapter<String, Vec<String>>>> = vec![
        Box::new(EntriesOnly::new()),
        Box::new(PagedResults::new(
            i32::try_from(page_size).unwrap_or(i32::MAX),
        )),
    ];
    let mut stream = ldap
        .with_timeout(timeout)
        .with_search_options(SearchOptions::new().sizelimit(size_limit))
        .streaming_search_with(adapters, base, ldap_scope(scope), filter, attrs.to_vec())
        .await
        .map_err(wire)?;
    let mut entries = Vec::new();
    while let Some(entry) = stream.next().await.map_err(wire)? {
        entries.push(entry);
    }
    let result = stream.finish().await;
    Ok((entries, result))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn directory_connections_go_out_with_nagle_off() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("ldap://{}", listener.local_addr().unwrap());
        let second = Duration::from_secs(1);
        let directory = Directory::new(DirectoryConfig {
            urls: vec![url.clone()],
            tls: None,
            start_tls: false,
            timeout: second,
            backoff: second,
            service: None,
            max_size: 1,
            searches_per_connection: 4,
            idle_timeout: second,
        });
        let stream = directory.tcp(&url).await.unwrap();
        assert!(stream.nodelay().unwrap(), "TCP_NODELAY is set");
        assert_eq!(stream.peer_addr().unwrap(), listener.local_addr().unwrap());
    }
}
