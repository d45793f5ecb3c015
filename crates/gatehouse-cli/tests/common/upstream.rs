//! A broker in front of the upstream peer (node oidc-provider, tests/peers/upstream-oidc.sh), and
//! the walks of the scripted browser ([`Browser`]) through both: broker_upstream.rs,
//! broker_logout.rs.
//!
//! Every broker listens on a free port and is its own public URL; its callbacks (and its
//! `/logged-out` address) are registered at the upstream for that run, as a client of its own
//! (Dynamic Client Registration), so nothing depends on a fixed port.

use base64::Engine;
use reqwest::header::CONTENT_TYPE;
use serde_json::{Value, json};
use url::Url;

use super::browser::{Browser, Page};
use super::{Env, Server, free_port, repo_root};

pub const RP_CALLBACK: &str = "http://127.0.0.1:9/callback";
pub const RP_LOGGED_OUT: &str = "http://127.0.0.1:9/logged-out";
pub const RP_SECRET: (&str, &str) = ("RP_SECRET", "rp-secret-0123456789abcdef");

pub fn upstream() -> String {
    std::env::var("GATEHOUSE_TEST_UPSTREAM_OIDC_URL").unwrap_or_else(|_| {
        panic!(
            "GATEHOUSE_TEST_UPSTREAM_OIDC_URL is not set: run tests/run, or \
             `eval \"$(tests/peers/upstream-oidc.sh start)\"` before cargo test"
        )
    })
}

/// A client registered at the upstream.
#[derive(Debug, Clone)]
pub struct UpstreamClient {
    pub id: String,
    pub secret: String,
}

/// Registers a client (client_secret_basic, code flow) whose redirect and post-logout redirect
/// URIs are `uris`.
pub async fn register(uris: &[String]) -> UpstreamClient {
    let answer: Value = reqwest::Client::new()
        .post(format!("{}/reg", upstream()))
        .json(&json!({
            "redirect_uris": uris,
            "post_logout_redirect_uris": uris,
            "grant_types": ["authorization_code"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "client_secret_basic",
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    UpstreamClient {
        id: answer["client_id"]
            .as_str()
            .unwrap_or_else(|| panic!("{answer}"))
            .to_owned(),
        secret: answer["client_secret"].as_str().unwrap().to_owned(),
    }
}

/// The provider id of each kind in the realms below.
pub fn provider_id(kind: &str) -> &'static str {
    if kind == "oidc" { "upstream" } else { "iam" }
}

/// Realm `main`: the upstream entry (`upstream`/`oidc` or `iam`/`oauth2`, then `extra` keys),
/// a database provider, and the relying party `rp`.
pub fn realm(kind: &str, client: &UpstreamClient, extra: &str) -> String {
    let op = upstream();
    let UpstreamClient { id, secret } = client;
    let entry = match kind {
        "oidc" => format!(
            "id = \"upstream\"\nkind = \"oidc\"\nissuer = \"{op}\"\nclient_id = \"{id}\"\nclient_secret = \"{secret}\"\nscopes = [\"openid\", \"email\", \"profile\"]\nusername_claim = \"preferred_username\"\n"
        ),
        _ => format!(
            "id = \"iam\"\nkind = \"oauth2\"\nclient_id = \"{id}\"\nclient_secret = \"{secret}\"\nauth_url = \"{op}/auth\"\ntoken_url = \"{op}/token\"\nprofile_url = \"{op}/me\"\nscopes = [\"openid\", \"email\", \"profile\"]\nid_claim = \"sub\"\nusername_claim = \"preferred_username\"\n"
        ),
    };
    let pid = provider_id(kind);
    format!(
        r#"[realms.main]
chain = ["{pid}", "local"]
[[realms.main.providers]]
id = "local"
kind = "database"
[[realms.main.providers]]
{entry}{extra}
[[realms.main.clients]]
client_id = "rp"
client_secret = "env:RP_SECRET"
redirect_uris = ["{RP_CALLBACK}"]
post_logout_redirect_uris = ["{RP_LOGGED_OUT}"]
scopes = ["openid", "profile", "email"]
"#
    )
}

pub struct Broker {
    pub server: Server,
    pub env: Env,
    pub client: UpstreamClient,
}

impl Broker {
    pub fn base(&self) -> &str {
        &self.server.base
    }

    /// `gatehouse` with the relying party's secret in the environment.
    pub fn cli(&self, args: &[&str]) -> String {
        self.env.ok_with(args, "", &[RP_SECRET])
    }
}

/// A port, and the upstream client registered for a broker that will listen on it.
pub async fn reserve() -> (u16, UpstreamClient) {
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}/realms/main");
    let client = register(&[
        format!("{base}/broker/upstream/callback"),
        format!("{base}/broker/iam/callback"),
        format!("{base}/logged-out"),
    ])
    .await;
    (port, client)
}

/// `gatehouse serve` on `port`, its public URL that address.
pub async fn serve(env: Env, port: u16, client: UpstreamClient) -> Broker {
    let public = format!("http://127.0.0.1:{port}");
    let server = Server::start_at(
        &env,
        port,
        &[RP_SECRET, ("GATEHOUSE_SERVER__PUBLIC_URL", &public)],
    )
    .await;
    Broker {
        server,
        env,
        client,
    }
}

/// A broker for realm [`realm`]`(kind, …, extra)`; `edit` may rewrite the realm's TOML first.
pub async fn broker(
    store: gatehouse_store::testing::TestStore,
    kind: &str,
    extra: &str,
    edit: impl FnOnce(String) -> String,
) -> Broker {
    let (port, client) = reserve().await;
    let env = Env::new(store, &edit(realm(kind, &client, extra)));
    serve(env, port, client).await
}

pub fn authorize_url(b: &Broker) -> Url {
    Url::parse(&format!(
        "{}/realms/main/authorize?response_type=code&client_id=rp&redirect_uri={RP_CALLBACK}&scope=openid%20profile%20email&state=rp-state&nonce=rp-nonce",
        b.base()
    ))
    .unwrap()
}

/// The relying party's authorization request up to Gatehouse's login page.
pub async fn login_page(b: &Broker, browser: &Browser) -> Page {
    let authorize = browser.get(&authorize_url(b)).await;
    let to_login = authorize
        .location
        .unwrap_or_else(|| panic!("authorize did not redirect: {}", authorize.status));
    browser.get(&to_login).await
}

/// The login page's button for `provider`: the broker's answer (a redirect upstream).
pub async fn press(b: &Broker, browser: &Browser, provider: &str) -> Page {
    let page = login_page(b, browser).await;
    let button = page
        .form_to(&format!("/realms/main/broker/{provider}/start"))
        .unwrap_or_else(|| panic!("no button for {provider}:\n{}", page.body));
    browser.post(&page.url, &button).await
}

/// The relying party's authorization request, the login page's button for `provider`, the
/// upstream login; stops at the first answer that is not a redirect, or at the relying party.
/// `tamper` may change the URL of the broker callback before it is followed.
pub async fn journey(
    b: &Broker,
    browser: &Browser,
    provider: &str,
    user: &str,
    password: &str,
    tamper: impl Fn(Url) -> Url,
) -> Result<Url, (u16, String)> {
    let page = press(b, browser, provider).await;
    follow(browser, page, user, password, tamper).await
}

/// Follows redirects (through the upstream's login form) from `page` to the relying party.
pub async fn follow(
    browser: &Browser,
    page: Page,
    user: &str,
    password: &str,
    tamper: impl Fn(Url) -> Url,
) -> Result<Url, (u16, String)> {
    let broker_callbacks_tampered = |url: Url| {
        if url.path().contains("/broker/") {
            tamper(url)
        } else {
            url
        }
    };
    browser
        .follow_signing_in(page, user, password, RP_CALLBACK, broker_callbacks_tampered)
        .await
        .map_err(|page| (page.status, page.body))
}

/// Whether the upstream asks this browser to log in (it has no live session there): the login
/// button's redirects end at the upstream's login form rather than back at the broker.
pub async fn upstream_asks_login(b: &Broker, browser: &Browser, provider: &str) -> bool {
    let mut page = press(b, browser, provider).await;
    for _ in 0..10 {
        let Some(url) = page.location.clone() else {
            panic!("stopped at {} {}", page.status, page.url);
        };
        if url.path().contains("/broker/") {
            return false;
        }
        page = browser.get(&url).await;
        if url.path().starts_with("/interaction/") {
            assert!(page.form_with("password").is_some(), "{}", page.body);
            return true;
        }
    }
    panic!("too many redirects")
}

pub fn encode(pairs: &[(&str, String)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

pub fn query(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The payload of a JWT, unchecked.
pub fn jwt_claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

/// What the relying party gets for its code.
pub struct Tokens {
    pub id_token: String,
    pub claims: Value,
    pub userinfo: Value,
}

/// The relying party redeems its code; returns the ID token, its claims and userinfo.
pub async fn redeem(b: &Broker, back: &Url) -> Tokens {
    redeem_at(b.base(), back).await
}

/// As [`redeem`], at the Gatehouse serving on `base` (client `rp`, realm `main`).
pub async fn redeem_at(base: &str, back: &Url) -> Tokens {
    assert_eq!(query(back, "state").as_deref(), Some("rp-state"));
    let code = query(back, "code").unwrap_or_else(|| panic!("no code in {back}"));
    let http = reqwest::Client::new();
    let tokens: Value = http
        .post(format!("{}/realms/main/token", base))
        .basic_auth("rp", Some(RP_SECRET.1))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(encode(&[
            ("grant_type", "authorization_code".to_owned()),
            ("code", code),
            ("redirect_uri", RP_CALLBACK.to_owned()),
        ]))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id_token = tokens["id_token"]
        .as_str()
        .unwrap_or_else(|| panic!("{tokens}"))
        .to_owned();
    let userinfo: Value = http
        .get(format!("{}/realms/main/userinfo", base))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    Tokens {
        claims: jwt_claims(&id_token),
        id_token,
        userinfo,
    }
}

/// A client of the broker, as the relying party script uses it.
pub struct RelyingParty<'a> {
    pub client_id: &'a str,
    pub client_secret: &'a str,
    pub redirect_uri: &'a str,
    pub post_logout_redirect_uri: &'a str,
    /// The redirect provider whose button it presses.
    pub provider: &'a str,
}

/// Installs openid-client once per test binary (a no-op when `tests/run` did).
fn rp_clients() {
    static INSTALLED: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    let result = INSTALLED.get_or_init(|| {
        let out = std::process::Command::new("bash")
            .arg(repo_root().join("tests/peers/rp-clients.sh"))
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(|e| format!("cannot run tests/peers/rp-clients.sh: {e}"))?;
        out.status.success().then_some(()).ok_or_else(|| {
            format!(
                "tests/peers/rp-clients.sh failed:\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        })
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// npm openid-client (tests/rp/openid_client_broker.mjs) logging alice in through the broker `b`,
/// then out, then in again; its JSON result, which must say `ok`.
pub fn openid_client(b: &Broker, rp: &RelyingParty<'_>) -> Value {
    rp_clients();
    let out = std::process::Command::new("node")
        .arg("openid_client_broker.mjs")
        .current_dir(repo_root().join("tests/rp"))
        .env("RP_ISSUER", format!("{}/realms/main", b.base()))
        .env("RP_CLIENT_ID", rp.client_id)
        .env("RP_CLIENT_SECRET", rp.client_secret)
        .env("RP_REDIRECT_URI", rp.redirect_uri)
        .env("RP_POST_LOGOUT_REDIRECT_URI", rp.post_logout_redirect_uri)
        .env("RP_PROVIDER", rp.provider)
        .env("RP_UPSTREAM", upstream())
        .env("RP_USERNAME", "alice")
        .env("RP_PASSWORD", "alice-pw")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let result: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "no JSON from the relying party ({e}):\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert!(
        out.status.success() && result["ok"] == true,
        "openid-client through the broker failed:\n{}\nserver log:\n{}",
        serde_json::to_string_pretty(&result).unwrap(),
        b.server.logs()
    );
    result
}
