//! A scripted browser for end-to-end logins through HTML pages: a cookie jar that applies the
//! SameSite rules (a `SameSite=Lax` cookie is left out of a cross-site POST, as every current
//! browser does), redirects followed one at a time, and the forms of auto-submitting pages (the
//! SAML HTTP-POST binding, Gatehouse's same-site bounce) submitted as their script would.
//!
//! Sites are compared by scheme and host (ports do not count, as for SameSite), so a test that
//! wants the upstream to be another site puts Gatehouse's public URL on `localhost` and the
//! upstream on `127.0.0.1`. `localhost` is resolved to 127.0.0.1.
//!
//! The one scripted browser of the workspace's tests: the oauth2 and oidc connectors' tests
//! include this file by path (`connectors/oauth2/tests/peer/mod.rs`), so it uses nothing but
//! reqwest and url.

use std::sync::Mutex;

use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use url::Url;

#[derive(Debug, Clone)]
struct Cookie {
    host: String,
    path: String,
    name: String,
    value: String,
    lax_or_strict: bool,
}

/// One answer the browser received.
#[derive(Debug, Clone)]
pub struct Page {
    pub url: Url,
    pub status: u16,
    pub location: Option<Url>,
    pub content_type: String,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Page {
    /// The first form of the page: its absolute action and its fields (hidden or not), decoded.
    pub fn form(&self) -> Option<Form> {
        forms(&self.body)
            .into_iter()
            .next()
            .and_then(|f| resolved(&self.url, f))
    }

    /// The form whose action ends with `suffix`.
    pub fn form_to(&self, suffix: &str) -> Option<Form> {
        forms(&self.body)
            .into_iter()
            .filter_map(|f| resolved(&self.url, f))
            .find(|f| f.action.as_str().ends_with(suffix))
    }

    /// The first form with a field named `name`.
    pub fn form_with(&self, name: &str) -> Option<Form> {
        forms(&self.body)
            .into_iter()
            .filter_map(|f| resolved(&self.url, f))
            .find(|f| f.get(name).is_some())
    }

    /// A page whose script submits its form at once.
    pub fn auto_submits(&self) -> bool {
        self.status == 200 && self.body.contains(".submit()") && self.form().is_some()
    }
}

#[derive(Debug, Clone)]
pub struct Form {
    pub action: Url,
    pub fields: Vec<(String, String)>,
}

fn resolved(base: &Url, (action, fields): (String, Vec<(String, String)>)) -> Option<Form> {
    Some(Form {
        action: base.join(&action).ok()?,
        fields,
    })
}

impl Form {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn set(&mut self, name: &str, value: &str) {
        self.fields.retain(|(k, _)| k != name);
        self.fields.push((name.to_owned(), value.to_owned()));
    }
}

pub struct Browser {
    http: reqwest::Client,
    jar: Mutex<Vec<Cookie>>,
    /// Requests to this origin go to the other one (two instances behind one public URL).
    route: Option<(String, String)>,
    /// Every page received, in order.
    pub history: Mutex<Vec<Page>>,
}

impl Default for Browser {
    fn default() -> Self {
        Self::new()
    }
}

impl Browser {
    pub fn new() -> Browser {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .resolve("localhost", "127.0.0.1:0".parse().unwrap())
            .build()
            .unwrap();
        Browser {
            http,
            jar: Mutex::new(Vec::new()),
            route: None,
            history: Mutex::new(Vec::new()),
        }
    }

    /// Send what is addressed to origin `public` to origin `real` instead; cookies still belong
    /// to `public`.
    pub fn routed(mut self, public: &str, real: &str) -> Browser {
        self.route = Some((
            public.trim_end_matches('/').to_owned(),
            real.trim_end_matches('/').to_owned(),
        ));
        self
    }

    /// A top-level GET navigation (typed, or followed from a page of `from`'s site).
    pub async fn get(&self, url: &Url) -> Page {
        self.send(url, None, None).await
    }

    /// A form POST from a page at `from`.
    pub async fn post(&self, from: &Url, form: &Form) -> Page {
        self.send(&form.action, Some(from), Some(&form.fields))
            .await
    }

    /// The value of a cookie the jar holds for `host`.
    pub fn cookie(&self, host: &str, name: &str) -> Option<String> {
        self.jar
            .lock()
            .unwrap()
            .iter()
            .find(|c| c.host == host && c.name == name)
            .map(|c| c.value.clone())
    }

    /// Puts a cookie into the jar, as if `host` had set it (SameSite=Lax).
    pub fn add_cookie(&self, host: &str, path: &str, name: &str, value: &str) {
        self.jar.lock().unwrap().push(Cookie {
            host: host.to_owned(),
            path: path.to_owned(),
            name: name.to_owned(),
            value: value.to_owned(),
            lax_or_strict: true,
        });
    }

    async fn send(&self, url: &Url, from: Option<&Url>, form: Option<&[(String, String)]>) -> Page {
        // SameSite: a cross-site POST carries no Lax/Strict cookie; a top-level GET carries Lax.
        let cross_site =
            from.is_some_and(|f| f.scheme() != url.scheme() || f.host_str() != url.host_str());
        let host = url.host_str().unwrap_or_default().to_owned();
        let cookies: Vec<String> = self
            .jar
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c.host == host && path_matches(&c.path, url.path()))
            .filter(|c| !(cross_site && form.is_some() && c.lax_or_strict))
            .map(|c| format!("{}={}", c.name, c.value))
            .collect();
        let target = self.real(url);
        let mut request = match form {
            Some(fields) => self
                .http
                .post(target)
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(
                    url::form_urlencoded::Serializer::new(String::new())
                        .extend_pairs(fields)
                        .finish(),
                ),
            None => self.http.get(target),
        };
        if !cookies.is_empty() {
            request = request.header(COOKIE, cookies.join("; "));
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{url}: {e}"));
        for value in response.headers().get_all(SET_COOKIE) {
            if let Ok(text) = value.to_str() {
                self.store_cookie(&host, url, text);
            }
        }
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|l| l.to_str().ok())
            .and_then(|l| url.join(l).ok());
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let headers = response.headers().clone();
        let body = response.text().await.unwrap_or_default();
        let page = Page {
            url: url.clone(),
            status,
            location,
            content_type,
            headers,
            body,
        };
        self.history.lock().unwrap().push(page.clone());
        page
    }

    /// Follows `page`'s redirects until one to an address starting with `stop_at`, which is
    /// returned unfollowed; on the way, signs in as `user` at the first login form of the
    /// upstream peer (node oidc-provider's: fields `login` and `password`). `rewrite` may change
    /// each redirect's address before it is followed. A page that is neither a redirect nor that
    /// form ends the walk: `Err(page)`.
    pub async fn follow_signing_in(
        &self,
        mut page: Page,
        user: &str,
        password: &str,
        stop_at: &str,
        rewrite: impl Fn(Url) -> Url,
    ) -> Result<Url, Page> {
        let mut signed_in = false;
        for _ in 0..15 {
            let login_form = page
                .form_with("login")
                .filter(|f| page.status == 200 && !signed_in && f.get("password").is_some());
            if let Some(next) = page.location.clone() {
                if next.as_str().starts_with(stop_at) {
                    return Ok(next);
                }
                page = self.get(&rewrite(next)).await;
            } else if let Some(mut form) = login_form {
                signed_in = true;
                form.set("login", user);
                form.set("password", password);
                page = self.post(&page.url.clone(), &form).await;
            } else {
                return Err(page);
            }
        }
        panic!("more than 15 steps, the last at {}", page.url)
    }

    fn real(&self, url: &Url) -> Url {
        if let Some((public, real)) = &self.route
            && let Some(rest) = url.as_str().strip_prefix(public.as_str())
            && (rest.is_empty() || rest.starts_with('/'))
        {
            return Url::parse(&format!("{real}{rest}")).unwrap();
        }
        url.clone()
    }

    fn store_cookie(&self, host: &str, url: &Url, header: &str) {
        let mut parts = header.split(';');
        let Some((name, value)) = parts.next().and_then(|p| p.trim().split_once('=')) else {
            return;
        };
        let mut cookie = Cookie {
            host: host.to_owned(),
            path: default_path(url.path()),
            name: name.to_owned(),
            value: value.to_owned(),
            // The default of current browsers for a cookie without SameSite.
            lax_or_strict: true,
        };
        // Max-Age wins over Expires (RFC 6265 5.3).
        let (mut max_age_spent, mut expired) = (None, false);
        for attr in parts {
            let (k, v) = attr.trim().split_once('=').unwrap_or((attr.trim(), ""));
            match k.to_ascii_lowercase().as_str() {
                "path" => cookie.path = v.to_owned(),
                "samesite" => cookie.lax_or_strict = !v.eq_ignore_ascii_case("none"),
                "max-age" => max_age_spent = v.trim().parse::<i64>().ok().map(|age| age <= 0),
                // How servers delete a cookie without Max-Age (node's `cookies`: the epoch).
                "expires" => expired = unix_time(v).is_some_and(|t| t <= now()),
                _ => {}
            }
        }
        let delete = max_age_spent.unwrap_or(expired);
        let mut jar = self.jar.lock().unwrap();
        jar.retain(|c| !(c.host == cookie.host && c.name == cookie.name && c.path == cookie.path));
        if !delete {
            jar.push(cookie);
        }
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The seconds since the epoch of an HTTP date (`Thu, 01 Jan 1970 00:00:00 GMT`).
fn unix_time(date: &str) -> Option<i64> {
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let parts: Vec<&str> = date
        .split([' ', ',', '-'])
        .filter(|p| !p.is_empty())
        .collect();
    let [_, day, month, year, time, ..] = parts.as_slice() else {
        return None;
    };
    let (day, year): (i64, i64) = (day.parse().ok()?, year.parse().ok()?);
    let month = MONTHS.iter().position(|m| month.eq_ignore_ascii_case(m))? as i64 + 1;
    let mut hms = time.split(':').map(|n| n.parse::<i64>().ok());
    let (h, m, sec) = (hms.next()??, hms.next()??, hms.next()??);
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    Some(days * 86_400 + h * 3600 + m * 60 + sec)
}

fn default_path(path: &str) -> String {
    match path.rfind('/') {
        Some(0) | None => "/".to_owned(),
        Some(i) => path[..i].to_owned(),
    }
}

fn path_matches(cookie_path: &str, path: &str) -> bool {
    path == cookie_path
        || (path.starts_with(cookie_path)
            && (cookie_path.ends_with('/') || path[cookie_path.len()..].starts_with('/')))
}

/// The forms of an HTML page, with their `input` fields (enough for the pages of Gatehouse and of
/// the test IdPs; not a general HTML parser).
pub fn forms(html: &str) -> Vec<(String, Vec<(String, String)>)> {
    let mut found = Vec::new();
    let mut rest = html;
    while let Some(start) = find_tag(rest, "form") {
        let tag_end = rest[start..].find('>').map_or(rest.len(), |e| start + e);
        let attrs = attributes(&rest[start + 5..tag_end]);
        let body_end = rest[tag_end..]
            .find("</form")
            .map_or(rest.len(), |e| tag_end + e);
        let body = &rest[tag_end..body_end];
        let mut fields = Vec::new();
        let mut inputs = body;
        while let Some(i) = find_tag(inputs, "input") {
            let end = inputs[i..].find('>').map_or(inputs.len(), |e| i + e);
            let a = attributes(&inputs[i + 6..end]);
            let get = |n: &str| a.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
            let kind = get("type").unwrap_or_default().to_ascii_lowercase();
            if let Some(name) = get("name")
                && kind != "submit"
            {
                fields.push((name, get("value").unwrap_or_default()));
            }
            inputs = &inputs[end..];
        }
        let action = attrs
            .iter()
            .find(|(k, _)| k == "action")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        found.push((action, fields));
        rest = &rest[body_end..];
    }
    found
}

fn find_tag(html: &str, tag: &str) -> Option<usize> {
    let lower = html.to_ascii_lowercase();
    let mut from = 0;
    while let Some(i) = lower[from..].find(&format!("<{tag}")) {
        let at = from + i;
        let next = lower.as_bytes().get(at + tag.len() + 1).copied();
        if matches!(next, Some(b' ' | b'\n' | b'\t' | b'>' | b'/')) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

fn attributes(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut s = text.trim_end_matches('/').trim();
    while !s.is_empty() {
        let name_end = s
            .find(|c: char| c == '=' || c.is_whitespace())
            .unwrap_or(s.len());
        let name = s[..name_end].to_ascii_lowercase();
        s = s[name_end..].trim_start();
        let mut value = String::new();
        if let Some(after) = s.strip_prefix('=') {
            let after = after.trim_start();
            let (v, rest) = match after.chars().next() {
                Some(q @ ('"' | '\'')) => {
                    let end = after[1..].find(q).map_or(after.len(), |e| e + 1);
                    (&after[1..end], after.get(end + 1..).unwrap_or(""))
                }
                _ => {
                    let end = after.find(char::is_whitespace).unwrap_or(after.len());
                    (&after[..end], &after[end..])
                }
            };
            value = unescape(v);
            s = rest.trim_start();
        }
        if !name.is_empty() {
            out.push((name, value));
        }
    }
    out
}

/// HTML character references: the named ones templates produce, and numeric ones.
pub fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let Some(end) = rest.find(';').filter(|e| *e < 12) else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let entity = &rest[1..end];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .or_else(|| entity.strip_prefix("#X"))
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
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
