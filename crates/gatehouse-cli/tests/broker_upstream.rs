//! Redirect providers end to end: a relying party → `gatehouse serve` → the upstream peer (node
//! oidc-provider, tests/peers/upstream-oidc.sh) login → Gatehouse's broker callback → a code for
//! the relying party → tokens that carry the mapped username. Once with `kind = "oidc"`, once with
//! `kind = "oauth2"` (the peer's userinfo as `profile_url`), and refused callbacks through the
//! whole stack.
//!
//! The peer registers the broker callbacks under `http://127.0.0.1:8080`, so Gatehouse's public
//! URL is that address while it listens on a free port: the scripted browser sends what is
//! addressed to the public URL to the real port (cookies ignore ports, so its jar still works).

mod common;

use base64::Engine;
use common::{Env, Server, free_port};
use gatehouse_store::store_test;
use reqwest::header::{CONTENT_TYPE, LOCATION};
use serde_json::Value;
use url::Url;

const PUBLIC: &str = "http://127.0.0.1:8080";
const RP_CALLBACK: &str = "http://127.0.0.1:9/callback";
const RP_SECRET: (&str, &str) = ("RP_SECRET", "rp-secret-0123456789abcdef");

fn upstream() -> String {
    std::env::var("GATEHOUSE_TEST_UPSTREAM_OIDC_URL").unwrap_or_else(|_| {
        panic!(
            "GATEHOUSE_TEST_UPSTREAM_OIDC_URL is not set: run tests/run, or \
             `eval \"$(tests/peers/upstream-oidc.sh start)\"` before cargo test"
        )
    })
}

/// The upstream entry of realm `main`; `upstream`/`oidc` or `iam`/`oauth2`.
fn realm(kind: &str, extra: &str) -> String {
    let op = upstream();
    let entry = match kind {
        "oidc" => format!(
            "id = \"upstream\"\nkind = \"oidc\"\nissuer = \"{op}\"\nclient_id = \"broker\"\nclient_secret = \"broker-secret\"\nscopes = [\"openid\", \"email\", \"profile\"]\nusername_claim = \"preferred_username\"\n"
        ),
        _ => format!(
            "id = \"iam\"\nkind = \"oauth2\"\nclient_id = \"broker\"\nclient_secret = \"broker-secret\"\nauth_url = \"{op}/auth\"\ntoken_url = \"{op}/token\"\nprofile_url = \"{op}/me\"\nscopes = [\"openid\", \"email\", \"profile\"]\nid_claim = \"sub\"\nusername_claim = \"preferred_username\"\n"
        ),
    };
    let id = if kind == "oidc" { "upstream" } else { "iam" };
    format!(
        r#"[realms.main]
chain = ["{id}", "local"]
[[realms.main.providers]]
id = "local"
kind = "database"
[[realms.main.providers]]
{entry}{extra}
[[realms.main.clients]]
client_id = "rp"
client_secret = "env:RP_SECRET"
redirect_uris = ["{RP_CALLBACK}"]
scopes = ["openid", "profile", "email"]
"#
    )
}

struct Broker {
    server: Server,
    env: Env,
}

async fn broker(store: gatehouse_store::testing::TestStore, realm: &str) -> Broker {
    let env = Env::new(store, realm);
    let port = free_port();
    let server = Server::start_at(
        &env,
        port,
        &[RP_SECRET, ("GATEHOUSE_SERVER__PUBLIC_URL", PUBLIC)],
    )
    .await;
    Broker { server, env }
}

/// A browser with a cookie jar that never follows redirects by itself.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Where the public URL points, the real server answers.
fn real(b: &Broker, url: &Url) -> Url {
    match url.as_str().strip_prefix(PUBLIC) {
        Some(rest) => Url::parse(&format!("{}{rest}", b.server.base)).unwrap(),
        None => url.clone(),
    }
}

/// The value of a hidden field of an HTML page.
fn field(page: &str, name: &str) -> String {
    let at = page
        .find(&format!("name=\"{name}\" value=\""))
        .unwrap_or_else(|| panic!("no {name} in:\n{page}"));
    let rest = &page[at + name.len() + 15..];
    rest[..rest.find('"').unwrap()].to_owned()
}

fn authorize_url(b: &Broker) -> String {
    format!(
        "{}/realms/main/authorize?response_type=code&client_id=rp&redirect_uri={RP_CALLBACK}&scope=openid%20profile%20email&state=rp-state&nonce=rp-nonce",
        b.server.base
    )
}

/// The relying party's authorization request up to Gatehouse's login page: (page, tx, csrf).
async fn login_page(
    b: &Broker,
    browser: &reqwest::Client,
) -> (String, [(&'static str, String); 2]) {
    let login = browser.get(authorize_url(b)).send().await.unwrap();
    let to_login = Url::parse(login.headers()[LOCATION].to_str().unwrap()).unwrap();
    let page = browser.get(real(b, &to_login)).send().await.unwrap();
    // minijinja escapes `/` in attributes.
    let page = page.text().await.unwrap().replace("&#x2f;", "/");
    let form = [
        ("tx", field(&page, "tx")),
        ("csrf_token", field(&page, "csrf_token")),
    ];
    (page, form)
}

/// The relying party's authorization request, the login page's button for `provider`, the
/// upstream login; stops at the first answer that is not a redirect, or at the relying party.
/// `tamper` may change the URL of the broker callback before it is followed.
async fn journey(
    b: &Broker,
    browser: &reqwest::Client,
    provider: &str,
    user: &str,
    password: &str,
    tamper: impl Fn(Url) -> Url,
) -> Result<Url, (u16, String)> {
    let (page, form) = login_page(b, browser).await;
    let action = format!("{PUBLIC}/realms/main/broker/{provider}/start");
    assert!(page.contains(&action), "no button for {provider}:\n{page}");
    let response = browser
        .post(real(b, &Url::parse(&action).unwrap()))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(encode(&form))
        .send()
        .await
        .unwrap();
    follow(b, browser, response, user, password, tamper).await
}

/// Follows redirects (through the upstream's login form) from `response` to the relying party.
async fn follow(
    b: &Broker,
    browser: &reqwest::Client,
    mut response: reqwest::Response,
    user: &str,
    password: &str,
    tamper: impl Fn(Url) -> Url,
) -> Result<Url, (u16, String)> {
    let mut form_sent = false;
    for _ in 0..15 {
        let status = response.status().as_u16();
        let Some(next) = response.headers().get(LOCATION).cloned() else {
            return Err((status, response.text().await.unwrap_or_default()));
        };
        let mut url = response.url().join(next.to_str().unwrap()).unwrap();
        if url.as_str().starts_with(RP_CALLBACK) {
            return Ok(url);
        }
        if url.path().contains("/broker/") {
            url = tamper(url);
        }
        let url = real(b, &url);
        response = if url.path().starts_with("/interaction/") && !form_sent {
            form_sent = true;
            browser.get(url.clone()).send().await.unwrap();
            browser
                .post(url)
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(
                    url::form_urlencoded::Serializer::new(String::new())
                        .append_pair("prompt", "login")
                        .append_pair("login", user)
                        .append_pair("password", password)
                        .finish(),
                )
                .send()
                .await
                .unwrap()
        } else {
            browser.get(url).send().await.unwrap()
        };
    }
    panic!("too many redirects")
}

fn encode(pairs: &[(&str, String)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

fn query(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The relying party redeems its code; returns the ID token's claims and userinfo.
async fn redeem(b: &Broker, back: &Url) -> (Value, Value) {
    assert_eq!(query(back, "state").as_deref(), Some("rp-state"));
    let code = query(back, "code").unwrap_or_else(|| panic!("no code in {back}"));
    let http = reqwest::Client::new();
    let tokens: Value = http
        .post(format!("{}/realms/main/token", b.server.base))
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
        .unwrap_or_else(|| panic!("{tokens}"));
    let payload = id_token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    let userinfo: Value = http
        .get(format!("{}/realms/main/userinfo", b.server.base))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (claims, userinfo)
}

store_test!(
    an_oidc_upstream_login_ends_in_tokens_for_the_mapped_username,
    |store| async move {
        let b = broker(store, &realm("oidc", "jit = true\n")).await;
        let back = journey(&b, &browser(), "upstream", "alice", "alice-pw", |u| u)
            .await
            .unwrap_or_else(|(s, page)| panic!("{s}:\n{page}\n{}", b.server.logs()));
        let (claims, userinfo) = redeem(&b, &back).await;
        assert_eq!(claims["nonce"], "rp-nonce");
        assert_eq!(claims["amr"][0], "fed", "{claims}");
        assert_eq!(userinfo["preferred_username"], "alice", "{userinfo}");
        // The account was created just in time, linked to the upstream's `sub`.
        let shown = b.env.ok_with(
            &["user", "show", "--realm", "main", "alice"],
            "",
            &[RP_SECRET],
        );
        assert!(shown.contains("upstream"), "{shown}");
        // A second login finds the link: the same account.
        let again = journey(&b, &browser(), "upstream", "alice", "alice-pw", |u| u)
            .await
            .unwrap();
        let (_, second) = redeem(&b, &again).await;
        assert_eq!(second["sub"], userinfo["sub"]);
    }
);

store_test!(
    an_oauth2_upstream_login_links_an_existing_account_by_username,
    |store| async move {
        let b = broker(store, &realm("oauth2", "link_existing = \"username\"\n")).await;
        b.env.ok_with(
            &["user", "add", "--realm", "main", "alice"],
            "",
            &[RP_SECRET],
        );
        let back = journey(&b, &browser(), "iam", "alice", "alice-pw", |u| u)
            .await
            .unwrap_or_else(|(s, page)| panic!("{s}:\n{page}\n{}", b.server.logs()));
        let (_, userinfo) = redeem(&b, &back).await;
        assert_eq!(userinfo["preferred_username"], "alice", "{userinfo}");
        let shown = b.env.ok_with(
            &["user", "show", "--realm", "main", "alice"],
            "",
            &[RP_SECRET],
        );
        assert!(shown.contains("iam"), "{shown}");
    }
);

store_test!(refused_callbacks_issue_nothing, |store| async move {
    // No jit, no link_existing: an identity without a link has no account here.
    let b = broker(store, &realm("oidc", "")).await;
    let (status, page) = journey(&b, &browser(), "upstream", "bob", "bob-pw", |u| u)
        .await
        .unwrap_err();
    assert_eq!(status, 403, "{page}");
    assert!(page.contains("no account for this identity"), "{page}");

    // Another state at the broker callback: the generic page, and nothing for the RP.
    let wrong_state = |mut u: Url| {
        let pairs: Vec<(String, String)> = u
            .query_pairs()
            .map(|(k, v)| {
                let v = if k == "state" {
                    "forged".into()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        u.query_pairs_mut().clear().extend_pairs(pairs);
        u
    };
    let (status, page) = journey(&b, &browser(), "upstream", "alice", "alice-pw", wrong_state)
        .await
        .unwrap_err();
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("expired or was already used"), "{page}");
    assert!(!page.contains("forged"), "{page}");

    // A callback replayed: used once, refused the second time.
    let seen = std::sync::Mutex::new(None);
    let b2 = &b;
    let _ = journey(b2, &browser(), "upstream", "alice", "alice-pw", |u| {
        *seen.lock().unwrap() = Some(u.clone());
        u
    })
    .await;
    let replay = seen.lock().unwrap().clone().unwrap();
    let again = browser().get(real(&b, &replay)).send().await.unwrap();
    assert!(again.headers().get(LOCATION).is_none());
    assert!(again.status().is_client_error());
});

store_test!(
    identifier_first_sends_a_linked_account_upstream,
    |store| async move {
        let b = broker(store, &realm("oidc", "jit = true\n")).await;
        // First login through the button: alice gets an account linked to the upstream.
        let first = journey(&b, &browser(), "upstream", "alice", "alice-pw", |u| u)
            .await
            .unwrap_or_else(|(s, page)| panic!("{s}:\n{page}"));
        let (_, first) = redeem(&b, &first).await;
        // Then she types her username: no password asked, the browser goes upstream.
        let browser = browser();
        let (_, form) = login_page(&b, &browser).await;
        let mut pairs = form.to_vec();
        pairs.push(("username", "alice".to_owned()));
        let response = browser
            .post(format!("{}/realms/main/login", b.server.base))
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(encode(&pairs))
            .send()
            .await
            .unwrap();
        let to = response.headers()[LOCATION].to_str().unwrap().to_owned();
        assert!(to.starts_with(&upstream()), "{to}");
        let back = follow(&b, &browser, response, "alice", "alice-pw", |u| u)
            .await
            .unwrap_or_else(|(s, page)| panic!("{s}:\n{page}"));
        let (_, second) = redeem(&b, &back).await;
        assert_eq!(second["sub"], first["sub"]);
    }
);

store_test!(auto_redirect_skips_the_login_page, |store| async move {
    let text = realm("oidc", "jit = true\nauto_redirect = true\n").replace(
        "chain = [\"upstream\", \"local\"]",
        "chain = [\"upstream\"]",
    );
    let b = broker(store, &text).await;
    let browser = browser();
    let response = browser.get(authorize_url(&b)).send().await.unwrap();
    let to = response.headers()[LOCATION].to_str().unwrap().to_owned();
    assert!(to.starts_with(&upstream()), "{to}");
    let back = follow(&b, &browser, response, "alice", "alice-pw", |u| u)
        .await
        .unwrap_or_else(|(s, page)| panic!("{s}:\n{page}"));
    let (_, userinfo) = redeem(&b, &back).await;
    assert_eq!(userinfo["preferred_username"], "alice", "{userinfo}");
});

store_test!(
    a_directory_user_superseded_by_the_upstream_moves_over_at_first_login,
    |store| async move {
        // `iam` supersedes the directory `corp` (never reached: built lazily, at a dead address).
        let text = realm(
            "oauth2",
            "link_existing = \"username\"\nsupersedes = [\"ldap\"]\n",
        )
        .replace(
            "chain = [\"iam\", \"local\"]",
            "chain = [\"iam\", \"corp\", \"local\"]",
        )
        .replace(
            "kind = \"database\"\n",
            "kind = \"database\"\n[[realms.main.providers]]\nid = \"corp\"\nkind = \"ldap\"\nurls = [\"ldap://127.0.0.1:9\"]\n[realms.main.providers.user_search]\nbase_dn = \"ou=people,dc=example,dc=org\"\n",
        );
        let env = Env::new(store, &text);
        let cli = |args: &[&str]| env.ok_with(args, "", &[RP_SECRET]);
        cli(&["user", "add", "--realm", "main", "alice"]);
        cli(&[
            "user",
            "link",
            "--realm",
            "main",
            "--provider",
            "corp",
            "alice",
            "--external-id",
            "uid=alice,ou=people,dc=example,dc=org",
        ]);
        let server = Server::start_at(
            &env,
            free_port(),
            &[RP_SECRET, ("GATEHOUSE_SERVER__PUBLIC_URL", PUBLIC)],
        )
        .await;
        let b = Broker { server, env };
        // `serve` applied supersession at start: the directory-only account is disabled.
        let shown = b.env.ok_with(
            &["user", "show", "--realm", "main", "alice"],
            "",
            &[RP_SECRET],
        );
        assert!(shown.contains("disabled (superseded by iam)"), "{shown}");
        // Her first upstream login links the account by username and restores it.
        let back = journey(&b, &browser(), "iam", "alice", "alice-pw", |u| u)
            .await
            .unwrap_or_else(|(s, page)| panic!("{s}:\n{page}\n{}", b.server.logs()));
        let (_, userinfo) = redeem(&b, &back).await;
        assert_eq!(userinfo["preferred_username"], "alice", "{userinfo}");
        let shown = b.env.ok_with(
            &["user", "show", "--realm", "main", "alice"],
            "",
            &[RP_SECRET],
        );
        assert!(shown.contains("status:    active"), "{shown}");
        assert!(shown.contains("iam (oauth2): live"), "{shown}");
    }
);

store_test!(
    verified_email_links_only_a_verified_address,
    |store| async move {
        let b = broker(
            store,
            &realm("oidc", "link_existing = \"verified_email\"\n"),
        )
        .await;
        let cli = |args: &[&str]| b.env.ok_with(args, "", &[RP_SECRET]);
        // Local usernames differ from the upstream's: only the email can match them.
        cli(&[
            "user",
            "add",
            "--realm",
            "main",
            "liddell",
            "--email",
            "alice@example.org",
        ]);
        cli(&[
            "user",
            "add",
            "--realm",
            "main",
            "builder",
            "--email",
            "bob@partner.example",
        ]);
        // alice's email is verified upstream: linked to `liddell`, whose username the tokens carry.
        let back = journey(&b, &browser(), "upstream", "alice", "alice-pw", |u| u)
            .await
            .unwrap_or_else(|(s, page)| panic!("{s}:\n{page}\n{}", b.server.logs()));
        let (_, userinfo) = redeem(&b, &back).await;
        assert_eq!(userinfo["preferred_username"], "liddell", "{userinfo}");
        // bob's is not: no account, and `builder` stays unlinked.
        let (status, page) = journey(&b, &browser(), "upstream", "bob", "bob-pw", |u| u)
            .await
            .unwrap_err();
        assert_eq!(status, 403, "{page}");
        let shown = cli(&["user", "show", "--realm", "main", "builder"]);
        assert!(!shown.contains("upstream"), "{shown}");
    }
);
