//! The one free-port helper of the workspace's tests and benches; the ldap connector's tests and
//! the client_credentials bench include this file by path.

/// A loopback port that was free a moment ago: for a server a test starts on it, or for an
/// address where nothing listens (connections refused).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
