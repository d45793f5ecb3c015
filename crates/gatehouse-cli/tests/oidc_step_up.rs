//! Step-up on `/authorize`, against `gatehouse serve` on SQLite and PostgreSQL: the ID token and
//! userinfo say how the user authenticated (acr, amr, auth_time); `max_age=0` and
//! `prompt=login` send a signed-in browser back to the login page; an `acr_values` above the
//! session's level is not answered from the session; an essential `acr` no policy achieves is
//! `unmet_authentication_requirements`; discovery lists the realm's levels.

mod common;

use base64::Engine;
use common::browser::Browser;
use common::{Env, Server, free_port};
use gatehouse_store::store_test;
use serde_json::{Value, json};
use url::Url;

const USER: &str = "alice";
const PASSWORD: &str = "Alice: correct horse battery 7";
const CLIENT: &str = "app";
const SECRET: &str = "app-secret-0123456789abcdef";
const REDIRECT_URI: &str = "http://127.0.0.1:9/callback";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const STRONG: &str = "urn:example:acr:strong";

/// A database realm with one configured policy above the implicit default's level.
const REALM: &str = r#"
[realms.main]
chain = ["local"]
[[realms.main.providers]]
id = "local"
kind = "database"

[[realms.main.clients]]
client_id = "app"
client_secret = "app-secret-0123456789abcdef"
redirect_uris = ["http://127.0.0.1:9/callback"]
grant_types = ["authorization_code", "refresh_token"]
scopes = ["openid", "profile", "offline_access"]
require_auth_time = true

[[realms.main.policies]]
id = "strong"
acr = "urn:example:acr:strong"
max_age = 300
[[realms.main.policies.steps]]
mechanism = "password"
"#;

fn form(fields: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish()
}

fn authorize_url(base: &str, state: &str, extra: &[(&str, &str)]) -> Url {
    let mut params = vec![
        ("response_type", "code"),
        ("client_id", CLIENT),
        ("redirect_uri", REDIRECT_URI),
        ("scope", "openid profile"),
        ("state", state),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ];
    params.extend_from_slice(extra);
    Url::parse(&format!("{base}/realms/main/authorize?{}", form(&params))).unwrap()
}

fn param(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Where `/authorize` sends the browser first: the client, or the login page.
async fn first_stop(browser: &Browser, url: &Url) -> Url {
    let page = browser.get(url).await;
    page.location
        .unwrap_or_else(|| panic!("no redirect from /authorize: {}", page.body))
}

/// Follows redirects from `start`, logging in as alice on the way, until one to the client.
/// Returns it and how many login forms were posted.
async fn to_client(browser: &Browser, start: &Url) -> (Url, usize) {
    let mut page = browser.get(start).await;
    let mut posted = 0;
    for _ in 0..8 {
        if let Some(next) = page.location.clone() {
            if next.as_str().starts_with(REDIRECT_URI) {
                return (next, posted);
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
        posted += 1;
        page = browser.post(&page.url, &login).await;
    }
    panic!("no redirect to the client from {start}");
}

async fn token(base: &str, fields: &[(&str, &str)]) -> Value {
    let response = reqwest::Client::new()
        .post(format!("{base}/realms/main/token"))
        .basic_auth(CLIENT, Some(SECRET))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(fields))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn redeem(base: &str, callback: &Url) -> Value {
    let code = param(callback, "code").unwrap_or_else(|| panic!("no code: {callback}"));
    token(
        base,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", VERIFIER),
        ],
    )
    .await
}

fn id_claims(tokens: &Value) -> Value {
    let jwt = tokens["id_token"].as_str().unwrap();
    let payload = jwt.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

store_test!(
    step_up_parameters_acr_amr_and_auth_time,
    |store| async move {
        let env = Env::new(store, REALM);
        env.ok(&["check-config"], "");
        env.ok(&["user", "add", "--realm", "main", USER], "");
        env.ok(
            &["user", "set-password", "--realm", "main", USER],
            &format!("{PASSWORD}\n"),
        );
        let port = free_port();
        let public_url = format!("http://127.0.0.1:{port}");
        let server = Server::start_at(
            &env,
            port,
            &[("GATEHOUSE_SERVER__PUBLIC_URL", public_url.as_str())],
        )
        .await;
        let base = server.base.clone();
        let login_page = format!("{base}/realms/main/login");

        // Discovery lists the realm's levels: the implicit default's and the policy's.
        let discovery: Value = reqwest::get(format!(
            "{base}/realms/main/.well-known/openid-configuration"
        ))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        assert_eq!(discovery["acr_values_supported"], json!([STRONG, "1"]));
        assert_eq!(discovery["claims_parameter_supported"], true);

        // A password login: acr, amr and auth_time in the ID token and from userinfo.
        let browser = Browser::new();
        let (callback, posted) = to_client(&browser, &authorize_url(&base, "s1", &[])).await;
        assert_eq!(posted, 2, "identifier, then password");
        let tokens = redeem(&base, &callback).await;
        let id = id_claims(&tokens);
        assert_eq!((&id["acr"], &id["amr"]), (&json!("1"), &json!(["pwd"])));
        let auth_time = id["auth_time"].as_i64().unwrap();
        let info: Value = reqwest::Client::new()
            .get(format!("{base}/realms/main/userinfo"))
            .bearer_auth(tokens["access_token"].as_str().unwrap())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            (&info["acr"], &info["amr"], &info["auth_time"]),
            (&json!("1"), &json!(["pwd"]), &json!(auth_time)),
            "{info}"
        );

        // The session answers a plain request at once, and one within its age.
        let sso = first_stop(
            &browser,
            &authorize_url(&base, "s2", &[("max_age", "3600")]),
        )
        .await;
        assert!(sso.as_str().starts_with(REDIRECT_URI), "{sso}");
        assert_eq!(
            id_claims(&redeem(&base, &sso).await)["auth_time"],
            json!(auth_time)
        );

        // prompt=none with a level or an age the session lacks: login_required, no code.
        for extra in [
            [("prompt", "none"), ("max_age", "0")],
            [("prompt", "none"), ("acr_values", STRONG)],
        ] {
            let refused = first_stop(&browser, &authorize_url(&base, "s3", &extra)).await;
            assert_eq!(
                (param(&refused, "error").as_deref(), param(&refused, "code")),
                (Some("login_required"), None),
                "{extra:?}: {refused}"
            );
            assert_eq!(param(&refused, "state").as_deref(), Some("s3"));
        }

        // max_age=0, prompt=login and a higher acr each send the browser to the login page.
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        for extra in [
            vec![("max_age", "0")],
            vec![("prompt", "login")],
            vec![("acr_values", STRONG)],
        ] {
            let url = authorize_url(&base, "s4", &extra);
            let stop = first_stop(&browser, &url).await;
            assert!(
                stop.as_str().starts_with(&login_page),
                "{extra:?} was answered from the session: {stop}"
            );
            let (callback, posted) = to_client(&browser, &url).await;
            assert!(posted >= 1, "{extra:?}: no login form posted");
            let id = id_claims(&redeem(&base, &callback).await);
            assert!(
                id["auth_time"].as_i64().unwrap() > auth_time,
                "{extra:?}: auth_time {} is the old login's",
                id["auth_time"]
            );
            // The login page's one factor is the default level, whatever was hoped for.
            assert_eq!((&id["acr"], &id["amr"]), (&json!("1"), &json!(["pwd"])));
        }

        // An essential acr that no policy achieves: unmet_authentication_requirements, with the
        // state, whether or not the browser has a session.
        let claims =
            json!({"id_token": {"acr": {"essential": true, "values": ["urn:nope"]}}}).to_string();
        for browser in [&browser, &Browser::new()] {
            let unmet =
                first_stop(browser, &authorize_url(&base, "s5", &[("claims", &claims)])).await;
            assert!(unmet.as_str().starts_with(REDIRECT_URI), "{unmet}");
            assert_eq!(
                param(&unmet, "error").as_deref(),
                Some("unmet_authentication_requirements"),
                "{unmet}"
            );
            assert_eq!(param(&unmet, "state").as_deref(), Some("s5"));
            assert_eq!(param(&unmet, "code"), None);
        }
        // Voluntary, the same value asks for nothing the realm has: the session answers.
        let voluntary = first_stop(
            &browser,
            &authorize_url(&base, "s6", &[("acr_values", "urn:nope")]),
        )
        .await;
        assert!(param(&voluntary, "code").is_some(), "{voluntary}");
        // A malformed claims request names the parameter.
        let bad = first_stop(&browser, &authorize_url(&base, "s7", &[("claims", "[1]")])).await;
        assert_eq!(param(&bad, "error").as_deref(), Some("invalid_request"));
        assert!(
            param(&bad, "error_description").is_some_and(|d| d.starts_with("claims")),
            "{bad}"
        );

        // Refresh keeps the original authentication's values.
        let refreshed = token(
            &base,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
            ],
        )
        .await;
        let again = id_claims(&refreshed);
        assert_eq!(
            (&again["acr"], &again["amr"], &again["auth_time"]),
            (&json!("1"), &json!(["pwd"]), &json!(auth_time))
        );
        drop(server);
        drop(env);
    }
);
