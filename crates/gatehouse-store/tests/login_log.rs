//! The login log's group-commit writer and the profile write-back that skips unchanged profiles,
//! on SQLite and PostgreSQL.

mod common;

use common::{REALM, attempt, login, new_account};
use gatehouse_core::{AccountId, AccountRepository, AttemptOutcome, Profile};
use gatehouse_store::entities::account;
use gatehouse_store::store_test;
use sea_orm::EntityTrait;
use sea_orm::prelude::TextUuid;

store_test!(
    concurrent_logins_share_transactions_and_are_all_recorded,
    |store| async move {
        let a = store
            .create_account(new_account("alice", None))
            .await
            .unwrap();
        let before = store.login_log_stats();
        let start = std::sync::Arc::new(tokio::sync::Barrier::new(256));
        let tasks: Vec<_> = (0..256)
            .map(|i| {
                let store = store.store().clone();
                let start = start.clone();
                tokio::spawn(async move {
                    start.wait().await;
                    let outcome = if i % 4 == 0 {
                        AttemptOutcome::Verified
                    } else {
                        AttemptOutcome::Rejected
                    };
                    let success = i % 4 == 0;
                    store
                        .record_login(&login(
                            Some(a.id),
                            success,
                            vec![attempt("local", outcome, 1)],
                        ))
                        .await
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        // Each login was answered after its commit: all of them are readable now, from any handle.
        let stats = store.login_stats(a.id).await.unwrap().unwrap();
        assert_eq!((stats.success_count, stats.failure_count), (64, 192));
        let other = gatehouse_store::Store::connect(&store.url()).await.unwrap();
        assert_eq!(
            other.recent_audit_events(REALM, 1000).await.unwrap().len(),
            256
        );
        let after = store.login_log_stats();
        let (records, transactions) = (
            after.records - before.records,
            after.transactions - before.transactions,
        );
        assert_eq!(records, 256);
        assert!(
            transactions < records,
            "{records} logins took {transactions} transactions: none shared one"
        );
    }
);

store_test!(
    a_failed_batch_is_retried_without_losing_rows,
    |store| async move {
        let a = store
            .create_account(new_account("alice", None))
            .await
            .unwrap();
        // Statistics of an account that does not exist violate the foreign key: any batch
        // holding its login fails as a whole.
        let ghost = AccountId::generate();
        let start = std::sync::Arc::new(tokio::sync::Barrier::new(64));
        let tasks: Vec<_> = (0..64)
            .map(|i| {
                let store = store.store().clone();
                let start = start.clone();
                let who = if i % 16 == 7 { ghost } else { a.id };
                tokio::spawn(async move {
                    start.wait().await;
                    store.record_login(&login(Some(who), true, vec![])).await
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap().expect("every login is recorded");
        }
        assert_eq!(
            store
                .login_stats(a.id)
                .await
                .unwrap()
                .unwrap()
                .success_count,
            60
        );
        assert_eq!(store.login_stats(ghost).await.unwrap(), None);
        // The ghost's events are kept (the trail outlives accounts), without counters.
        let events = store.recent_audit_events(REALM, 100).await.unwrap();
        let ghosts = events
            .iter()
            .filter(|e| e.account_id == Some(ghost))
            .count();
        assert_eq!((events.len(), ghosts), (64, 4));
        assert_eq!(store.login_log_stats().records, 64);
    }
);

store_test!(
    an_unchanged_profile_is_not_written_again,
    |store| async move {
        let a = store
            .create_account(new_account("alice", None))
            .await
            .unwrap();
        let profile = Profile {
            email: Some("alice@example.org".into()),
            name: Some("Alice".into()),
            groups: vec!["staff".into()],
            roles: vec!["editor".into()],
        };
        let first = store.update_profile(a.id, &profile).await.unwrap();
        assert_eq!(first.groups, vec!["staff"]);
        assert!(first.roles.contains(&"editor".to_owned()));
        let stamp = |store: gatehouse_store::Store| async move {
            account::Entity::find_by_id(TextUuid(a.id.0))
                .one(store.connection())
                .await
                .unwrap()
                .unwrap()
                .updated_at
        };
        let written = stamp(store.store().clone()).await;
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        let again = store.update_profile(a.id, &profile).await.unwrap();
        assert_eq!(again, first);
        assert_eq!(
            stamp(store.store().clone()).await,
            written,
            "no write for an unchanged profile"
        );
        // A change is written, and a role goes with its group.
        let changed = Profile {
            groups: vec![],
            roles: vec![],
            ..profile
        };
        let after = store.update_profile(a.id, &changed).await.unwrap();
        assert!(after.groups.is_empty());
        assert!(!after.roles.contains(&"editor".to_owned()));
    }
);
