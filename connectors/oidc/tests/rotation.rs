//! The real upstream rotates its signing key between two logins: the connector, holding the old
//! key set in its cache, must fetch the new one (once) and accept the new key's ID token. The test
//! starts an upstream of its own (tests/peers/upstream-oidc.sh, under the run's state root), so
//! the rotation disturbs no other test.

#[path = "../../oauth2/tests/peer/mod.rs"]
mod peer;

use gatehouse_connector_oidc::{OidcProvider, OidcSettings, http_client};
use gatehouse_core::{ProviderKind, RedirectProvider};
use peer::{CALLBACK, Instance, login};

async fn kids(op: &str) -> Vec<String> {
    let jwks: serde_json::Value = reqwest::get(format!("{op}/jwks"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_login_after_the_upstream_rotates_its_key_is_accepted() {
    // Like every peer test, this runs under tests/run (which also stops stray instances at exit).
    peer::upstream_url();
    peer::init();
    let op = Instance::start(&format!("rotation{}", std::process::id()));
    let settings: OidcSettings = toml::from_str(&format!(
        "issuer = \"{}\"\nclient_id = \"broker\"\nclient_secret = \"broker-secret\"",
        op.url
    ))
    .unwrap();
    let p = OidcProvider::new(
        peer::descriptor(ProviderKind::Oidc),
        settings,
        http_client().unwrap(),
    )
    .unwrap();

    let sign_in = async || {
        let start = p.begin(CALLBACK).await.unwrap();
        let params = login(&start.location, "alice", "alice-pw").await;
        p.complete(&start.pending, CALLBACK, &params).await
    };
    assert_eq!(sign_in().await.unwrap().external_id, "alice");
    assert_eq!(p.jwks_fetches(), 1);

    let before = kids(&op.url).await;
    op.rotate();
    let after = kids(&op.url).await;
    assert!(
        after.iter().all(|k| !before.contains(k)),
        "no new kid: {before:?} → {after:?}"
    );

    assert_eq!(sign_in().await.unwrap().external_id, "alice");
    assert_eq!(p.jwks_fetches(), 2, "the new kid was fetched, once");
    assert_eq!(sign_in().await.unwrap().external_id, "alice");
    assert_eq!(p.jwks_fetches(), 2);
}
