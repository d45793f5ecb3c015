//! Accounts and links, on SQLite and PostgreSQL.

mod common;

use common::{REALM, db_link, new_account};
use gatehouse_core::{AccountId, AccountRepository, NewLink, Profile};
use gatehouse_store::{StoreError, store_test};

store_test!(creates_and_finds_accounts, |store| async move {
    let created = store
        .create_account(new_account("Alice", Some(" Alice@Example.org ")))
        .await
        .unwrap();
    assert_eq!(created.username, "Alice");
    assert_eq!(created.roles, vec!["user"]);

    let found = store.find_account(REALM, "alice").await.unwrap().unwrap();
    assert_eq!(found.account, created);
    assert!(found.links.is_empty());
    assert_eq!(
        store
            .get_account(created.id)
            .await
            .unwrap()
            .unwrap()
            .account,
        created
    );
    assert!(
        store
            .find_account("other", "alice")
            .await
            .unwrap()
            .is_none()
    );
    assert!(store.find_account(REALM, "Alice").await.unwrap().is_none());
    assert!(
        store
            .get_account(AccountId::generate())
            .await
            .unwrap()
            .is_none()
    );
});

store_test!(duplicate_username_key_is_a_conflict, |store| async move {
    store
        .create_account(new_account("alice", None))
        .await
        .unwrap();
    let err = store
        .create_account(new_account("ALICE", None))
        .await
        .unwrap_err();
    match err {
        StoreError::Conflict(msg) => {
            assert!(msg.contains("ALICE") && msg.contains(REALM), "{msg}")
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    // Another realm is another population.
    let mut elsewhere = new_account("alice", None);
    elsewhere.realm = "contacts".into();
    store.create_account(elsewhere).await.unwrap();
});

store_test!(lists_accounts_by_username_with_links, |store| async move {
    for name in ["carol", "alice", "bob"] {
        let a = store.create_account(new_account(name, None)).await.unwrap();
        store
            .upsert_link(a.id, db_link("$argon2id$x"))
            .await
            .unwrap();
    }
    let mut other = new_account("aaron", None);
    other.realm = "contacts".into();
    store.create_account(other).await.unwrap();

    let listed = store.list_accounts(REALM).await.unwrap();
    let names: Vec<_> = listed.iter().map(|a| a.account.username.as_str()).collect();
    assert_eq!(names, ["alice", "bob", "carol"]);
    for a in &listed {
        assert_eq!(a.links.len(), 1);
        assert_eq!(a.links[0].account_id, a.account.id);
    }
});

store_test!(logs_in_by_email_only_when_unambiguous, |store| async move {
    let alice = store
        .create_account(new_account("alice", Some("Alice@Example.org")))
        .await
        .unwrap();
    store
        .create_account(new_account("bob", Some("shared@example.org")))
        .await
        .unwrap();
    store
        .create_account(new_account("carol", Some(" SHARED@example.org")))
        .await
        .unwrap();

    let found = store
        .find_for_login(REALM, "alice@example.org", true)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.account.id, alice.id);
    assert!(
        store
            .find_for_login(REALM, "alice@example.org", false)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .find_for_login(REALM, "shared@example.org", true)
            .await
            .unwrap()
            .is_none()
    );
    // A username match wins without looking at emails.
    assert_eq!(
        store
            .find_for_login(REALM, "alice", true)
            .await
            .unwrap()
            .unwrap()
            .account
            .id,
        alice.id
    );
});

store_test!(
    provisions_account_link_and_stats_together,
    |store| async move {
        let profile = Profile {
            email: Some("Dave@Corp.example".into()),
            name: Some("Dave".into()),
            groups: vec!["staff".into()],
            roles: vec![],
        };
        let link = NewLink {
            provider_id: "corp".into(),
            external_id: Some("uid=dave,ou=people,dc=corp".into()),
            secret: None,
            protected: false,
        };
        let made = store
            .provision(REALM, "Dave", "dave", &profile, link.clone())
            .await
            .unwrap();
        assert_eq!(made.account.groups, vec!["staff"]);
        assert_eq!(made.links.len(), 1);
        assert_eq!(
            made.links[0].external_id.as_deref(),
            Some("uid=dave,ou=people,dc=corp")
        );

        let found = store
            .find_for_login(REALM, "dave@corp.example", true)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found.account, made.account);
        assert_eq!(found.links[0].id, made.links[0].id);
        let stats = store.login_stats(made.account.id).await.unwrap().unwrap();
        assert_eq!((stats.success_count, stats.failure_count), (0, 0));

        // A second provisioning of the same key fails whole: no second account, no stray link.
        let err = store
            .provision(REALM, "DAVE", "dave", &Profile::default(), link)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("already exists"), "{err}");
        assert_eq!(store.list_accounts(REALM).await.unwrap().len(), 1);
    }
);

store_test!(upserts_and_removes_links, |store| async move {
    let a = store
        .create_account(new_account("alice", None))
        .await
        .unwrap();
    let first = store
        .upsert_link(a.id, db_link("$argon2id$one"))
        .await
        .unwrap();
    assert!(!first.protected);
    assert_eq!(first.secret.as_ref().unwrap().expose(), "$argon2id$one");

    let replaced = store
        .upsert_link(
            a.id,
            NewLink {
                protected: true,
                ..db_link("$argon2id$two")
            },
        )
        .await
        .unwrap();
    assert_eq!(replaced.id, first.id, "replaced in place");
    assert!(replaced.protected);

    let ldap = NewLink {
        provider_id: "corp".into(),
        external_id: Some("cn=alice".into()),
        secret: None,
        protected: false,
    };
    store.upsert_link(a.id, ldap).await.unwrap();

    let found = store.find_account(REALM, "alice").await.unwrap().unwrap();
    assert_eq!(found.links.len(), 2);
    let local = found.link_to("local").unwrap();
    assert!(local.protected, "protected flag round-trips");
    assert_eq!(local.secret.as_ref().unwrap().expose(), "$argon2id$two");
    assert!(
        !format!("{local:?}").contains("argon2id"),
        "secret never printed"
    );

    assert!(store.remove_link(a.id, "corp").await.unwrap());
    assert!(!store.remove_link(a.id, "corp").await.unwrap());
    let found = store.find_account(REALM, "alice").await.unwrap().unwrap();
    assert_eq!(found.links.len(), 1);

    let missing = store
        .upsert_link(AccountId::generate(), db_link("x"))
        .await
        .unwrap_err();
    assert!(matches!(missing, StoreError::NotFound(_)), "{missing:?}");
});

store_test!(finds_accounts_by_external_id, |store| async move {
    let a = store
        .create_account(new_account("alice", None))
        .await
        .unwrap();
    let link = NewLink {
        provider_id: "iam".into(),
        external_id: Some("sub-123".into()),
        secret: None,
        protected: false,
    };
    store.upsert_link(a.id, link).await.unwrap();
    let found = store
        .find_by_external_id(REALM, "iam", "sub-123")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.account.id, a.id);
    assert!(
        store
            .find_by_external_id(REALM, "iam", "sub-999")
            .await
            .unwrap()
            .is_none()
    );
});

store_test!(disables_locks_and_sets_roles, |store| async move {
    let a = store
        .create_account(new_account("alice", None))
        .await
        .unwrap();
    store
        .set_disabled(a.id, Some("left the company".into()))
        .await
        .unwrap();
    store
        .set_roles(a.id, vec!["admin".into(), "auditor".into()])
        .await
        .unwrap();
    let until = chrono::Utc::now() + chrono::Duration::minutes(15);
    store.set_locked_until(a.id, Some(until)).await.unwrap();

    let found = store
        .find_account(REALM, "alice")
        .await
        .unwrap()
        .unwrap()
        .account;
    assert_eq!(found.disabled_reason.as_deref(), Some("left the company"));
    assert_eq!(found.roles, vec!["admin", "auditor"]);
    assert!(found.is_locked_at(chrono::Utc::now()));

    store.set_disabled(a.id, None).await.unwrap();
    store.set_locked_until(a.id, None).await.unwrap();
    let found = store
        .find_account(REALM, "alice")
        .await
        .unwrap()
        .unwrap()
        .account;
    assert_eq!(found.disabled_reason, None);
    assert_eq!(found.locked_until, None);

    let missing = store
        .set_disabled(AccountId::generate(), None)
        .await
        .unwrap_err();
    assert!(matches!(missing, StoreError::NotFound(_)), "{missing:?}");
});

store_test!(updates_profiles_and_rehashed_secrets, |store| async move {
    let a = store
        .create_account(new_account("alice", Some("old@example.org")))
        .await
        .unwrap();
    let link = store.upsert_link(a.id, db_link("$old")).await.unwrap();
    store.update_link_secret(link.id, "$new").await.unwrap();

    let profile = Profile {
        email: Some("New@Example.org".into()),
        name: None,
        groups: vec!["ops".into()],
        roles: vec![],
    };
    store.update_profile(a.id, &profile).await.unwrap();

    let found = store
        .find_for_login(REALM, "new@example.org", true)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.account.email.as_deref(), Some("New@Example.org"));
    assert_eq!(found.account.name.as_deref(), Some("alice Example"), "kept");
    assert_eq!(found.account.groups, vec!["ops"]);
    assert_eq!(found.links[0].secret.as_ref().unwrap().expose(), "$new");

    assert!(
        store
            .update_link_secret(uuid::Uuid::now_v7(), "$x")
            .await
            .is_err()
    );
    assert!(
        store
            .update_profile(AccountId::generate(), &profile)
            .await
            .is_err()
    );
});
