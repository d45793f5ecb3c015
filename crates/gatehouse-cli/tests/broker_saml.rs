//! Upstream SAML 2.0 IdPs end to end: a relying party → `gatehouse serve` → the login page's SAML
//! button → the test IdP (pysaml2, tests/peers/saml-idp.sh) login → its auto-submitting POST to
//! Gatehouse's ACS (cross-site, so through the same-site bounce) → a code for the relying party →
//! tokens with the mapped username and groups. Then replays (one instance and two on one store),
//! account matching (`jit`, `link_existing`), `allowed_groups`, IdP-initiated single logout, and
//! SP-initiated single logout (broker_saml/slo.rs).
//!
//! Gatehouse's public URL is `http://localhost:PORT` and the IdP is on `127.0.0.1`: two sites, so
//! the scripted browser (common/browser.rs) leaves the SameSite=Lax cookies out of the IdP's POST
//! as a real browser does. Each test's Gatehouse serves its own SP metadata, which the IdP fetches
//! (`/admin/trust`) before the first login: an SP it did not load is refused.

mod common;

#[path = "broker_saml/flow.rs"]
mod flow;
#[path = "broker_saml/slo.rs"]
mod slo;

use base64::Engine;
use common::browser::Browser;
use common::{Env, Server, free_port};
use flow::*;
use gatehouse_store::store_test;
use url::Url;

store_test!(
    a_saml_login_ends_in_tokens_with_the_mapped_username_and_groups,
    |store| async move {
        let b = broker(store, &realm("jit = true\n")).await;
        let browser = b.browser();
        let back = journey(&b, &browser, "alice", "alice-pw", None)
            .await
            .unwrap_or_else(|p| panic!("{p:?}\n{}", b.server.logs()));
        let (claims, userinfo) = redeem(&b, &back).await;
        assert_eq!(claims["nonce"], "rp-nonce");
        assert_eq!(claims["amr"][0], "fed", "{claims}");
        assert_eq!(userinfo["preferred_username"], "alice", "{userinfo}");
        assert_eq!(userinfo["email"], "alice@example.org", "{userinfo}");
        let mut groups: Vec<String> = serde_json::from_value(claims["groups"].clone()).unwrap();
        groups.sort();
        assert_eq!(groups, ["admins", "staff"], "{claims}");

        // The IdP's POST came cross-site without the CSRF cookie: bounced once, then accepted.
        let acs = acs_pages(&browser);
        assert_eq!(acs.len(), 2, "{acs:#?}");
        assert!(acs[0].body.contains("gatehouse_bounced"), "{:?}", acs[0]);
        assert!(acs[1].location.is_some(), "{:?}", acs[1]);

        // The account was made just in time, linked to the NameID.
        let user = shown(&b, "alice");
        assert!(user.contains("corp"), "{user}");
        assert!(user.contains("alice@example.org"), "{user}");
        // A second login finds the link: the same account.
        let again = journey(&b, &b.browser(), "alice", "alice-pw", None)
            .await
            .unwrap();
        let (_, second) = redeem(&b, &again).await;
        assert_eq!(second["sub"], userinfo["sub"]);
    }
);

store_test!(
    the_sp_metadata_is_served_for_each_saml_provider,
    |store| async move {
        let b = broker(store, &realm("")).await;
        let response = reqwest::get(format!(
            "{}/realms/main/broker/corp/metadata",
            b.server.base
        ))
        .await
        .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["content-type"],
            "application/samlmetadata+xml"
        );
        let xml = response.text().await.unwrap();
        assert!(
            xml.contains(&format!("entityID=\"{}\"", b.entity_id())),
            "{xml}"
        );
        assert!(
            xml.contains(&format!(
                "Location=\"{}/realms/main/broker/corp/callback\"",
                b.public
            )),
            "{xml}"
        );
        assert!(
            xml.contains(&format!(
                "Location=\"{}/realms/main/broker/corp/slo\"",
                b.public
            )),
            "{xml}"
        );
        // Only SAML providers have one.
        let none = reqwest::get(format!(
            "{}/realms/main/broker/local/metadata",
            b.server.base
        ))
        .await
        .unwrap();
        assert_eq!(none.status(), 404);
    }
);

store_test!(
    a_cross_site_callback_post_is_bounced_once_through_this_site,
    |store| async move {
        let b = broker(store, &realm("")).await;
        let acs = format!("{}/realms/main/broker/corp/callback", b.server.base);
        let http = reqwest::Client::new();
        let fields = [("SAMLResponse", "PHg+"), ("RelayState", "a\"<b>")];
        // No cookie: a page of this site that re-POSTs the same fields once, escaped.
        let page = http.post(&acs).form(&fields).send().await.unwrap();
        assert_eq!(page.status(), 200);
        let csp = page.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(csp.contains("script-src 'nonce-"), "{csp}");
        let html = page.text().await.unwrap();
        let forms = common::browser::forms(&html);
        assert_eq!(forms.len(), 1, "{html}");
        let (action, sent) = &forms[0];
        assert_eq!(
            action,
            &format!("{}/realms/main/broker/corp/callback", b.public)
        );
        assert_eq!(
            sent,
            &[
                ("SAMLResponse".to_owned(), "PHg+".to_owned()),
                ("RelayState".to_owned(), "a\"<b>".to_owned()),
                ("gatehouse_bounced".to_owned(), "1".to_owned()),
            ]
        );
        assert!(!html.contains("a\"<b>"), "unescaped: {html}");
        // The bounced POST, still without a cookie, goes on to the callback (refused: no such login).
        let again = http.post(&acs).form(sent).send().await.unwrap();
        assert_eq!(again.status(), 400);
        assert!(!again.text().await.unwrap().contains("gatehouse_bounced"));
        // With the cookie, there is no bounce at all.
        let with_cookie = http
            .post(&acs)
            .header("cookie", "gatehouse_csrf=abc")
            .form(&fields)
            .send()
            .await
            .unwrap();
        assert_eq!(with_cookie.status(), 400);
        assert!(
            !with_cookie
                .text()
                .await
                .unwrap()
                .contains("gatehouse_bounced")
        );
        // A large SAMLResponse (many attributes) is not cut off by the 64 KiB limit of other forms.
        let large = "A".repeat(300 * 1024);
        let page = http
            .post(&acs)
            .form(&[("SAMLResponse", large.as_str()), ("RelayState", "x")])
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200);
    }
);

store_test!(
    a_replayed_assertion_is_refused_and_creates_nothing,
    |store| async move {
        let b = broker(store, &realm("jit = true\n")).await;
        let first = b.browser();
        let back = journey(&b, &first, "alice", "alice-pw", None)
            .await
            .unwrap_or_else(|p| panic!("{p:?}\n{}", b.server.logs()));
        redeem(&b, &back).await;
        let used = assertion_id(&first);

        // bob's login: a fresh, correctly signed Response for his own request, but it reuses
        // alice's assertion ID. Refused; bob gets no account and this browser no session.
        let second = b.browser();
        let page = journey(&b, &second, "bob", "bob-pw", Some(&used))
            .await
            .unwrap_err();
        assert_eq!(page.status, 400, "{page:?}");
        assert!(page.body.contains(FAILED), "{}", page.body);
        assert_eq!(assertion_id(&second), used);
        assert!(!exists(&b, "bob"));
        assert!(!has_session(&b, &second).await);
        assert_eq!(audit_results(&b.env.store).await[0], "replayed");
    }
);

store_test!(
    a_replay_on_a_second_instance_on_the_same_store_is_refused,
    |store| async move {
        let b = broker(store, &realm("jit = true\n")).await;
        // A second instance behind the same public URL, on the same store.
        let other = serve(&b.env, &b.public, free_port()).await;
        let first = b.browser();
        let back = journey(&b, &first, "alice", "alice-pw", None)
            .await
            .unwrap_or_else(|p| panic!("{p:?}\n{}", b.server.logs()));
        redeem(&b, &back).await;
        let used = assertion_id(&first);

        let second = Browser::new().routed(&b.public, &other.base);
        let page = journey(&b, &second, "bob", "bob-pw", Some(&used))
            .await
            .unwrap_err();
        assert_eq!(page.status, 400, "{page:?}\n{}", other.logs());
        assert!(!exists(&b, "bob"));
        assert_eq!(audit_results(&b.env.store).await[0], "replayed");

        // The same on the second instance with a new assertion ID: accepted (only the replay was
        // refused).
        let third = Browser::new().routed(&b.public, &other.base);
        journey(&b, &third, "bob", "bob-pw", None)
            .await
            .unwrap_or_else(|p| panic!("{p:?}\n{}", other.logs()));
        assert!(exists(&b, "bob"));
    }
);

store_test!(
    without_jit_or_a_link_an_identity_has_no_account,
    |store| async move {
        let b = broker(store, &realm("")).await;
        let browser = b.browser();
        let page = journey(&b, &browser, "alice", "alice-pw", None)
            .await
            .unwrap_err();
        assert_eq!(page.status, 403, "{page:?}");
        assert!(
            page.body.contains("no account for this identity"),
            "{}",
            page.body
        );
        assert!(!exists(&b, "alice"));
        assert!(!has_session(&b, &browser).await);
        assert_eq!(audit_results(&b.env.store).await[0], "no_account");
        // The event names the user as the IdP knows them (the mapped uid), never the provider,
        // which is in the attempt.
        let events = b.env.store.recent_audit_events("main", 1).await.unwrap();
        assert_eq!(events[0].login, "alice");
        assert_eq!(events[0].kind, "redirect_login");
        assert_eq!(events[0].attempts[0].provider, "corp");
    }
);

store_test!(
    link_existing_username_links_the_existing_account,
    |store| async move {
        let b = broker(store, &realm("link_existing = \"username\"\n")).await;
        let run = b.cli(&["user", "add", "--realm", "main", "alice"]);
        assert_eq!(run.code(), 0, "{}", run.all());
        let before = shown(&b, "alice");
        assert!(!before.contains("corp"), "{before}");
        let back = journey(&b, &b.browser(), "alice", "alice-pw", None)
            .await
            .unwrap_or_else(|p| panic!("{p:?}\n{}", b.server.logs()));
        let (_, userinfo) = redeem(&b, &back).await;
        assert_eq!(userinfo["preferred_username"], "alice");
        let after = shown(&b, "alice");
        assert!(after.contains("corp (saml): live"), "{after}");
        // An identity whose username names no account is still refused (no jit).
        let page = journey(&b, &b.browser(), "bob", "bob-pw", None)
            .await
            .unwrap_err();
        assert_eq!(page.status, 403, "{page:?}");
    }
);

store_test!(allowed_groups_refuse_everyone_else, |store| async move {
    let b = broker(store, &realm("jit = true\nallowed_groups = [\"admins\"]\n")).await;
    let back = journey(&b, &b.browser(), "alice", "alice-pw", None)
        .await
        .unwrap_or_else(|p| panic!("{p:?}\n{}", b.server.logs()));
    redeem(&b, &back).await;
    let browser = b.browser();
    let page = journey(&b, &browser, "bob", "bob-pw", None)
        .await
        .unwrap_err();
    assert!(page.status >= 400, "{page:?}");
    assert!(!exists(&b, "bob"));
    assert!(!has_session(&b, &browser).await);
    let results = audit_results(&b.env.store).await;
    assert!(results[0].starts_with("upstream_refused"), "{results:?}");
});

store_test!(
    idp_initiated_single_logout_ends_the_session,
    |store| async move {
        let b = broker(store, &realm("jit = true\n")).await;
        let alice = b.browser();
        let back = journey(&b, &alice, "alice", "alice-pw", None)
            .await
            .unwrap_or_else(|p| panic!("{p:?}\n{}", b.server.logs()));
        redeem(&b, &back).await;
        let bob = b.browser();
        journey(&b, &bob, "bob", "bob-pw", None)
            .await
            .unwrap_or_else(|p| panic!("{p:?}\n{}", b.server.logs()));
        let alice_session = alice.cookie("localhost", "gatehouse_session").unwrap();
        let bob_session = bob.cookie("localhost", "gatehouse_session").unwrap();
        assert!(has_session(&b, &with_session(&b, &alice_session)).await);

        // alice's LogoutRequest reaching bob's browser leaves bob's session alone (it is answered).
        let (_, done) = idp_logout(&b, &bob, "alice").await;
        assert!(done.body.contains("status:Success"), "{done:?}");
        assert!(has_session(&b, &with_session(&b, &bob_session)).await);

        // In alice's browser it ends her session, in the store, not only the cookie.
        let (_, done) = idp_logout(&b, &alice, "alice").await;
        assert!(done.body.contains("status:Success"), "{done:?}");
        assert!(alice.cookie("localhost", "gatehouse_session").is_none());
        assert!(!has_session(&b, &with_session(&b, &alice_session)).await);
        assert!(has_session(&b, &with_session(&b, &bob_session)).await);
    }
);

store_test!(
    a_forged_logout_request_is_refused_and_ends_nothing,
    |store| async move {
        let b = broker(store, &realm("jit = true\n")).await;
        let alice = b.browser();
        journey(&b, &alice, "alice", "alice-pw", None)
            .await
            .unwrap_or_else(|p| panic!("{p:?}\n{}", b.server.logs()));
        // The IdP's signed LogoutRequest with one parameter changed: the signature fails.
        let start = Url::parse(&format!(
            "{}/idp-logout?user=alice&sp={}",
            idp(),
            url::form_urlencoded::byte_serialize(b.entity_id().as_bytes()).collect::<String>()
        ))
        .unwrap();
        let slo = alice.get(&start).await.location.unwrap();
        let mut forged = slo.clone();
        let pairs: Vec<(String, String)> = slo
            .query_pairs()
            .map(|(k, v)| {
                let v = if k == "RelayState" {
                    "forged".into()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        forged.query_pairs_mut().clear().extend_pairs(pairs);
        let answer = alice.get(&forged).await;
        assert_eq!(answer.status, 400, "{answer:?}");
        assert!(has_session(&b, &alice).await);
        // An unsigned one, however genuine otherwise: refused too.
        let unsigned = Url::parse(&format!("{start}&unsigned=1")).unwrap();
        let slo = alice.get(&unsigned).await.location.unwrap();
        assert!(!slo.as_str().contains("Signature="), "{slo}");
        let answer = alice.get(&slo).await;
        assert_eq!(answer.status, 400, "{answer:?}");
        assert!(has_session(&b, &alice).await);
    }
);

store_test!(
    the_example_configuration_logs_in_through_the_test_idp,
    |store| async move {
        // config/examples/saml.toml as shipped, on this test's store; what differs here comes
        // from the environment, as an operator would set it.
        let example =
            std::fs::read_to_string(common::repo_root().join("config/examples/saml.toml"))
                .unwrap()
                .replace("[server]\npublic_url = \"http://127.0.0.1:8080\"\n", "");
        let env = Env::new(store, &example);
        let port = free_port();
        let public = format!("http://localhost:{port}");
        let metadata = format!("{}/metadata", idp());
        let server = Server::start_at(
            &env,
            port,
            &[
                RP_SECRET,
                ("GATEHOUSE_SERVER__PUBLIC_URL", &public),
                (
                    "GATEHOUSE_REALMS__MAIN__PROVIDERS__CORP__IDP_METADATA_URL",
                    &metadata,
                ),
                ("GATEHOUSE_REALMS__MAIN__CLIENTS__0__CLIENT_ID", "rp"),
                (
                    "GATEHOUSE_REALMS__MAIN__CLIENTS__0__CLIENT_SECRET",
                    "env:RP_SECRET",
                ),
                (
                    "GATEHOUSE_REALMS__MAIN__CLIENTS__0__REDIRECT_URIS",
                    &format!("[\"{RP_CALLBACK}\"]"),
                ),
            ],
        )
        .await;
        let b = Broker {
            server,
            env,
            public,
        };
        trust(&b).await;
        let back = journey(&b, &b.browser(), "alice", "alice-pw", None)
            .await
            .unwrap_or_else(|p| panic!("{p:?}\n{}", b.server.logs()));
        let (claims, userinfo) = redeem(&b, &back).await;
        assert_eq!(userinfo["preferred_username"], "alice", "{userinfo}");
        assert!(claims["groups"].to_string().contains("staff"), "{claims}");
        // allowed_groups = ["staff"]: carol (contractors) is refused.
        let page = journey(&b, &b.browser(), "carol", "carol-pw", None)
            .await
            .unwrap_err();
        assert!(page.status >= 400, "{page:?}");
        assert!(!exists(&b, "carol"));
    }
);

store_test!(
    the_http_post_binding_sends_the_request_in_an_auto_submitting_form,
    |store| async move {
        let b = broker(store, &realm("jit = true\nbinding = \"post\"\n")).await;
        let browser = b.browser();
        let back = journey(&b, &browser, "alice", "alice-pw", None)
            .await
            .unwrap_or_else(|p| panic!("{p:?}\n{}", b.server.logs()));
        redeem(&b, &back).await;
        // The button's answer: not a redirect, a page of Gatehouse that POSTs the AuthnRequest to
        // the IdP's HTTP-POST endpoint, its script allowed by nonce only.
        let history = browser.history.lock().unwrap().clone();
        let start = history
            .iter()
            .find(|p| p.url.path().ends_with("/broker/corp/start"))
            .unwrap();
        assert_eq!(start.status, 200, "{start:?}");
        assert!(start.location.is_none());
        let form = start.form().unwrap();
        assert_eq!(form.action.as_str(), format!("{}/sso/post", idp()));
        assert!(form.get("SAMLRequest").is_some() && form.get("RelayState").is_some());
        assert!(start.auto_submits());
    }
);

store_test!(
    identifier_first_sends_a_linked_account_to_the_idp,
    |store| async move {
        let b = broker(store, &realm("jit = true\n")).await;
        let first = journey(&b, &b.browser(), "alice", "alice-pw", None)
            .await
            .unwrap_or_else(|p| panic!("{p:?}\n{}", b.server.logs()));
        let (_, first) = redeem(&b, &first).await;
        // alice types her username: her account's first live link is `corp`, so no password is
        // asked and the browser goes to the IdP.
        let browser = b.browser();
        let mut page = browser.get(&authorize_url(&b, "")).await;
        page = browser.get(&page.location.clone().unwrap()).await;
        let mut next = page
            .form_to("/realms/main/login")
            .unwrap_or_else(|| panic!("{page:?}"));
        next.set("username", "alice");
        let sent = browser.post(&page.url.clone(), &next).await;
        let to = sent.location.clone().unwrap_or_else(|| panic!("{sent:?}"));
        assert!(
            to.as_str().starts_with(&format!("{}/sso/redirect?", idp())),
            "{to}"
        );
        let back = follow(&browser, sent, "alice", "alice-pw", None)
            .await
            .unwrap_or_else(|p| panic!("{p:?}"));
        let (_, second) = redeem(&b, &back).await;
        assert_eq!(second["sub"], first["sub"]);
    }
);

store_test!(auto_redirect_skips_the_login_page, |store| async move {
    let text = realm("jit = true\nauto_redirect = true\n")
        .replace("chain = [\"corp\", \"local\"]", "chain = [\"corp\"]");
    let b = broker(store, &text).await;
    let browser = b.browser();
    let page = browser.get(&authorize_url(&b, "")).await;
    let to = page.location.clone().unwrap_or_else(|| panic!("{page:?}"));
    assert!(
        to.as_str().starts_with(&format!("{}/sso/redirect?", idp())),
        "{to}"
    );
    let back = follow(&browser, page, "alice", "alice-pw", None)
        .await
        .unwrap_or_else(|p| panic!("{p:?}"));
    let (_, userinfo) = redeem(&b, &back).await;
    assert_eq!(userinfo["preferred_username"], "alice", "{userinfo}");
});

store_test!(
    a_tampered_response_is_refused_audited_and_creates_nothing,
    |store| async move {
        let b = broker(store, &realm("jit = true\n")).await;
        // The IdP signed alice's Response; the browser turns her into mallory on the way.
        let as_mallory = |form: &mut common::browser::Form| {
            let engine = base64::engine::general_purpose::STANDARD;
            let xml = String::from_utf8(engine.decode(form.get("SAMLResponse").unwrap()).unwrap())
                .unwrap();
            assert!(xml.contains(">alice<"), "{xml}");
            let forged = xml.replace(">alice<", ">mallory<");
            form.set("SAMLResponse", &engine.encode(forged));
        };
        let browser = b.browser();
        let first = browser.get(&authorize_url(&b, "")).await;
        let page = follow_tampered(&browser, first, "alice", "alice-pw", None, &as_mallory)
            .await
            .unwrap_err();
        assert_eq!(page.status, 400, "{page:?}");
        assert!(page.body.contains(FAILED), "{}", page.body);
        assert!(!exists(&b, "mallory"));
        assert!(!exists(&b, "alice"));
        assert!(!has_session(&b, &browser).await);
        let results = audit_results(&b.env.store).await;
        // A code; which check failed is in the log line.
        assert_eq!(results[0], "upstream_refused", "{results:?}");
    }
);

store_test!(
    a_response_posted_again_after_its_login_finished_is_refused_and_audited,
    |store| async move {
        let b = broker(store, &realm("jit = true\n")).await;
        let browser = b.browser();
        let kept = std::sync::Mutex::new(None);
        let keep = |form: &mut common::browser::Form| {
            *kept.lock().unwrap() = Some(form.clone());
        };
        let first = browser.get(&authorize_url(&b, "")).await;
        follow_tampered(&browser, first, "alice", "alice-pw", None, &keep)
            .await
            .unwrap_or_else(|p| panic!("{p:?}\n{}", b.server.logs()));
        let response = kept.lock().unwrap().take().expect("the IdP's form");
        let before = audit_results(&b.env.store).await.len();
        // The same Response again, from this browser and from another one: its login is over.
        let idp = Url::parse("http://idp.invalid/sso").unwrap();
        for again in [browser, b.browser()] {
            let mut page = again.post(&idp, &response).await;
            if page.auto_submits() {
                // The cross-site POST is bounced once to carry the site's cookie.
                let bounce = page.form().unwrap();
                page = again.post(&page.url.clone(), &bounce).await;
            }
            assert_eq!(page.status, 400, "{page:?}");
        }
        let results = audit_results(&b.env.store).await;
        assert_eq!(results.len(), before + 2, "{results:?}");
        assert_eq!(results[..2], ["expired", "expired"], "{results:?}");
        let events = b.env.store.recent_audit_events("main", 1).await.unwrap();
        assert_eq!(events[0].kind, "redirect_login");
        assert_eq!(events[0].attempts[0].provider, "corp");
        assert!(
            b.server.logs().contains("redirect login callback refused"),
            "a log line too"
        );
    }
);

store_test!(
    verified_email_links_by_the_idps_email_when_trusted,
    |store| async move {
        let b = broker(
            store,
            &realm("link_existing = \"verified_email\"\nemail_verified = true\n"),
        )
        .await;
        let run = b.cli(&[
            "user",
            "add",
            "--realm",
            "main",
            "liddell",
            "--email",
            "alice@example.org",
        ]);
        assert_eq!(run.code(), 0, "{}", run.all());
        let back = journey(&b, &b.browser(), "alice", "alice-pw", None)
            .await
            .unwrap_or_else(|p| panic!("{p:?}\n{}", b.server.logs()));
        let (_, userinfo) = redeem(&b, &back).await;
        assert_eq!(userinfo["preferred_username"], "liddell", "{userinfo}");
        assert!(shown(&b, "liddell").contains("corp (saml): live"));
    }
);
