//! The `oauth2` connector against a real server: node oidc-provider (tests/peers/upstream-oidc.sh)
//! used as a plain OAuth 2.0 server — its authorization and token endpoints, its userinfo endpoint
//! as the `profile_url`. The peer requires PKCE (S256) of every client, so each successful login
//! here also proves the connector sends it.

mod peer;

use gatehouse_connector_oauth2::{Oauth2Provider, Oauth2Settings, http_client};
use gatehouse_core::{CallbackError, ProviderKind, RedirectProvider};
use peer::{CALLBACK, CALLBACK_OAUTH2, login, query, with_param};

/// Alice's profile claims as the peer's userinfo returns them, read by paths: the username from
/// `preferred_username`, groups from the nested `org.roles`.
fn settings() -> Oauth2Settings {
    let op = peer::upstream_url();
    toml::from_str(&format!(
        r#"
        client_id = "broker"
        client_secret = "broker-secret"
        auth_url = "{op}/auth"
        token_url = "{op}/token"
        profile_url = "{op}/me"
        scopes = ["openid", "email", "profile", "org"]
        id_claim = "sub"
        username_claim = "preferred_username"
        groups_claim = "org.roles"
        "#
    ))
    .unwrap()
}

fn provider(settings: Oauth2Settings) -> Oauth2Provider {
    peer::init();
    Oauth2Provider::new(
        peer::descriptor(ProviderKind::Oauth2),
        settings,
        http_client().unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn alice_signs_in_through_the_profile_url() {
    let p = provider(settings());
    let start = p.begin(CALLBACK).await.unwrap();
    assert_eq!(
        query(&start.location, "code_challenge_method").as_deref(),
        Some("S256")
    );
    assert_eq!(
        query(&start.location, "state").as_deref(),
        Some(start.state.as_str())
    );
    assert_eq!(
        query(&start.location, "redirect_uri").as_deref(),
        Some(CALLBACK)
    );
    assert!(!start.pending.to_string().contains("secret"));

    let params = login(&start.location, "alice", "alice-pw").await;
    let id = p.complete(&start.pending, CALLBACK, &params).await.unwrap();
    assert_eq!(id.external_id, "alice");
    assert_eq!(id.username.as_deref(), Some("alice"));
    assert!(id.email_verified);
    assert_eq!(id.profile.email.as_deref(), Some("alice@example.org"));
    assert_eq!(id.profile.name.as_deref(), Some("Alice Liddell"));
    assert_eq!(id.profile.groups, ["reviewer", "author"]);
    assert_eq!(id.logout_hint, None);
}

#[tokio::test]
async fn a_callback_with_another_state_is_refused() {
    let p = provider(settings());
    let start = p.begin(CALLBACK).await.unwrap();
    let params = login(&start.location, "alice", "alice-pw").await;
    // The code is good: only the state check stands between it and a login.
    let forged = with_param(&params, "state", Some("not-the-state-we-sent"));
    assert_eq!(
        p.complete(&start.pending, CALLBACK, &forged).await,
        Err(CallbackError::State)
    );
    let missing = with_param(&params, "state", None);
    assert_eq!(
        p.complete(&start.pending, CALLBACK, &missing).await,
        Err(CallbackError::State)
    );
}

#[tokio::test]
async fn a_wrong_password_ends_in_the_upstream_error() {
    let p = provider(settings());
    let start = p.begin(CALLBACK).await.unwrap();
    let params = login(&start.location, "alice", "wrong").await;
    match p.complete(&start.pending, CALLBACK, &params).await {
        Err(CallbackError::Upstream(m)) => assert!(m.starts_with("access_denied"), "{m}"),
        other => panic!("expected the upstream's access_denied, got {other:?}"),
    }
}

#[tokio::test]
async fn a_wrong_client_secret_is_refused_by_the_token_endpoint() {
    let mut s = settings();
    s.client_secret = Some(gatehouse_core::SecretValue::literal("not-the-secret"));
    let p = provider(s);
    let start = p.begin(CALLBACK).await.unwrap();
    let params = login(&start.location, "alice", "alice-pw").await;
    match p.complete(&start.pending, CALLBACK, &params).await {
        Err(CallbackError::Upstream(m)) => {
            assert!(m.contains("invalid_client"), "{m}");
            assert!(!m.contains("not-the-secret"), "{m}");
        }
        other => panic!("expected invalid_client, got {other:?}"),
    }
}

#[tokio::test]
async fn redirect_url_replaces_the_broker_callback() {
    let mut s = settings();
    s.redirect_url = Some(CALLBACK_OAUTH2.into());
    let p = provider(s);
    let start = p
        .begin("http://broker.invalid/derived/callback")
        .await
        .unwrap();
    assert_eq!(
        query(&start.location, "redirect_uri").as_deref(),
        Some(CALLBACK_OAUTH2)
    );
    let params = login(&start.location, "alice", "alice-pw").await;
    // The token request must name the same redirect URI, whatever the broker passes.
    let id = p
        .complete(
            &start.pending,
            "http://broker.invalid/derived/callback",
            &params,
        )
        .await
        .unwrap();
    assert_eq!(id.external_id, "alice");
}

#[tokio::test]
async fn username_regex_maps_the_username_and_refuses_a_mismatch() {
    let mut s = settings();
    s.username_claim = Some("email".into());
    s.username_regex = r"^([^@]+)@example\.org$".into();
    let p = provider(s);

    let start = p.begin(CALLBACK).await.unwrap();
    let params = login(&start.location, "alice", "alice-pw").await;
    let id = p.complete(&start.pending, CALLBACK, &params).await.unwrap();
    assert_eq!(id.username.as_deref(), Some("alice"));

    // bob@partner.example is outside the pattern: refused, not given some other name.
    let start = p.begin(CALLBACK).await.unwrap();
    let params = login(&start.location, "bob", "bob-pw").await;
    match p.complete(&start.pending, CALLBACK, &params).await {
        Err(CallbackError::Invalid(m)) => assert!(m.contains("username_regex"), "{m}"),
        other => panic!("expected a username_regex refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn an_inaccessible_profile_is_refused() {
    // Without the `openid` scope the peer's userinfo refuses the access token (403): the login
    // fails instead of proceeding with an empty profile.
    let mut s = settings();
    s.scopes = vec!["email".into()];
    let p = provider(s);
    let start = p.begin(CALLBACK).await.unwrap();
    let params = login(&start.location, "alice", "alice-pw").await;
    match p.complete(&start.pending, CALLBACK, &params).await {
        Err(CallbackError::Invalid(m)) => assert!(m.starts_with("profile_url answered"), "{m}"),
        other => panic!("expected the profile_url refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn logout_url_is_followed_with_the_return_address() {
    let mut s = settings();
    assert_eq!(
        provider(s.clone()).logout_location(None, "https://b/x"),
        None
    );
    s.logout_url = Some("https://iam.example.org/logout?next={return_to}".into());
    assert_eq!(
        provider(s)
            .logout_location(None, "https://broker.example.org/done?a=1")
            .as_deref(),
        Some("https://iam.example.org/logout?next=https%3A%2F%2Fbroker.example.org%2Fdone%3Fa%3D1")
    );
}

#[tokio::test]
async fn an_unreachable_token_endpoint_makes_the_provider_unavailable() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut s = settings();
    s.token_url = format!("http://{closed}/token");
    let p = provider(s);
    let start = p.begin(CALLBACK).await.unwrap();
    let params = login(&start.location, "alice", "alice-pw").await;
    match p.complete(&start.pending, CALLBACK, &params).await {
        Err(CallbackError::Unavailable(m)) => assert!(m.starts_with("token endpoint"), "{m}"),
        other => panic!("expected unavailable, got {other:?}"),
    }
}
