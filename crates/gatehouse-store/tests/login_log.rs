//! Group commit of login records and the profile write-back that skips unchanged profiles, on
//! SQLite and PostgreSQL.

mod common;

use common::{REALM, attempt, login, new_account};
use gatehouse_core::{AccountId, AccountRepository, AttemptOutcome, Profile};
use gatehouse_store::entities::account;
use gatehouse_store::store_test;
use sea_orm::EntityTrait;
use sea_orm::prelude::TextUuid;

store_test!(concurrent_logins_are_all_recorded, |store| async move {
    let a = store
        .create_account(new_account("alice", None))
        .await
        .unwrap();
    let tasks: Vec<_> = (0..64)
        .map(|i| {
            let store = store.store().clone();
            tokio::spawn(async move {
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
    let stats = store.login_stats(a.id).await.unwrap().unwrap();
    assert_eq!((stats.success_count, stats.failure_count), (16, 48));
    assert_eq!(
        store.recent_audit_events(REALM, 1000).await.unwrap().len(),
        64
    );
});

store_test!(
    a_bad_record_does_not_fail_the_logins_batched_with_it,
    |store| async move {
        let a = store
            .create_account(new_account("alice", None))
            .await
            .unwrap();
        // Statistics of an account that does not exist violate the foreign key.
        let ghost = AccountId::generate();
        let spooled = store.backend_name() == "sqlite";
        let tasks: Vec<_> = (0..32)
            .map(|i| {
                let store = store.store().clone();
                let who = if i == 7 { ghost } else { a.id };
                tokio::spawn(async move {
                    (
                        who,
                        store.record_login(&login(Some(who), true, vec![])).await,
                    )
                })
            })
            .collect();
        let mut failed = 0;
        for t in tasks {
            let (who, result) = t.await.unwrap();
            match result {
                Ok(()) => assert!(who == a.id || spooled),
                Err(_) => {
                    assert_eq!(who, ghost);
                    failed += 1;
                }
            }
        }
        // PostgreSQL answers each login after its commit, so the ghost's fails alone. SQLite
        // answers once the record is spooled; applying it later keeps its audit event and drops
        // only the counters of an account that does not exist.
        assert_eq!(failed, if spooled { 0 } else { 1 });
        assert_eq!(
            store
                .login_stats(a.id)
                .await
                .unwrap()
                .unwrap()
                .success_count,
            31
        );
        assert_eq!(store.login_stats(ghost).await.unwrap(), None);
        let events = store.recent_audit_events(REALM, 100).await.unwrap();
        let ghosts = events
            .iter()
            .filter(|e| e.account_id == Some(ghost))
            .count();
        assert_eq!(
            (events.len(), ghosts),
            if spooled { (32, 1) } else { (31, 0) }
        );
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
