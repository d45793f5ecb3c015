//! Disabling an account through the CLI ends it on every instance at once: instance B, which
//! holds the browser's session, refuses `prompt=none`, and the account's tokens (offline ones too)
//! are revoked; enabling it again brings none of them back.

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
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

fn secret() -> &'static str {
    OIDC_SECRETS
        .iter()
        .find(|(k, _)| *k == "NODE_RP_SECRET")
        .unwrap()
        .1
}

fn form(fields: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish()
}

fn authorize_url(base: &str, state: &str, prompt_none: bool) -> String {
    let mut params = vec![
        ("response_type", "code"),
        ("client_id", CLIENT),
        ("redirect_uri", REDIRECT_URI),
        ("scope", "openid profile offline_access"),
        ("state", state),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ];
    if prompt_none {
        params.push(("prompt", "none"));
    }
    format!("{base}/realms/main/authorize?{}", form(&params))
}

/// Follows redirects from `start`, logging in as alice on the way, until one to the client.
async fn to_client(browser: &Browser, start: &str) -> Url {
    let mut page = browser.get(&Url::parse(start).unwrap()).await;
    for _ in 0..8 {
        if let Some(next) = page.location.clone() {
            if next.as_str().starts_with(REDIRECT_URI) {
                return next;
            }
            page = browser.get(&next).await;
            continue;
        }
        assert_eq!(page.status, 200, "{}", page.body);
        let mut login = page
            .form_with("username")
            .or_else(|| page.form_with("password"))
            .unwrap_or_else(|| panic!("no login form: {}", page.body));
        for (name, value) in [("username", USER), ("password", PASSWORD)] {
            if login.get(name).is_some() {
                login.set(name, value);
            }
        }
        page = browser.post(&page.url, &login).await;
    }
    panic!("no redirect to the client from {start}");
}

fn param(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

async fn post(base: &str, endpoint: &str, fields: &[(&str, &str)]) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{base}/realms/main/{endpoint}"))
        .basic_auth(CLIENT, Some(secret()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(fields))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn active(base: &str, token: &str) -> bool {
    let (status, answer) = post(base, "introspect", &[("token", token)]).await;
    assert_eq!(status, 200, "{answer}");
    answer["active"].as_bool().unwrap()
}

store_test!(
    disabling_through_the_cli_ends_the_session_and_tokens_on_another_instance,
    |store| async move {
        let env = Env::new(store, OIDC_REALM);
        let mut vars: Vec<(&str, &str)> = OIDC_SECRETS.to_vec();
        vars.push((
            "GATEHOUSE_KEYS__ENCRYPTION_KEY",
            "account-end-test-key-encryption-secret-01",
        ));
        env.ok_with(&["user", "add", "--realm", "main", USER], "", &vars);
        env.ok_with(
            &["user", "set-password", "--realm", "main", USER],
            &format!("{PASSWORD}\n"),
            &vars,
        );
        let (port_a, port_b) = (free_port(), free_port());
        let public_url = format!("http://127.0.0.1:{port_a}");
        vars.push(("GATEHOUSE_SERVER__PUBLIC_URL", &public_url));
        let a = Server::start_at(&env, port_a, &vars).await;
        let b = Server::start_at(&env, port_b, &vars).await;

        // Log in on A; tokens with offline_access.
        let browser = Browser::new();
        let callback = to_client(&browser, &authorize_url(&a.base, "s1", false)).await;
        let code = param(&callback, "code").unwrap_or_else(|| panic!("{callback}"));
        let (status, tokens) = post(
            &a.base,
            "token",
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT_URI),
                ("code_verifier", VERIFIER),
            ],
        )
        .await;
        assert_eq!(status, 200, "{tokens}");
        let access = tokens["access_token"].as_str().unwrap().to_owned();
        let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
        assert!(active(&b.base, &access).await && active(&b.base, &refresh).await);

        // B holds the session: single sign-on with prompt=none.
        let sso = to_client(&browser, &authorize_url(&b.base, "s2", true)).await;
        assert!(param(&sso, "code").is_some(), "{sso}");

        let out = env.ok_with(&["user", "disable", "--realm", "main", USER], "", &vars);
        assert!(out.contains("store: "), "{out}");

        // B refuses at once; the tokens are revoked, the offline refresh token too.
        let refused = to_client(&browser, &authorize_url(&b.base, "s3", true)).await;
        assert_eq!(
            param(&refused, "error").as_deref(),
            Some("login_required"),
            "{refused}"
        );
        assert!(
            !active(&b.base, &access).await,
            "the access token is active"
        );
        assert!(
            !active(&b.base, &refresh).await,
            "the refresh token is active"
        );
        // The code B issued and nobody redeemed is gone too.
        let sso_code = param(&sso, "code").unwrap();
        let (status, answer) = post(
            &a.base,
            "token",
            &[
                ("grant_type", "authorization_code"),
                ("code", &sso_code),
                ("redirect_uri", REDIRECT_URI),
                ("code_verifier", VERIFIER),
            ],
        )
        .await;
        assert_eq!(status, 400, "{answer}");

        // Enabled again: the session and tokens stay ended; a new login is needed.
        env.ok_with(&["user", "enable", "--realm", "main", USER], "", &vars);
        let again = to_client(&browser, &authorize_url(&b.base, "s4", true)).await;
        assert_eq!(
            param(&again, "error").as_deref(),
            Some("login_required"),
            "{again}"
        );
        let (status, answer) = post(
            &a.base,
            "token",
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        )
        .await;
        assert_eq!(
            (status, answer["error"].as_str()),
            (400, Some("invalid_grant")),
            "{answer}"
        );
        drop(a);
        drop(b);
        drop(env);
    }
);
