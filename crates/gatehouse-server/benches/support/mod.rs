//! What the benches share: the store they run on, the servers they start on loopback, the load
//! client, and their working directory.
#![allow(dead_code, reason = "each bench uses a part")]

pub mod load_client;
pub mod serve;
pub mod store;

/// A temporary working directory for the bench, removed when the guard is dropped: the broker
/// creates its key file in the working directory, which must not be the clone.
pub fn temp_working_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::env::set_current_dir(dir.path()).expect("chdir");
    dir
}

/// Tokio's multi-threaded runtime as `gatehouse serve` builds it: a worker a core.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime")
}
