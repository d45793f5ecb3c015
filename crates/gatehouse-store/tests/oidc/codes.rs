//! Authorization codes, and the "two instances" guarantee across every kind of record.

use super::*;

store_test!(consume_code_fresh_then_replayed, |store| async move {
    let t = now();
    let c = code("c1", t);
    store.insert_code(&c).await.unwrap();
    assert!(matches!(
        store.insert_code(&c).await.unwrap_err(),
        StoreError::Conflict(_)
    ));

    assert_eq!(
        store.consume_code("other", &c.code_hash, t).await.unwrap(),
        CodeUse::Missing
    );
    let used = t + Duration::seconds(2);
    let fresh = store.consume_code(REALM, &c.code_hash, used).await.unwrap();
    assert_eq!(
        fresh,
        CodeUse::Fresh(AuthorizationCode {
            used_at: Some(used),
            ..c.clone()
        })
    );
    match store.consume_code(REALM, &c.code_hash, used).await.unwrap() {
        CodeUse::Replayed(again) => assert_eq!(again.used_at, Some(used)),
        other => panic!("expected a replay, got {other:?}"),
    }
    // Replayed stays Replayed after expiry: a late replay must still revoke what it issued.
    let late = c.expires_at + Duration::minutes(10);
    assert!(matches!(
        store.consume_code(REALM, &c.code_hash, late).await.unwrap(),
        CodeUse::Replayed(_)
    ));

    assert!(store.set_code_family(&c.code_hash, "fam-1").await.unwrap());
    assert!(!store.set_code_family(&hash("nope"), "fam-1").await.unwrap());
    match store.consume_code(REALM, &c.code_hash, used).await.unwrap() {
        CodeUse::Replayed(again) => assert_eq!(again.family_id.as_deref(), Some("fam-1")),
        other => panic!("expected a replay, got {other:?}"),
    }
});

store_test!(consume_code_expired_and_missing, |store| async move {
    let t = now();
    let c = code("c1", t);
    store.insert_code(&c).await.unwrap();
    for _ in 0..2 {
        // Not marked used: an expired code is refused the same way each time.
        assert_eq!(
            store
                .consume_code(REALM, &c.code_hash, c.expires_at)
                .await
                .unwrap(),
            CodeUse::Expired(c.clone())
        );
    }
    assert_eq!(
        store.consume_code(REALM, &hash("nope"), t).await.unwrap(),
        CodeUse::Missing
    );
});

store_test!(
    consume_code_concurrently_exactly_one_fresh,
    |store| async move {
        let c = code("c1", now());
        store.insert_code(&c).await.unwrap();
        let h = c.code_hash.clone();
        let results = race(&store, &store.url(), |st| {
            let h = h.clone();
            async move { st.consume_code(REALM, &h, now()).await.unwrap() }
        })
        .await;
        let fresh = results
            .iter()
            .filter(|r| matches!(r, CodeUse::Fresh(_)))
            .count();
        let replayed = results
            .iter()
            .filter(|r| matches!(r, CodeUse::Replayed(_)))
            .count();
        assert_eq!((fresh, replayed), (1, RACERS - 1));
    }
);

store_test!(
    two_instances_share_sessions_codes_and_tokens,
    |store| async move {
        let a = store.store().clone();
        let b = Store::connect(&store.url()).await.unwrap();
        let t = now();

        let s = session("s1", t);
        a.create_session(&s).await.unwrap();
        assert_eq!(
            b.find_session(REALM, &s.id_hash, t).await.unwrap(),
            Some(s.clone())
        );
        assert!(b.delete_session(REALM, &s.id_hash).await.unwrap().is_some());
        assert!(
            a.find_session(REALM, &s.id_hash, t)
                .await
                .unwrap()
                .is_none()
        );

        let c = code("c1", t);
        b.insert_code(&c).await.unwrap();
        assert!(matches!(
            a.consume_code(REALM, &c.code_hash, t).await.unwrap(),
            CodeUse::Fresh(_)
        ));
        assert!(matches!(
            b.consume_code(REALM, &c.code_hash, t).await.unwrap(),
            CodeUse::Replayed(_)
        ));

        let r = refresh("r1", "fam-1", t);
        a.insert_refresh_token(&r).await.unwrap();
        assert_eq!(
            b.find_refresh_token(REALM, &r.token_hash).await.unwrap(),
            Some(r.clone())
        );
        assert!(matches!(
            b.use_refresh_token(REALM, &r.token_hash, t).await.unwrap(),
            RefreshUse::Fresh(_)
        ));
        assert!(matches!(
            a.use_refresh_token(REALM, &r.token_hash, t).await.unwrap(),
            RefreshUse::Reused(_)
        ));

        let tx = transaction("t1", t);
        b.create_login_transaction(&tx).await.unwrap();
        assert!(
            a.find_login_transaction(REALM, &tx.id_hash, t)
                .await
                .unwrap()
                .is_some()
        );

        a.insert_signing_key(&key("k1", t)).await.unwrap();
        assert_eq!(b.signing_keys(REALM, t).await.unwrap().len(), 1);
        b.close().await.unwrap();
    }
);
