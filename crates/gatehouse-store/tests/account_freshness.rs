//! What a password login looks up is the account as stored now: every write, through the same
//! store or through another handle on the same database (the CLI, a second instance), is seen by
//! the very next lookup. No copy of an account outlives an administrator's disable, lock or
//! supersession. On SQLite and PostgreSQL.

mod common;

use common::{REALM, attempt, db_link, login, new_account};
use gatehouse_core::{AccountRepository, AttemptOutcome, NewLink, Profile};
use gatehouse_store::{Store, store_test};

async fn look_up(store: &Store, key: &str) -> gatehouse_core::AccountWithLinks {
    store
        .find_for_login(REALM, key, true)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("no account for `{key}`"))
}

store_test!(
    every_write_through_the_store_is_seen_by_the_next_lookup,
    |store| async move {
        let a = store
            .create_account(new_account("alice", Some("alice@example.org")))
            .await
            .unwrap();
        let link = store.upsert_link(a.id, db_link("$old")).await.unwrap();
        // Both lookups (username, email) are cached from here on.
        assert!(
            look_up(&store, "alice")
                .await
                .account
                .disabled_reason
                .is_none()
        );
        assert_eq!(look_up(&store, "alice@example.org").await.account.id, a.id);

        store
            .set_disabled(a.id, Some("on leave".into()))
            .await
            .unwrap();
        assert_eq!(
            look_up(&store, "alice")
                .await
                .account
                .disabled_reason
                .as_deref(),
            Some("on leave")
        );
        store.set_disabled(a.id, None).await.unwrap();
        assert!(
            look_up(&store, "alice")
                .await
                .account
                .disabled_reason
                .is_none()
        );

        let until = chrono::Utc::now() + chrono::Duration::hours(1);
        store.set_locked_until(a.id, Some(until)).await.unwrap();
        assert!(
            look_up(&store, "alice")
                .await
                .account
                .is_locked_at(chrono::Utc::now())
        );
        store.set_locked_until(a.id, None).await.unwrap();

        store
            .set_disabled_audited(
                REALM,
                a.id,
                "alice",
                Some("superseded by iam".into()),
                "supersede",
                "disabled",
            )
            .await
            .unwrap();
        assert!(
            look_up(&store, "alice")
                .await
                .account
                .disabled_reason
                .is_some()
        );
        store
            .set_disabled_audited(REALM, a.id, "alice", None, "supersede", "restored")
            .await
            .unwrap();

        store
            .set_roles(a.id, vec!["user".into(), "auditor".into()])
            .await
            .unwrap();
        assert!(
            look_up(&store, "alice")
                .await
                .account
                .roles
                .contains(&"auditor".to_owned())
        );

        store.update_link_secret(link.id, "$new").await.unwrap();
        let secret = |found: &gatehouse_core::AccountWithLinks| {
            found
                .link_to("local")
                .and_then(|l| l.secret.as_ref().map(|s| s.expose().to_owned()))
        };
        assert_eq!(
            secret(&look_up(&store, "alice").await).as_deref(),
            Some("$new")
        );

        store
            .upsert_link(
                a.id,
                NewLink {
                    provider_id: "corp".into(),
                    external_id: Some("uid=alice".into()),
                    secret: None,
                    protected: false,
                },
            )
            .await
            .unwrap();
        assert!(look_up(&store, "alice").await.link_to("corp").is_some());
        assert!(store.remove_link(a.id, "corp").await.unwrap());
        assert!(look_up(&store, "alice").await.link_to("corp").is_none());

        // A profile from a directory: the change is seen, by the new email too.
        let profile = Profile {
            email: Some("alice@corp.example.org".into()),
            name: None,
            groups: vec!["staff".into()],
            roles: vec![],
        };
        store.update_profile(a.id, &profile).await.unwrap();
        assert_eq!(look_up(&store, "alice").await.account.groups, vec!["staff"]);
        assert_eq!(
            look_up(&store, "alice@corp.example.org").await.account.id,
            a.id
        );
        assert!(
            store
                .find_for_login(REALM, "alice@example.org", true)
                .await
                .unwrap()
                .is_none(),
            "the old email still finds the account"
        );

        // A second account with the same email makes it ambiguous: found by neither.
        store
            .create_account(new_account("alice2", Some("alice@corp.example.org")))
            .await
            .unwrap();
        assert!(
            store
                .find_for_login(REALM, "alice@corp.example.org", true)
                .await
                .unwrap()
                .is_none()
        );
    }
);

store_test!(
    a_disable_lock_or_supersession_elsewhere_is_seen_by_the_very_next_lookup,
    |store| async move {
        let a = store
            .create_account(new_account("alice", None))
            .await
            .unwrap();
        // Another process on the same database (the CLI, a second instance).
        let other = Store::connect(&store.url()).await.unwrap();
        let reason =
            |store: Store| async move { look_up(&store, "alice").await.account.disabled_reason };
        for round in 0..3 {
            // This store has just looked the account up, as a login does.
            assert_eq!(reason(store.store().clone()).await, None, "round {round}");
            other
                .set_disabled(a.id, Some("left the company".into()))
                .await
                .unwrap();
            assert_eq!(
                reason(store.store().clone()).await.as_deref(),
                Some("left the company"),
                "a disable, round {round}"
            );
            other.set_disabled(a.id, None).await.unwrap();

            assert!(
                !look_up(&store, "alice")
                    .await
                    .account
                    .is_locked_at(chrono::Utc::now())
            );
            let until = chrono::Utc::now() + chrono::Duration::hours(1);
            other.set_locked_until(a.id, Some(until)).await.unwrap();
            assert!(
                look_up(&store, "alice")
                    .await
                    .account
                    .is_locked_at(chrono::Utc::now()),
                "a lock, round {round}"
            );
            other.set_locked_until(a.id, None).await.unwrap();

            assert_eq!(reason(store.store().clone()).await, None);
            other
                .set_disabled_audited(
                    REALM,
                    a.id,
                    "alice",
                    Some("superseded by iam".into()),
                    "supersession",
                    "superseded by iam",
                )
                .await
                .unwrap();
            assert_eq!(
                reason(store.store().clone()).await.as_deref(),
                Some("superseded by iam"),
                "a supersession, round {round}"
            );
            other
                .set_disabled_audited(REALM, a.id, "alice", None, "supersession", "restored")
                .await
                .unwrap();
        }
    }
);

store_test!(
    a_batch_of_logins_of_several_accounts_counts_each_one,
    |store| async move {
        let mut ids = Vec::new();
        for name in ["alice", "bob", "carol"] {
            ids.push(
                store
                    .create_account(new_account(name, None))
                    .await
                    .unwrap()
                    .id,
            );
        }
        // Concurrent, so the group commit takes several accounts (and one account several
        // times) into one transaction.
        let tasks: Vec<_> = (0..90)
            .map(|i| {
                let store = store.store().clone();
                let id = ids[i % 3];
                // alice: every third login of hers fails; bob always fails; carol never does.
                let success = match i % 3 {
                    0 => i % 9 != 0,
                    1 => false,
                    _ => true,
                };
                tokio::spawn(async move {
                    let outcome = if success {
                        AttemptOutcome::Verified
                    } else {
                        AttemptOutcome::Rejected
                    };
                    store
                        .record_login(&login(
                            Some(id),
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
        let counts = |i: usize| {
            let store = store.store().clone();
            let id = ids[i];
            async move {
                let s = store.login_stats(id).await.unwrap().unwrap();
                (
                    s.success_count,
                    s.failure_count,
                    s.last_success_at.is_some(),
                    s.last_failure_at.is_some(),
                )
            }
        };
        assert_eq!(counts(0).await, (20, 10, true, true));
        assert_eq!(counts(1).await, (0, 30, false, true));
        assert_eq!(counts(2).await, (30, 0, true, false));
    }
);
