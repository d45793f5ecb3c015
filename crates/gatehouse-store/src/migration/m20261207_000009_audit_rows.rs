//! The audit trail as plain rows on every backend: one `audit_event` row a login, whatever the
//! store. The logins an SQLite file kept as compressed batches (`login_event_batch`, migrations
//! 000007–000008) become rows with the ids they were given, as do the records a process left in
//! a login spool file beside the database (`<file>-logins-<uuid>.spool`, one JSON line a login)
//! beyond what `login_spool` says was applied; then those tables go. New columns: the client the
//! login was for and the peer's address. New index: an account's events, newest first.

use std::io::Read;
use std::path::{Path, PathBuf};

use chrono::{DateTime, SubsecRound, Utc};
use flate2::read::ZlibDecoder;
use sea_orm::{ConnectionTrait, DbBackend, Statement, Value};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AuditEvent {
    Table,
    Id,
    Realm,
    At,
    Kind,
    Login,
    AccountId,
    Success,
    Result,
    Attempts,
    Client,
    Ip,
}

#[derive(DeriveIden)]
enum LoginEventBatch {
    Table,
}

#[derive(DeriveIden)]
enum LoginSpool {
    Table,
}

/// Batches read at a time: each holds up to thousands of events.
const BATCHES_PER_READ: u64 = 16;
/// Rows one INSERT takes (nine values each, far under either backend's limit).
const ROWS_PER_INSERT: usize = 1000;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column a statement: SQLite's ALTER TABLE adds one at a time.
        for mut column in [string_null(AuditEvent::Client), string_null(AuditEvent::Ip)] {
            manager
                .alter_table(
                    Table::alter()
                        .table(AuditEvent::Table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("ix_audit_event_account_at")
                    .table(AuditEvent::Table)
                    .col(AuditEvent::AccountId)
                    .col(AuditEvent::At)
                    .to_owned(),
            )
            .await?;
        let unpacked = unpack_batches(manager).await?;
        let replayed = replay_spools(manager).await?;
        if unpacked > 0 && manager.get_database_backend() == DbBackend::Postgres {
            // Rows came with their ids: the sequence must move past them.
            manager
                .get_connection()
                .execute_unprepared(
                    "SELECT setval(pg_get_serial_sequence('audit_event', 'id'), \
                     (SELECT MAX(id) FROM audit_event))",
                )
                .await?;
        }
        if unpacked + replayed > 0 {
            tracing::info!(
                unpacked,
                replayed,
                "login events moved into audit_event rows"
            );
        }
        manager
            .drop_table(Table::drop().table(LoginEventBatch::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(LoginSpool::Table).to_owned())
            .await
    }

    async fn down(&self, _: &SchemaManager) -> Result<(), DbErr> {
        Err(DbErr::Migration(
            "000009 cannot be undone: the login batches and spools it unpacked are gone".into(),
        ))
    }
}

/// One audit event to insert, as a stored login record (JSON) describes it.
struct Row {
    id: Option<i64>,
    values: [Value; 8],
}

/// A login record's JSON line as a row; `id` when the trail reserved one for it.
fn row_of(line: &str, id: Option<i64>, owner: &str) -> Result<Row, DbErr> {
    let bad = |why: &str| DbErr::Migration(format!("{owner}: a login record {why}"));
    let record: serde_json::Value =
        serde_json::from_str(line).map_err(|e| bad(&format!("is not JSON ({e})")))?;
    let text = |key: &str| {
        record
            .get(key)
            .and_then(|v| v.as_str())
            .map(str::to_owned)
            .ok_or_else(|| bad(&format!("has no `{key}`")))
    };
    let at = DateTime::parse_from_rfc3339(&text("at")?)
        .map_err(|e| bad(&format!("has a bad `at` ({e})")))?
        .with_timezone(&Utc)
        .trunc_subsecs(6);
    let redirect = record.get("redirect").and_then(|v| v.as_bool()) == Some(true);
    let kind = if redirect {
        "redirect_login"
    } else {
        "password_login"
    };
    let account_id = record
        .get("account_id")
        .and_then(|v| v.as_str())
        .map(str::to_owned);
    let success = record.get("success").and_then(|v| v.as_bool()) == Some(true);
    let attempts = record
        .get("attempts")
        .cloned()
        .unwrap_or_else(|| serde_json::Value::Array(vec![]))
        .to_string();
    Ok(Row {
        id,
        values: [
            text("realm")?.into(),
            at.into(),
            kind.into(),
            text("login")?.into(),
            account_id.into(),
            success.into(),
            text("result")?.into(),
            attempts.into(),
        ],
    })
}

async fn insert(manager: &SchemaManager<'_>, rows: Vec<Row>) -> Result<(), DbErr> {
    use AuditEvent as E;
    let db = manager.get_connection();
    let columns = || {
        [
            E::Realm,
            E::At,
            E::Kind,
            E::Login,
            E::AccountId,
            E::Success,
            E::Result,
            E::Attempts,
        ]
    };
    // Rows with ids and rows without go in statements of their own (one column list each).
    let (with_ids, without): (Vec<Row>, Vec<Row>) = rows.into_iter().partition(|r| r.id.is_some());
    for chunk in with_ids.chunks(ROWS_PER_INSERT) {
        let mut insert = Query::insert();
        insert
            .into_table(E::Table)
            .columns(std::iter::once(E::Id).chain(columns()));
        for row in chunk {
            let mut values: Vec<Expr> = vec![Expr::from(row.id)];
            values.extend(row.values.iter().cloned().map(Expr::from));
            insert
                .values(values)
                .map_err(|e| DbErr::Migration(e.to_string()))?;
        }
        db.execute(&insert).await?;
    }
    for chunk in without.chunks(ROWS_PER_INSERT) {
        let mut insert = Query::insert();
        insert.into_table(E::Table).columns(columns());
        for row in chunk {
            insert
                .values(row.values.iter().cloned().map(Expr::from))
                .map_err(|e| DbErr::Migration(e.to_string()))?;
        }
        db.execute(&insert).await?;
    }
    Ok(())
}

/// Every `login_event_batch` row as `audit_event` rows; the number of events.
async fn unpack_batches(manager: &SchemaManager<'_>) -> Result<u64, DbErr> {
    let backend = manager.get_database_backend();
    let db = manager.get_connection();
    let mut after = 0i64;
    let mut unpacked = 0u64;
    loop {
        let page = db
            .query_all_raw(Statement::from_sql_and_values(
                backend,
                match backend {
                    DbBackend::Postgres => {
                        "SELECT id, first_event_id, count, events, events_zlib FROM \
                         login_event_batch WHERE id > $1 ORDER BY id LIMIT $2"
                    }
                    _ => {
                        "SELECT id, first_event_id, count, events, events_zlib FROM \
                         login_event_batch WHERE id > ? ORDER BY id LIMIT ?"
                    }
                },
                [after.into(), (BATCHES_PER_READ as i64).into()],
            ))
            .await?;
        let Some(last) = page.last() else {
            return Ok(unpacked);
        };
        after = last.try_get("", "id")?;
        let mut rows = Vec::new();
        for batch in &page {
            let id: i64 = batch.try_get("", "id")?;
            let owner = format!("login event batch {id}");
            let first: i64 = batch.try_get("", "first_event_id")?;
            let count: i32 = batch.try_get("", "count")?;
            let zlib: Option<Vec<u8>> = batch.try_get("", "events_zlib")?;
            let lines = match zlib {
                Some(compressed) => {
                    let mut lines = String::new();
                    ZlibDecoder::new(compressed.as_slice())
                        .read_to_string(&mut lines)
                        .map_err(|e| DbErr::Migration(format!("{owner}: {e}")))?;
                    lines
                }
                None => batch.try_get("", "events")?,
            };
            let before = rows.len();
            for (line, id) in lines.lines().zip(first..) {
                rows.push(row_of(line, Some(id), &owner)?);
            }
            if rows.len() - before != usize::try_from(count).unwrap_or(0) {
                return Err(DbErr::Migration(format!(
                    "{owner}: {} events where {count} were counted",
                    rows.len() - before
                )));
            }
        }
        unpacked += rows.len() as u64;
        insert(manager, rows).await?;
    }
}

/// The records of SQLite login spool files not applied yet, as rows; their number. A spool
/// still locked belongs to a running Gatehouse of the previous version: the migration waits for
/// it to stop rather than miss its logins.
async fn replay_spools(manager: &SchemaManager<'_>) -> Result<u64, DbErr> {
    if manager.get_database_backend() != DbBackend::Sqlite {
        return Ok(0);
    }
    let db = manager.get_connection();
    let Some(file) = db
        .query_one_raw(Statement::from_string(
            DbBackend::Sqlite,
            "SELECT file FROM pragma_database_list WHERE name = 'main'",
        ))
        .await?
        .map(|row| row.try_get_by_index::<String>(0))
        .transpose()?
        .filter(|f| !f.is_empty())
    else {
        // In memory: no spool.
        return Ok(0);
    };
    let mut replayed = 0u64;
    for (name, path) in spool_files(Path::new(&file))? {
        let applied = db
            .query_one_raw(Statement::from_sql_and_values(
                DbBackend::Sqlite,
                "SELECT applied FROM login_spool WHERE name = ?",
                [name.clone().into()],
            ))
            .await?
            .map(|row| row.try_get_by_index::<i64>(0))
            .transpose()?
            .unwrap_or(0);
        let lines = read_spool(&path)
            .map_err(|e| DbErr::Migration(format!("login spool {}: {e}", path.display())))?;
        let skip = usize::try_from(applied).unwrap_or(usize::MAX);
        let owner = format!("login spool {name}");
        let rows = lines
            .iter()
            .skip(skip)
            .map(|line| row_of(line, None, &owner))
            .collect::<Result<Vec<_>, _>>()?;
        replayed += rows.len() as u64;
        insert(manager, rows).await?;
        // Deleted in the transaction's stead: were it rolled back, the replay would be repeated
        // from a file that is gone. The events are in rows of this transaction by now, which
        // commits next; a failure in between loses them, as a crash of the old applier would.
        if let Err(e) = std::fs::remove_file(&path) {
            tracing::warn!(spool = %path.display(), error = %e, "replayed login spool not deleted");
        }
    }
    Ok(replayed)
}

/// The spool files beside `database`.
fn spool_files(database: &Path) -> Result<Vec<(String, PathBuf)>, DbErr> {
    let prefix = match database.file_name() {
        Some(n) => format!("{}-logins-", n.to_string_lossy()),
        None => return Ok(Vec::new()),
    };
    let dir = match database.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(DbErr::Migration(format!("{}: {e}", dir.display()))),
    };
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(&prefix) && name.ends_with(".spool") {
            found.push((name, entry.path()));
        }
    }
    found.sort();
    Ok(found)
}

/// A spool's complete lines: the file is zeros after the last record, and a last line without
/// its newline was cut short by a crash (its login was never answered).
fn read_spool(path: &Path) -> std::io::Result<Vec<String>> {
    let file = std::fs::File::open(path)?;
    if let Err(e) = file.try_lock() {
        return Err(std::io::Error::other(format!(
            "held by a running Gatehouse of the previous version; stop it, then migrate ({e})"
        )));
    }
    let mut bytes = Vec::new();
    (&file).read_to_end(&mut bytes)?;
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    let text = String::from_utf8_lossy(&bytes[..end]);
    Ok(text
        .split_inclusive('\n')
        .filter(|l| l.ends_with('\n'))
        .map(|l| l.trim_end().to_owned())
        .collect())
}
