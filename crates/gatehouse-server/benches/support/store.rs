//! The store a bench runs on: a fresh SQLite file (the default), or with
//! `GATEHOUSE_BENCH_STORE=postgres` a fresh schema on the PostgreSQL server of
//! `GATEHOUSE_TEST_PG_URL` (default `postgres://postgres@127.0.0.1:5432/test`), dropped at the end.
//! Either way migrated, and empty: a rerun never meets the accounts of the last one.

use gatehouse_server::{Config, Gatehouse};
use gatehouse_store::testing::{TestStore, postgres_store, sqlite_store};

/// `sqlite` or `postgres`, as `GATEHOUSE_BENCH_STORE` says; anything else is refused by name.
pub fn backend() -> &'static str {
    match std::env::var("GATEHOUSE_BENCH_STORE").as_deref() {
        Ok("postgres") => "postgres",
        Ok("sqlite") | Err(_) => "sqlite",
        Ok(other) => panic!("GATEHOUSE_BENCH_STORE: `{other}` is not `sqlite` or `postgres`"),
    }
}

/// A new, migrated store of the [`backend`].
pub async fn fresh() -> TestStore {
    match backend() {
        "postgres" => postgres_store().await,
        _ => sqlite_store().await,
    }
}

/// Gatehouse on `db` with realm `main` of one database provider, `local`.
pub async fn database_realm(db: &TestStore) -> Gatehouse {
    let text = format!(
        "[store]\nurl = \"{}\"\n[realms.main]\nchain = [\"local\"]\n[[realms.main.providers]]\nid = \"local\"\nkind = \"database\"\n",
        db.url()
    );
    let config = Config::from_toml(&text, "bench", Vec::new()).expect("config");
    Gatehouse::with_store(config, db.store().clone())
        .await
        .expect("gatehouse")
}
