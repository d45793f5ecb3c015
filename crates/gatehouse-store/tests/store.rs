//! Opening, migrating and the guarantees of the connection itself.

mod common;

use common::{REALM, new_account};
use gatehouse_store::{Store, StoreError, store_test};
use sea_orm::{ConnectionTrait, DbBackend, Statement, TransactionTrait};

async fn pragma(db: &impl ConnectionTrait, name: &str) -> String {
    let row = db
        .query_one_raw(Statement::from_string(
            DbBackend::Sqlite,
            format!("PRAGMA {name}"),
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by::<String, _>(0)
        .or_else(|_| row.try_get_by::<i64, _>(0).map(|n| n.to_string()))
        .unwrap()
}

store_test!(migrations_are_idempotent, |store| async move {
    store
        .create_account(new_account("alice", None))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    store.migrate().await.unwrap();
    assert!(store.find_account(REALM, "alice").await.unwrap().is_some());
    store.ping().await.unwrap();
});

store_test!(concurrent_migrations_take_turns, |store| async move {
    let other = Store::connect(&store.url()).await.unwrap();
    let (a, b) = tokio::join!(store.migrate(), other.migrate());
    a.unwrap();
    b.unwrap();
});

store_test!(the_url_reaches_the_same_database, |store| async move {
    store
        .create_account(new_account("alice", None))
        .await
        .unwrap();
    let again = Store::connect(&store.url()).await.unwrap();
    assert_eq!(again.backend_name(), store.backend_name());
    assert!(again.find_account(REALM, "alice").await.unwrap().is_some());
    if let Some(schema) = store.schema() {
        assert!(store.url().contains(schema));
        assert_eq!(store.backend_name(), "postgres");
    } else {
        assert_eq!(store.backend_name(), "sqlite");
    }
});

store_test!(corrupt_rows_are_errors_not_panics, |store| async move {
    use gatehouse_store::entities::{account, link};
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};

    store
        .create_account(new_account("alice", None))
        .await
        .unwrap();
    account::Entity::update_many()
        .col_expr(account::Column::Roles, Expr::value("not json"))
        .filter(account::Column::UsernameKey.eq("alice"))
        .exec(store.connection())
        .await
        .unwrap();
    let err = store.find_account(REALM, "alice").await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    assert_eq!(err.kind(), gatehouse_store::ErrorKind::Corrupt);
    assert!(err.to_string().contains("corrupt roles"), "{err}");

    // Ids are text on both backends; a mangled one is reported, not unwrapped.
    let bob = store
        .create_account(new_account("bob", None))
        .await
        .unwrap();
    store
        .upsert_link(bob.id, common::db_link("$h"))
        .await
        .unwrap();
    link::Entity::update_many()
        .col_expr(link::Column::Id, Expr::value("not-a-uuid"))
        .exec(store.connection())
        .await
        .unwrap();
    let err = store.find_account(REALM, "bob").await.unwrap_err();
    assert!(err.to_string().contains("UUID"), "{err}");
    assert!(store.list_accounts(REALM).await.is_err());
});

#[tokio::test]
async fn sqlite_file_is_created_in_wal_mode_with_pragmas_on_every_connection() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.db");
    assert!(!path.exists());
    let store = Store::connect(&format!("sqlite://{}?mode=rwc", path.display()))
        .await
        .unwrap();
    assert!(path.exists(), "created on first connect");
    store.migrate().await.unwrap();

    // Hold several transactions at once so each runs on a different pooled connection.
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(store.connection().begin().await.unwrap());
    }
    for txn in &held {
        assert_eq!(pragma(txn, "journal_mode").await, "wal");
        assert_eq!(pragma(txn, "foreign_keys").await, "1");
        assert_eq!(pragma(txn, "busy_timeout").await, "5000");
    }
}

#[tokio::test]
async fn sqlite_without_create_mode_does_not_invent_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing.db");
    let err = Store::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Connect(_)), "{err:?}");
    assert!(!path.exists());
}

#[tokio::test]
async fn in_memory_sqlite_works() {
    let store = Store::connect("sqlite::memory:").await.unwrap();
    store.migrate().await.unwrap();
    store
        .create_account(new_account("alice", None))
        .await
        .unwrap();
    assert!(store.find_account(REALM, "alice").await.unwrap().is_some());
}

#[tokio::test]
async fn unknown_schemes_are_named_and_passwords_hidden() {
    let err = Store::connect("mysql://root:hunter2@db/gatehouse")
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, StoreError::Connect(_)));
    assert!(
        msg.contains("`mysql`") && msg.contains("sqlite://") && msg.contains("postgres://"),
        "{msg}"
    );
    assert!(!msg.contains("hunter2"), "{msg}");

    let err = Store::connect("gatehouse.db").await.unwrap_err();
    assert!(err.to_string().contains("unsupported"), "{err}");
}

#[tokio::test]
async fn connection_errors_hide_the_password() {
    let pg = std::env::var("GATEHOUSE_TEST_PG_URL")
        .unwrap_or_else(|_| gatehouse_store::testing::DEFAULT_PG_URL.to_owned());
    let Some((_, host_and_db)) = pg.split_once('@') else {
        panic!("the test PostgreSQL URL has no user: {pg}");
    };
    let host = host_and_db.split('/').next().unwrap_or_default().to_owned();
    // A database that does not exist fails at once (a refused connection is retried for 10 s).
    let err = Store::connect(&format!(
        "postgres://postgres:topsecret@{host}/no_such_db_here"
    ))
    .await
    .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, StoreError::Connect(_)), "{err:?}");
    assert!(msg.contains(&host) && msg.contains("***"), "{msg}");
    assert!(!msg.contains("topsecret"), "{msg}");
}

#[tokio::test]
async fn schemas_are_postgres_only_and_plain_identifiers() {
    let err = Store::connect_in_schema("sqlite::memory:", "t_x")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("PostgreSQL"), "{err}");
    let err = Store::connect_in_schema("postgres://u@127.0.0.1:1/db", "x\"; drop")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("invalid schema"), "{err}");
}
