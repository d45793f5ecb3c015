//! The replay cache of single-use upstream answers: first use wins, on one pool or two, and the
//! purge forgets only what expired.

use super::*;

store_test!(a_replay_guard_is_used_once, |store| async move {
    let t = now();
    let until = t + Duration::minutes(5);
    assert!(
        store
            .use_replay_guard(REALM, "idp", &hash("a1"), until)
            .await
            .unwrap()
    );
    assert!(
        !store
            .use_replay_guard(REALM, "idp", &hash("a1"), until)
            .await
            .unwrap(),
        "the same id twice is a replay"
    );
    // A later expiry does not make it new again.
    assert!(
        !store
            .use_replay_guard(REALM, "idp", &hash("a1"), until + Duration::days(1))
            .await
            .unwrap()
    );
    assert!(
        store
            .use_replay_guard(REALM, "idp", &hash("a2"), until)
            .await
            .unwrap()
    );
});

store_test!(
    concurrent_uses_of_one_id_let_exactly_one_win,
    |store| async move {
        let until = now() + Duration::minutes(5);
        let results = race(&store, &store.url(), |st| async move {
            st.use_replay_guard(REALM, "idp", &hash("a1"), until)
                .await
                .unwrap()
        })
        .await;
        assert_eq!(results.iter().filter(|won| **won).count(), 1, "{results:?}");
    }
);

store_test!(
    the_purge_forgets_expired_replay_guards_only,
    |store| async move {
        let t = now();
        store
            .use_replay_guard(REALM, "idp", &hash("dead"), t - Duration::seconds(1))
            .await
            .unwrap();
        store
            .use_replay_guard(REALM, "idp", &hash("live"), t + Duration::minutes(5))
            .await
            .unwrap();
        assert_eq!(store.purge_expired(t).await.unwrap(), 1);
        assert!(
            !store
                .use_replay_guard(REALM, "idp", &hash("live"), t + Duration::minutes(5))
                .await
                .unwrap(),
            "a live guard survives the purge"
        );
        assert!(
            store
                .use_replay_guard(REALM, "idp", &hash("dead"), t + Duration::minutes(5))
                .await
                .unwrap(),
            "an expired guard is forgotten"
        );
    }
);
