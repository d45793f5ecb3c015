//! The journey of broker_saml.rs: a Gatehouse on `localhost` trusted by the test IdP, a user
//! following pages as a browser would, the relying party's code redemption, and the checks the
//! tests make on the store.

use base64::Engine;
use serde_json::Value;
use url::Url;

use crate::common::browser::{Browser, Form, Page};
use crate::common::{self, Env, Server, free_port};
use gatehouse_store::testing::TestStore;

pub use crate::common::upstream::{RP_CALLBACK, RP_SECRET};
pub const FAILED: &str = "The login could not be completed";

pub fn idp() -> String {
    std::env::var("GATEHOUSE_TEST_SAML_IDP_URL").unwrap_or_else(|_| {
        panic!(
            "GATEHOUSE_TEST_SAML_IDP_URL is not set: run tests/run, or \
             `eval \"$(tests/peers/saml-idp.sh start)\"` before cargo test"
        )
    })
}

/// Realm `main`: the SAML provider `corp` (IdP metadata by URL) before a database provider.
pub fn realm(extra: &str) -> String {
    let idp = idp();
    format!(
        r#"[realms.main]
chain = ["corp", "local"]
[[realms.main.providers]]
id = "local"
kind = "database"
[[realms.main.providers]]
id = "corp"
kind = "saml"
idp_metadata_url = "{idp}/metadata"
username_attribute = "uid"
email_attribute = "mail"
name_attribute = "displayName"
groups_attribute = "groups"
{extra}
[[realms.main.clients]]
client_id = "rp"
client_secret = "env:RP_SECRET"
redirect_uris = ["{RP_CALLBACK}"]
scopes = ["openid", "profile", "email", "groups"]
"#
    )
}

pub struct Broker {
    pub server: Server,
    pub env: Env,
    /// Gatehouse's public URL, `http://localhost:PORT`.
    pub public: String,
}

impl Broker {
    pub fn metadata_url(&self) -> String {
        format!("{}/realms/main/broker/corp/metadata", self.public)
    }

    pub fn entity_id(&self) -> String {
        self.metadata_url()
    }

    pub fn cli(&self, args: &[&str]) -> common::Run {
        self.env.run_with(args, "", &[RP_SECRET])
    }

    /// A browser whose requests to the public URL reach this instance.
    pub fn browser(&self) -> Browser {
        Browser::new().routed(&self.public, &self.server.base)
    }
}

pub async fn serve(env: &Env, public: &str, port: u16) -> Server {
    Server::start_at(
        env,
        port,
        &[RP_SECRET, ("GATEHOUSE_SERVER__PUBLIC_URL", public)],
    )
    .await
}

pub async fn broker(store: TestStore, realm: &str) -> Broker {
    let env = Env::new(store, realm);
    let port = free_port();
    let public = format!("http://localhost:{port}");
    let server = serve(&env, &public, port).await;
    let b = Broker {
        server,
        env,
        public,
    };
    trust(&b).await;
    b
}

/// The IdP fetches this Gatehouse's SP metadata and trusts it from now on.
pub async fn trust(b: &Broker) {
    let response = reqwest::Client::new()
        .post(format!("{}/admin/trust", idp()))
        .form(&[("url", b.metadata_url())])
        .send()
        .await
        .unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    assert!(
        status.is_success(),
        "the IdP refused the SP metadata: {status} {text}\n{}",
        b.server.logs()
    );
}

pub fn authorize_url(b: &Broker, extra: &str) -> Url {
    Url::parse(&format!(
        "{}/realms/main/authorize?response_type=code&client_id=rp&redirect_uri={RP_CALLBACK}&scope=openid%20profile%20email%20groups&state=rp-state&nonce=rp-nonce{extra}",
        b.public
    ))
    .unwrap()
}

/// From `page` on, as a user would: follow redirects, press the SAML button of the login page,
/// sign in at the IdP (forcing the assertion's ID when `assertion_id` is given), let auto-submitting
/// pages submit. Ends at the relying party (`Ok`) or at the first page that asks for nothing
/// (`Err`).
pub async fn follow(
    browser: &Browser,
    page: Page,
    user: &str,
    password: &str,
    assertion_id: Option<&str>,
) -> Result<Url, Page> {
    follow_tampered(browser, page, user, password, assertion_id, &|_| {}).await
}

/// [`follow`], with `tamper` applied to the IdP's form before it is POSTed to the ACS.
pub async fn follow_tampered(
    browser: &Browser,
    mut page: Page,
    user: &str,
    password: &str,
    assertion_id: Option<&str>,
    tamper: &dyn Fn(&mut Form),
) -> Result<Url, Page> {
    for _ in 0..20 {
        if let Some(next) = page.location.clone() {
            if next.as_str().starts_with(RP_CALLBACK) {
                return Ok(next);
            }
            page = browser.get(&next).await;
        } else if let Some(button) = page.form_to("/broker/corp/start") {
            page = browser.post(&page.url.clone(), &button).await;
        } else if let Some(mut login) = page.form().filter(|f| f.get("password").is_some()) {
            if page.body.contains("invalid username or password") {
                return Err(page);
            }
            login.set("username", user);
            login.set("password", password);
            if let Some(id) = assertion_id {
                login.set("assertion_id", id);
            }
            page = browser.post(&page.url.clone(), &login).await;
        } else if page.auto_submits() {
            let mut form = page.form().unwrap();
            if form.get("SAMLResponse").is_some() && !page.url.path().contains("/broker/") {
                tamper(&mut form);
            }
            page = browser.post(&page.url.clone(), &form).await;
        } else {
            return Err(page);
        }
    }
    panic!("too many steps")
}

pub async fn journey(
    b: &Broker,
    browser: &Browser,
    user: &str,
    password: &str,
    assertion_id: Option<&str>,
) -> Result<Url, Page> {
    let first = browser.get(&authorize_url(b, "")).await;
    follow(browser, first, user, password, assertion_id).await
}

pub fn query(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The relying party redeems its code; returns the ID token's claims and userinfo.
pub async fn redeem(b: &Broker, back: &Url) -> (Value, Value) {
    let tokens = common::upstream::redeem_at(&b.server.base, back).await;
    (tokens.claims, tokens.userinfo)
}

/// The pages of `browser`'s history at the ACS.
pub fn acs_pages(browser: &Browser) -> Vec<Page> {
    browser
        .history
        .lock()
        .unwrap()
        .iter()
        .filter(|p| p.url.path() == "/realms/main/broker/corp/callback")
        .cloned()
        .collect()
}

/// The ID of the assertion the IdP POSTed to the ACS in `browser`'s last login.
pub fn assertion_id(browser: &Browser) -> String {
    let history = browser.history.lock().unwrap();
    let response = history
        .iter()
        .rev()
        .filter_map(|p| p.form())
        .find_map(|f| f.get("SAMLResponse").map(str::to_owned))
        .expect("no SAMLResponse in the history");
    let xml = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(response)
            .unwrap(),
    )
    .unwrap();
    let at = xml.find(":Assertion ").expect("no Assertion");
    let rest = &xml[at..];
    let id = &rest[rest.find(" ID=\"").unwrap() + 5..];
    id[..id.find('"').unwrap()].to_owned()
}

pub async fn audit_results(store: &gatehouse_store::Store) -> Vec<String> {
    store
        .recent_audit_events("main", 50)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.result)
        .collect()
}

/// With `prompt=none`: a code when the browser has a session, `login_required` when not.
pub async fn has_session(b: &Broker, browser: &Browser) -> bool {
    let page = browser.get(&authorize_url(b, "&prompt=none")).await;
    let to = page.location.expect("prompt=none always redirects");
    assert!(to.as_str().starts_with(RP_CALLBACK), "{to}");
    query(&to, "code").is_some()
}

pub fn shown(b: &Broker, user: &str) -> String {
    let run = b.cli(&["user", "show", "--realm", "main", user]);
    assert_eq!(run.code(), 0, "{}", run.all());
    run.stdout()
}

pub fn exists(b: &Broker, user: &str) -> bool {
    b.cli(&["user", "show", "--realm", "main", user]).code() == 0
}

/// The IdP's logout of `user` at this SP, as the browser follows it: IdP → Gatehouse's SLO → the
/// LogoutResponse back at the IdP. Returns the pages at Gatehouse's SLO and at the IdP.
pub async fn idp_logout(b: &Broker, browser: &Browser, user: &str) -> (Page, Page) {
    let start = Url::parse(&format!(
        "{}/idp-logout?user={user}&sp={}",
        idp(),
        url::form_urlencoded::byte_serialize(b.entity_id().as_bytes()).collect::<String>()
    ))
    .unwrap();
    let to_slo = browser.get(&start).await;
    let slo = to_slo
        .location
        .clone()
        .unwrap_or_else(|| panic!("{to_slo:?}"));
    assert!(
        slo.as_str()
            .starts_with(&format!("{}/realms/main/broker/corp/slo?", b.public)),
        "{slo}"
    );
    let answer = browser.get(&slo).await;
    let back_to_idp = answer
        .location
        .clone()
        .unwrap_or_else(|| panic!("{answer:?}\n{}", b.server.logs()));
    assert!(back_to_idp.as_str().starts_with(&idp()), "{back_to_idp}");
    let done = browser.get(&back_to_idp).await;
    (answer, done)
}

/// A browser holding only `session` (the value of a `gatehouse_session` cookie).
pub fn with_session(b: &Broker, session: &str) -> Browser {
    let browser = b.browser();
    browser.add_cookie("localhost", "/realms/main/", "gatehouse_session", session);
    browser
}
