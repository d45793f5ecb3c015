//! Refresh-token rotation and families, access-token revocation.

use super::*;
use gatehouse_store::entities::access_token;
use sea_orm::EntityTrait;

async fn revoked_at(store: &Store, jti: &str) -> Option<DateTime<Utc>> {
    access_token::Entity::find_by_id(jti)
        .one(store.connection())
        .await
        .unwrap()
        .unwrap()
        .revoked_at
}

store_test!(refresh_tokens_rotate_once, |store| async move {
    let t = now();
    let r = refresh("r1", "fam-1", t);
    store.insert_refresh_token(&r).await.unwrap();
    assert!(matches!(
        store.insert_refresh_token(&r).await.unwrap_err(),
        StoreError::Conflict(_)
    ));
    assert_eq!(
        store
            .find_refresh_token(REALM, &r.token_hash)
            .await
            .unwrap(),
        Some(r.clone())
    );
    assert_eq!(
        store
            .find_refresh_token("other", &r.token_hash)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .use_refresh_token("other", &r.token_hash, t)
            .await
            .unwrap(),
        RefreshUse::Missing
    );
    assert_eq!(
        store
            .use_refresh_token(REALM, &hash("nope"), t)
            .await
            .unwrap(),
        RefreshUse::Missing
    );

    let used = t + Duration::minutes(1);
    let rotated = RefreshTokenRecord {
        used_at: Some(used),
        ..r.clone()
    };
    assert_eq!(
        store
            .use_refresh_token(REALM, &r.token_hash, used)
            .await
            .unwrap(),
        RefreshUse::Fresh(rotated.clone())
    );
    // The reuse revokes the family in the same call: nothing else has to follow it.
    let reused = t + Duration::minutes(2);
    let revoked = RefreshTokenRecord {
        revoked_at: Some(reused),
        ..rotated.clone()
    };
    assert_eq!(
        store
            .use_refresh_token(REALM, &r.token_hash, reused)
            .await
            .unwrap(),
        RefreshUse::Reused(revoked.clone())
    );
    assert_eq!(
        store
            .find_refresh_token(REALM, &r.token_hash)
            .await
            .unwrap(),
        Some(revoked)
    );
    assert!(matches!(
        store
            .use_refresh_token(REALM, &r.token_hash, reused)
            .await
            .unwrap(),
        RefreshUse::Revoked(_)
    ));
});

store_test!(
    a_reused_refresh_token_revokes_its_family_in_the_same_call,
    |store| async move {
        let t = now();
        let first = refresh("r1", "fam-1", t);
        store.insert_refresh_token(&first).await.unwrap();
        store
            .record_access_token(&access("a1", Some("fam-1"), t))
            .await
            .unwrap();
        assert!(matches!(
            store
                .use_refresh_token(REALM, &first.token_hash, t)
                .await
                .unwrap(),
            RefreshUse::Fresh(_)
        ));
        // The rotation's successor, and an access token issued with it.
        let second = refresh("r2", "fam-1", t);
        store.insert_refresh_token(&second).await.unwrap();
        store
            .record_access_token(&access("a2", Some("fam-1"), t))
            .await
            .unwrap();
        assert!(matches!(
            store
                .use_refresh_token(REALM, &first.token_hash, t)
                .await
                .unwrap(),
            RefreshUse::Reused(_)
        ));
        // No revoke_family call: the reuse itself revoked the whole family.
        assert!(
            store
                .find_refresh_token(REALM, &second.token_hash)
                .await
                .unwrap()
                .unwrap()
                .revoked_at
                .is_some()
        );
        assert!(matches!(
            store
                .use_refresh_token(REALM, &second.token_hash, t)
                .await
                .unwrap(),
            RefreshUse::Revoked(_)
        ));
        for jti in ["a1", "a2"] {
            assert!(store.is_access_token_revoked(REALM, jti).await.unwrap());
        }
    }
);

store_test!(refresh_token_expired_and_revoked, |store| async move {
    let t = now();
    let r = refresh("r1", "fam-1", t);
    store.insert_refresh_token(&r).await.unwrap();
    for _ in 0..2 {
        assert_eq!(
            store
                .use_refresh_token(REALM, &r.token_hash, r.expires_at)
                .await
                .unwrap(),
            RefreshUse::Expired(r.clone())
        );
    }
    let mut revoked = refresh("r2", "fam-2", t);
    revoked.revoked_at = Some(t);
    store.insert_refresh_token(&revoked).await.unwrap();
    assert_eq!(
        store
            .use_refresh_token(REALM, &revoked.token_hash, t)
            .await
            .unwrap(),
        RefreshUse::Revoked(revoked.clone())
    );
    // Revoked wins over expired.
    let late = revoked.expires_at + Duration::days(1);
    assert!(matches!(
        store
            .use_refresh_token(REALM, &revoked.token_hash, late)
            .await
            .unwrap(),
        RefreshUse::Revoked(_)
    ));
});

store_test!(
    use_refresh_token_concurrently_exactly_one_fresh,
    |store| async move {
        let r = refresh("r1", "fam-1", now());
        store.insert_refresh_token(&r).await.unwrap();
        let h = r.token_hash.clone();
        let results = race(&store, &store.url(), |st| {
            let h = h.clone();
            async move { st.use_refresh_token(REALM, &h, now()).await.unwrap() }
        })
        .await;
        let fresh = results
            .iter()
            .filter(|r| matches!(r, RefreshUse::Fresh(_)))
            .count();
        let reused = results
            .iter()
            .filter(|r| matches!(r, RefreshUse::Reused(_)))
            .count();
        // The first reuse revoked the family: later losers find it revoked.
        let revoked = results
            .iter()
            .filter(|r| matches!(r, RefreshUse::Revoked(_)))
            .count();
        assert_eq!((fresh, reused + revoked), (1, RACERS - 1));
        assert!(reused >= 1);
        assert!(
            store
                .find_refresh_token(REALM, &h)
                .await
                .unwrap()
                .unwrap()
                .revoked_at
                .is_some()
        );
    }
);

store_test!(
    revoke_family_revokes_its_refresh_and_access_tokens,
    |store| async move {
        let t = now();
        let mut old = refresh("r1", "fam-1", t - Duration::hours(1));
        old.used_at = Some(t - Duration::minutes(1));
        let live = refresh("r2", "fam-1", t);
        let other = refresh("r3", "fam-2", t);
        for r in [&old, &live, &other] {
            store.insert_refresh_token(r).await.unwrap();
        }
        for a in [
            access("a1", Some("fam-1"), t),
            access("a2", Some("fam-2"), t),
        ] {
            store.record_access_token(&a).await.unwrap();
        }
        assert!(!store.is_access_token_revoked(REALM, "a1").await.unwrap());

        let at = t + Duration::seconds(1);
        assert_eq!(store.revoke_family("fam-1", at).await.unwrap(), 3);
        assert_eq!(store.revoke_family("fam-1", at).await.unwrap(), 0);
        assert!(store.is_access_token_revoked(REALM, "a1").await.unwrap());
        assert!(!store.is_access_token_revoked(REALM, "a2").await.unwrap());
        assert!(!store.is_access_token_revoked("other", "a1").await.unwrap());
        assert_eq!(
            store
                .use_refresh_token(REALM, &live.token_hash, at)
                .await
                .unwrap(),
            RefreshUse::Revoked(RefreshTokenRecord {
                revoked_at: Some(at),
                ..live.clone()
            })
        );
        assert!(matches!(
            store
                .use_refresh_token(REALM, &other.token_hash, at)
                .await
                .unwrap(),
            RefreshUse::Fresh(_)
        ));
    }
);

store_test!(
    tokens_issued_while_the_family_is_revoked_read_revoked,
    |store| async move {
        // One instance rotates while another revokes: the new token lands after the revoking UPDATE.
        let t = now();
        store
            .insert_refresh_token(&refresh("r1", "fam-1", t))
            .await
            .unwrap();
        store.revoke_family("fam-1", t).await.unwrap();
        let late = refresh("r2", "fam-1", t + Duration::milliseconds(3));
        store.insert_refresh_token(&late).await.unwrap();
        store
            .record_access_token(&access("a1", Some("fam-1"), t))
            .await
            .unwrap();

        let found = store
            .find_refresh_token(REALM, &late.token_hash)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found.revoked_at, Some(t));
        assert!(matches!(
            store
                .use_refresh_token(REALM, &late.token_hash, t)
                .await
                .unwrap(),
            RefreshUse::Revoked(_)
        ));
        assert!(store.is_access_token_revoked(REALM, "a1").await.unwrap());
    }
);

store_test!(revoke_code_tokens_after_a_replay, |store| async move {
    let t = now();
    let c = code("c1", t);
    store.insert_code(&c).await.unwrap();
    assert!(matches!(
        store.consume_code(REALM, &c.code_hash, t).await.unwrap(),
        CodeUse::Fresh(_)
    ));
    store
        .insert_refresh_token(&refresh("r1", "fam-1", t))
        .await
        .unwrap();
    store.set_code_family(&c.code_hash, "fam-1").await.unwrap();
    let mut first = access("a1", None, t);
    first.code_hash = Some(c.code_hash.clone());
    store.record_access_token(&first).await.unwrap();
    store
        .record_access_token(&access("a9", None, t))
        .await
        .unwrap();

    assert!(matches!(
        store.consume_code(REALM, &c.code_hash, t).await.unwrap(),
        CodeUse::Replayed(_)
    ));
    // The replay revoked both in the same call: nothing is left to revoke.
    assert_eq!(store.revoke_code_tokens(&c.code_hash, t).await.unwrap(), 0);
    assert!(store.is_access_token_revoked(REALM, "a1").await.unwrap());
    assert!(!store.is_access_token_revoked(REALM, "a9").await.unwrap());
    assert!(matches!(
        store
            .use_refresh_token(REALM, &hash("r1"), t)
            .await
            .unwrap(),
        RefreshUse::Revoked(_)
    ));

    // The winning redemption was still issuing: what it records now reads as revoked.
    let mut straggler = access("a2", None, t);
    straggler.code_hash = Some(c.code_hash.clone());
    store.record_access_token(&straggler).await.unwrap();
    assert!(store.is_access_token_revoked(REALM, "a2").await.unwrap());
});

store_test!(
    a_code_family_named_after_the_replay_is_revoked,
    |store| async move {
        let t = now();
        let c = code("c1", t);
        store.insert_code(&c).await.unwrap();
        store.consume_code(REALM, &c.code_hash, t).await.unwrap();
        assert_eq!(store.revoke_code_tokens(&c.code_hash, t).await.unwrap(), 0);
        store.set_code_family(&c.code_hash, "fam-9").await.unwrap();
        store
            .insert_refresh_token(&refresh("r1", "fam-9", t))
            .await
            .unwrap();
        store
            .record_access_token(&access("a1", Some("fam-9"), t))
            .await
            .unwrap();
        assert!(matches!(
            store
                .use_refresh_token(REALM, &hash("r1"), t)
                .await
                .unwrap(),
            RefreshUse::Revoked(_)
        ));
        assert!(store.is_access_token_revoked(REALM, "a1").await.unwrap());
    }
);

store_test!(
    revoke_session_tokens_keeps_offline_access,
    |store| async move {
        let t = now();
        let mut offline = refresh("off", "fam-off", t);
        offline.scope = "openid offline_access profile".to_owned();
        let online = refresh("on", "fam-on", t);
        // Neither is the word offline_access: `_` is not a wildcard, and words are whole.
        let mut lookalike = refresh("look", "fam-look", t);
        lookalike.scope = "openid offlineXaccess offline_accessory".to_owned();
        let mut elsewhere = refresh("else", "fam-else", t);
        elsewhere.session_id_hash = Some(hash("s2"));
        let mut unbound = refresh("none", "fam-none", t);
        unbound.session_id_hash = None;
        for r in [&offline, &online, &lookalike, &elsewhere, &unbound] {
            store.insert_refresh_token(r).await.unwrap();
        }
        let mut a_else = access("a-else", None, t);
        a_else.session_id_hash = Some(hash("s2"));
        for a in [
            access("a-off", Some("fam-off"), t),
            access("a-on", Some("fam-on"), t),
            access("a-bare", None, t),
            a_else,
        ] {
            store.record_access_token(&a).await.unwrap();
        }

        let s = hash("s");
        let n = store
            .revoke_session_tokens(&s, t, Some("offline_access"))
            .await
            .unwrap();
        assert_eq!(n, 4, "on, look, a-on, a-bare");
        let state = |name: &'static str| {
            let store = store.store().clone();
            async move {
                let r = store
                    .find_refresh_token(REALM, &hash(name))
                    .await
                    .unwrap()
                    .unwrap();
                r.revoked_at.is_some()
            }
        };
        assert!(!state("off").await);
        assert!(state("on").await);
        assert!(state("look").await);
        assert!(!state("else").await);
        assert!(!state("none").await);
        assert!(!store.is_access_token_revoked(REALM, "a-off").await.unwrap());
        assert!(store.is_access_token_revoked(REALM, "a-on").await.unwrap());
        assert!(
            store
                .is_access_token_revoked(REALM, "a-bare")
                .await
                .unwrap()
        );
        assert!(
            !store
                .is_access_token_revoked(REALM, "a-else")
                .await
                .unwrap()
        );

        // Without a scope to keep, everything bound to the session goes.
        assert_eq!(store.revoke_session_tokens(&s, t, None).await.unwrap(), 2);
        assert!(state("off").await);
        assert!(store.is_access_token_revoked(REALM, "a-off").await.unwrap());
        assert!(!state("else").await);
    }
);

store_test!(
    access_tokens_are_revoked_and_recorded_on_demand,
    |store| async move {
        let t = now();
        let a = access("a1", None, t);
        store.record_access_token(&a).await.unwrap();
        assert!(matches!(
            store.record_access_token(&a).await.unwrap_err(),
            StoreError::Conflict(_)
        ));
        assert!(!store.is_access_token_revoked(REALM, "a1").await.unwrap());
        assert!(
            !store
                .is_access_token_revoked(REALM, "never-seen")
                .await
                .unwrap()
        );

        store.revoke_access_token(&a, t).await.unwrap();
        assert!(store.is_access_token_revoked(REALM, "a1").await.unwrap());
        // Revoking again keeps the first time.
        store
            .revoke_access_token(&a, t + Duration::minutes(1))
            .await
            .unwrap();
        assert_eq!(revoked_at(&store, "a1").await, Some(t));

        // A client-credentials token was never recorded: /revoke records it revoked.
        let cc = AccessTokenRecord {
            account_id: None,
            session_id_hash: None,
            ..access("cc1", None, t)
        };
        store.revoke_access_token(&cc, t).await.unwrap();
        assert!(store.is_access_token_revoked(REALM, "cc1").await.unwrap());
        assert!(!store.is_access_token_revoked("other", "cc1").await.unwrap());
    }
);
