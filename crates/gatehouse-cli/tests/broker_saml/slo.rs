//! SP-initiated single logout (`global_logout`): the relying party's logout at Gatehouse goes on
//! to the IdP's SingleLogoutService with a LogoutRequest for the login's NameID and SessionIndex;
//! the IdP ends its session and answers a LogoutResponse to Gatehouse's `/slo`, which sends the
//! browser to the fixed `/logged-out` and so on to the RP's `post_logout_redirect_uri`.

use gatehouse_store::store_test;
use serde_json::Value;
use url::Url;

use crate::common::browser::Browser;
use crate::flow::*;

const RP_LOGGED_OUT: &str = "http://127.0.0.1:9/logged-out";

/// [`realm`] with a client that may come back to [`RP_LOGGED_OUT`].
fn logout_realm(extra: &str) -> String {
    realm(extra).replace(
        "scopes = [",
        &format!("post_logout_redirect_uris = [\"{RP_LOGGED_OUT}\"]\nscopes = ["),
    )
}

/// The relying party's ID token for the code in `back`.
async fn id_token(b: &Broker, back: &Url) -> String {
    crate::common::upstream::redeem_at(&b.server.base, back)
        .await
        .id_token
}

/// The RP-initiated logout at Gatehouse, with `id_token_hint`, back to [`RP_LOGGED_OUT`].
async fn rp_logout(b: &Broker, browser: &Browser, id_token: &str) -> crate::common::browser::Page {
    let mut url = Url::parse(&format!("{}/realms/main/logout", b.public)).unwrap();
    url.query_pairs_mut()
        .append_pair("id_token_hint", id_token)
        .append_pair("post_logout_redirect_uri", RP_LOGGED_OUT)
        .append_pair("state", "rp-logout-state");
    browser.get(&url).await
}

async fn idp_json(path: &str) -> Value {
    reqwest::get(format!("{}{path}", idp()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The IdP's session of `user` at this SP: `[name_id, session_index]`, or null.
async fn idp_session(b: &Broker, user: &str) -> Value {
    idp_json("/admin/sessions").await[user][b.entity_id()].clone()
}

/// The LogoutRequests this SP sent to the IdP.
async fn logouts_from(b: &Broker) -> Vec<Value> {
    let all = idp_json("/admin/logouts").await;
    all.as_array()
        .unwrap()
        .iter()
        .filter(|l| l["sp"] == b.entity_id().as_str())
        .cloned()
        .collect()
}

fn to(page: &crate::common::browser::Page, b: &Broker) -> Url {
    page.location
        .clone()
        .unwrap_or_else(|| panic!("{page:?}\n{}", b.server.logs()))
}

store_test!(
    a_broker_logout_ends_the_idp_session_and_returns_to_the_rp,
    |store| async move {
        let b = broker(store, &logout_realm("jit = true\nglobal_logout = true\n")).await;
        let browser = b.browser();
        let back = journey(&b, &browser, "alice", "alice-pw", None)
            .await
            .unwrap_or_else(|p| panic!("{p:?}\n{}", b.server.logs()));
        let id_token = id_token(&b, &back).await;
        let session = idp_session(&b, "alice").await;
        let (name_id, index) = (session[0].clone(), session[1].clone());
        assert!(name_id.is_string() && index.is_string(), "{session}");

        // Gatehouse's logout sends the browser to the IdP's SLO with a LogoutRequest whose
        // RelayState is the realm's fixed return address.
        let first = rp_logout(&b, &browser, &id_token).await;
        let at_idp = to(&first, &b);
        assert!(
            at_idp
                .as_str()
                .starts_with(&format!("{}/slo/redirect?", idp())),
            "{at_idp}"
        );
        assert!(query(&at_idp, "SAMLRequest").is_some(), "{at_idp}");
        let logged_out = format!("{}/realms/main/logged-out", b.public);
        assert_eq!(
            query(&at_idp, "RelayState").as_deref(),
            Some(logged_out.as_str())
        );
        assert!(browser.cookie("localhost", "gatehouse_session").is_none());

        // The IdP ends its session and answers at Gatehouse's SLO.
        let answer = browser.get(&at_idp).await;
        let slo = to(&answer, &b);
        assert!(
            slo.as_str()
                .starts_with(&format!("{}/realms/main/broker/corp/slo?", b.public)),
            "{slo}"
        );
        assert!(query(&slo, "SAMLResponse").is_some(), "{slo}");
        let logouts = logouts_from(&b).await;
        assert_eq!(logouts.len(), 1, "{logouts:?}");
        assert_eq!(logouts[0]["name_id"], name_id, "{logouts:?}");
        assert_eq!(logouts[0]["session_index"][0], index, "{logouts:?}");
        assert!(idp_session(&b, "alice").await.is_null());

        // Gatehouse's SLO → the fixed /logged-out → the RP, with its state.
        let at_slo = browser.get(&slo).await;
        assert_eq!(to(&at_slo, &b).as_str(), logged_out);
        let last = browser.get(&to(&at_slo, &b)).await;
        assert_eq!(
            to(&last, &b).as_str(),
            format!("{RP_LOGGED_OUT}?state=rp-logout-state")
        );
        assert!(!has_session(&b, &browser).await);
        // The IdP's answer passed the checks (a refused one or a failure status is a warning).
        let logs = b.server.logs();
        assert!(!logs.contains("SP-initiated logout"), "{logs}");

        // The same LogoutResponse again (its request is answered): refused and logged, and the
        // browser still goes to the fixed logged-out address, not to the RelayState it carries.
        let again = browser.get(&slo).await;
        assert_eq!(to(&again, &b).as_str(), logged_out);
        let logs = b.server.logs();
        assert!(logs.contains("LogoutResponse is refused"), "{logs}");

        // A fresh login asks the IdP for the password again, and works.
        let relogin = journey(&b, &b.browser(), "alice", "alice-pw", None).await;
        assert!(relogin.is_ok(), "{relogin:?}");
    }
);

store_test!(
    a_logout_response_never_follows_its_relay_state,
    |store| async move {
        let b = broker(store, &logout_realm("jit = true\nglobal_logout = true\n")).await;
        let browser = b.browser();
        let back = journey(&b, &browser, "alice", "alice-pw", None)
            .await
            .unwrap();
        let id_token = id_token(&b, &back).await;
        let mut at_idp = to(&rp_logout(&b, &browser, &id_token).await, &b);
        // A RelayState changed on the way: the IdP echoes it, Gatehouse does not follow it.
        let pairs: Vec<(String, String)> = at_idp
            .query_pairs()
            .map(|(k, v)| {
                let v = if k == "RelayState" {
                    "https://evil.example/".into()
                } else {
                    v
                };
                (k.into_owned(), v.into_owned())
            })
            .collect();
        at_idp.query_pairs_mut().clear().extend_pairs(pairs);
        let slo = to(&browser.get(&at_idp).await, &b);
        assert_eq!(
            query(&slo, "RelayState").as_deref(),
            Some("https://evil.example/")
        );
        let at_slo = browser.get(&slo).await;
        let next = to(&at_slo, &b);
        assert_eq!(
            next.as_str(),
            format!("{}/realms/main/logged-out", b.public)
        );
        let last = browser.get(&next).await;
        assert_eq!(
            to(&last, &b).as_str(),
            format!("{RP_LOGGED_OUT}?state=rp-logout-state")
        );
    }
);

store_test!(
    without_global_logout_the_browser_does_not_go_to_the_idp,
    |store| async move {
        let b = broker(store, &logout_realm("jit = true\n")).await;
        let browser = b.browser();
        let back = journey(&b, &browser, "alice", "alice-pw", None)
            .await
            .unwrap();
        let id_token = id_token(&b, &back).await;
        let first = rp_logout(&b, &browser, &id_token).await;
        assert_eq!(
            to(&first, &b).as_str(),
            format!("{RP_LOGGED_OUT}?state=rp-logout-state")
        );
        assert!(!has_session(&b, &browser).await);
        // The IdP heard nothing: its session is there still.
        assert!(logouts_from(&b).await.is_empty());
        assert!(idp_session(&b, "alice").await.is_array());
    }
);
