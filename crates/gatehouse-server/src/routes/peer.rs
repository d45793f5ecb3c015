//! The peer's address, for the audit trail: present when the server runs with connect info
//! (`serve`), absent when the router is driven without a socket (tests, benches).

use std::net::SocketAddr;

use axum::Extension;
use axum::extract::ConnectInfo;

/// The extractor: `None` rather than a rejection when there is no socket.
pub type Peer = Option<Extension<ConnectInfo<SocketAddr>>>;

/// The peer's IP address as text.
pub fn ip(peer: &Peer) -> Option<String> {
    peer.as_ref()
        .map(|Extension(ConnectInfo(addr))| addr.ip().to_string())
}
