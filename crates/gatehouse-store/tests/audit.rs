//! Login records: the audit trail and the statistics, on SQLite and PostgreSQL.

mod common;

use common::{REALM, attempt, login, new_account};
use gatehouse_core::{AccountRepository, AttemptOutcome};
use gatehouse_store::{AuditEvent, store_test};

store_test!(counts_successes_and_failures, |store| async move {
    let a = store
        .create_account(new_account("alice", None))
        .await
        .unwrap();
    let rejected = vec![attempt("local", AttemptOutcome::Rejected, 12)];
    store
        .record_login(&login(Some(a.id), false, rejected.clone()))
        .await
        .unwrap();
    let last_failure = login(Some(a.id), false, rejected);
    store.record_login(&last_failure).await.unwrap();
    let success = login(
        Some(a.id),
        true,
        vec![attempt("local", AttemptOutcome::Verified, 30)],
    );
    store.record_login(&success).await.unwrap();

    let stats = store.login_stats(a.id).await.unwrap().unwrap();
    assert_eq!((stats.success_count, stats.failure_count), (1, 2));
    let micros = |t: chrono::DateTime<chrono::Utc>| t.timestamp_micros();
    assert_eq!(stats.last_success_at.map(micros), Some(micros(success.at)));
    assert_eq!(
        stats.last_failure_at.map(micros),
        Some(micros(last_failure.at))
    );

    // An unknown login is audited without touching anyone's statistics.
    store
        .record_login(&login(None, false, vec![]))
        .await
        .unwrap();
    assert_eq!(store.recent_audit_events(REALM, 10).await.unwrap().len(), 4);
});

store_test!(decodes_recent_events_newest_first, |store| async move {
    let a = store
        .create_account(new_account("alice", None))
        .await
        .unwrap();
    let tried = vec![
        attempt(
            "corp",
            AttemptOutcome::Unavailable("timeout after 3s".into()),
            3000,
        ),
        attempt("local", AttemptOutcome::Verified, 25),
    ];
    let mut older = login(
        Some(a.id),
        false,
        vec![attempt("local", AttemptOutcome::Rejected, 1)],
    );
    older.at -= chrono::Duration::seconds(5);
    store.record_login(&older).await.unwrap();
    store
        .record_login(&login(Some(a.id), true, tried.clone()))
        .await
        .unwrap();
    let mut other_realm = login(None, false, vec![]);
    other_realm.realm = "contacts".into();
    store.record_login(&other_realm).await.unwrap();

    let events = store.recent_audit_events(REALM, 10).await.unwrap();
    assert_eq!(events.len(), 2);
    let newest = &events[0];
    assert!(newest.success);
    assert_eq!(newest.kind, AuditEvent::PASSWORD_LOGIN);
    assert_eq!(newest.result, "success");
    assert_eq!(newest.account_id, Some(a.id));
    assert_eq!(newest.attempts, tried);
    assert_eq!(events[1].result, "invalid_credentials");
    assert_eq!(store.recent_audit_events(REALM, 1).await.unwrap().len(), 1);

    // A login through a redirect provider's callback is its own kind of event.
    let mut federated = login(
        Some(a.id),
        true,
        vec![attempt("iam", AttemptOutcome::Verified, 80)],
    );
    federated.redirect = true;
    federated.at += chrono::Duration::seconds(5);
    store.record_login(&federated).await.unwrap();
    let events = store.recent_audit_events(REALM, 1).await.unwrap();
    assert_eq!(events[0].kind, AuditEvent::REDIRECT_LOGIN);
});

store_test!(
    concurrent_logins_neither_fail_nor_lose_counts,
    |store| async move {
        let a = store
            .create_account(new_account("alice", None))
            .await
            .unwrap();
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..32 {
            let s = store.store().clone();
            tasks.spawn(async move {
                let record = login(
                    Some(a.id),
                    i % 4 != 0,
                    vec![attempt("local", AttemptOutcome::Rejected, 1)],
                );
                s.record_login(&record).await
            });
        }
        while let Some(done) = tasks.join_next().await {
            done.unwrap().unwrap();
        }
        let stats = store.login_stats(a.id).await.unwrap().unwrap();
        assert_eq!((stats.success_count, stats.failure_count), (24, 8));
        assert_eq!(
            store.recent_audit_events(REALM, 100).await.unwrap().len(),
            32
        );
    }
);

store_test!(events_outlive_their_account, |store| async move {
    use gatehouse_store::entities::account;
    use sea_orm::{EntityTrait, prelude::TextUuid};

    let a = store
        .create_account(new_account("alice", None))
        .await
        .unwrap();
    store
        .upsert_link(a.id, common::db_link("$h"))
        .await
        .unwrap();
    store
        .record_login(&login(Some(a.id), true, vec![]))
        .await
        .unwrap();
    account::Entity::delete_by_id(TextUuid(a.id.0))
        .exec(store.connection())
        .await
        .unwrap();

    // Links and statistics go with the account (foreign keys enforced); the audit trail stays.
    assert!(store.login_stats(a.id).await.unwrap().is_none());
    assert!(!store.remove_link(a.id, "local").await.unwrap());
    let events = store.recent_audit_events(REALM, 10).await.unwrap();
    assert_eq!(events[0].account_id, Some(a.id));
});
