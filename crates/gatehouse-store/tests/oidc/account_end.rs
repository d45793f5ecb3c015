//! Disabling, locking or superseding an account ends it everywhere, in the same operation: its
//! sessions go, its refresh tokens (offline ones too), access tokens and codes are revoked.
//! Another account's are untouched.

use super::*;

/// An account with a session, an offline refresh token, an access token of that family and an
/// unredeemed code; returns its id.
async fn holder(store: &Store, name: &str, t: DateTime<Utc>) -> AccountId {
    let account = store
        .create_account(common::new_account(name, None))
        .await
        .unwrap()
        .id;
    let session = BrowserSession {
        account_id: account,
        ..super::session(&format!("s-{name}"), t)
    };
    store.create_session(&session).await.unwrap();
    let refresh = RefreshTokenRecord {
        account_id: account,
        scope: "openid offline_access".into(),
        session_id_hash: Some(session.id_hash.clone()),
        ..super::refresh(&format!("r-{name}"), &format!("f-{name}"), t)
    };
    store.insert_refresh_token(&refresh).await.unwrap();
    let access = AccessTokenRecord {
        account_id: Some(account),
        session_id_hash: Some(session.id_hash.clone()),
        ..super::access(&format!("a-{name}"), Some(&format!("f-{name}")), t)
    };
    store.record_access_token(&access).await.unwrap();
    // One code redeemed (its tokens may still be being issued), one not yet.
    for (code, redeem) in [("c", true), ("u", false)] {
        let code = AuthorizationCode {
            account_id: account,
            ..super::code(&format!("{code}-{name}"), t)
        };
        store.insert_code(&code).await.unwrap();
        if redeem {
            let used = store.consume_code(REALM, &code.code_hash, t).await.unwrap();
            assert!(matches!(used, CodeUse::Fresh(_)));
        }
    }
    account
}

/// Whether `name`'s session, refresh token and access token all still work.
async fn alive(store: &Store, name: &str, t: DateTime<Utc>) -> [bool; 3] {
    let session = store
        .find_session(REALM, &hash(&format!("s-{name}")), t)
        .await
        .unwrap()
        .is_some();
    let refresh = store
        .find_refresh_token(REALM, &hash(&format!("r-{name}")))
        .await
        .unwrap()
        .is_some_and(|r| r.revoked_at.is_none());
    let access = !store
        .is_access_token_revoked(REALM, &format!("a-{name}"))
        .await
        .unwrap();
    [session, refresh, access]
}

store_test!(
    disabling_locking_or_superseding_ends_sessions_and_revokes_tokens,
    |store| async move {
        let t = now();
        for name in ["dis", "lock", "sup", "audited", "bystander"] {
            holder(&store, name, t).await;
            assert_eq!(alive(&store, name, t).await, [true; 3], "{name} before");
        }
        let id = |name: &str| {
            let store = store.clone();
            let name = name.to_owned();
            async move {
                store
                    .find_account(REALM, &name)
                    .await
                    .unwrap()
                    .unwrap()
                    .account
                    .id
            }
        };

        store
            .set_disabled(id("dis").await, Some("left".into()))
            .await
            .unwrap();
        store
            .set_locked_until(id("lock").await, Some(Utc::now() + Duration::minutes(15)))
            .await
            .unwrap();
        // Supersession and the broker's automatic disables write through the audited variant.
        store
            .set_disabled_audited(
                REALM,
                id("sup").await,
                "sup",
                Some("superseded by corp".into()),
                "supersession",
                "superseded by corp",
            )
            .await
            .unwrap();
        for name in ["dis", "lock", "sup"] {
            assert_eq!(alive(&store, name, t).await, [false; 3], "{name} after");
        }
        // The code not redeemed yet is gone; tokens still being issued from the redeemed one
        // read as revoked.
        assert!(matches!(
            store.consume_code(REALM, &hash("u-dis"), t).await.unwrap(),
            CodeUse::Missing
        ));
        let from_code = AccessTokenRecord {
            code_hash: Some(hash("c-dis")),
            family_id: None,
            ..super::access("from-code", None, t)
        };
        store.record_access_token(&from_code).await.unwrap();
        assert!(
            store
                .is_access_token_revoked(REALM, "from-code")
                .await
                .unwrap()
        );

        // Enabling again brings nothing back: the sessions and tokens are gone, not hidden.
        store.set_disabled(id("dis").await, None).await.unwrap();
        store
            .set_locked_until(id("lock").await, None)
            .await
            .unwrap();
        for name in ["dis", "lock"] {
            assert_eq!(
                alive(&store, name, t).await,
                [false; 3],
                "{name} re-enabled"
            );
        }

        // Restoring (reason None) and a lock that already ended end nothing.
        store
            .set_disabled_audited(
                REALM,
                id("audited").await,
                "audited",
                None,
                "supersession",
                "restored",
            )
            .await
            .unwrap();
        store
            .set_locked_until(id("audited").await, Some(Utc::now() - Duration::minutes(1)))
            .await
            .unwrap();
        assert_eq!(alive(&store, "audited", t).await, [true; 3]);
        assert_eq!(alive(&store, "bystander", t).await, [true; 3]);

        // "Log out everywhere" without a status change.
        assert!(
            store
                .end_account_sessions(id("bystander").await, Utc::now())
                .await
                .unwrap()
                >= 3
        );
        assert_eq!(alive(&store, "bystander", t).await, [false; 3]);
    }
);
