//! Two `gatehouse serve` processes on one store (an SQLite file, a PostgreSQL schema) behave as one
//! OpenID Provider: the same JWKS on both and after restarts, a browser session made on one is
//! single sign-on on the other, codes and refresh tokens issued by one are accepted by the other.
//! Raw HTTP, like a browser and a relying party would speak it.

mod common;

use common::browser::Browser;
use common::{Env, OIDC_REALM, OIDC_SECRETS, Server, free_port};
use gatehouse_store::store_test;
use serde_json::Value;
use url::Url;

const USER: &str = "alice";
const PASSWORD: &str = "alice: Correct horse battery 1";
const CLIENT: &str = "node-rp";
const REDIRECT_URI: &str = "http://127.0.0.1:9/callback";
// RFC 7636 appendix B: a verifier and its S256 challenge.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

fn secret() -> &'static str {
    OIDC_SECRETS
        .iter()
        .find(|(k, _)| *k == "NODE_RP_SECRET")
        .unwrap()
        .1
}

/// From `start` until a redirect to `stop_at`, which is returned (never followed). Logs in as
/// alice on the login pages met on the way. Also returns the steps taken, a request each.
async fn drive(browser: &Browser, start: &str, stop_at: &str) -> (Url, Vec<String>) {
    let mut trace = Vec::new();
    let mut page = browser.get(&Url::parse(start).unwrap()).await;
    let mut method = "GET";
    for _ in 0..12 {
        trace.push(format!("{method} {} -> {}", page.url.path(), page.status));
        if (300..400).contains(&page.status) {
            let next = page
                .location
                .clone()
                .unwrap_or_else(|| panic!("redirect without Location: {trace:?}"));
            if next.as_str().starts_with(stop_at) {
                return (next, trace);
            }
            (page, method) = (browser.get(&next).await, "GET");
            continue;
        }
        assert_eq!(page.status, 200, "{trace:?}: {}", page.body);
        assert!(
            trace.iter().filter(|t| t.starts_with("POST")).count() < 3,
            "the login does not end: {trace:?}: {}",
            page.body
        );
        // The form a person would fill: the one asking for username or password (a login step
        // may have a second form, e.g. "Not you?"), else the page's form.
        let mut form = page
            .form_with("username")
            .or_else(|| page.form_with("password"))
            .or_else(|| page.form())
            .unwrap_or_else(|| panic!("no form: {trace:?}: {}", page.body));
        for (name, value) in [("username", USER), ("password", PASSWORD)] {
            if form.get(name).is_some() {
                form.set(name, value);
            }
        }
        (page, method) = (browser.post(&page.url, &form).await, "POST");
    }
    panic!("no redirect to {stop_at}: {trace:?}");
}

/// `application/x-www-form-urlencoded`, for query strings and token requests.
fn form(fields: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish()
}

// ------------------------------------------------------------------ the relying party side

fn authorize_url(base: &str, state: &str, extra: &[(&str, &str)]) -> String {
    let mut params = vec![
        ("response_type", "code"),
        ("client_id", CLIENT),
        ("redirect_uri", REDIRECT_URI),
        ("scope", "openid profile email offline_access"),
        ("state", state),
        ("nonce", "n-0S6_WzA2Mj"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ];
    params.extend_from_slice(extra);
    format!("{base}/realms/main/authorize?{}", form(&params))
}

async fn token(base: &str, fields: &[(&str, &str)]) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{base}/realms/main/token"))
        .basic_auth(CLIENT, Some(secret()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(fields))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn redeem(base: &str, code: &str) -> (u16, Value) {
    token(
        base,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", VERIFIER),
        ],
    )
    .await
}

async fn refresh(base: &str, refresh_token: &str) -> (u16, Value) {
    token(
        base,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ],
    )
    .await
}

async fn get_json(url: String) -> Value {
    let response = reqwest::get(&url).await.unwrap();
    assert_eq!(response.status().as_u16(), 200, "GET {url}");
    response.json().await.unwrap()
}

async fn jwks(base: &str) -> Value {
    let mut keys = get_json(format!("{base}/realms/main/jwks")).await;
    let list = keys["keys"].as_array_mut().expect("a JWKS with keys");
    assert!(!list.is_empty(), "an empty JWKS");
    list.sort_by_key(|k| k["kid"].as_str().unwrap_or_default().to_owned());
    keys
}

fn code_of(callback: &Url, state: &str) -> String {
    let param = |name: &str| {
        callback
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    assert_eq!(param("state").as_deref(), Some(state), "{callback}");
    param("code").unwrap_or_else(|| panic!("no code in {callback}"))
}

store_test!(
    two_instances_share_keys_sessions_codes_and_refresh_tokens,
    |store| async move {
        let env = Env::new(store, OIDC_REALM);
        // Every instance (and command) of one store gets the same key-encryption secret, from
        // the environment rather than a local key file, as on separate machines.
        let mut vars: Vec<(&str, &str)> = OIDC_SECRETS.to_vec();
        vars.push((
            "GATEHOUSE_KEYS__ENCRYPTION_KEY",
            "instances-test-key-encryption-secret-0123",
        ));
        env.ok_with(&["user", "add", "--realm", "main", USER], "", &vars);
        env.ok_with(
            &["user", "set-password", "--realm", "main", USER],
            &format!("{PASSWORD}\n"),
            &vars,
        );
        // Both instances behind one public URL, as behind a load balancer.
        let (port_a, port_b) = (free_port(), free_port());
        let public_url = format!("http://127.0.0.1:{port_a}");
        vars.push(("GATEHOUSE_SERVER__PUBLIC_URL", &public_url));
        let a = Server::start_at(&env, port_a, &vars).await;
        let mut b = Server::start_at(&env, port_b, &vars).await;
        let (base_a, base_b) = (a.base.clone(), b.base.clone());

        // One issuer, one JWKS.
        let issuer = format!("{public_url}/realms/main");
        for base in [&base_a, &base_b] {
            let discovery = get_json(format!(
                "{base}/realms/main/.well-known/openid-configuration"
            ))
            .await;
            assert_eq!(discovery["issuer"], issuer.as_str());
        }
        let keys = jwks(&base_a).await;
        assert_eq!(
            jwks(&base_b).await,
            keys,
            "the instances publish different JWKS"
        );

        // Log in on A.
        let browser = Browser::new();
        let (callback, trace) =
            drive(&browser, &authorize_url(&base_a, "st-a", &[]), REDIRECT_URI).await;
        assert!(
            trace.len() > 2,
            "A should have shown the login page: {trace:?}"
        );
        let code_a = code_of(&callback, "st-a");
        assert!(
            browser.cookie("127.0.0.1", "gatehouse_session").is_some(),
            "no session cookie after the login"
        );

        // Single sign-on on B with A's session cookie: a code at once, even with prompt=none.
        let (callback, trace) = drive(
            &browser,
            &authorize_url(&base_b, "st-b", &[("prompt", "none")]),
            REDIRECT_URI,
        )
        .await;
        assert_eq!(
            trace.len(),
            1,
            "B should answer at once with a code: {trace:?}"
        );
        let code_b = code_of(&callback, "st-b");

        // A's code is redeemed at B, B's at A.
        let (status, from_a) = redeem(&base_b, &code_a).await;
        assert_eq!(status, 200, "A's code at B: {from_a}");
        let (status, from_b) = redeem(&base_a, &code_b).await;
        assert_eq!(status, 200, "B's code at A: {from_b}");
        // ...once: the replay at the other instance is refused.
        let (status, replay) = redeem(&base_a, &code_a).await;
        assert_eq!(
            (status, replay["error"].as_str()),
            (400, Some("invalid_grant")),
            "{replay}"
        );

        // An access token from A answers at B's userinfo.
        let userinfo = reqwest::Client::new()
            .get(format!("{base_b}/realms/main/userinfo"))
            .bearer_auth(from_b["access_token"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(userinfo.status().as_u16(), 200);
        let userinfo: Value = userinfo.json().await.unwrap();
        assert_eq!(userinfo["preferred_username"], USER, "{userinfo}");

        // A refresh token from A (issued for B's code) refreshes at B; its reuse at A is refused.
        let rt_a = from_b["refresh_token"]
            .as_str()
            .expect("a refresh token")
            .to_owned();
        let (status, refreshed) = refresh(&base_b, &rt_a).await;
        assert_eq!(status, 200, "A's refresh token at B: {refreshed}");
        let rt_next = refreshed["refresh_token"].as_str().unwrap().to_owned();
        assert_ne!(rt_next, rt_a);
        let (status, reuse) = refresh(&base_a, &rt_a).await;
        assert_eq!(
            (status, reuse["error"].as_str()),
            (400, Some("invalid_grant")),
            "{reuse}"
        );

        // Restart B: the same keys, and A's session, codes and refresh tokens still work there.
        assert!(b.terminate().success());
        b = Server::start_at(&env, port_b, &vars).await;
        assert_eq!(
            jwks(&b.base).await,
            keys,
            "the JWKS changed when B restarted"
        );
        let (callback, trace) = drive(
            &browser,
            &authorize_url(&b.base, "st-b2", &[("prompt", "none")]),
            REDIRECT_URI,
        )
        .await;
        assert_eq!(
            trace.len(),
            1,
            "the session did not survive B's restart: {trace:?}"
        );
        let (status, after) = redeem(&base_a, &code_of(&callback, "st-b2")).await;
        assert_eq!(status, 200, "{after}");
        let (status, refreshed) = refresh(&b.base, after["refresh_token"].as_str().unwrap()).await;
        assert_eq!(status, 200, "{refreshed}");

        // Restart A too (both restarted now): the same keys still.
        assert!(a.terminate().success());
        let a = Server::start_at(&env, port_a, &vars).await;
        assert_eq!(
            jwks(&a.base).await,
            keys,
            "the JWKS changed when A restarted"
        );
        let (status, refreshed) =
            refresh(&a.base, refreshed["refresh_token"].as_str().unwrap()).await;
        assert_eq!(status, 200, "{refreshed}");

        assert!(
            !env.dir.path().join("gatehouse.key").exists(),
            "a local key file was created although keys.encryption_key is set"
        );
        drop(a);
        drop(b);
        drop(env);
    }
);
