//! The SQLite store's login spool: logins answered before their records reached the audit trail
//! are not lost when the process stops, are applied exactly once, and a live store's spool is
//! never taken by another.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};

use common::{REALM, login, new_account};
use gatehouse_core::{Account, AccountId, AccountRepository};
use gatehouse_store::testing::sqlite_store;
use gatehouse_store::{Store, entities::login_spool};
use sea_orm::{ActiveValue::Set, EntityTrait};

fn database(store: &gatehouse_store::testing::TestStore) -> PathBuf {
    let url = store.url();
    let path = url.trim_start_matches("sqlite://");
    PathBuf::from(path.split('?').next().unwrap())
}

fn spools(database: &Path) -> Vec<PathBuf> {
    let prefix = format!(
        "{}-logins-",
        database.file_name().unwrap().to_string_lossy()
    );
    let mut found: Vec<PathBuf> = std::fs::read_dir(database.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.starts_with(&prefix) && name.ends_with(".spool")
        })
        .collect();
    found.sort();
    found
}

/// What a process that died left: `lines` records and, with `torn`, the start of one more that
/// its write never finished (that login was never answered).
fn orphan_spool(database: &Path, account: AccountId, lines: usize, torn: bool) -> PathBuf {
    let name = format!(
        "{}-logins-{}.spool",
        database.file_name().unwrap().to_string_lossy(),
        uuid::Uuid::new_v4()
    );
    let path = database.with_file_name(name);
    let mut file = std::fs::File::create(&path).unwrap();
    for i in 0..lines {
        let mut record = login(Some(account), i % 2 == 0, vec![]);
        record.login = format!("orphan-{i}");
        serde_json::to_writer(&mut file, &record).unwrap();
        file.write_all(b"\n").unwrap();
    }
    if torn {
        file.write_all(br#"{"realm":"main","login":"orph"#).unwrap();
    }
    path
}

/// A fresh SQLite store, its database file and the account `alice`.
async fn store_with_alice() -> (gatehouse_store::testing::TestStore, PathBuf, Account) {
    let store = sqlite_store().await;
    let db = database(&store);
    let a = store
        .create_account(new_account("alice", None))
        .await
        .unwrap();
    (store, db, a)
}

async fn orphan_logins(store: &Store) -> Vec<String> {
    let mut logins: Vec<String> = store
        .recent_audit_events(REALM, 10_000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.login)
        .filter(|l| l.starts_with("orphan-"))
        .collect();
    logins.sort();
    logins
}

#[tokio::test]
async fn a_spool_left_by_a_stopped_process_is_applied_at_the_next_migration() {
    let (store, db, a) = store_with_alice().await;
    let orphan = orphan_spool(&db, a.id, 3, true);
    store.migrate().await.unwrap();
    assert_eq!(
        orphan_logins(&store).await,
        ["orphan-0", "orphan-1", "orphan-2"]
    );
    let stats = store.login_stats(a.id).await.unwrap().unwrap();
    assert_eq!((stats.success_count, stats.failure_count), (2, 1));
    assert!(!orphan.exists(), "an applied spool is deleted");
    assert!(
        login_spool::Entity::find()
            .all(store.connection())
            .await
            .unwrap()
            .is_empty(),
        "and so is its progress row"
    );
    // Applying is not repeated.
    store.migrate().await.unwrap();
    assert_eq!(orphan_logins(&store).await.len(), 3);
}

// A spool is created at its full size and filled in place: a process killed in the middle of a
// record's copy leaves the start of that line, then the spool's zeros.
#[tokio::test]
async fn a_spool_cut_short_inside_its_allocated_size_is_applied_up_to_the_cut() {
    let (store, db, a) = store_with_alice().await;
    let orphan = orphan_spool(&db, a.id, 3, true);
    std::fs::OpenOptions::new()
        .write(true)
        .open(&orphan)
        .unwrap()
        .set_len(4 << 20)
        .unwrap();
    store.migrate().await.unwrap();
    assert_eq!(
        orphan_logins(&store).await,
        ["orphan-0", "orphan-1", "orphan-2"]
    );
    assert!(!orphan.exists());
}

#[tokio::test]
async fn replay_starts_where_the_progress_row_says_the_spool_stopped() {
    let (store, db, a) = store_with_alice().await;
    let orphan = orphan_spool(&db, a.id, 3, false);
    // The process died after committing its first two records, before deleting the spool.
    login_spool::Entity::insert(login_spool::ActiveModel {
        name: Set(orphan.file_name().unwrap().to_string_lossy().into_owned()),
        applied: Set(2),
    })
    .exec(store.connection())
    .await
    .unwrap();
    store.migrate().await.unwrap();
    assert_eq!(orphan_logins(&store).await, ["orphan-2"]);
    assert!(!orphan.exists());
}

#[tokio::test]
async fn another_store_leaves_a_live_spool_alone() {
    let (store, db, a) = store_with_alice().await;
    store
        .record_login(&login(Some(a.id), true, vec![]))
        .await
        .unwrap();
    let live = spools(&db);
    assert_eq!(live.len(), 1, "the first login creates the store's spool");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&live[0]).unwrap().permissions().mode();
        assert_eq!(
            mode & 0o777,
            0o600,
            "only the store's owner reads the spool"
        );
    }
    let other = Store::connect(&store.url()).await.unwrap();
    other.migrate().await.unwrap();
    assert_eq!(spools(&db), live);
    assert_eq!(store.recent_audit_events(REALM, 10).await.unwrap().len(), 1);
    assert_eq!(other.recent_audit_events(REALM, 10).await.unwrap().len(), 1);
}

// A runtime shut down at once drops the applier wherever it is (on one thread, it runs only
// while the runtime is driven); whatever the store answered must reach the trail once.
#[test]
fn every_login_answered_before_a_stop_is_applied_exactly_once() {
    let main = tokio::runtime::Runtime::new().unwrap();
    let (store, db, a) = main.block_on(store_with_alice());
    let url = store.url();
    let stopped = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (doomed, answered) = stopped.block_on(async {
        let doomed = Store::connect(&url).await.unwrap();
        let mut answered = 0;
        for round in 0..20 {
            let tasks: Vec<_> = (0..25)
                .map(|i| {
                    let doomed = doomed.clone();
                    let mut record = login(Some(a.id), true, vec![]);
                    record.login = format!("orphan-{:04}", round * 25 + i);
                    tokio::spawn(async move { doomed.record_login(&record).await })
                })
                .collect();
            for t in tasks {
                t.await.unwrap().unwrap();
                answered += 1;
            }
        }
        (doomed, answered)
    });
    stopped.shutdown_background();
    // Its applier is gone with the runtime; the handle's last drop closes the spool's file (and
    // with it the lock), as a process's death would, and can no longer hand the spool on.
    drop(doomed);
    assert_eq!(spools(&db).len(), 1, "the stopped store left its spool");
    main.block_on(async {
        store.migrate().await.unwrap();
        let logins = orphan_logins(&store).await;
        let mut unique = logins.clone();
        unique.dedup();
        assert_eq!(unique.len(), logins.len(), "no record applied twice");
        assert_eq!(logins.len(), answered);
        let stats = store.login_stats(a.id).await.unwrap().unwrap();
        assert_eq!(stats.success_count, answered as u64);
        assert!(spools(&db).is_empty());
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_right_after_a_login_does_not_wait_for_the_appliers_pause() {
    let (store, _db, a) = store_with_alice().await;
    // ~3,000 logins a second, so the applier takes its long (100 ms) pause between transactions.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = tokio::spawn({
        let (store, stop) = (store.store().clone(), stop.clone());
        async move {
            let mut other = login(None, false, vec![]);
            other.login = "load".into();
            let mut tick = tokio::time::interval(std::time::Duration::from_millis(1));
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                tick.tick().await;
                for _ in 0..3 {
                    store.record_login(&other).await.unwrap();
                }
            }
        }
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let mut reads = Vec::new();
    for round in 1..=10u64 {
        store
            .record_login(&login(Some(a.id), true, vec![]))
            .await
            .unwrap();
        let started = std::time::Instant::now();
        let stats = store.login_stats(a.id).await.unwrap().unwrap();
        reads.push(started.elapsed());
        assert_eq!(
            stats.success_count, round,
            "the read sees the login before it"
        );
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    load.await.unwrap();
    // The first read may apply up to a pause's worth of logins; the others only what came since
    // the read before. Waiting out the pause instead costs them ~100 ms each.
    let after_the_first: std::time::Duration = reads[1..].iter().sum();
    assert!(
        after_the_first < std::time::Duration::from_millis(300),
        "nine reads took {after_the_first:?} ({reads:?}): they waited for the applier's pause"
    );
}

// The applier writes what it gathered in one transaction; one that the store refuses (a login
// of an account deleted before it was applied: its counters have no account to go to) is
// written one login at a time. Every login keeps its event, the others their counters.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_batch_is_stored_login_by_login_and_loses_nothing() {
    let (store, _db, a) = store_with_alice().await;
    let gone = AccountId(uuid::Uuid::new_v4());
    let mut logins = Vec::new();
    for (n, (account, success)) in [(a.id, true), (gone, true), (a.id, false), (a.id, true)]
        .into_iter()
        .enumerate()
    {
        let mut record = login(Some(account), success, vec![]);
        record.login = format!("login-{n}");
        store.record_login(&record).await.unwrap();
        logins.push(record.login);
    }
    let stats = store.login_stats(a.id).await.unwrap().unwrap();
    assert_eq!((stats.success_count, stats.failure_count), (2, 1));
    let mut stored: Vec<String> = store
        .recent_audit_events(REALM, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.login)
        .collect();
    stored.sort();
    assert_eq!(stored, logins, "every login's event, once");
    assert!(store.login_stats(gone).await.unwrap().is_none());
}

// A store handle used after the runtime its applier ran on has stopped still answers logins: each
// record is in the spool, and the next store on the file replays it.
#[test]
fn a_login_after_the_appliers_runtime_stopped_is_spooled_and_replayed() {
    let main = tokio::runtime::Runtime::new().unwrap();
    let (store, db, a) = main.block_on(store_with_alice());
    let url = store.url();
    let stopped = tokio::runtime::Runtime::new().unwrap();
    let orphaned = stopped.block_on(async { Store::connect(&url).await.unwrap() });
    stopped.shutdown_background();
    main.block_on(async {
        for i in 0..3 {
            let mut record = login(Some(a.id), true, vec![]);
            record.login = format!("orphan-{i}");
            orphaned.record_login(&record).await.unwrap();
        }
    });
    drop(orphaned);
    main.block_on(async {
        store.migrate().await.unwrap();
        assert_eq!(
            orphan_logins(&store).await,
            ["orphan-0", "orphan-1", "orphan-2"]
        );
        assert!(spools(&db).is_empty());
    });
}
