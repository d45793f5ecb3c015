//! Test harness: every store test runs on SQLite and on PostgreSQL, each in a database of its own.
//!
//! ```ignore
//! // In another crate's tests (dev-dependencies: gatehouse-store with feature `testing`, tokio):
//! gatehouse_store::store_test!(finds_accounts, |store| async move {
//!     let _ = store.list_accounts("main").await.unwrap();
//!     let url = store.url(); // for a child process: `Store::connect(&url)` reaches the same data
//! });
//! ```
//!
//! PostgreSQL comes from `GATEHOUSE_TEST_PG_URL` (default [`DEFAULT_PG_URL`]); each test gets a
//! fresh schema `t_<random>`, dropped when the [`TestStore`] is (set `GATEHOUSE_TEST_KEEP_SCHEMA`
//! to keep it for a post-mortem). An unreachable server fails the test: it is never skipped.

use std::future::Future;
use std::ops::Deref;

use sea_orm::ConnectionTrait;
use tempfile::TempDir;

use crate::Store;
use crate::url::{SCHEMA_PARAM, redact};

pub const PG_URL_ENV: &str = "GATEHOUSE_TEST_PG_URL";
pub const DEFAULT_PG_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
const KEEP_SCHEMA_ENV: &str = "GATEHOUSE_TEST_KEEP_SCHEMA";

/// A migrated store for one test; derefs to [`Store`].
pub struct TestStore {
    store: Store,
    url: String,
    schema: Option<String>,
    pg_base_url: Option<String>,
    // Declared last: dropped after the pool, so the SQLite file outlives its connections.
    _dir: Option<TempDir>,
}

impl TestStore {
    /// A URL [`Store::connect`] opens onto this very database (for PostgreSQL it carries the
    /// `gatehouse_schema` parameter), e.g. to hand to a CLI under test.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// The PostgreSQL schema of this test; `None` on SQLite.
    pub fn schema(&self) -> Option<&str> {
        self.schema.as_deref()
    }

    pub fn store(&self) -> &Store {
        &self.store
    }
}

impl Deref for TestStore {
    type Target = Store;

    fn deref(&self) -> &Store {
        &self.store
    }
}

impl Drop for TestStore {
    fn drop(&mut self) {
        let (Some(base), Some(schema)) = (self.pg_base_url.take(), self.schema.clone()) else {
            return;
        };
        if std::env::var_os(KEEP_SCHEMA_ENV).is_some() {
            eprintln!("keeping PostgreSQL schema {schema}");
            return;
        }
        // Drop cannot await, and may run inside the test's runtime: clean up on a thread with a
        // runtime of its own. Best effort; a leftover schema only costs disk.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                if let Ok(store) = Store::connect(&base).await {
                    let _ = store
                        .connection()
                        .execute_unprepared(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
                        .await;
                    let _ = store.close().await;
                }
            });
        })
        .join();
    }
}

/// A fresh SQLite file in a temporary directory, migrated.
pub async fn sqlite_store() -> TestStore {
    let dir = tempfile::Builder::new()
        .prefix("gatehouse-store-")
        .tempdir()
        .unwrap_or_else(|e| panic!("cannot create a temporary directory: {e}"));
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("gatehouse.db").display()
    );
    let store = Store::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("cannot open the test SQLite store: {e}"));
    store
        .migrate()
        .await
        .unwrap_or_else(|e| panic!("cannot migrate the test SQLite store: {e}"));
    TestStore {
        store,
        url,
        schema: None,
        pg_base_url: None,
        _dir: Some(dir),
    }
}

/// A fresh schema on the test PostgreSQL server, migrated. Panics when the server is unreachable.
pub async fn postgres_store() -> TestStore {
    let base = std::env::var(PG_URL_ENV).unwrap_or_else(|_| DEFAULT_PG_URL.to_owned());
    postgres_store_at(&base).await
}

/// A fresh schema on the PostgreSQL server at `base` (say, one a test starts and stops itself),
/// migrated.
pub async fn postgres_store_at(base: &str) -> TestStore {
    let base = base.to_owned();
    let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
    let store = match Store::connect_in_schema(&base, &schema).await {
        Ok(store) => store,
        Err(e) => panic!(
            "PostgreSQL for the store tests is unreachable at {}: {e}\n\
             run the suite with tests/run, which starts a throwaway server \
             (or point {PG_URL_ENV} at one)",
            redact(&base)
        ),
    };
    store
        .migrate()
        .await
        .unwrap_or_else(|e| panic!("cannot migrate the test PostgreSQL schema {schema}: {e}"));
    let separator = if base.contains('?') { '&' } else { '?' };
    TestStore {
        store,
        url: format!("{base}{separator}{SCHEMA_PARAM}={schema}"),
        schema: Some(schema),
        pg_base_url: Some(base),
        _dir: None,
    }
}

/// Used by [`store_test!`](crate::store_test): the bound gives the closure its argument type.
#[doc(hidden)]
pub async fn run<F, Fut>(store: TestStore, body: F)
where
    F: FnOnce(TestStore) -> Fut,
    Fut: Future<Output = ()>,
{
    body(store).await;
}

/// Defines a test that runs twice, on SQLite and on PostgreSQL: a module `$name` with the tests
/// `sqlite` and `postgres`, each calling the body with its own migrated [`TestStore`].
///
/// ```ignore
/// gatehouse_store::store_test!(creates_accounts, |store| async move {
///     store.create_account(new_account).await.unwrap();
/// });
/// ```
///
/// The calling crate needs `tokio` (with the multi-threaded runtime) among its dependencies.
#[macro_export]
macro_rules! store_test {
    ($name:ident, $body:expr $(,)?) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                $crate::testing::run($crate::testing::sqlite_store().await, $body).await;
            }

            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                $crate::testing::run($crate::testing::postgres_store().await, $body).await;
            }
        }
    };
}
