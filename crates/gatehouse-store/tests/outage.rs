//! An SQLite store that cannot write (its file locked by another process, its disk full) fails
//! the write as unavailable (a 503 for the server), fast, and is intact and writable afterwards.
//! PostgreSQL outages are tested end to end (crates/gatehouse-cli/tests/store_outage.rs).

mod common;

use std::time::{Duration, Instant};

use common::{REALM, new_account};
use gatehouse_store::{ErrorKind, PoolSettings, Store};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DbBackend, Statement};

async fn integrity(db: &impl ConnectionTrait) -> String {
    let row = db
        .query_one_raw(Statement::from_string(
            DbBackend::Sqlite,
            "PRAGMA integrity_check",
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by::<String, _>(0).unwrap()
}

async fn sqlite(dir: &tempfile::TempDir, settings: &PoolSettings) -> (Store, String) {
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("gatehouse.db").display()
    );
    let store = Store::connect_with(&url, settings).await.unwrap();
    store.migrate().await.unwrap();
    (store, url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_sqlite_file_fails_writes_as_unavailable_within_the_busy_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let settings = PoolSettings {
        sqlite_busy_timeout: Duration::from_millis(300),
        ..PoolSettings::default()
    };
    let (store, url) = sqlite(&dir, &settings).await;
    store
        .create_account(new_account("alice", None))
        .await
        .unwrap();

    // Another program holding the write lock: a connection of its own in an open transaction.
    let mut options = ConnectOptions::new(url);
    options.max_connections(1).sqlx_logging(false);
    let other = Database::connect(options).await.unwrap();
    other.execute_unprepared("BEGIN EXCLUSIVE").await.unwrap();

    let started = Instant::now();
    let err = store
        .create_account(new_account("bob", None))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
    // Reads go on beside the lock (WAL).
    assert!(store.find_account(REALM, "alice").await.unwrap().is_some());

    other.execute_unprepared("ROLLBACK").await.unwrap();
    store
        .create_account(new_account("bob", None))
        .await
        .unwrap();
    assert_eq!(integrity(store.connection()).await, "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_sqlite_database_fails_writes_as_unavailable_and_stays_intact() {
    let dir = tempfile::tempdir().unwrap();
    // One pooled connection, so the size limit below applies to every statement of the test.
    let settings = PoolSettings {
        max_connections: Some(1),
        ..PoolSettings::default()
    };
    let (store, _) = sqlite(&dir, &settings).await;
    store
        .create_account(new_account("alice", None))
        .await
        .unwrap();
    // SQLite answers a database that may not grow exactly as it answers a full disk
    // (SQLITE_FULL, "database or disk is full"); a tmpfs to fill would need a mount.
    let db = store.connection();
    db.execute_unprepared("PRAGMA max_page_count = 1")
        .await
        .unwrap();

    let mut failed = None;
    for i in 0..200 {
        let name = format!("user{i}-{}", "x".repeat(200));
        if let Err(e) = store.create_account(new_account(&name, None)).await {
            failed = Some(e);
            break;
        }
    }
    let err = failed.expect("the database grew past its limit");
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err:?}");
    assert!(err.to_string().contains("full"), "{err}");

    // Room again (the disk freed): intact, and writes succeed.
    db.execute_unprepared("PRAGMA max_page_count = 1073741823")
        .await
        .unwrap();
    assert_eq!(integrity(db).await, "ok");
    store
        .create_account(new_account("bob", None))
        .await
        .unwrap();
    assert!(store.find_account(REALM, "alice").await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_postgres_fails_within_the_acquire_timeout() {
    // Nothing listens on port 1: the connection is refused, and retried until the timeout.
    let settings = PoolSettings {
        acquire_timeout: Duration::from_millis(400),
        ..PoolSettings::default()
    };
    let started = Instant::now();
    let err = Store::connect_with("postgres://gatehouse@127.0.0.1:1/none", &settings)
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "took {:?}",
        started.elapsed()
    );
    assert!(err.to_string().contains("400 ms"), "{err}");
}
