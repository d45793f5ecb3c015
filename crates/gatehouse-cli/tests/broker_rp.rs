//! A real relying party through the broker: npm `openid-client` (tests/rp/openid_client_broker.mjs)
//! → `gatehouse serve` → the login at the upstream peer (node oidc-provider) → Gatehouse's broker
//! callback → Gatehouse's tokens, checked by the library, carrying the username the provider
//! mapped; then RP-initiated logout at Gatehouse and a second login, which shows whether the
//! upstream session was ended too. Once per kind: `oidc` (with and without `global_logout`) and
//! `oauth2` (the peer's userinfo as `profile_url`, its end_session as `logout_url`).

mod common;

use common::Env;
use common::upstream::{
    Broker, RP_CALLBACK, RP_LOGGED_OUT, RP_SECRET, RelyingParty, UpstreamClient, openid_client,
    provider_id, realm, reserve, serve, upstream,
};
use gatehouse_store::store_test;
use serde_json::Value;

/// The relying party's whole run against `b`'s client `rp`, as alice.
fn relying_party(b: &Broker, provider: &str) -> Value {
    openid_client(
        b,
        &RelyingParty {
            client_id: "rp",
            client_secret: RP_SECRET.1,
            redirect_uri: RP_CALLBACK,
            post_logout_redirect_uri: RP_LOGGED_OUT,
            provider,
        },
    )
}

/// A broker for `kind` whose username comes from the upstream's `email` (so the tokens show the
/// mapping, not the upstream's own `preferred_username`), accounts made just in time.
async fn broker(store: gatehouse_store::testing::TestStore, kind: &str, logout: bool) -> Broker {
    let (port, client) = reserve().await;
    let extra = format!(
        "jit = true\n{}",
        match (kind, logout) {
            (_, false) => String::new(),
            ("oidc", true) => "global_logout = true\n".to_owned(),
            (_, true) => oauth2_logout_url(&client),
        }
    );
    let text = realm(kind, &client, &extra).replace(
        "username_claim = \"preferred_username\"",
        "username_claim = \"email\"",
    );
    serve(Env::new(store, &text), port, client).await
}

fn oauth2_logout_url(client: &UpstreamClient) -> String {
    format!(
        "logout_url = \"{}/session/end?client_id={}&post_logout_redirect_uri={{return_to}}\"\n",
        upstream(),
        client.id
    )
}

fn check_login(result: &Value) {
    let login = &result["login"];
    assert_eq!(
        login["userinfo"]["preferred_username"], "alice@example.org",
        "{login}"
    );
    assert_eq!(login["claims"]["amr"][0], "fed", "{login}");
}

store_test!(
    openid_client_logs_in_through_an_oidc_upstream_and_out_of_both,
    |store| async move {
        let b = broker(store, "oidc", true).await;
        let result = relying_party(&b, provider_id("oidc"));
        check_login(&result);
        let trace = result["logout"]["trace"].to_string();
        assert!(trace.contains("upstream/session/end"), "{trace}");
        // The upstream session was ended: the second login asks for the password again.
        assert_eq!(result["relogin"]["upstream_logins"], 1, "{result}");
    }
);

store_test!(
    openid_client_logout_leaves_the_upstream_without_global_logout,
    |store| async move {
        let b = broker(store, "oidc", false).await;
        let result = relying_party(&b, provider_id("oidc"));
        check_login(&result);
        let trace = result["logout"]["trace"].to_string();
        assert!(!trace.contains("upstream/"), "{trace}");
        // Still logged in upstream: back without a password.
        assert_eq!(result["relogin"]["upstream_logins"], 0, "{result}");
    }
);

store_test!(
    openid_client_logs_in_through_an_oauth2_upstream_and_out_of_both,
    |store| async move {
        let b = broker(store, "oauth2", true).await;
        let result = relying_party(&b, provider_id("oauth2"));
        check_login(&result);
        assert_eq!(result["relogin"]["upstream_logins"], 1, "{result}");
    }
);
