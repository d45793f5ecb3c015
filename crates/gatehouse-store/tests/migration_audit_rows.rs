//! Migration 000009 on an SQLite file of the previous version: login events kept as batches
//! (text and zlib) and in a spool file left by a process that died become `audit_event` rows;
//! the tables and the replayed spool go.

use std::io::Write;

use flate2::Compression;
use flate2::write::ZlibEncoder;
use gatehouse_store::{Migrator, Store};
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use sea_orm_migration::MigratorTrait;

fn line(login: &str, second: u32, success: bool) -> String {
    format!(
        "{{\"realm\":\"main\",\"login\":\"{login}\",\"account_id\":null,\"success\":{success},\
         \"result\":\"{}\",\"attempts\":[{{\"provider\":\"corp\",\"outcome\":\"rejected\",\
         \"duration_ms\":3.0}}],\"at\":\"2026-12-01T10:00:{second:02}.123456Z\",\"redirect\":false}}\n",
        if success {
            "success"
        } else {
            "invalid_credentials"
        }
    )
}

async fn exec(store: &Store, sql: &str, values: Vec<sea_orm::Value>) {
    store
        .connection()
        .execute_raw(Statement::from_sql_and_values(
            DbBackend::Sqlite,
            sql,
            values,
        ))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_and_an_orphan_spool_become_rows() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("gatehouse.db");
    let store = Store::connect(&format!("sqlite://{}?mode=rwc", file.display()))
        .await
        .unwrap();
    // The schema of the previous version.
    Migrator::up(store.connection(), Some(8)).await.unwrap();

    // Ids 1–2 reserved by a text batch, 3 an ordinary row, 4–6 a compressed batch.
    let text: String = line("t1", 1, true) + &line("t2", 2, false);
    exec(
        &store,
        "INSERT INTO login_event_batch (realm, first_at, last_at, first_event_id, count, events) \
         VALUES ('main', '2026-12-01 10:00:01+00:00', '2026-12-01 10:00:02+00:00', 1, 2, ?)",
        vec![text.into()],
    )
    .await;
    exec(
        &store,
        "INSERT INTO audit_event (id, realm, at, kind, login, account_id, success, result, attempts) \
         VALUES (3, 'main', '2026-12-01T10:00:03+00:00', 'supersession', 'row', NULL, 1, 'restored', '[]')",
        vec![],
    )
    .await;
    let lines: String = (4..7).map(|i| line(&format!("z{i}"), i, true)).collect();
    let mut zlib = ZlibEncoder::new(Vec::new(), Compression::fast());
    zlib.write_all(lines.as_bytes()).unwrap();
    let zlib = zlib.finish().unwrap();
    exec(
        &store,
        "INSERT INTO login_event_batch \
         (realm, first_at, last_at, first_event_id, count, events, events_zlib, events_size) \
         VALUES ('main', '2026-12-01 10:00:04+00:00', '2026-12-01 10:00:06+00:00', 4, 3, '', ?, ?)",
        vec![zlib.into(), (lines.len() as i64).into()],
    )
    .await;
    exec(
        &store,
        "UPDATE sqlite_sequence SET seq = 6 WHERE name = 'audit_event'",
        vec![],
    )
    .await;
    // A spool of a process that died: two lines applied, two not, a torn one, then zeros.
    let spool = dir.path().join("gatehouse.db-logins-0000.spool");
    let mut bytes = Vec::new();
    for (i, login) in ["s1", "s2", "s3", "s4"].iter().enumerate() {
        bytes.extend(line(login, 10 + i as u32, false).into_bytes());
    }
    bytes.extend(b"{\"realm\":\"main\",\"login\":\"torn");
    bytes.resize(bytes.len() + 4096, 0);
    std::fs::write(&spool, bytes).unwrap();
    exec(
        &store,
        "INSERT INTO login_spool (name, applied) VALUES ('gatehouse.db-logins-0000.spool', 2)",
        vec![],
    )
    .await;

    store.migrate().await.unwrap();

    let events = store.recent_audit_events("main", 100).await.unwrap();
    let mut seen: Vec<(i64, String)> = events.iter().map(|e| (e.id, e.login.clone())).collect();
    seen.sort();
    let ids: Vec<i64> = seen.iter().map(|(id, _)| *id).collect();
    let logins: Vec<&str> = seen.iter().map(|(_, l)| l.as_str()).collect();
    assert_eq!(
        &ids[..6],
        [1, 2, 3, 4, 5, 6],
        "batched events keep their ids"
    );
    assert_eq!(logins, ["t1", "t2", "row", "z4", "z5", "z6", "s3", "s4"]);
    let t2 = events.iter().find(|e| e.login == "t2").unwrap();
    assert_eq!(
        (t2.kind.as_str(), t2.success, t2.result.as_str()),
        ("password_login", false, "invalid_credentials")
    );
    assert_eq!(t2.attempts[0].provider, "corp");
    assert_eq!(
        t2.at.to_rfc3339(),
        "2026-12-01T10:00:02.123456+00:00",
        "the time to the microsecond"
    );
    assert!(!spool.exists(), "the replayed spool is deleted");
    for table in ["login_event_batch", "login_spool"] {
        let left = store
            .connection()
            .query_one_raw(Statement::from_string(
                DbBackend::Sqlite,
                format!("SELECT COUNT(*) FROM sqlite_master WHERE name = '{table}'"),
            ))
            .await
            .unwrap()
            .unwrap()
            .try_get_by_index::<i64>(0)
            .unwrap();
        assert_eq!(left, 0, "{table} is dropped");
    }
    // New rows continue the sequence.
    let next = gatehouse_core::LoginRecord {
        realm: "main".into(),
        login: "next".into(),
        account_id: None,
        success: false,
        result: "invalid_credentials".into(),
        attempts: vec![],
        at: chrono::Utc::now(),
        redirect: false,
        origin: gatehouse_core::LoginOrigin {
            client: Some("wiki".into()),
            ip: Some("192.0.2.7".into()),
        },
    };
    gatehouse_core::AccountRepository::record_login(&store, &next)
        .await
        .unwrap();
    let newest = &store.recent_audit_events("main", 1).await.unwrap()[0];
    assert_eq!(newest.login, "next");
    assert!(newest.id > 8, "{}", newest.id);
    assert_eq!(
        (newest.client.as_deref(), newest.ip.as_deref()),
        (Some("wiki"), Some("192.0.2.7"))
    );
}
