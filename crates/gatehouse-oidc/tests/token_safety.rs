//! Two findings of the security review, on SQLite and PostgreSQL: a reused refresh token raced
//! by two instances leaves its family revoked with at most one success; and userinfo and
//! introspection refuse the tokens of an account locked or disabled since they were issued.
//! Also what the tokens say of the authentication (acr, amr, auth_time), refresh included.

use std::sync::Arc;

use async_trait::async_trait;
use gatehouse_core::{AccountId, OnUnavailable, RealmPolicy, Resolver, Secret};
use gatehouse_oidc::{
    ClientSettings, KeyVault, OAuthError, OidcProvider, PhcVerifier, TokenResponse, TokenSettings,
    pkce,
};
use gatehouse_store::entities::account;
use gatehouse_store::{NewAccount, Store, store_test};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};

struct NoPhc;
#[async_trait]
impl PhcVerifier for NoPhc {
    async fn verify(&self, _: &Secret, _: &str) -> bool {
        false
    }
}

const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const ROUNDS: usize = 20;

async fn provider(store: &Store) -> OidcProvider {
    let clients: Vec<ClientSettings> = serde_json::from_value(json!([
        { "client_id": "wiki", "client_secret": "wiki-secret",
          "redirect_uris": ["https://wiki.example.org/cb"],
          "scopes": ["openid", "profile", "offline_access"] }
    ]))
    .unwrap();
    OidcProvider::open(
        "main",
        "https://id.example.org",
        store.clone(),
        Arc::new(KeyVault::new(b"a key-encryption secret for tests").unwrap()),
        TokenSettings::default(),
        clients,
        Arc::new(NoPhc),
    )
    .await
    .unwrap()
}

fn resolver(store: &Store) -> Resolver {
    let policy = RealmPolicy {
        name: "main".into(),
        providers: vec![],
        chain: vec![],
        on_unavailable: OnUnavailable::Next,
        usernames_case_sensitive: false,
        login_with_email: false,
    };
    Resolver::new(Arc::new(policy), vec![], Arc::new(store.clone())).unwrap()
}

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

async fn alice(store: &Store) -> AccountId {
    store
        .create_account(NewAccount {
            realm: "main".into(),
            username: "alice".into(),
            username_key: "alice".into(),
            email: None,
            name: None,
            roles: vec![],
        })
        .await
        .unwrap()
        .id
}

/// A password session, a code, and its tokens.
async fn login(oidc: &OidcProvider, store: &Store, account: AccountId) -> TokenResponse {
    let session = oidc
        .create_session(account, vec!["pwd".into()], None)
        .await
        .unwrap()
        .session;
    let mut params = pairs(&[
        ("client_id", "wiki"),
        ("redirect_uri", "https://wiki.example.org/cb"),
        ("response_type", "code"),
        ("scope", "openid profile offline_access"),
        ("code_challenge_method", "S256"),
    ]);
    params.push(("code_challenge".into(), pkce::s256_challenge(VERIFIER)));
    let request = oidc.validate_authorize(&params).unwrap();
    let location = oidc.issue_code(&request, &session).await.unwrap();
    let code = url::Url::parse(&location)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let form = pairs(&[
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", "https://wiki.example.org/cb"),
        ("client_id", "wiki"),
        ("client_secret", "wiki-secret"),
        ("code_verifier", VERIFIER),
    ]);
    oidc.token(None, form, &resolver(store)).await.unwrap()
}

async fn refresh(
    oidc: &OidcProvider,
    store: &Store,
    token: &str,
) -> Result<TokenResponse, OAuthError> {
    let form = pairs(&[
        ("grant_type", "refresh_token"),
        ("refresh_token", token),
        ("client_id", "wiki"),
        ("client_secret", "wiki-secret"),
    ]);
    oidc.token(None, form, &resolver(store)).await
}

async fn introspect(oidc: &OidcProvider, token: &str) -> Value {
    oidc.introspect(
        None,
        pairs(&[
            ("client_id", "wiki"),
            ("client_secret", "wiki-secret"),
            ("token", token),
        ]),
    )
    .await
    .unwrap()
}

fn claims_of(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&gatehouse_oidc::crypto::b64_decode(payload).unwrap()).unwrap()
}

store_test!(
    two_instances_racing_one_refresh_token_leave_its_family_revoked,
    |store| async move {
        // Two instances on one store: each task redeems through its own.
        let a = Arc::new(provider(&store).await);
        let b = Arc::new(provider(&store).await);
        let account = alice(&store).await;
        for round in 0..ROUNDS {
            let tokens = login(&a, &store, account).await;
            let token = tokens.refresh_token.clone().unwrap();
            let barrier = Arc::new(tokio::sync::Barrier::new(2));
            let tasks: Vec<_> = [a.clone(), b.clone()]
                .into_iter()
                .map(|oidc| {
                    let (store, token, barrier) = (store.clone(), token.clone(), barrier.clone());
                    tokio::spawn(async move {
                        barrier.wait().await;
                        refresh(&oidc, &store, &token).await
                    })
                })
                .collect();
            let mut winners = Vec::new();
            for task in tasks {
                match task.await.unwrap() {
                    Ok(t) => winners.push(t),
                    Err(e) => assert_eq!(e.code.as_str(), "invalid_grant", "round {round}: {e}"),
                }
            }
            assert!(winners.len() <= 1, "round {round}: both redemptions won");
            // The family is revoked: the raced token, the original access token, and whatever
            // the winner got.
            assert_eq!(
                introspect(&a, &token).await["active"],
                false,
                "round {round}"
            );
            assert_eq!(
                introspect(&b, &tokens.access_token).await["active"],
                false,
                "round {round}"
            );
            for won in &winners {
                assert_eq!(introspect(&a, &won.access_token).await["active"], false);
                let next = won.refresh_token.as_deref().unwrap();
                let refused = refresh(&b, &store, next).await.unwrap_err();
                assert_eq!(refused.code.as_str(), "invalid_grant", "round {round}");
            }
        }
    }
);

store_test!(
    a_locked_or_disabled_account_gets_nothing_from_userinfo_or_introspection,
    |store| async move {
        let oidc = provider(&store).await;
        let account = alice(&store).await;
        let tokens = login(&oidc, &store, account).await;
        let rt = tokens.refresh_token.clone().unwrap();
        assert!(oidc.userinfo(Some(&tokens.access_token)).await.is_ok());
        assert_eq!(
            introspect(&oidc, &tokens.access_token).await["active"],
            true
        );
        assert_eq!(introspect(&oidc, &rt).await["active"], true);

        // Changed behind the operations that end an account's tokens (a row edited by hand, a
        // lock applied by another path): the status itself must be checked.
        let set = |column: account::Column, value: sea_orm::Value| {
            let store = store.clone();
            async move {
                account::Entity::update_many()
                    .col_expr(column, Expr::value(value))
                    .filter(account::Column::Id.eq(sea_orm::prelude::TextUuid(account.0)))
                    .exec(store.connection())
                    .await
                    .unwrap();
            }
        };
        let until = chrono::Utc::now() + chrono::Duration::hours(1);
        set(account::Column::LockedUntil, Some(until).into()).await;
        let refused = oidc.userinfo(Some(&tokens.access_token)).await.unwrap_err();
        assert_eq!(refused.code.as_str(), "invalid_token");
        assert_eq!(
            introspect(&oidc, &tokens.access_token).await,
            json!({"active": false})
        );
        assert_eq!(introspect(&oidc, &rt).await, json!({"active": false}));

        set(
            account::Column::LockedUntil,
            Option::<chrono::DateTime<chrono::Utc>>::None.into(),
        )
        .await;
        assert!(oidc.userinfo(Some(&tokens.access_token)).await.is_ok());
        assert_eq!(
            introspect(&oidc, &tokens.access_token).await["active"],
            true
        );

        set(
            account::Column::DisabledReason,
            Some("left".to_owned()).into(),
        )
        .await;
        assert!(oidc.userinfo(Some(&tokens.access_token)).await.is_err());
        assert_eq!(
            introspect(&oidc, &tokens.access_token).await["active"],
            false
        );
        assert_eq!(introspect(&oidc, &rt).await["active"], false);
    }
);

store_test!(
    tokens_and_userinfo_say_how_the_user_authenticated_and_refresh_keeps_it,
    |store| async move {
        let oidc = provider(&store).await;
        let account = alice(&store).await;
        let tokens = login(&oidc, &store, account).await;
        let id = claims_of(tokens.id_token.as_deref().unwrap());
        assert_eq!(id["acr"], "1");
        assert_eq!(id["amr"], json!(["pwd"]));
        let auth_time = id["auth_time"].as_i64().unwrap();
        assert!((chrono::Utc::now().timestamp() - auth_time).abs() < 60);
        let info = oidc.userinfo(Some(&tokens.access_token)).await.unwrap();
        assert_eq!(
            (&info["acr"], &info["amr"], &info["auth_time"]),
            (&json!("1"), &json!(["pwd"]), &json!(auth_time))
        );
        let at = introspect(&oidc, &tokens.access_token).await;
        assert_eq!((&at["acr"], &at["amr"]), (&json!("1"), &json!(["pwd"])));

        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        let again = refresh(&oidc, &store, tokens.refresh_token.as_deref().unwrap())
            .await
            .unwrap();
        let id = claims_of(again.id_token.as_deref().unwrap());
        assert_eq!(
            (&id["acr"], &id["amr"], &id["auth_time"]),
            (&json!("1"), &json!(["pwd"]), &json!(auth_time)),
            "a refresh is no new authentication"
        );
        let info = oidc.userinfo(Some(&again.access_token)).await.unwrap();
        assert_eq!(info["auth_time"], json!(auth_time));
    }
);
