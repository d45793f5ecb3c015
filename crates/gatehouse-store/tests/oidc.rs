//! The OpenID Provider's state, on SQLite and PostgreSQL: round trips, expiry, and the "use once"
//! guarantees under concurrency, including from two separate pools (two instances).

#[path = "oidc/account_end.rs"]
mod account_end;
#[path = "oidc/codes.rs"]
mod codes;
mod common;
#[path = "oidc/purge.rs"]
mod purge;
#[path = "oidc/replay.rs"]
mod replay;
#[path = "oidc/tokens.rs"]
mod tokens;

use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, Duration, SubsecRound, Utc};
use gatehouse_core::AccountId;
use gatehouse_store::{
    AccessTokenRecord, AuthorizationCode, BrowserSession, CodeUse, LoginTransaction,
    RefreshTokenRecord, RefreshUse, SessionUpstream, SigningKeyRecord, Store, StoreError,
    store_test,
};
use serde_json::json;
use tokio::sync::Barrier;

pub const REALM: &str = common::REALM;
pub const RACERS: usize = 16;

/// Now, to the microsecond the store keeps, so records compare equal after a round trip.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

pub fn hash(name: &str) -> String {
    // Not a real digest; the store treats hashes as opaque keys.
    format!("{name:0>64}")
}

pub fn session(name: &str, at: DateTime<Utc>) -> BrowserSession {
    BrowserSession {
        id_hash: hash(name),
        realm: REALM.to_owned(),
        account_id: AccountId::generate(),
        auth_time: at - Duration::seconds(5),
        amr: vec!["pwd".to_owned(), "otp".to_owned()],
        acr: "urn:gatehouse:acr:mfa".to_owned(),
        created_at: at,
        expires_at: at + Duration::hours(8),
        last_seen_at: at,
        upstream: None,
        passed: vec![gatehouse_core::auth::PassedMechanism {
            mechanism: gatehouse_core::auth::MechanismRef::new("password"),
            provider: Some("local".to_owned()),
            amr: vec!["pwd".to_owned()],
            at: at - Duration::seconds(5),
        }],
        levels: vec![gatehouse_core::auth::AchievedLevel {
            policy_id: "mfa".to_owned(),
            acr: "urn:gatehouse:acr:mfa".to_owned(),
            at: at - Duration::seconds(5),
        }],
    }
}

pub fn code(name: &str, at: DateTime<Utc>) -> AuthorizationCode {
    AuthorizationCode {
        code_hash: hash(name),
        realm: REALM.to_owned(),
        client_id: "app".to_owned(),
        redirect_uri: "https://app.example/cb".to_owned(),
        account_id: AccountId::generate(),
        session_id_hash: Some(hash("s")),
        scope: "openid profile".to_owned(),
        nonce: Some("n-0S6_WzA2Mj".to_owned()),
        code_challenge: Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".to_owned()),
        code_challenge_method: Some("S256".to_owned()),
        auth_time: at - Duration::seconds(5),
        amr: vec!["pwd".to_owned()],
        acr: "1".to_owned(),
        created_at: at,
        expires_at: at + Duration::seconds(60),
        used_at: None,
        family_id: None,
    }
}

pub fn refresh(name: &str, family: &str, at: DateTime<Utc>) -> RefreshTokenRecord {
    RefreshTokenRecord {
        token_hash: hash(name),
        family_id: family.to_owned(),
        realm: REALM.to_owned(),
        client_id: "app".to_owned(),
        account_id: AccountId::generate(),
        session_id_hash: Some(hash("s")),
        scope: "openid profile".to_owned(),
        auth_time: at - Duration::seconds(5),
        amr: vec!["pwd".to_owned()],
        acr: "1".to_owned(),
        created_at: at,
        expires_at: at + Duration::days(30),
        used_at: None,
        revoked_at: None,
    }
}

pub fn access(jti: &str, family: Option<&str>, at: DateTime<Utc>) -> AccessTokenRecord {
    AccessTokenRecord {
        jti: jti.to_owned(),
        realm: REALM.to_owned(),
        client_id: "app".to_owned(),
        account_id: Some(AccountId::generate()),
        family_id: family.map(str::to_owned),
        code_hash: None,
        session_id_hash: Some(hash("s")),
        expires_at: at + Duration::minutes(5),
        revoked_at: None,
    }
}

pub fn key(kid: &str, created_at: DateTime<Utc>) -> SigningKeyRecord {
    SigningKeyRecord {
        kid: kid.to_owned(),
        realm: REALM.to_owned(),
        alg: "ES256".to_owned(),
        private_key: b"sealed:secret-key-material".to_vec(),
        public_jwk: json!({"kty": "EC", "crv": "P-256", "kid": kid, "x": "f83O", "y": "x_FE"}),
        created_at,
        retired_at: None,
        expires_at: None,
    }
}

/// Runs `RACERS` copies of `op` at once, alternating between two separate pools on the same
/// database (two instances), and returns their results.
pub async fn race<T, F, Fut>(store: &Store, url: &str, op: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(Store) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
{
    let other = Store::connect(url).await.unwrap();
    let barrier = Arc::new(Barrier::new(RACERS));
    let mut tasks = Vec::new();
    for i in 0..RACERS {
        let instance = if i % 2 == 0 { store } else { &other }.clone();
        let fut = op(instance);
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            fut.await
        }));
    }
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.unwrap());
    }
    results
}

// ---- signing keys -------------------------------------------------------------------------

store_test!(
    signing_keys_filter_expired_newest_first,
    |store| async move {
        let t = now();
        let oldest = key("k1", t - Duration::hours(3));
        let mut leaving = key("k2", t - Duration::hours(2));
        leaving.retired_at = Some(t - Duration::hours(1));
        leaving.expires_at = Some(t + Duration::hours(1));
        let mut gone = key("k0", t - Duration::hours(4));
        gone.expires_at = Some(t);
        let newest = key("k3", t);
        let mut elsewhere = key("x1", t);
        elsewhere.realm = "other".to_owned();
        for k in [&oldest, &leaving, &gone, &newest, &elsewhere] {
            store.insert_signing_key(k).await.unwrap();
        }

        let keys = store.signing_keys(REALM, t).await.unwrap();
        assert_eq!(keys, vec![newest.clone(), leaving.clone(), oldest]);
        // Published until expires_at, not at it.
        let later = store
            .signing_keys(REALM, t + Duration::hours(1))
            .await
            .unwrap();
        assert_eq!(
            later.iter().map(|k| k.kid.as_str()).collect::<Vec<_>>(),
            ["k3", "k1"]
        );
        let before = store
            .signing_keys(REALM, t - Duration::seconds(1))
            .await
            .unwrap();
        assert_eq!(before.len(), 4, "k0 is still published before it expires");

        let err = store.insert_signing_key(&newest).await.unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    }
);

store_test!(
    retire_signing_keys_spares_the_new_key_and_old_dates,
    |store| async move {
        let t = now();
        let mut retired_before = key("k0", t - Duration::days(9));
        retired_before.retired_at = Some(t - Duration::days(2));
        retired_before.expires_at = Some(t + Duration::hours(1));
        let mut elsewhere = key("x1", t - Duration::days(1));
        elsewhere.realm = "other".to_owned();
        for k in [
            &retired_before,
            &key("k1", t - Duration::days(1)),
            &key("k2", t - Duration::hours(1)),
            &key("k3", t),
            &elsewhere,
        ] {
            store.insert_signing_key(k).await.unwrap();
        }

        let until = t + Duration::days(1);
        assert_eq!(
            store
                .retire_signing_keys(REALM, "k3", t, until)
                .await
                .unwrap(),
            2
        );
        assert_eq!(
            store
                .retire_signing_keys(REALM, "k3", t, until)
                .await
                .unwrap(),
            0
        );

        let keys = store.signing_keys(REALM, t).await.unwrap();
        let by_kid = |kid: &str| keys.iter().find(|k| k.kid == kid).unwrap().clone();
        assert_eq!(by_kid("k3").retired_at, None);
        assert_eq!(by_kid("k3").expires_at, None);
        for kid in ["k1", "k2"] {
            assert_eq!(by_kid(kid).retired_at, Some(t));
            assert_eq!(by_kid(kid).expires_at, Some(until));
        }
        assert_eq!(by_kid("k0"), retired_before);
        let other = store.signing_keys("other", t).await.unwrap();
        assert_eq!(other[0].retired_at, None);
    }
);

store_test!(
    signing_key_debug_hides_the_private_key,
    |store| async move {
        let k = key("k1", now());
        store.insert_signing_key(&k).await.unwrap();
        let stored = store.signing_keys(REALM, now()).await.unwrap().remove(0);
        assert_eq!(stored.private_key, k.private_key);
        for printed in [format!("{stored:?}"), format!("{stored:#?}")] {
            assert!(printed.contains("[redacted]"), "{printed}");
            assert!(printed.contains("k1"), "{printed}");
            assert!(
                !printed.contains(&format!("{:?}", k.private_key)),
                "{printed}"
            );
            assert!(!printed.contains("115, 101, 97"), "{printed}");
            assert!(!printed.contains("secret-key"), "{printed}");
        }
    }
);

// ---- browser sessions -----------------------------------------------------------------------

store_test!(sessions_round_trip_touch_and_delete, |store| async move {
    let t = now();
    let s = session("s1", t);
    store.create_session(&s).await.unwrap();
    let err = store.create_session(&s).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");

    assert_eq!(
        store.find_session(REALM, &s.id_hash, t).await.unwrap(),
        Some(s.clone())
    );
    assert_eq!(
        store.find_session("other", &s.id_hash, t).await.unwrap(),
        None
    );
    assert_eq!(
        store.find_session(REALM, &hash("nope"), t).await.unwrap(),
        None
    );

    let seen = t + Duration::minutes(3);
    assert!(store.touch_session(&s.id_hash, seen).await.unwrap());
    assert!(!store.touch_session(&hash("nope"), seen).await.unwrap());
    let touched = store
        .find_session(REALM, &s.id_hash, seen)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(touched.last_seen_at, seen);

    assert_eq!(
        store.delete_session("other", &s.id_hash).await.unwrap(),
        None
    );
    let deleted = store.delete_session(REALM, &s.id_hash).await.unwrap();
    assert_eq!(
        deleted,
        Some(BrowserSession {
            last_seen_at: seen,
            ..s.clone()
        })
    );
    assert_eq!(store.delete_session(REALM, &s.id_hash).await.unwrap(), None);
    assert_eq!(
        store.find_session(REALM, &s.id_hash, t).await.unwrap(),
        None
    );
});

store_test!(
    a_session_remembers_its_upstream_and_keeps_the_hint_out_of_debug,
    |store| async move {
        let t = now();
        let s = BrowserSession {
            upstream: Some(SessionUpstream {
                provider: "corp-sso".to_owned(),
                logout_hint: Some(b"sealed-hint".to_vec()),
            }),
            ..session("s-up", t)
        };
        store.create_session(&s).await.unwrap();
        let found = store.find_session(REALM, &s.id_hash, t).await.unwrap();
        assert_eq!(found.as_ref(), Some(&s));
        let printed = format!("{found:?}");
        assert!(printed.contains("corp-sso"), "{printed}");
        assert!(!printed.contains("115, 101, 97"), "{printed}");
        // A provider without a hint (plain OAuth 2.0) round-trips too.
        let bare = BrowserSession {
            upstream: Some(SessionUpstream {
                provider: "iam".to_owned(),
                logout_hint: None,
            }),
            ..session("s-bare", t)
        };
        store.create_session(&bare).await.unwrap();
        let deleted = store.delete_session(REALM, &bare.id_hash).await.unwrap();
        assert_eq!(deleted, Some(bare));
    }
);

store_test!(find_session_ignores_expired, |store| async move {
    let t = now();
    let mut s = session("s1", t - Duration::hours(8));
    s.expires_at = t;
    store.create_session(&s).await.unwrap();
    assert!(
        store
            .find_session(REALM, &s.id_hash, t)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .find_session(REALM, &s.id_hash, t + Duration::days(1))
            .await
            .unwrap()
            .is_none()
    );
    let just_before = t - Duration::microseconds(1);
    assert!(
        store
            .find_session(REALM, &s.id_hash, just_before)
            .await
            .unwrap()
            .is_some()
    );
    // Logout still finds whose it was.
    assert!(
        store
            .delete_session(REALM, &s.id_hash)
            .await
            .unwrap()
            .is_some()
    );
});

store_test!(
    delete_session_concurrently_returns_it_once,
    |store| async move {
        let s = session("s1", now());
        store.create_session(&s).await.unwrap();
        let id = s.id_hash.clone();
        let results = race(&store, &store.url(), |st| {
            let id = id.clone();
            async move { st.delete_session(REALM, &id).await.unwrap() }
        })
        .await;
        assert_eq!(results.iter().filter(|r| r.is_some()).count(), 1);
    }
);

// ---- login transactions ---------------------------------------------------------------------

pub fn transaction(name: &str, at: DateTime<Utc>) -> LoginTransaction {
    LoginTransaction {
        id_hash: hash(name),
        realm: REALM.to_owned(),
        request: json!({"client_id": "app", "scope": "openid", "state": "xyz", "n": [1, 2]}),
        csrf_hash: hash("csrf"),
        username: None,
        created_at: at,
        expires_at: at + Duration::minutes(15),
    }
}

store_test!(
    login_transactions_round_trip_and_complete_once,
    |store| async move {
        let t = now();
        let tx = transaction("t1", t);
        store.create_login_transaction(&tx).await.unwrap();
        assert!(matches!(
            store.create_login_transaction(&tx).await.unwrap_err(),
            StoreError::Conflict(_)
        ));
        assert_eq!(
            store
                .find_login_transaction(REALM, &tx.id_hash, t)
                .await
                .unwrap(),
            Some(tx.clone())
        );
        assert_eq!(
            store
                .find_login_transaction("other", &tx.id_hash, t)
                .await
                .unwrap(),
            None
        );
        let at_expiry = tx.expires_at;
        assert_eq!(
            store
                .find_login_transaction(REALM, &tx.id_hash, at_expiry)
                .await
                .unwrap(),
            None
        );

        assert!(
            store
                .set_login_transaction_username(&tx.id_hash, Some("alice".into()))
                .await
                .unwrap()
        );
        let found = store
            .find_login_transaction(REALM, &tx.id_hash, t)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found.username.as_deref(), Some("alice"));
        assert!(
            store
                .set_login_transaction_username(&tx.id_hash, None)
                .await
                .unwrap()
        );
        let found = store
            .find_login_transaction(REALM, &tx.id_hash, t)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found, tx);

        assert!(store.delete_login_transaction(&tx.id_hash).await.unwrap());
        assert!(!store.delete_login_transaction(&tx.id_hash).await.unwrap());
        assert!(
            !store
                .set_login_transaction_username(&tx.id_hash, None)
                .await
                .unwrap()
        );
    }
);

store_test!(
    delete_login_transaction_concurrently_once,
    |store| async move {
        let tx = transaction("t1", now());
        store.create_login_transaction(&tx).await.unwrap();
        let id = tx.id_hash.clone();
        let results = race(&store, &store.url(), |st| {
            let id = id.clone();
            async move { st.delete_login_transaction(&id).await.unwrap() }
        })
        .await;
        assert_eq!(results.iter().filter(|won| **won).count(), 1);
    }
);
