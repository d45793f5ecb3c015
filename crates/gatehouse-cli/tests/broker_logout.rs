//! Logout of a session that came through a redirect provider (`global_logout` for `oidc`,
//! `logout_url` for `oauth2`): the broker's logout ends its own session, sends the browser to the
//! upstream's logout, and takes it back at `/logged-out` on to where its logout would have gone.
//! Against the real upstream peer, whose session must really end (a new login there asks for the
//! password again) — and must not when the provider does not ask for it.

mod common;

use common::browser::{Browser, Page};
use common::upstream::{
    Broker, RP_LOGGED_OUT, UpstreamClient, broker, journey, jwt_claims, query, redeem, upstream,
    upstream_asks_login,
};
use gatehouse_store::store_test;
use reqwest::header::LOCATION;
use url::Url;

/// Logs alice in through `provider`; returns the browser and the broker's ID token.
async fn logged_in(b: &Broker, provider: &str) -> (Browser, String) {
    let browser = Browser::new();
    let back = journey(b, &browser, provider, "alice", "alice-pw", |u| u)
        .await
        .unwrap_or_else(|(s, page)| panic!("{s}:\n{page}\n{}", b.server.logs()));
    let tokens = redeem(b, &back).await;
    assert_eq!(tokens.userinfo["preferred_username"], "alice");
    (browser, tokens.id_token)
}

/// RP-Initiated Logout at the broker with the RP's ID token; returns the broker's answer.
async fn broker_logout(b: &Broker, browser: &Browser, id_token: &str, to_rp: bool) -> Page {
    let mut url = Url::parse(&format!("{}/realms/main/logout", b.base())).unwrap();
    url.query_pairs_mut().append_pair("id_token_hint", id_token);
    if to_rp {
        url.query_pairs_mut()
            .append_pair("post_logout_redirect_uri", RP_LOGGED_OUT)
            .append_pair("state", "rp-logout-state");
    }
    browser.get(&url).await
}

fn location(page: &Page) -> Url {
    page.location
        .clone()
        .unwrap_or_else(|| panic!("no redirect: {}", page.status))
}

/// At the upstream's logout: its confirmation form, "Yes, sign me out"; returns where the upstream
/// sends the browser next.
async fn confirm_upstream_logout(browser: &Browser, at: Url) -> Url {
    let page = browser.get(&at).await;
    let mut form = page
        .form_with("xsrf")
        .unwrap_or_else(|| panic!("no form:\n{}", page.body));
    form.set("logout", "yes");
    location(&browser.post(&page.url, &form).await)
}

fn logged_out_url(b: &Broker) -> String {
    format!("{}/realms/main/logged-out", b.base())
}

store_test!(
    global_logout_ends_the_upstream_session_and_returns_to_the_rp,
    |store| async move {
        let b = broker(store, "oidc", "jit = true\nglobal_logout = true\n", |t| t).await;
        let (browser, id_token) = logged_in(&b, "upstream").await;

        let answer = broker_logout(&b, &browser, &id_token, true).await;
        let to = location(&answer);
        // The upstream's end_session_endpoint, as RP-Initiated Logout: the upstream's own ID
        // token for the broker as hint, the broker's fixed return address.
        assert!(
            to.as_str()
                .starts_with(&format!("{}/session/end", upstream())),
            "{to}"
        );
        let hint = query(&to, "id_token_hint").expect("id_token_hint");
        let hint = jwt_claims(&hint);
        assert_eq!(hint["iss"], upstream(), "{hint}");
        assert_eq!(hint["aud"], b.client.id, "{hint}");
        assert_eq!(hint["sub"], "alice", "{hint}");
        assert_eq!(
            query(&to, "client_id").as_deref(),
            Some(b.client.id.as_str())
        );
        assert_eq!(
            query(&to, "post_logout_redirect_uri").as_deref(),
            Some(logged_out_url(&b).as_str())
        );
        // The broker's own session is over already.
        let cookies = answer
            .headers
            .get_all(reqwest::header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect::<Vec<_>>();
        assert!(
            cookies.iter().any(|c| c.starts_with("gatehouse_session=;")),
            "{cookies:?}"
        );

        // The upstream logs out and sends the browser back to the broker, which goes on to the RP.
        let back = confirm_upstream_logout(&browser, to).await;
        assert!(back.as_str().starts_with(&logged_out_url(&b)), "{back}");
        let last = location(&browser.get(&back).await);
        assert_eq!(
            last.as_str(),
            format!("{RP_LOGGED_OUT}?state=rp-logout-state")
        );
        // The upstream session is really over: the next login there asks for the password.
        assert!(upstream_asks_login(&b, &browser, "upstream").await);
        // And a second visit of /logged-out (the cookie spent) is just the logged-out page.
        let again = browser.get(&Url::parse(&logged_out_url(&b)).unwrap()).await;
        assert_eq!(again.status, 200);
        assert!(again.body.contains("You are logged out"));
    }
);

store_test!(
    without_global_logout_the_upstream_session_stays,
    |store| async move {
        let b = broker(store, "oidc", "jit = true\n", |t| t).await;
        let (browser, id_token) = logged_in(&b, "upstream").await;
        let answer = broker_logout(&b, &browser, &id_token, true).await;
        assert_eq!(
            location(&answer).as_str(),
            format!("{RP_LOGGED_OUT}?state=rp-logout-state")
        );
        assert!(!upstream_asks_login(&b, &browser, "upstream").await);
    }
);

/// The oauth2 `logout_url` of the upstream peer: its end_session endpoint, named by client.
fn oauth2_logout_url(client: &UpstreamClient) -> String {
    format!(
        "logout_url = \"{}/session/end?client_id={}&post_logout_redirect_uri={{return_to}}\"\n",
        upstream(),
        client.id
    )
}

store_test!(
    an_oauth2_logout_url_is_followed_then_the_logged_out_page,
    |store| async move {
        let (port, client) = common::upstream::reserve().await;
        let text = common::upstream::realm(
            "oauth2",
            &client,
            &format!("jit = true\n{}", oauth2_logout_url(&client)),
        );
        let env = common::Env::new(store, &text);
        let b = common::upstream::serve(env, port, client).await;
        let (browser, id_token) = logged_in(&b, "iam").await;

        // No post_logout_redirect_uri: the broker's logout would end at its logged-out page.
        let answer = broker_logout(&b, &browser, &id_token, false).await;
        let to = location(&answer);
        assert!(
            to.as_str()
                .starts_with(&format!("{}/session/end", upstream())),
            "{to}"
        );
        // `{return_to}` filled in, URL-encoded; no ID token (plain OAuth 2.0 has none).
        assert_eq!(
            query(&to, "post_logout_redirect_uri").as_deref(),
            Some(logged_out_url(&b).as_str())
        );
        assert_eq!(query(&to, "id_token_hint"), None);
        let back = confirm_upstream_logout(&browser, to).await;
        assert!(back.as_str().starts_with(&logged_out_url(&b)), "{back}");
        let last = browser.get(&back).await;
        assert_eq!(last.status, 200);
        assert!(last.body.contains("You are logged out"));
        assert!(upstream_asks_login(&b, &browser, "iam").await);
    }
);

store_test!(
    a_forged_logout_return_cookie_goes_nowhere_but_the_logged_out_page,
    |store| async move {
        let b = broker(store, "oidc", "", |t| t).await;
        let response = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
            .get(logged_out_url(&b))
            .header(
                reqwest::header::COOKIE,
                "gatehouse_logout=aHR0cHM6Ly9ldmlsLmV4YW1wbGUv",
            )
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert!(response.headers().get(LOCATION).is_none());
    }
);

store_test!(
    a_restarted_broker_still_ends_the_upstream_session,
    |store| async move {
        let b = broker(store, "oidc", "jit = true\nglobal_logout = true\n", |t| t).await;
        let (browser, id_token) = logged_in(&b, "upstream").await;
        // The session and its upstream live in the store: a new process (which has not read the
        // upstream's discovery document yet) on the same store and port logs it out upstream.
        let port: u16 = b.base().rsplit(':').next().unwrap().parse().unwrap();
        let Broker {
            server,
            env,
            client,
        } = b;
        assert!(server.terminate().success());
        let b = common::upstream::serve(env, port, client).await;
        let to = location(&broker_logout(&b, &browser, &id_token, true).await);
        assert!(
            to.as_str()
                .starts_with(&format!("{}/session/end", upstream())),
            "{to}\n{}",
            b.server.logs()
        );
        assert!(query(&to, "id_token_hint").is_some());
        let back = confirm_upstream_logout(&browser, to).await;
        let last = location(&browser.get(&back).await);
        assert_eq!(
            last.as_str(),
            format!("{RP_LOGGED_OUT}?state=rp-logout-state")
        );
        assert!(upstream_asks_login(&b, &browser, "upstream").await);
    }
);
