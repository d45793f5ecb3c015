//! The `oidc` connector against a real OpenID Provider: node oidc-provider
//! (tests/peers/upstream-oidc.sh), driven through its login form by a scripted browser. The peer
//! requires PKCE (S256), checks passwords, puts only protocol claims in its ID tokens (code flow)
//! and email, name and groups in userinfo.

#[path = "../../oauth2/tests/peer/mod.rs"]
mod peer;

use gatehouse_connector_oidc::{OidcProvider, OidcSettings, TokenAuthMethod, http_client};
use gatehouse_core::{CallbackError, ExternalIdentity, ProviderKind, RedirectProvider};
use peer::{CALLBACK, login, query, with_param};

fn settings() -> OidcSettings {
    let op = peer::upstream_url();
    toml::from_str(&format!(
        r#"
        issuer = "{op}"
        client_id = "broker"
        client_secret = "broker-secret"
        scopes = ["openid", "email", "profile", "groups"]
        "#
    ))
    .unwrap()
}

fn provider(settings: OidcSettings) -> OidcProvider {
    peer::init();
    OidcProvider::new(
        peer::descriptor(ProviderKind::Oidc),
        settings,
        http_client().unwrap(),
    )
    .unwrap()
}

/// begin → the browser logs in at the upstream → complete, with the callback's parameters passed
/// through `tamper` and the pending record through `tamper_pending`.
async fn sign_in(
    p: &OidcProvider,
    user: &str,
    password: &str,
    tamper: impl FnOnce(Vec<(String, String)>) -> Vec<(String, String)>,
    tamper_pending: impl FnOnce(&mut serde_json::Value),
) -> Result<ExternalIdentity, CallbackError> {
    let mut start = p.begin(CALLBACK).await.unwrap();
    let params = login(&start.location, user, password).await;
    tamper_pending(&mut start.pending);
    p.complete(&start.pending, CALLBACK, &tamper(params)).await
}

async fn plain(
    p: &OidcProvider,
    user: &str,
    password: &str,
) -> Result<ExternalIdentity, CallbackError> {
    sign_in(p, user, password, |x| x, |_| {}).await
}

fn invalid(result: Result<ExternalIdentity, CallbackError>) -> String {
    match result {
        Err(CallbackError::Invalid(m)) => m,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn alice_signs_in_with_claims_from_userinfo() {
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
    assert!(query(&start.location, "nonce").is_some_and(|n| n.len() >= 22));
    let scope = query(&start.location, "scope").unwrap();
    assert_eq!(
        scope.split(' ').filter(|s| *s == "openid").count(),
        1,
        "{scope}"
    );

    let params = login(&start.location, "alice", "alice-pw").await;
    let id = p.complete(&start.pending, CALLBACK, &params).await.unwrap();
    assert_eq!(id.external_id, "alice");
    assert_eq!(
        id.username.as_deref(),
        Some("alice"),
        "username_claim defaults to sub"
    );
    assert!(id.email_verified);
    assert_eq!(id.profile.email.as_deref(), Some("alice@example.org"));
    assert_eq!(id.profile.name.as_deref(), Some("Alice Liddell"));
    assert_eq!(id.profile.groups, ["admins", "staff"]);
    assert_eq!(
        id.logout_hint.as_deref().map(|t| t.split('.').count()),
        Some(3)
    );
    assert_eq!(p.jwks_fetches(), 1);
}

#[tokio::test]
async fn without_userinfo_only_the_id_token_claims_are_mapped() {
    let mut s = settings();
    s.userinfo = false;
    let id = plain(&provider(s), "alice", "alice-pw").await.unwrap();
    assert_eq!(id.external_id, "alice");
    assert_eq!((id.profile.email, id.profile.groups.len()), (None, 0));
}

#[tokio::test]
async fn username_regex_maps_the_username_and_refuses_a_mismatch() {
    let mut s = settings();
    s.username_claim = "email".into();
    s.username_regex = r"^([^@]+)@example\.org$".into();
    let p = provider(s);
    let id = plain(&p, "alice", "alice-pw").await.unwrap();
    assert_eq!(id.username.as_deref(), Some("alice"));
    // bob@partner.example: refused, not given some other name.
    let m = invalid(plain(&p, "bob", "bob-pw").await);
    assert!(m.contains("username_regex"), "{m}");
}

#[tokio::test]
async fn a_callback_with_another_state_is_refused() {
    let p = provider(settings());
    let forged = sign_in(
        &p,
        "alice",
        "alice-pw",
        |c| with_param(&c, "state", Some("forged")),
        |_| {},
    );
    assert_eq!(forged.await, Err(CallbackError::State));
}

#[tokio::test]
async fn a_nonce_mismatch_is_refused() {
    // The upstream's ID token carries the nonce `begin` sent; the pending login expects another.
    let p = provider(settings());
    let other = |pending: &mut serde_json::Value| pending["nonce"] = "another-nonce".into();
    let m = invalid(sign_in(&p, "alice", "alice-pw", |x| x, other).await);
    assert!(m.contains("nonce"), "{m}");
}

#[tokio::test]
async fn an_id_token_from_another_issuer_is_refused() {
    // Endpoints configured by hand at the real upstream, which signs its real issuer into the ID
    // token, while the provider expects another. The callback's `iss` is dropped so that the ID
    // token check, not the mix-up check of the callback, is what refuses.
    let op = peer::upstream_url();
    let mut s = settings();
    s.discovery = false;
    s.issuer = format!("{op}/some-other-issuer");
    s.authorization_endpoint = Some(format!("{op}/auth"));
    s.token_endpoint = Some(format!("{op}/token"));
    s.jwks_uri = Some(format!("{op}/jwks"));
    let p = provider(s);
    let m = invalid(
        sign_in(
            &p,
            "alice",
            "alice-pw",
            |c| with_param(&c, "iss", None),
            |_| {},
        )
        .await,
    );
    assert!(m.starts_with("id_token: Invalid issuer"), "{m}");
}

#[tokio::test]
async fn a_callback_naming_another_issuer_is_refused() {
    let p = provider(settings());
    let mix_up = sign_in(
        &p,
        "alice",
        "alice-pw",
        |c| with_param(&c, "iss", Some("https://evil.example")),
        |_| {},
    );
    assert!(invalid(mix_up.await).contains("mix-up"));
    // The peer advertises authorization_response_iss_parameter_supported: `iss` may not vanish.
    let dropped = sign_in(
        &p,
        "alice",
        "alice-pw",
        |c| with_param(&c, "iss", None),
        |_| {},
    );
    assert!(invalid(dropped.await).contains("RFC 9207"));
}

#[tokio::test]
async fn a_wrong_password_ends_in_the_upstream_error() {
    let p = provider(settings());
    match plain(&p, "alice", "wrong").await {
        Err(CallbackError::Upstream(m)) => assert!(m.starts_with("access_denied"), "{m}"),
        other => panic!("expected the upstream's access_denied, got {other:?}"),
    }
}

#[tokio::test]
async fn client_secret_post_and_public_clients_sign_in() {
    let mut s = settings();
    s.client_id = "broker-post".into();
    s.client_secret = Some(gatehouse_core::SecretValue::literal("broker-post-secret"));
    s.token_endpoint_auth_method = TokenAuthMethod::ClientSecretPost;
    // (The peer also accepts basic from this client; crafted.rs checks which one is sent.)
    assert_eq!(
        plain(&provider(s), "bob", "bob-pw")
            .await
            .unwrap()
            .external_id,
        "bob"
    );

    let mut public = settings();
    public.client_id = "broker-public".into();
    public.client_secret = None;
    let id = plain(&provider(public), "bob", "bob-pw").await.unwrap();
    assert!(!id.email_verified, "bob's email is not verified upstream");
}

#[tokio::test]
async fn discovery_must_name_the_configured_issuer() {
    let mut s = settings();
    s.issuer.push('/');
    match provider(s).begin(CALLBACK).await {
        Err(CallbackError::Invalid(m)) => {
            assert!(m.contains("discovery document names issuer"), "{m}")
        }
        other => panic!("expected a discovery refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn global_logout_goes_to_the_end_session_endpoint() {
    let op = peer::upstream_url();
    let p = provider(settings());
    let id = plain(&p, "alice", "alice-pw").await.unwrap();
    assert_eq!(
        p.logout_location(id.logout_hint.as_deref(), CALLBACK),
        None,
        "global_logout is off"
    );

    let mut s = settings();
    s.global_logout = true;
    let p = provider(s.clone());
    p.discover().await.unwrap();
    let location = p
        .logout_location(id.logout_hint.as_deref(), CALLBACK)
        .unwrap();
    assert!(
        location.starts_with(&format!("{op}/session/end?")),
        "{location}"
    );
    assert_eq!(
        query(&location, "post_logout_redirect_uri").as_deref(),
        Some(CALLBACK)
    );
    assert_eq!(query(&location, "client_id").as_deref(), Some("broker"));
    assert_eq!(query(&location, "id_token_hint"), id.logout_hint);
    // The upstream accepts the request: it answers its logout confirmation page, not an error.
    let answer = reqwest::get(&location).await.unwrap();
    assert_eq!(
        answer.status(),
        200,
        "{}",
        answer.text().await.unwrap_or_default()
    );

    s.logout_url = Some("https://idp.example.org/logout".into());
    let location = provider(s).logout_location(None, CALLBACK).unwrap();
    assert!(
        location.starts_with("https://idp.example.org/logout?client_id=broker&"),
        "{location}"
    );
}

#[tokio::test]
async fn prepare_logout_reads_the_end_session_endpoint_of_a_fresh_instance() {
    // A broker instance that has not seen a login through the provider (just restarted, or
    // another instance made the session) knows no end_session_endpoint until prepare_logout.
    let op = peer::upstream_url();
    let mut s = settings();
    s.global_logout = true;
    let p = provider(s);
    assert_eq!(p.logout_location(Some("hint"), CALLBACK), None);
    p.prepare_logout().await;
    let location = p.logout_location(Some("hint"), CALLBACK).unwrap();
    assert!(
        location.starts_with(&format!("{op}/session/end?")),
        "{location}"
    );
}
