//! Files at rest and the configuration's paths: relative paths are the configuration file's, not
//! the working directory's; the SQLite store (with its `-wal`/`-shm`) and the key file are created
//! mode 0600; writing commands name the store they wrote; the break-glass administrator's
//! password has at least 12 characters.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{Env, Server};
use gatehouse_store::testing::sqlite_store;

const REALM: &str = r#"
[realms.main]
chain = ["local"]
[[realms.main.providers]]
id = "local"
kind = "database"
"#;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// `gatehouse.toml` in `conf/` of a fresh folder, with every path relative; commands run from
/// the folder above it.
async fn relative_env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("conf")).unwrap();
    let config = dir.path().join("conf/gatehouse.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\npublic_url = \"http://127.0.0.1\"\n\
             [store]\nurl = \"sqlite://data/gatehouse.db?mode=rwc\"\n\
             [keys]\nencryption_key_file = \"gatehouse.key\"\n{REALM}"
        ),
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("conf/data")).unwrap();
    // The harness's own store is not used: the configuration names its own.
    Env {
        dir,
        config,
        store: sqlite_store().await,
    }
}

#[tokio::test]
async fn relative_paths_follow_the_config_file_and_the_store_is_owner_only() {
    let env = relative_env().await;
    let conf = env.dir.path().join("conf");
    let db = conf.join("data/gatehouse.db");

    let out = env.ok(&["migrate"], "");
    let expected = format!("store: sqlite://{}?mode=rwc (created now)", db.display());
    assert!(out.contains(&expected), "{out}\nexpected: {expected}");
    assert!(
        !env.dir.path().join("data").exists() && !env.dir.path().join("gatehouse.key").exists(),
        "a store or key file was created in the working directory"
    );
    assert_eq!(mode(&db), 0o600, "the SQLite database");
    assert_eq!(mode(&conf.join("gatehouse.key")), 0o600, "the key file");

    // A second command writes to the same store, and says so (not "created now").
    let out = env.ok(&["user", "add", "--realm", "main", "bob"], "");
    assert!(
        out.contains(&format!("store: sqlite://{}?mode=rwc\n", db.display())),
        "{out}"
    );
    let listed = env.ok(&["user", "list", "--realm", "main"], "");
    assert!(listed.contains("bob"), "{listed}");
    assert!(
        !listed.contains("store: "),
        "a read names no store: {listed}"
    );

    // While serving, SQLite's -wal and -shm files exist, with the database's mode.
    let server = Server::start(&env).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let (wal, shm) = (
        conf.join("data/gatehouse.db-wal"),
        conf.join("data/gatehouse.db-shm"),
    );
    while !(wal.exists() && shm.exists()) {
        assert!(
            Instant::now() < deadline,
            "no -wal/-shm beside the database"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(mode(&wal), 0o600, "the -wal file");
    assert_eq!(mode(&shm), 0o600, "the -shm file");
    drop(server);
}

#[tokio::test]
async fn admin_bootstrap_refuses_a_password_shorter_than_12_characters() {
    let env = relative_env().await;
    // Eleven characters in fifteen bytes: the rule counts characters.
    let short = "ünïcödé-pw1";
    let run = env.run(
        &["admin", "bootstrap", "--realm", "main", "root"],
        &format!("{short}\n"),
    );
    assert_eq!(run.code(), 1, "{}", run.all());
    assert!(
        run.stderr().contains("at least 12 characters"),
        "{}",
        run.all()
    );
    assert!(
        !run.all().contains(short),
        "the password was echoed: {}",
        run.all()
    );
    let shown = env.run(&["user", "show", "--realm", "main", "root"], "");
    assert_ne!(shown.code(), 0, "the refused bootstrap created the account");

    let out = env.ok(
        &["admin", "bootstrap", "--realm", "main", "root"],
        "ünïcödé-Pw12\n",
    );
    assert!(out.contains("break-glass administrator root"), "{out}");
    assert!(out.contains("store: sqlite://"), "{out}");
    let login = env.run(&["login", "--realm", "main", "root"], "ünïcödé-Pw12\n");
    assert_eq!(login.code(), 0, "{}", login.all());
}
