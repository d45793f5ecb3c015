//! Password history and brute-force counters on SQLite and PostgreSQL.

use chrono::{Duration, Utc};
use gatehouse_core::protection::{PASSWORD_KIND, ThrottleScope, TryKeys};
use gatehouse_core::{AccountId, ProtectionRepository};

use crate::{NewAccount, PasswordChange, Store};

async fn alice(store: &Store) -> AccountId {
    store
        .create_account(NewAccount {
            realm: "main".to_owned(),
            username: "alice".to_owned(),
            username_key: "alice".to_owned(),
            email: None,
            name: None,
            roles: vec![],
        })
        .await
        .unwrap()
        .id
}

fn change(account: AccountId, phc: &str) -> PasswordChange<'_> {
    PasswordChange {
        realm: "main",
        username: "alice",
        account,
        provider: "local",
        phc,
        protected: false,
        keep: 5,
        end_sessions: true,
    }
}

crate::store_test!(
    the_history_keeps_the_latest_passwords_newest_first,
    |store| async move {
        let id = alice(&store).await;
        assert_eq!(store.password_changed_at(id, "local").await.unwrap(), None);
        let before = Utc::now() - Duration::seconds(1);
        for i in 1..=7 {
            store
                .change_link_password(change(id, &format!("$argon2id$p{i}")))
                .await
                .unwrap();
        }
        let history: Vec<String> = store
            .password_history(id, "local", 10)
            .await
            .unwrap()
            .iter()
            .map(|s| s.expose().to_owned())
            .collect();
        assert_eq!(
            history,
            [
                "$argon2id$p7",
                "$argon2id$p6",
                "$argon2id$p5",
                "$argon2id$p4",
                "$argon2id$p3"
            ]
        );
        assert_eq!(
            store.password_history(id, "local", 2).await.unwrap().len(),
            2
        );
        let link = store.find_account("main", "alice").await.unwrap().unwrap();
        let secret = link.link_to("local").unwrap().secret.as_ref().unwrap();
        assert_eq!(secret.expose(), "$argon2id$p7");
        let changed = store
            .password_changed_at(id, "local")
            .await
            .unwrap()
            .unwrap();
        assert!(changed >= before);
        // Another provider's history is its own.
        assert!(
            store
                .password_history(id, "other", 10)
                .await
                .unwrap()
                .is_empty()
        );
    }
);

crate::store_test!(
    failures_count_per_key_and_forget_stale_ones,
    |store| async move {
        let id = alice(&store).await;
        let keys = TryKeys::new(PASSWORD_KIND, Some(id), "alice", Some("10.0.0.1"));
        let now = Utc::now();
        let long_ago = now - Duration::hours(24);
        for _ in 0..3 {
            store
                .add_failure("main", &keys.all(), now, long_ago)
                .await
                .unwrap();
        }
        let counters = store.counters("main", &keys.all()).await.unwrap();
        assert_eq!(counters.len(), 3);
        assert!(counters.iter().all(|c| c.failures == 3));
        assert!(counters.iter().all(|c| c.key.kind == PASSWORD_KIND));
        // Another realm and another kind count apart.
        assert!(
            store
                .counters("other", &keys.all())
                .await
                .unwrap()
                .is_empty()
        );
        let otp = TryKeys::new("totp", Some(id), "alice", Some("10.0.0.1"));
        assert!(store.counters("main", &otp.all()).await.unwrap().is_empty());

        // A failure after the reset window starts from one again.
        let later = now + Duration::hours(13);
        let after = store
            .add_failure(
                "main",
                std::slice::from_ref(&keys.login_ip),
                later,
                later - Duration::hours(12),
            )
            .await
            .unwrap();
        assert_eq!(after[0].failures, 1);

        store.clear("main", &keys.login_ip).await.unwrap();
        let left = store.counters("main", &keys.all()).await.unwrap();
        assert_eq!(left.len(), 2);
        assert!(left.iter().all(|c| c.key.scope != ThrottleScope::LoginIp));

        // `user show` sees the account's own counters, `user unlock` removes them; the IP's
        // counter is about no account and stays.
        assert_eq!(store.account_counters("main", id).await.unwrap().len(), 1);
        assert_eq!(store.unlock_account("main", id, "alice").await.unwrap(), 1);
        let events = store.recent_audit_events("main", 20).await.unwrap();
        assert!(
            events.iter().any(|e| e.kind == "account_unlock"),
            "{events:?}"
        );
        let left = store.counters("main", &keys.all()).await.unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].key.scope, ThrottleScope::Ip);
        assert_eq!(
            store
                .purge_throttle(later + Duration::hours(1))
                .await
                .unwrap(),
            1
        );
    }
);

crate::store_test!(concurrent_failures_are_each_counted, |store| async move {
    let keys = TryKeys::new(PASSWORD_KIND, None, "mallory", Some("192.0.2.1"));
    let now = Utc::now();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let store = store.store().clone();
        let keys = keys.all();
        tasks.push(tokio::spawn(async move {
            store
                .add_failure("main", &keys, now, now - Duration::hours(12))
                .await
                .unwrap()
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let counters = store.counters("main", &keys.all()).await.unwrap();
    assert!(counters.iter().all(|c| c.failures == 8), "{counters:?}");
});
