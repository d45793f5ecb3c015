//! The OpenID provider's logic against a real store, on SQLite and PostgreSQL.

use std::sync::Arc;

use async_trait::async_trait;
use gatehouse_core::{OnUnavailable, RealmPolicy, Resolver, Secret};
use gatehouse_oidc::{
    AfterLogout, AuthorizeRejection, ClientSettings, KeyVault, OidcProvider, PhcVerifier,
    SigningAlg, TokenSettings, UpstreamLogin, pkce,
};
use gatehouse_store::{NewAccount, Store, store_test};
use serde_json::json;

struct NoPhc;
#[async_trait]
impl PhcVerifier for NoPhc {
    async fn verify(&self, _: &Secret, _: &str) -> bool {
        false
    }
}

const SECRET: &[u8] = b"a key-encryption secret for tests";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

fn clients() -> Vec<ClientSettings> {
    serde_json::from_value(json!([
        { "client_id": "wiki", "client_secret": "wiki-secret",
          "redirect_uris": ["https://wiki.example.org/cb"],
          "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
          "scopes": ["openid", "profile", "email", "groups", "offline_access", "api"] },
        { "client_id": "spa", "redirect_uris": ["https://spa.example.org/cb"] }
    ]))
    .unwrap()
}

async fn provider(store: &Store, alg: SigningAlg) -> OidcProvider {
    let tokens = TokenSettings {
        signing_alg: alg,
        ..TokenSettings::default()
    };
    OidcProvider::open(
        "main",
        "https://id.example.org",
        store.clone(),
        Arc::new(KeyVault::new(SECRET).unwrap()),
        tokens,
        clients(),
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

fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn authorize_params(extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let challenge = pkce::s256_challenge(VERIFIER);
    let mut p = params(&[
        ("client_id", "wiki"),
        ("redirect_uri", "https://wiki.example.org/cb"),
        ("response_type", "code"),
        ("scope", "openid profile"),
        ("state", "s1"),
        ("code_challenge_method", "S256"),
    ]);
    p.push(("code_challenge".into(), challenge));
    for (k, v) in extra {
        p.retain(|(key, _)| key != k);
        if !v.is_empty() {
            p.push((k.to_string(), v.to_string()));
        }
    }
    p
}

fn code_of(location: &str) -> String {
    url::Url::parse(location)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned()
}

async fn alice(store: &Store) -> gatehouse_core::AccountId {
    store
        .create_account(NewAccount {
            realm: "main".into(),
            username: "alice".into(),
            username_key: "alice".into(),
            email: Some("alice@example.org".into()),
            name: Some("Alice".into()),
            roles: vec![],
        })
        .await
        .unwrap()
        .id
}

async fn exchange(
    oidc: &OidcProvider,
    store: &Store,
    code: &str,
    verifier: Option<&str>,
) -> Result<gatehouse_oidc::TokenResponse, gatehouse_oidc::OAuthError> {
    let mut form = params(&[
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", "https://wiki.example.org/cb"),
        ("client_id", "wiki"),
        ("client_secret", "wiki-secret"),
    ]);
    if let Some(v) = verifier {
        form.push(("code_verifier".into(), v.into()));
    }
    oidc.token(None, form, &resolver(store)).await
}

store_test!(
    keys_are_shared_by_instances_survive_restarts_and_rotate,
    |store| async move {
        let a = provider(&store, SigningAlg::RS256).await;
        let jwks = serde_json::to_value(a.jwks().await.unwrap()).unwrap();
        assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);

        // A second instance (its own connection) and a restart serve the same JWKS.
        let second = Store::connect(&store.url()).await.unwrap();
        let b = provider(&second, SigningAlg::RS256).await;
        assert_eq!(serde_json::to_value(b.jwks().await.unwrap()).unwrap(), jwks);
        drop(a);
        let a = provider(&store, SigningAlg::RS256).await;
        assert_eq!(serde_json::to_value(a.jwks().await.unwrap()).unwrap(), jwks);

        // Rotation: the new key signs, the old one stays published; the other instance finds the
        // new key when a token names it.
        let old = a.keys.signer().await.unwrap().kid.clone();
        let new = a.keys.rotate().await.unwrap();
        assert_ne!(old, new);
        assert_eq!(a.keys.signer().await.unwrap().kid, new);
        let kids: Vec<String> = serde_json::to_value(a.jwks().await.unwrap()).unwrap()["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_owned())
            .collect();
        assert!(kids.contains(&old) && kids.contains(&new), "{kids:?}");
        assert!(b.keys.verification_key(&new).await.unwrap().is_some());
    }
);

store_test!(
    a_wrong_key_encryption_secret_is_refused_by_name,
    |store| async move {
        provider(&store, SigningAlg::RS256).await;
        let err = OidcProvider::open(
            "main",
            "https://id.example.org",
            store.clone(),
            Arc::new(KeyVault::new(b"some other secret entirely").unwrap()),
            TokenSettings::default(),
            clients(),
            Arc::new(NoPhc),
        )
        .await
        .err()
        .unwrap()
        .to_string();
        assert!(err.contains("key-encryption secret differs"), "{err}");
    }
);

store_test!(authorize_requests_are_validated, |store| async move {
    let oidc = provider(&store, SigningAlg::RS256).await;
    assert!(oidc.validate_authorize(&authorize_params(&[])).is_ok());
    assert!(
        oidc.secure_cookies,
        "an https public URL makes cookies Secure"
    );
    // No scope: the client's scopes, but offline access only when asked for.
    let default = oidc
        .validate_authorize(&authorize_params(&[("scope", "")]))
        .unwrap();
    assert_eq!(default.scope, "openid profile email groups api");
    let page = |p: Vec<(String, String)>| {
        matches!(
            oidc.validate_authorize(&p),
            Err(AuthorizeRejection::Page(_))
        )
    };
    let redirect = |p: Vec<(String, String)>, error: &str| match oidc.validate_authorize(&p) {
        Err(AuthorizeRejection::Redirect(location)) => {
            assert!(
                location.starts_with("https://wiki.example.org/cb?"),
                "{location}"
            );
            assert!(location.contains(&format!("error={error}")), "{location}");
            assert!(
                location.contains("state=s1") || !p.iter().any(|(k, _)| k == "state"),
                "{location}"
            );
        }
        other => panic!("expected a redirect with {error}, got {other:?}"),
    };
    // Never redirect to an unknown client or an unregistered URI, however close.
    assert!(page(authorize_params(&[("client_id", "ghost")])));
    assert!(page(authorize_params(&[(
        "redirect_uri",
        "https://wiki.example.org/cb/"
    )])));
    assert!(page(authorize_params(&[(
        "redirect_uri",
        "https://wiki.example.org/CB"
    )])));
    assert!(page(authorize_params(&[("redirect_uri", "")])));
    let mut repeated = authorize_params(&[]);
    repeated.push(("client_id".into(), "wiki".into()));
    assert!(page(repeated));
    redirect(
        authorize_params(&[("response_type", "token")]),
        "unsupported_response_type",
    );
    redirect(
        authorize_params(&[("scope", "openid admin")]),
        "invalid_scope",
    );
    redirect(
        authorize_params(&[("code_challenge_method", "plain")]),
        "invalid_request",
    );
    redirect(
        authorize_params(&[("prompt", "none login")]),
        "invalid_request",
    );
    redirect(authorize_params(&[("max_age", "-1")]), "invalid_request");
    // Public clients must use PKCE.
    let spa = params(&[
        ("client_id", "spa"),
        ("redirect_uri", "https://spa.example.org/cb"),
        ("response_type", "code"),
        ("state", "s1"),
    ]);
    match oidc.validate_authorize(&spa) {
        Err(AuthorizeRejection::Redirect(l)) => assert!(l.contains("PKCE"), "{l}"),
        other => panic!("{other:?}"),
    }
});

store_test!(codes_are_single_use_and_bound_to_pkce, |store| async move {
    let oidc = provider(&store, SigningAlg::RS256).await;
    let account = alice(&store).await;
    let session = oidc
        .create_session(account, vec!["pwd".into()], None)
        .await
        .unwrap()
        .session;
    let request = oidc
        .validate_authorize(&authorize_params(&[("nonce", "n-1")]))
        .unwrap();

    let code = code_of(&oidc.issue_code(&request, &session).await.unwrap());
    assert_eq!(
        exchange(&oidc, &store, &code, None)
            .await
            .unwrap_err()
            .code
            .as_str(),
        "invalid_grant"
    );
    let code = code_of(&oidc.issue_code(&request, &session).await.unwrap());
    let wrong = "x".repeat(43);
    assert_eq!(
        exchange(&oidc, &store, &code, Some(&wrong))
            .await
            .unwrap_err()
            .code
            .as_str(),
        "invalid_grant"
    );

    let code = code_of(&oidc.issue_code(&request, &session).await.unwrap());
    let tokens = exchange(&oidc, &store, &code, Some(VERIFIER))
        .await
        .unwrap();
    assert!(tokens.id_token.is_some() && tokens.refresh_token.is_some());
    assert!(
        oidc.active_access_token(&tokens.access_token)
            .await
            .unwrap()
            .is_some()
    );
    // The replay is refused and takes the tokens issued from the code with it.
    let replay = exchange(&oidc, &store, &code, Some(VERIFIER))
        .await
        .unwrap_err();
    assert_eq!(replay.code.as_str(), "invalid_grant");
    assert!(
        oidc.active_access_token(&tokens.access_token)
            .await
            .unwrap()
            .is_none()
    );
    let refresh = oidc
        .token(
            None,
            params(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", tokens.refresh_token.as_deref().unwrap()),
                ("client_id", "wiki"),
                ("client_secret", "wiki-secret"),
            ]),
            &resolver(&store),
        )
        .await
        .unwrap_err();
    assert_eq!(refresh.code.as_str(), "invalid_grant");
});

store_test!(
    every_signing_algorithm_issues_verifiable_tokens,
    |store| async move {
        let account = alice(&store).await;
        for alg in [SigningAlg::RS256, SigningAlg::ES256, SigningAlg::EdDSA] {
            // A change of algorithm makes a new key of that algorithm the signer.
            let oidc = provider(&store, alg).await;
            let session = oidc
                .create_session(account, vec!["pwd".into()], None)
                .await
                .unwrap()
                .session;
            let request = oidc.validate_authorize(&authorize_params(&[])).unwrap();
            let code = code_of(&oidc.issue_code(&request, &session).await.unwrap());
            let tokens = exchange(&oidc, &store, &code, Some(VERIFIER))
                .await
                .unwrap();
            let header: serde_json::Value = serde_json::from_slice(
                &gatehouse_oidc::crypto::b64_decode(
                    tokens
                        .id_token
                        .as_deref()
                        .unwrap()
                        .split('.')
                        .next()
                        .unwrap(),
                )
                .unwrap(),
            )
            .unwrap();
            assert_eq!(header["alg"], alg.as_str());
            let claims = oidc
                .active_access_token(&tokens.access_token)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(claims.sub, account.to_string());
            let info = oidc.userinfo(Some(&tokens.access_token)).await.unwrap();
            assert_eq!(info["preferred_username"], "alice");
            assert!(info.get("email").is_none(), "email was not in the scope");
        }
    }
);

store_test!(
    client_credentials_tokens_carry_the_client_and_can_be_revoked,
    |store| async move {
        let oidc = provider(&store, SigningAlg::RS256).await;
        let form = params(&[
            ("grant_type", "client_credentials"),
            ("client_id", "wiki"),
            ("client_secret", "wiki-secret"),
        ]);
        let tokens = oidc.token(None, form, &resolver(&store)).await.unwrap();
        assert_eq!(tokens.scope, "api");
        assert!(tokens.refresh_token.is_none() && tokens.id_token.is_none());
        let claims = oidc
            .active_access_token(&tokens.access_token)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(claims.sub, "wiki");
        assert!(oidc.userinfo(Some(&tokens.access_token)).await.is_err());
        let auth = params(&[
            ("client_id", "wiki"),
            ("client_secret", "wiki-secret"),
            ("token", &tokens.access_token),
        ]);
        oidc.revoke(None, auth.clone()).await.unwrap();
        assert_eq!(oidc.introspect(None, auth).await.unwrap()["active"], false);
    }
);

store_test!(
    instances_agree_on_a_signer_when_every_key_is_retired,
    |store| async move {
        // Two instances creating their first key at once may each retire the other's.
        let first = provider(&store, SigningAlg::RS256).await;
        let kid = first.keys.signer().await.unwrap().kid.clone();
        let now = chrono::Utc::now();
        store
            .retire_signing_keys("main", "no-such-kid", now, now + chrono::Duration::hours(1))
            .await
            .unwrap();
        let again = provider(&store, SigningAlg::RS256).await;
        assert_eq!(again.keys.signer().await.unwrap().kid, kid);
        let jwks = serde_json::to_value(again.jwks().await.unwrap()).unwrap();
        assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);
    }
);

store_test!(
    a_session_keeps_its_upstream_logout_hint_encrypted,
    |store| async move {
        let oidc = provider(&store, SigningAlg::RS256).await;
        let account = alice(&store).await;
        let hint = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl";
        let new = oidc
            .create_session(
                account,
                vec!["fed".into()],
                Some(UpstreamLogin {
                    provider: "corp-sso".into(),
                    logout_hint: Some(Secret::new(hint)),
                }),
            )
            .await
            .unwrap();
        // What the store holds is the provider and a sealed hint, not the ID token.
        let stored = store
            .find_session("main", &new.session.id_hash, chrono::Utc::now())
            .await
            .unwrap()
            .unwrap()
            .upstream
            .unwrap();
        assert_eq!(stored.provider, "corp-sso");
        let sealed = stored.logout_hint.unwrap();
        assert!(
            !sealed
                .windows(8)
                .any(|w| hint.as_bytes().windows(8).any(|h| h == w)),
            "the hint is stored in the clear"
        );
        let other = oidc
            .create_session(account, vec!["pwd".into()], None)
            .await
            .unwrap();
        // Logout gives the hint back, for the upstream's logout.
        let ended = oidc.end_session(Some(&new.cookie)).await.unwrap().unwrap();
        assert_eq!(ended.provider, "corp-sso");
        assert_eq!(ended.logout_hint.unwrap().expose(), hint);
        // A password session has no upstream; a session ended twice gives nothing.
        assert!(
            oidc.end_session(Some(&other.cookie))
                .await
                .unwrap()
                .is_none()
        );
        assert!(oidc.end_session(Some(&new.cookie)).await.unwrap().is_none());
    }
);

store_test!(
    the_logout_return_cookie_opens_only_sealed_and_fresh,
    |store| async move {
        let oidc = provider(&store, SigningAlg::RS256).await;
        let to = AfterLogout::Redirect("https://wiki.example.org/bye?state=s".into());
        let sealed = oidc.seal_logout_return(&to).unwrap();
        assert!(!sealed.contains("wiki"), "{sealed}");
        assert_eq!(oidc.open_logout_return(Some(&sealed)), to);
        assert_eq!(
            oidc.open_logout_return(Some(&oidc.seal_logout_return(&AfterLogout::Page).unwrap())),
            AfterLogout::Page
        );
        let mut tampered = sealed.clone().into_bytes();
        tampered[20] = if tampered[20] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert_eq!(oidc.open_logout_return(Some(&tampered)), AfterLogout::Page);
        assert_eq!(oidc.open_logout_return(None), AfterLogout::Page);
        assert_eq!(
            oidc.logged_out_url(),
            "https://id.example.org/realms/main/logged-out"
        );
    }
);
