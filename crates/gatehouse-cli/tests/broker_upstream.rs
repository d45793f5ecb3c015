//! Redirect providers end to end: a relying party → `gatehouse serve` → the upstream peer (node
//! oidc-provider, tests/peers/upstream-oidc.sh) login → Gatehouse's broker callback → a code for
//! the relying party → tokens that carry the mapped username. Once with `kind = "oidc"`, once with
//! `kind = "oauth2"` (the peer's userinfo as `profile_url`), and refused callbacks through the
//! whole stack. The relying party here is scripted, to reach into each step; broker_rp.rs runs a
//! real one (openid-client).
//!
//! Each broker listens on a free port, its own public URL, with a client of its own registered at
//! the upstream for that port (tests/common/upstream.rs).

mod common;

use common::Env;
use common::browser::Browser;
use common::upstream::{
    RP_SECRET, authorize_url, broker, follow, journey, login_page, realm, redeem, reserve, serve,
    upstream,
};
use gatehouse_store::store_test;
use url::Url;

store_test!(
    an_oidc_upstream_login_ends_in_tokens_for_the_mapped_username,
    |store| async move {
        let b = broker(store, "oidc", "jit = true\n", |t| t).await;
        let back = journey(&b, &Browser::new(), "upstream", "alice", "alice-pw", |u| u)
            .await
            .unwrap_or_else(|(s, page)| panic!("{s}:\n{page}\n{}", b.server.logs()));
        let tokens = redeem(&b, &back).await;
        let (claims, userinfo) = (tokens.claims, tokens.userinfo);
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
        let again = journey(&b, &Browser::new(), "upstream", "alice", "alice-pw", |u| u)
            .await
            .unwrap();
        let second = redeem(&b, &again).await.userinfo;
        assert_eq!(second["sub"], userinfo["sub"]);
    }
);

store_test!(
    an_oauth2_upstream_login_links_an_existing_account_by_username,
    |store| async move {
        let b = broker(store, "oauth2", "link_existing = \"username\"\n", |t| t).await;
        b.env.ok_with(
            &["user", "add", "--realm", "main", "alice"],
            "",
            &[RP_SECRET],
        );
        let back = journey(&b, &Browser::new(), "iam", "alice", "alice-pw", |u| u)
            .await
            .unwrap_or_else(|(s, page)| panic!("{s}:\n{page}\n{}", b.server.logs()));
        let userinfo = redeem(&b, &back).await.userinfo;
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
    let b = broker(store, "oidc", "", |t| t).await;
    let (status, page) = journey(&b, &Browser::new(), "upstream", "bob", "bob-pw", |u| u)
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
    let (status, page) = journey(
        &b,
        &Browser::new(),
        "upstream",
        "alice",
        "alice-pw",
        wrong_state,
    )
    .await
    .unwrap_err();
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("expired or was already used"), "{page}");
    assert!(!page.contains("forged"), "{page}");

    // A callback replayed: used once, refused the second time.
    let seen = std::sync::Mutex::new(None);
    let b2 = &b;
    let _ = journey(b2, &Browser::new(), "upstream", "alice", "alice-pw", |u| {
        *seen.lock().unwrap() = Some(u.clone());
        u
    })
    .await;
    let replay = seen.lock().unwrap().clone().unwrap();
    let again = Browser::new().get(&replay).await;
    assert!(again.location.is_none());
    assert!((400..500).contains(&again.status), "{}", again.status);
});

store_test!(
    identifier_first_sends_a_linked_account_upstream,
    |store| async move {
        let b = broker(store, "oidc", "jit = true\n", |t| t).await;
        // First login through the button: alice gets an account linked to the upstream.
        let first = journey(&b, &Browser::new(), "upstream", "alice", "alice-pw", |u| u)
            .await
            .unwrap_or_else(|(s, page)| panic!("{s}:\n{page}"));
        let first = redeem(&b, &first).await.userinfo;
        // Then she types her username: no password asked, the browser goes upstream.
        let browser = Browser::new();
        let page = login_page(&b, &browser).await;
        let mut form = page.form_with("username").expect("the username form");
        form.set("username", "alice");
        let response = browser.post(&page.url, &form).await;
        let to = response.location.clone().expect("a redirect");
        assert!(to.as_str().starts_with(&upstream()), "{to}");
        let back = follow(&browser, response, "alice", "alice-pw", |u| u)
            .await
            .unwrap_or_else(|(s, page)| panic!("{s}:\n{page}"));
        let second = redeem(&b, &back).await.userinfo;
        assert_eq!(second["sub"], first["sub"]);
    }
);

store_test!(auto_redirect_skips_the_login_page, |store| async move {
    let b = broker(store, "oidc", "jit = true\nauto_redirect = true\n", |t| {
        t.replace(
            "chain = [\"upstream\", \"local\"]",
            "chain = [\"upstream\"]",
        )
    })
    .await;
    let browser = Browser::new();
    let response = browser.get(&authorize_url(&b)).await;
    let to = response.location.clone().expect("a redirect");
    assert!(to.as_str().starts_with(&upstream()), "{to}");
    let back = follow(&browser, response, "alice", "alice-pw", |u| u)
        .await
        .unwrap_or_else(|(s, page)| panic!("{s}:\n{page}"));
    let userinfo = redeem(&b, &back).await.userinfo;
    assert_eq!(userinfo["preferred_username"], "alice", "{userinfo}");
});

store_test!(
    a_directory_user_superseded_by_the_upstream_moves_over_at_first_login,
    |store| async move {
        // `iam` supersedes the directory `corp` (never reached: built lazily, at a dead address).
        let (port, client) = reserve().await;
        let text = realm(
            "oauth2",
            &client,
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
        let b = serve(env, port, client).await;
        // `serve` applied supersession at start: the directory-only account is disabled.
        let shown = b.env.ok_with(
            &["user", "show", "--realm", "main", "alice"],
            "",
            &[RP_SECRET],
        );
        assert!(shown.contains("disabled (superseded by iam)"), "{shown}");
        // Her first upstream login links the account by username and restores it.
        let back = journey(&b, &Browser::new(), "iam", "alice", "alice-pw", |u| u)
            .await
            .unwrap_or_else(|(s, page)| panic!("{s}:\n{page}\n{}", b.server.logs()));
        let userinfo = redeem(&b, &back).await.userinfo;
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
        let b = broker(store, "oidc", "link_existing = \"verified_email\"\n", |t| t).await;
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
        let back = journey(&b, &Browser::new(), "upstream", "alice", "alice-pw", |u| u)
            .await
            .unwrap_or_else(|(s, page)| panic!("{s}:\n{page}\n{}", b.server.logs()));
        let userinfo = redeem(&b, &back).await.userinfo;
        assert_eq!(userinfo["preferred_username"], "liddell", "{userinfo}");
        // bob's is not: no account, and `builder` stays unlinked.
        let (status, page) = journey(&b, &Browser::new(), "upstream", "bob", "bob-pw", |u| u)
            .await
            .unwrap_err();
        assert_eq!(status, 403, "{page}");
        let shown = cli(&["user", "show", "--realm", "main", "builder"]);
        assert!(!shown.contains("upstream"), "{shown}");
    }
);
