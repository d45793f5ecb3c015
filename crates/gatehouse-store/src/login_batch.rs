//! Login audit events applied from an SQLite login spool, stored as batches: one
//! `login_event_batch` row per realm and apply transaction, its events as JSON lines, zlib
//! compressed. Under load an `audit_event` row and its index entry cost the store ~6 µs of CPU
//! (sea-query, sqlx and SQLite), taken from the cores the directory and the logins share; a
//! thousand events as one row 1.5–2 µs each. Compressed, an event takes ~27 bytes of the file
//! instead of ~250, and the disk traffic of the WAL and its checkpoints shrinks with it.
//!
//! Each event keeps an id of the trail's one sequence: a batch reserves `count` ids of
//! `audit_event`'s AUTOINCREMENT sequence in its own transaction, so rows written later never
//! reuse them, and its events are `first_event_id`, `first_event_id + 1`, … in spool order.

use std::borrow::Cow;
use std::io::{Read, Write};

use chrono::{DateTime, Utc};

use flate2::Compression;
use flate2::read::ZlibDecoder;
use flate2::write::ZlibEncoder;
use gatehouse_core::LoginRecord;
use sea_orm::{DbBackend, Statement, Value};

use crate::entities::login_event_batch;
use crate::error::{StoreError, corrupt};
use crate::login_spool::encode;
use crate::store::stamp;
use crate::types::AuditEvent;

/// Creates the sequence's row when no `audit_event` row was ever written (SQLite adds it only at
/// the first AUTOINCREMENT insert).
const ENSURE_SEQUENCE: &str = "INSERT INTO sqlite_sequence (name, seq) \
     SELECT 'audit_event', (SELECT COALESCE(MAX(id), 0) FROM audit_event) \
     WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'audit_event')";
const INSERT_BATCH: &str = "INSERT INTO login_event_batch \
     (realm, first_at, last_at, first_event_id, count, events, events_zlib, events_size) \
     SELECT ?, ?, ?, seq + 1, ?, '', ?, ? FROM sqlite_sequence WHERE name = 'audit_event'";
const RESERVE_IDS: &str = "UPDATE sqlite_sequence SET seq = seq + ? WHERE name = 'audit_event'";

/// Login audit events bound for the trail as batches: their spool lines in spool order and the
/// realm of each, gathered as the logins are spooled (so the applier holds no record, only
/// bytes) or from records.
#[derive(Debug, Default)]
pub(crate) struct LoginBatch {
    lines: String,
    /// Per line, the index of its realm in `realms`.
    realm_of: Vec<u32>,
    realms: Vec<RealmSpan>,
}

#[derive(Debug)]
struct RealmSpan {
    name: String,
    count: usize,
    first_at: DateTime<Utc>,
    last_at: DateTime<Utc>,
}

impl LoginBatch {
    pub(crate) fn of(records: &[&LoginRecord]) -> Result<Self, StoreError> {
        let mut batch = Self::default();
        for record in records {
            let line = encode(record)
                .map_err(|e| StoreError::Db(format!("cannot encode a login record: {e}")))?;
            batch.push(record, &line);
        }
        Ok(batch)
    }

    /// Adds `record`, [`encode`]d as `line`.
    pub(crate) fn push(&mut self, record: &LoginRecord, line: &str) {
        debug_assert!(line.ends_with('\n') && line.matches('\n').count() == 1);
        let at = record.at;
        let realm = match self.realms.iter().position(|r| r.name == record.realm) {
            Some(i) => {
                let span = &mut self.realms[i];
                span.count += 1;
                span.first_at = span.first_at.min(at);
                span.last_at = span.last_at.max(at);
                i
            }
            None => {
                self.realms.push(RealmSpan {
                    name: record.realm.clone(),
                    count: 1,
                    first_at: at,
                    last_at: at,
                });
                self.realms.len() - 1
            }
        };
        self.realm_of.push(u32::try_from(realm).unwrap_or(u32::MAX));
        self.lines.push_str(line);
    }

    pub(crate) fn len(&self) -> usize {
        self.realm_of.len()
    }

    /// The records again, in spool order, each parsed from its line (or why it could not be):
    /// for writing them one at a time when the batch as a whole was refused.
    pub(crate) fn records(&self) -> Vec<Result<LoginRecord, String>> {
        self.lines
            .split_inclusive('\n')
            .map(|line| serde_json::from_str(line).map_err(|e| e.to_string()))
            .collect()
    }

    /// The statements storing these events as batches, one per realm (SQLite only). They
    /// compress the lines: a few milliseconds of CPU for a large batch.
    pub(crate) fn statements(&self) -> Result<Vec<Statement>, StoreError> {
        let mut statements = Vec::with_capacity(1 + 2 * self.realms.len());
        if self.realms.is_empty() {
            return Ok(statements);
        }
        statements.push(Statement::from_string(DbBackend::Sqlite, ENSURE_SEQUENCE));
        // One realm, the usual case: its lines are the batch's as they are.
        let lines: Vec<Cow<'_, str>> = if self.realms.len() == 1 {
            vec![Cow::Borrowed(&self.lines)]
        } else {
            let mut by_realm = vec![String::new(); self.realms.len()];
            for (line, &realm) in self.lines.split_inclusive('\n').zip(&self.realm_of) {
                by_realm[realm as usize].push_str(line);
            }
            by_realm.into_iter().map(Cow::Owned).collect()
        };
        // Realms in name order, so that their ids are too whatever order they logged in.
        let mut order: Vec<usize> = (0..self.realms.len()).collect();
        order.sort_by(|&a, &b| self.realms[a].name.cmp(&self.realms[b].name));
        for at in order {
            let span = &self.realms[at];
            let events: &str = &lines[at];
            let count = i32::try_from(span.count).map_err(|_| {
                StoreError::Db(format!("{} login records in one batch", span.count))
            })?;
            statements.push(Statement::from_sql_and_values(
                DbBackend::Sqlite,
                INSERT_BATCH,
                [
                    Value::from(span.name.as_str()),
                    stamp(span.first_at).into(),
                    stamp(span.last_at).into(),
                    count.into(),
                    compress(events)?.into(),
                    i64::try_from(events.len()).unwrap_or(i64::MAX).into(),
                ],
            ));
            statements.push(Statement::from_sql_and_values(
                DbBackend::Sqlite,
                RESERVE_IDS,
                [count.into()],
            ));
        }
        Ok(statements)
    }
}

/// The fastest level: a batch of JSON lines compresses ~9 to 1 at it, hardly less than at the
/// default, for a fraction of the CPU.
fn compress(lines: &str) -> Result<Vec<u8>, StoreError> {
    let mut encoder = ZlibEncoder::new(Vec::with_capacity(lines.len() / 8), Compression::fast());
    encoder
        .write_all(lines.as_bytes())
        .and_then(|()| encoder.finish())
        .map_err(|e| StoreError::Db(format!("cannot compress login events: {e}")))
}

/// The events of a stored batch, in spool order.
pub(crate) fn events_of(batch: login_event_batch::Model) -> Result<Vec<AuditEvent>, StoreError> {
    let owner = format_args!("login event batch {}", batch.id);
    let counted = usize::try_from(batch.count).unwrap_or(0);
    let lines = match &batch.events_zlib {
        Some(compressed) => {
            let size = batch.events_size.and_then(|n| usize::try_from(n).ok());
            let mut lines = String::with_capacity(size.unwrap_or(compressed.len() * 12));
            ZlibDecoder::new(compressed.as_slice())
                .read_to_string(&mut lines)
                .map_err(|e| corrupt("events_zlib", owner, e))?;
            if size != Some(lines.len()) {
                return Err(corrupt(
                    "events_size",
                    owner,
                    format_args!("{} bytes of events where {size:?} were stored", lines.len()),
                ));
            }
            lines
        }
        None => batch.events,
    };
    let mut events = Vec::with_capacity(counted);
    for (line, id) in lines.lines().zip(batch.first_event_id..) {
        let record: LoginRecord =
            serde_json::from_str(line).map_err(|e| corrupt("events", owner, e))?;
        let kind = kind_of(&record).to_owned();
        events.push(AuditEvent {
            id,
            realm: record.realm,
            at: stamp(record.at),
            kind,
            login: record.login,
            account_id: record.account_id,
            success: record.success,
            result: record.result,
            attempts: record.attempts,
        });
    }
    if events.len() != counted {
        return Err(corrupt(
            "events",
            owner,
            format_args!("{} events where {} were counted", events.len(), batch.count),
        ));
    }
    Ok(events)
}

/// The audit kind of a login.
pub(crate) fn kind_of(record: &LoginRecord) -> &'static str {
    if record.redirect {
        AuditEvent::REDIRECT_LOGIN
    } else {
        AuditEvent::PASSWORD_LOGIN
    }
}

#[cfg(all(test, feature = "testing"))]
mod tests {
    use std::collections::HashSet;

    use chrono::{SubsecRound, TimeDelta, Utc};
    use gatehouse_core::{Attempt, AttemptOutcome};
    use sea_orm::{EntityTrait, PaginatorTrait};

    use super::*;
    use crate::NewAccount;
    use crate::entities::audit_event;

    const REALM: &str = "main";

    fn record(login: String, at: chrono::DateTime<Utc>, n: i64) -> LoginRecord {
        LoginRecord {
            realm: REALM.to_owned(),
            login,
            account_id: None,
            success: n % 2 == 0,
            result: if n % 2 == 0 { "success" } else { "rejected" }.to_owned(),
            attempts: vec![Attempt {
                provider: "corp".to_owned(),
                outcome: AttemptOutcome::Unavailable(format!("down {n}")),
                duration: std::time::Duration::from_millis(n as u64),
            }],
            at,
            redirect: n % 3 == 0,
        }
    }

    // Twenty spooled batches of 1 to 5 logins, an `audit_event` row after each, and a batch of
    // another realm: one trail, newest first, whatever the limit.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn batches_and_rows_read_back_as_one_trail_newest_first() {
        let store = crate::testing::sqlite_store().await;
        let alice = store
            .create_account(NewAccount {
                realm: REALM.to_owned(),
                username: "alice".to_owned(),
                username_key: "alice".to_owned(),
                email: None,
                name: None,
                roles: vec![],
            })
            .await
            .unwrap();
        let start = Utc::now() - TimeDelta::seconds(10);
        let mut written = Vec::new();
        let mut applied = 0;
        for b in 0..20i64 {
            let records: Vec<LoginRecord> = (0..b % 5 + 1)
                .map(|i| {
                    // Out of order within a batch, as concurrent logins are spooled.
                    let at = start + TimeDelta::milliseconds(b * 100 + (4 - i) * 7);
                    let mut r = record(format!("b{b}-{i}"), at, b + i);
                    r.account_id = (i == 0).then_some(alice.id);
                    r
                })
                .collect();
            applied += records.len() as u64;
            let refs: Vec<&LoginRecord> = records.iter().collect();
            store
                .write_login_records(&refs, Some(("spool", applied)))
                .await
                .unwrap();
            written.extend(records);
            store
                .set_disabled_audited(REALM, alice.id, "alice", None, "test", &format!("row {b}"))
                .await
                .unwrap();
        }
        let mut other = record("elsewhere".to_owned(), Utc::now(), 0);
        other.realm = "other".to_owned();
        store
            .write_login_records(&[&other], Some(("spool", applied + 1)))
            .await
            .unwrap();

        let all = store.recent_audit_events(REALM, 1000).await.unwrap();
        assert_eq!(all.len(), written.len() + 20);
        let ids: HashSet<i64> = all.iter().map(|e| e.id).collect();
        assert_eq!(ids.len(), all.len(), "every event has an id of its own");
        assert!(
            all.windows(2)
                .all(|w| (w[0].at, w[0].id) > (w[1].at, w[1].id)),
            "newest first"
        );
        for limit in [0, 1, 2, 5, 9, 17, 30, all.len(), all.len() + 5] {
            let some = store
                .recent_audit_events(REALM, limit as u64)
                .await
                .unwrap();
            assert_eq!(some[..], all[..limit.min(all.len())], "limit {limit}");
        }
        // Each login's event says what its record said.
        for r in &written {
            let e = all.iter().find(|e| e.login == r.login).unwrap();
            assert_eq!(
                (
                    e.at,
                    e.kind.as_str(),
                    e.account_id,
                    e.success,
                    &e.result,
                    &e.attempts
                ),
                (
                    r.at.trunc_subsecs(6),
                    kind_of(r),
                    r.account_id,
                    r.success,
                    &r.result,
                    &r.attempts
                )
            );
        }
        // A row written after a batch takes an id after the batch's.
        for b in 0..20 {
            let row = all.iter().find(|e| e.result == format!("row {b}")).unwrap();
            let prefix = format!("b{b}-");
            let batch_max = all
                .iter()
                .filter(|e| e.login.starts_with(&prefix))
                .map(|e| e.id)
                .max();
            assert!(row.id > batch_max.unwrap(), "batch {b}");
        }
        // Stored as batches, one per realm and write: the logins are in no `audit_event` row.
        let batches = login_event_batch::Entity::find()
            .count(&store.db)
            .await
            .unwrap();
        assert_eq!(batches, 21);
        let rows = audit_event::Entity::find().count(&store.db).await.unwrap();
        assert_eq!(rows, 20);
        let stats = store.login_stats(alice.id).await.unwrap().unwrap();
        assert_eq!(stats.success_count + stats.failure_count, 20);
    }

    // Five hundred logins of one apply: one row, its lines compressed; read back whole.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_batch_is_stored_compressed_and_reads_back_whole() {
        let store = crate::testing::sqlite_store().await;
        let start = Utc::now().trunc_subsecs(6) - TimeDelta::seconds(10);
        let records: Vec<LoginRecord> = (0..500i64)
            .map(|n| {
                record(
                    format!("user{:02}", n % 64),
                    start + TimeDelta::milliseconds(n),
                    n,
                )
            })
            .collect();
        let refs: Vec<&LoginRecord> = records.iter().collect();
        store
            .write_login_records(&refs, Some(("spool", 500)))
            .await
            .unwrap();

        let rows = login_event_batch::Entity::find()
            .all(&store.db)
            .await
            .unwrap();
        assert_eq!(rows.len(), 1);
        let lines: usize = records.iter().map(|r| encode(r).unwrap().len()).sum();
        let compressed = rows[0].events_zlib.as_ref().expect("compressed events");
        assert_eq!(rows[0].events_size, Some(lines as i64));
        assert!(rows[0].events.is_empty(), "the lines are stored once");
        assert!(
            compressed.len() * 5 < lines,
            "{} bytes of lines took {} compressed",
            lines,
            compressed.len()
        );

        let mut read = store.recent_audit_events(REALM, 1000).await.unwrap();
        read.reverse();
        assert_eq!(read.len(), records.len());
        for (event, record) in read.iter().zip(&records) {
            assert_eq!(event.login, record.login);
            assert_eq!(event.at, stamp(record.at));
            assert_eq!(event.result, record.result);
            assert_eq!(event.attempts, record.attempts);
        }
    }

    // Logins of two realms gathered interleaved, as the spool holds them: one row per realm,
    // each with its own logins in spool order; and the records read back from the lines.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_batch_of_two_realms_is_stored_as_a_row_each_in_spool_order() {
        let store = crate::testing::sqlite_store().await;
        let start = Utc::now().trunc_subsecs(6) - TimeDelta::seconds(10);
        let mut batch = LoginBatch::default();
        let mut records = Vec::new();
        for n in 0..10i64 {
            let mut r = record(format!("user-{n}"), start + TimeDelta::milliseconds(n), n);
            if n % 3 == 0 {
                r.realm = "other".to_owned();
            }
            batch.push(&r, &encode(&r).unwrap());
            records.push(r);
        }
        assert_eq!(batch.len(), 10);
        let back: Vec<LoginRecord> = batch.records().into_iter().map(Result::unwrap).collect();
        assert_eq!(back, records, "the records again, in spool order");
        store
            .write_statements(batch.statements().unwrap())
            .await
            .unwrap();

        let rows = login_event_batch::Entity::find()
            .all(&store.db)
            .await
            .unwrap();
        let counts: Vec<(String, i32)> = rows.iter().map(|r| (r.realm.clone(), r.count)).collect();
        assert_eq!(counts, [(REALM.to_owned(), 6), ("other".to_owned(), 4)]);
        for realm in [REALM, "other"] {
            let mut read = store.recent_audit_events(realm, 100).await.unwrap();
            read.reverse();
            let expected: Vec<&str> = records
                .iter()
                .filter(|r| r.realm == realm)
                .map(|r| r.login.as_str())
                .collect();
            let logins: Vec<&str> = read.iter().map(|e| e.login.as_str()).collect();
            assert_eq!(logins, expected, "{realm}");
        }
    }

    // A batch stored before migration 000008: its lines as text, nothing compressed.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_batch_stored_as_text_before_compression_still_reads() {
        use sea_orm::{ActiveValue::Set, ConnectionTrait};
        let store = crate::testing::sqlite_store().await;
        let at = Utc::now().trunc_subsecs(6);
        let records = [record("old-1".into(), at, 0), record("old-2".into(), at, 1)];
        let lines: String = records.iter().map(|r| encode(r).unwrap()).collect();
        store
            .db
            .execute_unprepared("INSERT INTO sqlite_sequence (name, seq) VALUES ('audit_event', 0)")
            .await
            .unwrap();
        login_event_batch::Entity::insert(login_event_batch::ActiveModel {
            realm: Set(REALM.to_owned()),
            first_at: Set(at),
            last_at: Set(at),
            first_event_id: Set(1),
            count: Set(2),
            events: Set(lines),
            events_zlib: Set(None),
            events_size: Set(None),
            ..Default::default()
        })
        .exec(&store.db)
        .await
        .unwrap();
        let logins: Vec<String> = store
            .recent_audit_events(REALM, 10)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.login)
            .collect();
        assert_eq!(logins.len(), 2);
        assert!(logins.contains(&"old-1".to_owned()) && logins.contains(&"old-2".to_owned()));
    }
}
