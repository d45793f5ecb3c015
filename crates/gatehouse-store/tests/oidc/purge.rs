//! purge_expired: removes what expired and nothing else, without un-revoking anything.

use super::*;

store_test!(
    purge_expired_removes_only_expired_rows,
    |store| async move {
        let t = now();
        let past = t - Duration::seconds(1);

        let live_session = session("s-live", t);
        let dead_session = BrowserSession {
            expires_at: past,
            ..session("s-dead", t)
        };
        for s in [&live_session, &dead_session] {
            store.create_session(s).await.unwrap();
        }
        let live_tx = LoginTransaction {
            id_hash: hash("t-live"),
            realm: REALM.to_owned(),
            request: json!({}),
            csrf_hash: hash("csrf"),
            username: None,
            created_at: t,
            expires_at: t + Duration::minutes(5),
        };
        let dead_tx = LoginTransaction {
            id_hash: hash("t-dead"),
            expires_at: past,
            ..live_tx.clone()
        };
        for tx in [&live_tx, &dead_tx] {
            store.create_login_transaction(tx).await.unwrap();
        }
        // Codes stay an hour past expiry so a late replay is still recognised.
        let live_code = code("c-live", t);
        let recent_code = AuthorizationCode {
            expires_at: t - Duration::minutes(10),
            ..code("c-recent", t)
        };
        let dead_code = AuthorizationCode {
            expires_at: t - Duration::minutes(61),
            ..code("c-dead", t)
        };
        for c in [&live_code, &recent_code, &dead_code] {
            store.insert_code(c).await.unwrap();
        }
        store
            .consume_code(REALM, &recent_code.code_hash, t - Duration::minutes(20))
            .await
            .unwrap();
        let live_refresh = refresh("r-live", "fam-1", t);
        let dead_refresh = RefreshTokenRecord {
            expires_at: past,
            ..refresh("r-dead", "fam-2", t)
        };
        for r in [&live_refresh, &dead_refresh] {
            store.insert_refresh_token(r).await.unwrap();
        }
        let live_access = access("a-live", None, t);
        let dead_access = AccessTokenRecord {
            expires_at: past,
            ..access("a-dead", None, t)
        };
        for a in [&live_access, &dead_access] {
            store.record_access_token(a).await.unwrap();
        }
        let mut dead_key = key("k-dead", t - Duration::days(9));
        dead_key.expires_at = Some(past);
        let mut leaving_key = key("k-leaving", t - Duration::days(2));
        leaving_key.expires_at = Some(t + Duration::hours(1));
        for k in [&dead_key, &leaving_key, &key("k-current", t)] {
            store.insert_signing_key(k).await.unwrap();
        }

        assert_eq!(store.purge_expired(t).await.unwrap(), 6);
        assert_eq!(store.purge_expired(t).await.unwrap(), 0);

        // Found even past their expiry only if still stored: delete_session ignores expiry.
        assert!(
            store
                .delete_session(REALM, &dead_session.id_hash)
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            store
                .find_session(REALM, &live_session.id_hash, t)
                .await
                .unwrap()
                .is_some()
        );
        assert!(
            !store
                .delete_login_transaction(&dead_tx.id_hash)
                .await
                .unwrap()
        );
        assert!(
            store
                .find_login_transaction(REALM, &live_tx.id_hash, t)
                .await
                .unwrap()
                .is_some()
        );
        assert_eq!(
            store
                .consume_code(REALM, &dead_code.code_hash, t)
                .await
                .unwrap(),
            CodeUse::Missing
        );
        assert!(matches!(
            store
                .consume_code(REALM, &recent_code.code_hash, t)
                .await
                .unwrap(),
            CodeUse::Replayed(_)
        ));
        assert!(matches!(
            store
                .consume_code(REALM, &live_code.code_hash, t)
                .await
                .unwrap(),
            CodeUse::Fresh(_)
        ));
        assert!(
            store
                .find_refresh_token(REALM, &dead_refresh.token_hash)
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            store
                .find_refresh_token(REALM, &live_refresh.token_hash)
                .await
                .unwrap()
                .is_some()
        );
        // An access-token row gone is "never recorded": not revoked, and past its exp anyway.
        store.revoke_access_token(&dead_access, t).await.unwrap();
        assert!(
            store
                .is_access_token_revoked(REALM, "a-dead")
                .await
                .unwrap()
        );
        assert!(
            !store
                .is_access_token_revoked(REALM, "a-live")
                .await
                .unwrap()
        );
        let kids: Vec<String> = store
            .signing_keys(REALM, t - Duration::days(30))
            .await
            .unwrap()
            .into_iter()
            .map(|k| k.kid)
            .collect();
        assert_eq!(kids, ["k-current", "k-leaving"]);
    }
);

store_test!(purge_does_not_revive_a_revoked_family, |store| async move {
    let t = now();
    // The revoked member expires first; a member inserted while the family was being revoked
    // (so not revoked itself) lives on.
    let old = RefreshTokenRecord {
        expires_at: t - Duration::seconds(1),
        ..refresh("r-old", "fam-1", t - Duration::days(30))
    };
    store.insert_refresh_token(&old).await.unwrap();
    store
        .revoke_family("fam-1", t - Duration::minutes(5))
        .await
        .unwrap();
    store
        .insert_refresh_token(&refresh("r-late", "fam-1", t))
        .await
        .unwrap();
    store
        .record_access_token(&access("a-late", Some("fam-1"), t))
        .await
        .unwrap();

    // Same for a replayed code purged after its grace period.
    let c = AuthorizationCode {
        expires_at: t - Duration::hours(2),
        family_id: Some("fam-2".to_owned()),
        ..code("c1", t - Duration::hours(2))
    };
    store.insert_code(&c).await.unwrap();
    store
        .revoke_code_tokens(&c.code_hash, t - Duration::hours(2))
        .await
        .unwrap();
    store
        .insert_refresh_token(&refresh("r-code", "fam-2", t))
        .await
        .unwrap();
    let mut by_code = access("a-code", None, t);
    by_code.code_hash = Some(c.code_hash.clone());
    store.record_access_token(&by_code).await.unwrap();

    assert_eq!(
        store.purge_expired(t).await.unwrap(),
        2,
        "r-old and the code"
    );
    for name in ["r-late", "r-code"] {
        assert!(matches!(
            store
                .use_refresh_token(REALM, &hash(name), t)
                .await
                .unwrap(),
            RefreshUse::Revoked(_)
        ));
    }
    assert!(
        store
            .is_access_token_revoked(REALM, "a-late")
            .await
            .unwrap()
    );
    assert!(
        store
            .is_access_token_revoked(REALM, "a-code")
            .await
            .unwrap()
    );
});

store_test!(purge_runs_from_every_instance_at_once, |store| async move {
    let t = now();
    for i in 0..20 {
        let dead = t - Duration::seconds(1);
        let s = BrowserSession {
            expires_at: dead,
            ..session(&format!("s{i}"), t)
        };
        store.create_session(&s).await.unwrap();
        let mut r = refresh(&format!("r{i}"), &format!("fam-{}", i % 3), t);
        r.expires_at = dead;
        r.revoked_at = (i % 2 == 0).then_some(dead);
        store.insert_refresh_token(&r).await.unwrap();
        let a = AccessTokenRecord {
            expires_at: dead,
            ..access(&format!("a{i}"), Some("fam-0"), t)
        };
        store.record_access_token(&a).await.unwrap();
    }
    let deleted = race(&store, &store.url(), |st| async move {
        st.purge_expired(now()).await
    })
    .await
    .into_iter()
    .map(Result::unwrap)
    .sum::<u64>();
    assert_eq!(deleted, 60);
});
