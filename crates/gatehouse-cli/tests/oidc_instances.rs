//! Two `gatehouse serve` processes on one store (an SQLite file, a PostgreSQL schema) behave as one
//! OpenID Provider: the same JWKS on both and after restarts, a browser session made on one is
//! single sign-on on the other, codes and refresh tokens issued by one are accepted by the other.
//! Raw HTTP, like a browser and a relying party would speak it.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{Env, OIDC_REALM, OIDC_SECRETS, Server, free_port};
use gatehouse_store::store_test;
use serde_json::Value;

const USER: &str = "alice";
const PASSWORD: &str = "alice: correct horse battery";
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

// ------------------------------------------------------------------ a small browser

/// Percent-encoding for `application/x-www-form-urlencoded` and query strings.
fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(v) => {
                        out.push(v);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn form(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The query parameters of a URL.
fn query(url: &str) -> BTreeMap<String, String> {
    let q = url.split_once('?').map(|(_, q)| q).unwrap_or("");
    let q = q.split('#').next().unwrap_or("");
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// HTML character references: the named ones a template escapes, and numeric ones.
fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let Some(end) = rest.find(';').filter(|e| *e <= 10) else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let entity = rest[1..end].to_ascii_lowercase();
        let c = match entity.as_str() {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            e if e.starts_with("#x") => u32::from_str_radix(&e[2..], 16)
                .ok()
                .and_then(char::from_u32),
            e if e.starts_with('#') => e[1..].parse().ok().and_then(char::from_u32),
            _ => None,
        };
        match c {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The attributes of one start tag (`<input name="x" value='y' hidden>`).
fn attributes(tag: &str) -> BTreeMap<String, String> {
    let mut attrs = BTreeMap::new();
    let inner = tag
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim_end_matches('/');
    let mut rest = inner
        .split_once(char::is_whitespace)
        .map(|x| x.1)
        .unwrap_or("");
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            break;
        }
        let end = rest
            .find(|c: char| c == '=' || c.is_whitespace())
            .unwrap_or(rest.len());
        let name = rest[..end].to_ascii_lowercase();
        rest = rest[end..].trim_start();
        let value = if let Some(r) = rest.strip_prefix('=') {
            let r = r.trim_start();
            let (value, after) = match r.chars().next() {
                Some(q @ ('"' | '\'')) => {
                    let close = r[1..].find(q).map(|i| i + 1).unwrap_or(r.len());
                    (&r[1..close], r.get(close + 1..).unwrap_or(""))
                }
                _ => {
                    let close = r.find(char::is_whitespace).unwrap_or(r.len());
                    (&r[..close], &r[close..])
                }
            };
            rest = after;
            unescape(value)
        } else {
            String::new()
        };
        if !name.is_empty() {
            attrs.insert(name, value);
        }
    }
    attrs
}

/// The POST form to fill on a page: (action, inputs).
fn post_form(html: &str) -> Option<(String, Vec<BTreeMap<String, String>>)> {
    let lower = html.to_ascii_lowercase();
    let mut forms = Vec::new();
    let mut at = 0;
    while let Some(start) = lower[at..].find("<form").map(|i| i + at) {
        let tag_end = lower[start..].find('>')? + start;
        let end = lower[tag_end..]
            .find("</form>")
            .map(|i| i + tag_end)
            .unwrap_or(lower.len());
        let attrs = attributes(&html[start..=tag_end]);
        if attrs
            .get("method")
            .is_some_and(|m| m.eq_ignore_ascii_case("post"))
        {
            let body = &html[tag_end..end];
            let lbody = &lower[tag_end..end];
            let mut inputs = Vec::new();
            let mut i = 0;
            while let Some(s) = lbody[i..].find("<input").map(|x| x + i) {
                let e = lbody[s..]
                    .find('>')
                    .map(|x| x + s)
                    .unwrap_or(lbody.len() - 1);
                inputs.push(attributes(&body[s..=e]));
                i = e + 1;
            }
            forms.push((attrs.get("action").cloned().unwrap_or_default(), inputs));
        }
        at = end;
        if at >= lower.len() {
            break;
        }
    }
    // The form a person would fill: the one asking for username or password (a login step may
    // have a second form, e.g. "Not you?"), else the only one.
    let asks = |f: &(String, Vec<BTreeMap<String, String>>)| {
        f.1.iter().any(|i| {
            i.get("name")
                .is_some_and(|n| n == "username" || n == "password")
        })
    };
    let login: Vec<usize> = (0..forms.len()).filter(|i| asks(&forms[*i])).collect();
    match (login.len(), forms.len()) {
        (1, _) => Some(forms.swap_remove(login[0])),
        (0, 1) => Some(forms.remove(0)),
        _ => None,
    }
}

/// Absolute URL of `location` seen from `base` (absolute, or absolute path, or relative).
fn resolve(base: &str, location: &str) -> String {
    if location.starts_with("http://") || location.starts_with("https://") {
        return location.to_owned();
    }
    let scheme_end = base.find("://").unwrap() + 3;
    let origin_end = base[scheme_end..]
        .find('/')
        .map(|i| i + scheme_end)
        .unwrap_or(base.len());
    if location.starts_with('/') {
        return format!("{}{location}", &base[..origin_end]);
    }
    let path = base.split(['?', '#']).next().unwrap();
    let dir = &path[..path.rfind('/').map(|i| i + 1).unwrap_or(path.len())];
    format!("{dir}{location}")
}

/// A browser: a cookie jar, redirects followed by hand, forms filled in.
struct Browser {
    http: reqwest::Client,
    cookies: BTreeMap<String, String>,
}

impl Browser {
    fn new() -> Browser {
        Browser {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            cookies: BTreeMap::new(),
        }
    }

    async fn send(&mut self, req: reqwest::RequestBuilder) -> reqwest::Response {
        let mut req = req;
        if !self.cookies.is_empty() {
            let header = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ");
            req = req.header("cookie", header);
        }
        let response = req.send().await.unwrap();
        for value in response.headers().get_all("set-cookie") {
            let line = value.to_str().unwrap_or_default();
            let mut parts = line.split(';');
            let Some((name, value)) = parts.next().and_then(|p| p.split_once('=')) else {
                continue;
            };
            let gone = parts.any(|a| {
                let a = a.trim().to_ascii_lowercase();
                a == "max-age=0" || a.starts_with("max-age=-")
            });
            if gone || value.trim().is_empty() {
                self.cookies.remove(name.trim());
            } else {
                self.cookies
                    .insert(name.trim().to_owned(), value.trim().to_owned());
            }
        }
        response
    }

    /// From `start` until a redirect to `stop_at`, which is returned (never followed). Logs in as
    /// alice on the login pages met on the way. Also returns the steps taken.
    async fn drive(&mut self, start: &str, stop_at: &str) -> (String, Vec<String>) {
        let mut trace = Vec::new();
        let mut url = start.to_owned();
        let mut body: Option<String> = None;
        for _ in 0..12 {
            let req = match &body {
                None => self.http.get(&url),
                Some(b) => self
                    .http
                    .post(&url)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(b.clone()),
            };
            let response = self.send(req).await;
            let status = response.status().as_u16();
            trace.push(format!(
                "{} {} -> {status}",
                if body.is_some() { "POST" } else { "GET" },
                url.split('?').next().unwrap()
            ));
            if (300..400).contains(&status) {
                let location = response
                    .headers()
                    .get("location")
                    .and_then(|l| l.to_str().ok())
                    .unwrap_or_else(|| panic!("redirect without Location: {trace:?}"))
                    .to_owned();
                let next = resolve(&url, &location);
                if next.starts_with(stop_at) {
                    return (next, trace);
                }
                url = next;
                body = None;
                continue;
            }
            let html = response.text().await.unwrap();
            assert_eq!(status, 200, "{trace:?}: {html}");
            let (action, inputs) = post_form(&html)
                .unwrap_or_else(|| panic!("no single POST form: {trace:?}: {html}"));
            let mut fields: Vec<(String, String)> = Vec::new();
            for input in inputs {
                let Some(name) = input.get("name") else {
                    continue;
                };
                let kind = input.get("type").map(String::as_str).unwrap_or("text");
                if name == "username" {
                    fields.push((name.clone(), USER.to_owned()));
                } else if name == "password" {
                    fields.push((name.clone(), PASSWORD.to_owned()));
                } else if (kind == "hidden" || kind == "submit")
                    && let Some(v) = input.get("value")
                {
                    fields.push((name.clone(), v.clone()));
                }
            }
            assert!(
                trace.iter().filter(|t| t.starts_with("POST")).count() < 3,
                "the login does not end: {trace:?}: {html}"
            );
            let pairs: Vec<(&str, &str)> = fields
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            url = if action.is_empty() {
                url
            } else {
                resolve(&url, &action)
            };
            body = Some(form(&pairs));
        }
        panic!("no redirect to {stop_at}: {trace:?}");
    }
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

fn code_of(callback: &str, state: &str) -> String {
    let q = query(callback);
    assert_eq!(
        q.get("state").map(String::as_str),
        Some(state),
        "{callback}"
    );
    q.get("code")
        .cloned()
        .unwrap_or_else(|| panic!("no code in {callback}"))
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
        let mut browser = Browser::new();
        let (callback, trace) = browser
            .drive(&authorize_url(&base_a, "st-a", &[]), REDIRECT_URI)
            .await;
        assert!(
            trace.len() > 2,
            "A should have shown the login page: {trace:?}"
        );
        let code_a = code_of(&callback, "st-a");
        assert!(
            !browser.cookies.is_empty(),
            "no session cookie after the login"
        );

        // Single sign-on on B with A's session cookie: a code at once, even with prompt=none.
        let (callback, trace) = browser
            .drive(
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
        let (callback, trace) = browser
            .drive(
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
