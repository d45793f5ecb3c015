//! ID tokens the real upstream cannot be made to issue — expired, for another audience, signed by
//! a key it does not publish, with a wrong `at_hash` — signed here with the test keys of
//! fixtures/upstream-oidc/ and served by a tiny upstream over real HTTP (discovery, JWKS, token,
//! userinfo). Only the upstream is played; the connector runs unchanged.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Duration, Utc};
use gatehouse_connector_oidc::{OidcProvider, OidcSettings, TokenAuthMethod, http_client};
use gatehouse_core::{
    CallbackError, ExternalIdentity, ProviderDescriptor, ProviderKind, RedirectProvider,
};
use openidconnect::core::{
    CoreIdToken, CoreIdTokenClaims, CoreJwsSigningAlgorithm, CoreRsaPrivateSigningKey,
};
use openidconnect::{
    AccessToken, Audience, EmptyAdditionalClaims, IssuerUrl, JsonWebKeyId, Nonce,
    PrivateSigningKey, StandardClaims, SubjectIdentifier,
};
use serde_json::{Value, json};

const CALLBACK: &str = "http://127.0.0.1:8080/callback";
const ACCESS_TOKEN: &str = "crafted-access-token";

#[derive(Default)]
struct Shared {
    issuer: String,
    jwks: Mutex<Value>,
    jwks_hits: AtomicUsize,
    id_token: Mutex<String>,
    userinfo: Mutex<Value>,
    /// How each token request authenticated the client: "basic" or "post".
    token_auth: Mutex<Vec<&'static str>>,
    /// Answer token requests with 503.
    token_down: std::sync::atomic::AtomicBool,
}

struct Upstream {
    url: String,
    shared: Arc<Shared>,
}

impl Upstream {
    async fn start(keys: &[&Key]) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let shared = Arc::new(Shared {
            issuer: url.clone(),
            ..Default::default()
        });
        let up = Self {
            url,
            shared: shared.clone(),
        };
        up.publish(keys);
        *shared.userinfo.lock().unwrap() =
            json!({"sub": "carol", "email": "carol@example.org", "groups": ["crafted"]});
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .route("/token", post(token))
            .route("/userinfo", get(userinfo))
            .with_state(shared);
        tokio::spawn(async move { axum::serve(listener, app).await });
        up
    }

    fn publish(&self, keys: &[&Key]) {
        *self.shared.jwks.lock().unwrap() =
            json!({"keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>()});
    }

    fn jwks_hits(&self) -> usize {
        self.shared.jwks_hits.load(Ordering::SeqCst)
    }
}

async fn discovery(State(s): State<Arc<Shared>>) -> Json<Value> {
    let i = &s.issuer;
    Json(json!({
        "issuer": i, "authorization_endpoint": format!("{i}/auth"), "token_endpoint": format!("{i}/token"),
        "userinfo_endpoint": format!("{i}/userinfo"), "jwks_uri": format!("{i}/jwks"),
        "response_types_supported": ["code"], "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
    }))
}

async fn jwks(State(s): State<Arc<Shared>>) -> Json<Value> {
    s.jwks_hits.fetch_add(1, Ordering::SeqCst);
    Json(s.jwks.lock().unwrap().clone())
}

async fn token(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    body: String,
) -> Result<Json<Value>, axum::http::StatusCode> {
    if s.token_down.load(Ordering::SeqCst) {
        return Err(axum::http::StatusCode::SERVICE_UNAVAILABLE);
    }
    let how = if headers.contains_key("authorization") {
        "basic"
    } else if body.contains("client_secret=") {
        "post"
    } else {
        "none"
    };
    s.token_auth.lock().unwrap().push(how);
    let id_token = s.id_token.lock().unwrap().clone();
    Ok(Json(
        json!({"access_token": ACCESS_TOKEN, "token_type": "Bearer", "expires_in": 300, "id_token": id_token}),
    ))
}

async fn userinfo(State(s): State<Arc<Shared>>) -> Json<Value> {
    Json(s.userinfo.lock().unwrap().clone())
}

struct Key {
    signing: CoreRsaPrivateSigningKey,
    jwk: Value,
}

fn key(file: &str, kid: &str) -> Key {
    let path = format!(
        "{}/../../fixtures/upstream-oidc/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    let pem = std::fs::read_to_string(&path).unwrap();
    let signing =
        CoreRsaPrivateSigningKey::from_pem(&pem, Some(JsonWebKeyId::new(kid.into()))).unwrap();
    let jwk = serde_json::to_value(signing.as_verification_key()).unwrap();
    Key { signing, jwk }
}

/// The claims of a crafted ID token; `valid` gives one the connector must accept.
struct Token {
    iss: String,
    aud: Vec<String>,
    exp: DateTime<Utc>,
    nonce: Option<String>,
    sub: String,
    /// The access token `at_hash` is computed over.
    at_hash_of: Option<String>,
}

fn sign(key: &Key, t: &Token) -> String {
    let claims = CoreIdTokenClaims::new(
        IssuerUrl::new(t.iss.clone()).unwrap(),
        t.aud.iter().cloned().map(Audience::new).collect(),
        t.exp,
        Utc::now(),
        StandardClaims::new(SubjectIdentifier::new(t.sub.clone())),
        EmptyAdditionalClaims {},
    )
    .set_nonce(t.nonce.clone().map(Nonce::new));
    let at = t.at_hash_of.clone().map(AccessToken::new);
    CoreIdToken::new(
        claims,
        &key.signing,
        CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        at.as_ref(),
        None,
    )
    .unwrap()
    .to_string()
}

fn provider(up: &Upstream, edit: impl FnOnce(&mut OidcSettings)) -> OidcProvider {
    let mut s: OidcSettings = toml::from_str(&format!(
        "issuer = \"{}\"\nclient_id = \"broker\"\nclient_secret = \"crafted-secret\"",
        up.url
    ))
    .unwrap();
    edit(&mut s);
    let descriptor = ProviderDescriptor {
        id: "crafted".into(),
        kind: ProviderKind::Oidc,
        enabled: true,
        supersedes: vec![],
        jit: true,
    };
    OidcProvider::new(descriptor, s, http_client().unwrap()).unwrap()
}

/// begin → (no browser: the crafted upstream accepts any code) → an ID token signed with `key`,
/// valid but for what `edit` changes → complete.
async fn sign_in(
    up: &Upstream,
    p: &OidcProvider,
    key: &Key,
    edit: impl FnOnce(&mut Token),
) -> Result<ExternalIdentity, CallbackError> {
    let start = p.begin(CALLBACK).await.unwrap();
    let mut t = Token {
        iss: up.url.clone(),
        aud: vec!["broker".into()],
        exp: Utc::now() + Duration::minutes(5),
        nonce: start.pending["nonce"].as_str().map(str::to_owned),
        sub: "carol".into(),
        at_hash_of: Some(ACCESS_TOKEN.into()),
    };
    edit(&mut t);
    *up.shared.id_token.lock().unwrap() = sign(key, &t);
    let params = [("code", "crafted-code"), ("state", start.state.as_str())]
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
    p.complete(&start.pending, CALLBACK, &params).await
}

fn refusal(result: Result<ExternalIdentity, CallbackError>) -> String {
    match result {
        Err(CallbackError::Invalid(m)) => m,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn a_valid_token_is_accepted_and_the_jwks_cached() {
    let a = key("rsa-a.pem", "a");
    let up = Upstream::start(&[&a]).await;
    let p = provider(&up, |_| {});
    let id = sign_in(&up, &p, &a, |_| {}).await.unwrap();
    assert_eq!(
        (id.external_id.as_str(), id.username.as_deref()),
        ("carol", Some("carol"))
    );
    assert_eq!(id.profile.groups, ["crafted"]);
    sign_in(&up, &p, &a, |_| {}).await.unwrap();
    assert_eq!(
        up.jwks_hits(),
        1,
        "the second login uses the cached key set"
    );
    assert_eq!(*up.shared.token_auth.lock().unwrap(), ["basic", "basic"]);
}

#[tokio::test]
async fn a_token_for_another_audience_is_refused() {
    let a = key("rsa-a.pem", "a");
    let up = Upstream::start(&[&a]).await;
    let p = provider(&up, |_| {});
    let m = refusal(sign_in(&up, &p, &a, |t| t.aud = vec!["someone-else".into()]).await);
    assert!(m.starts_with("id_token: Invalid audiences"), "{m}");
    // Our client_id plus an audience nobody vouched for is no better.
    let m = refusal(sign_in(&up, &p, &a, |t| t.aud.push("someone-else".into())).await);
    assert!(m.contains("not a trusted audience"), "{m}");
}

#[tokio::test]
async fn an_expired_token_is_refused() {
    let a = key("rsa-a.pem", "a");
    let up = Upstream::start(&[&a]).await;
    let p = provider(&up, |_| {});
    let m = refusal(sign_in(&up, &p, &a, |t| t.exp = Utc::now() - Duration::seconds(30)).await);
    assert!(m.starts_with("id_token: Expired"), "{m}");
}

#[tokio::test]
async fn a_token_from_another_issuer_or_without_the_nonce_is_refused() {
    let a = key("rsa-a.pem", "a");
    let up = Upstream::start(&[&a]).await;
    let p = provider(&up, |_| {});
    let m = refusal(sign_in(&up, &p, &a, |t| t.iss = "https://elsewhere.example".into()).await);
    assert!(m.starts_with("id_token: Invalid issuer"), "{m}");
    let m = refusal(sign_in(&up, &p, &a, |t| t.nonce = None).await);
    assert!(m.starts_with("id_token: Invalid nonce"), "{m}");
}

#[tokio::test]
async fn a_rotated_key_is_fetched_once_and_accepted() {
    let (a, b) = (key("rsa-a.pem", "a"), key("rsa-b.pem", "b"));
    let up = Upstream::start(&[&a]).await;
    let p = provider(&up, |_| {});
    sign_in(&up, &p, &a, |_| {}).await.unwrap();
    assert_eq!(up.jwks_hits(), 1);
    up.publish(&[&b]); // the upstream rotates: the cached set does not hold kid `b`
    sign_in(&up, &p, &b, |_| {}).await.unwrap();
    assert_eq!(up.jwks_hits(), 2, "one fetch for the unknown kid");
    sign_in(&up, &p, &b, |_| {}).await.unwrap();
    assert_eq!(up.jwks_hits(), 2, "and cached again");
}

#[tokio::test]
async fn a_token_signed_by_an_unpublished_key_is_refused_after_one_fetch() {
    let (a, b) = (key("rsa-a.pem", "a"), key("rsa-b.pem", "b"));
    let up = Upstream::start(&[&a]).await;
    let p = provider(&up, |_| {});
    sign_in(&up, &p, &a, |_| {}).await.unwrap();
    let m = refusal(sign_in(&up, &p, &b, |_| {}).await);
    assert_eq!(m, "id_token signature: No matching key found");
    assert_eq!(up.jwks_hits(), 2, "exactly one fetch again, no loop");
    refusal(sign_in(&up, &p, &b, |_| {}).await);
    assert_eq!(up.jwks_hits(), 3, "at most one fetch per callback");

    // Key `b`'s material published under kid `a`: the signature does not verify.
    let impostor = key("rsa-b.pem", "a");
    let m = refusal(sign_in(&up, &p, &impostor, |_| {}).await);
    assert!(m.starts_with("id_token signature: Crypto error"), "{m}");
}

#[tokio::test]
async fn an_unsigned_token_is_refused() {
    let a = key("rsa-a.pem", "a");
    let up = Upstream::start(&[&a]).await;
    let p = provider(&up, |_| {});
    let start = p.begin(CALLBACK).await.unwrap();
    let b64 = |v: Value| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let payload = json!({"iss": up.url, "aud": "broker", "sub": "carol", "nonce": start.pending["nonce"],
        "exp": Utc::now().timestamp() + 300, "iat": Utc::now().timestamp()});
    *up.shared.id_token.lock().unwrap() =
        format!("{}.{}.", b64(json!({"alg": "none"})), b64(payload));
    let params =
        [("code", "c"), ("state", start.state.as_str())].map(|(k, v)| (k.to_owned(), v.to_owned()));
    let m = refusal(p.complete(&start.pending, CALLBACK, &params).await);
    assert!(m.contains("id_token"), "{m}");
}

#[tokio::test]
async fn at_hash_must_match_the_access_token() {
    let a = key("rsa-a.pem", "a");
    let up = Upstream::start(&[&a]).await;
    let p = provider(&up, |_| {});
    let m = refusal(
        sign_in(&up, &p, &a, |t| {
            t.at_hash_of = Some("another-access-token".into())
        })
        .await,
    );
    assert!(m.contains("at_hash"), "{m}");
    sign_in(&up, &p, &a, |t| t.at_hash_of = None).await.unwrap();
}

#[tokio::test]
async fn userinfo_about_someone_else_is_refused() {
    let a = key("rsa-a.pem", "a");
    let up = Upstream::start(&[&a]).await;
    let p = provider(&up, |_| {});
    *up.shared.userinfo.lock().unwrap() = json!({"sub": "mallory", "email": "m@example.org"});
    let m = refusal(sign_in(&up, &p, &a, |_| {}).await);
    assert!(m.contains("userinfo `sub`"), "{m}");
}

#[tokio::test]
async fn client_secret_post_sends_the_secret_in_the_body() {
    let a = key("rsa-a.pem", "a");
    let up = Upstream::start(&[&a]).await;
    let p = provider(&up, |s| {
        s.token_endpoint_auth_method = TokenAuthMethod::ClientSecretPost
    });
    sign_in(&up, &p, &a, |_| {}).await.unwrap();
    assert_eq!(*up.shared.token_auth.lock().unwrap(), ["post"]);
}

#[tokio::test]
async fn a_failing_token_endpoint_makes_the_provider_unavailable() {
    let a = key("rsa-a.pem", "a");
    let up = Upstream::start(&[&a]).await;
    let p = provider(&up, |_| {});
    up.shared.token_down.store(true, Ordering::SeqCst);
    match sign_in(&up, &p, &a, |_| {}).await {
        Err(CallbackError::Unavailable(m)) => assert!(m.contains("503"), "{m}"),
        other => panic!("expected unavailable, got {other:?}"),
    }
}
