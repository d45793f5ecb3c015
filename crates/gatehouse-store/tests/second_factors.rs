//! Second-factor credentials (issue #23) on SQLite and PostgreSQL: an app's set-up, confirmation
//! and replay guard, recovery codes used once, email codes with failures and single use; each
//! single-use rule holds against concurrent callers.

mod common;

use std::sync::Arc;

use chrono::{Duration, SubsecRound, Utc};
use common::new_account;
use gatehouse_core::RepoError;
use gatehouse_core::second_factor::{
    EmailCodeRecord, EmailCodeRepository, RecoveryCodeRepository, TotpRepository,
};
use gatehouse_store::store_test;
use uuid::Uuid;

store_test!(
    an_app_is_set_up_confirmed_and_never_accepts_a_step_twice,
    |store| async move {
        let alice = store
            .create_account(new_account("alice", None))
            .await
            .unwrap();
        let now = Utc::now().trunc_subsecs(6);
        assert!(store.totp(alice.id).await.unwrap().is_none());

        store.begin_totp(alice.id, b"sealed-1", now).await.unwrap();
        // A second start replaces the unconfirmed set-up.
        store.begin_totp(alice.id, b"sealed-2", now).await.unwrap();
        let pending = store.totp(alice.id).await.unwrap().unwrap();
        assert_eq!(pending.sealed_secret, b"sealed-2");
        assert!(!pending.confirmed);
        assert!(
            !store.accept_totp_step(alice.id, 10).await.unwrap(),
            "unconfirmed apps log nobody in"
        );

        assert!(store.confirm_totp(alice.id, 100).await.unwrap());
        assert!(!store.confirm_totp(alice.id, 101).await.unwrap());
        let err = store
            .begin_totp(alice.id, b"sealed-3", now)
            .await
            .unwrap_err();
        assert!(matches!(err, RepoError::Conflict(_)), "{err:?}");

        assert!(
            !store.accept_totp_step(alice.id, 100).await.unwrap(),
            "the confirming step"
        );
        assert!(!store.accept_totp_step(alice.id, 99).await.unwrap());
        assert!(store.accept_totp_step(alice.id, 101).await.unwrap());
        assert_eq!(
            store.totp(alice.id).await.unwrap().unwrap().last_step,
            Some(101)
        );

        // Sixteen instances accepting the same step: one wins.
        let store = Arc::new(store);
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                store.accept_totp_step(alice.id, 102).await.unwrap()
            }));
        }
        let mut won = 0;
        for t in tasks {
            won += usize::from(t.await.unwrap());
        }
        assert_eq!(won, 1);

        assert!(store.remove_totp(alice.id).await.unwrap());
        assert!(!store.remove_totp(alice.id).await.unwrap());
        store.begin_totp(alice.id, b"sealed-4", now).await.unwrap();
    }
);

store_test!(
    recovery_codes_work_once_and_are_replaced_as_a_set,
    |store| async move {
        let alice = store
            .create_account(new_account("alice", None))
            .await
            .unwrap();
        let bob = store
            .create_account(new_account("bob", None))
            .await
            .unwrap();
        let now = Utc::now();
        let digests: Vec<String> = (0..8).map(|i| format!("alice-digest-{i}")).collect();
        store
            .replace_recovery_codes(alice.id, &digests, now)
            .await
            .unwrap();
        assert_eq!(store.remaining_recovery_codes(alice.id).await.unwrap(), 8);

        assert!(
            !store
                .use_recovery_code(bob.id, "alice-digest-0", now)
                .await
                .unwrap()
        );
        assert!(
            store
                .use_recovery_code(alice.id, "alice-digest-0", now)
                .await
                .unwrap()
        );
        assert!(
            !store
                .use_recovery_code(alice.id, "alice-digest-0", now)
                .await
                .unwrap()
        );
        assert_eq!(store.remaining_recovery_codes(alice.id).await.unwrap(), 7);

        let store = Arc::new(store);
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                store
                    .use_recovery_code(alice.id, "alice-digest-1", Utc::now())
                    .await
                    .unwrap()
            }));
        }
        let mut won = 0;
        for t in tasks {
            won += usize::from(t.await.unwrap());
        }
        assert_eq!(won, 1);
        assert_eq!(store.remaining_recovery_codes(alice.id).await.unwrap(), 6);

        let fresh: Vec<String> = (0..8).map(|i| format!("alice-fresh-{i}")).collect();
        store
            .replace_recovery_codes(alice.id, &fresh, now)
            .await
            .unwrap();
        assert_eq!(store.remaining_recovery_codes(alice.id).await.unwrap(), 8);
        assert!(
            !store
                .use_recovery_code(alice.id, "alice-digest-2", now)
                .await
                .unwrap()
        );
        assert_eq!(store.remove_recovery_codes(alice.id).await.unwrap(), 8);
        assert_eq!(store.remaining_recovery_codes(alice.id).await.unwrap(), 0);
    }
);

store_test!(
    email_codes_count_failures_and_are_used_once,
    |store| async move {
        let alice = store
            .create_account(new_account("alice", None))
            .await
            .unwrap();
        let now = Utc::now().trunc_subsecs(6);
        let record = EmailCodeRecord {
            id: Uuid::new_v4(),
            account_id: alice.id,
            digest: "d1".into(),
            salt: "s1".into(),
            sent_at: now,
            expires_at: now + Duration::minutes(15),
            failures: 0,
            used: false,
        };
        store.put_email_code(&record).await.unwrap();
        assert_eq!(store.email_code(record.id).await.unwrap().unwrap(), record);
        assert_eq!(store.fail_email_code(record.id).await.unwrap(), 1);
        assert_eq!(store.fail_email_code(record.id).await.unwrap(), 2);

        // A resend replaces the code, keeps the failures.
        let resent = EmailCodeRecord {
            digest: "d2".into(),
            salt: "s2".into(),
            sent_at: now + Duration::minutes(1),
            ..record.clone()
        };
        store.put_email_code(&resent).await.unwrap();
        let stored = store.email_code(record.id).await.unwrap().unwrap();
        assert_eq!((stored.digest.as_str(), stored.failures), ("d2", 2));

        assert!(
            !store
                .use_email_code(record.id, 5, now + Duration::minutes(16))
                .await
                .unwrap(),
            "expired"
        );
        assert!(
            !store.use_email_code(record.id, 2, now).await.unwrap(),
            "too many failures"
        );
        assert!(store.use_email_code(record.id, 5, now).await.unwrap());
        assert!(
            !store.use_email_code(record.id, 5, now).await.unwrap(),
            "used once"
        );

        // Purged once expired.
        store
            .purge_expired(now + Duration::minutes(20))
            .await
            .unwrap();
        assert!(store.email_code(record.id).await.unwrap().is_none());
    }
);

store_test!(
    an_administrators_reset_removes_both_and_is_audited,
    |store| async move {
        use gatehouse_store::AuditQuery;
        let alice = store
            .create_account(new_account("alice", None))
            .await
            .unwrap();
        let now = Utc::now();
        store.begin_totp(alice.id, b"sealed", now).await.unwrap();
        assert!(store.confirm_totp(alice.id, 1).await.unwrap());
        store
            .replace_recovery_codes(alice.id, &["d".to_owned()], now)
            .await
            .unwrap();
        assert!(
            store
                .reset_second_factors_audited(common::REALM, alice.id, "alice", "mfa_reset")
                .await
                .unwrap()
        );
        assert!(store.totp(alice.id).await.unwrap().is_none());
        assert_eq!(store.remaining_recovery_codes(alice.id).await.unwrap(), 0);
        assert!(
            !store
                .reset_second_factors_audited(common::REALM, alice.id, "alice", "mfa_reset")
                .await
                .unwrap()
        );
        let events = store
            .audit_events(&AuditQuery::realm(common::REALM, 10))
            .await
            .unwrap();
        let results: Vec<&str> = events
            .iter()
            .filter(|e| e.kind == "mfa_reset")
            .map(|e| e.result.as_str())
            .collect();
        assert_eq!(results, ["nothing_enrolled", "success"]);
    }
);
