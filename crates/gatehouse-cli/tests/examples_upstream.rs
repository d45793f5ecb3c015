//! The examples as a new user tries them: config/examples/upstream-oidc.toml and oauth2-iam.toml,
//! unchanged on disk and pointed at the test upstream only the way docs/upstream.md ("Trying the
//! examples") says — a client registered with `tests/peers/upstream-oidc.sh register`, the
//! upstream's URL and that client through environment variables, the account added with the
//! CLI. A real relying party (openid-client) then logs in through each, gets tokens for the mapped
//! username, and logs out of the broker and the upstream.
//!
//! Differences from the doc, both only because tests run side by side: `serve` listens on a free
//! port instead of 8080 (so the registered URIs use that port), and the store is the test's.

mod common;

use std::process::Command;

use common::upstream::{Broker, RelyingParty, UpstreamClient, openid_client, upstream};
use common::{Env, Server, free_port, repo_root};
use gatehouse_store::store_test;

const DEMO_APP_SECRET: &str = "demo-app-secret";

/// `eval "$(tests/peers/upstream-oidc.sh register URI...)"`: the client it registered.
fn register(uris: &[String]) -> UpstreamClient {
    let out = Command::new("bash")
        .arg(repo_root().join("tests/peers/upstream-oidc.sh"))
        .arg("register")
        .args(uris)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "register failed:\n{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let var = |name: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(&format!("export {name}=")))
            .unwrap_or_else(|| panic!("no {name} in:\n{stdout}"))
            .to_owned()
    };
    UpstreamClient {
        id: var("GATEHOUSE_TEST_UPSTREAM_CLIENT_ID"),
        secret: var("GATEHOUSE_TEST_UPSTREAM_CLIENT_SECRET"),
    }
}

/// The example `file`, its provider `provider` registered at the upstream, started with `vars`
/// (made from the upstream's URL and the client) as the doc says.
async fn example(
    store: gatehouse_store::testing::TestStore,
    file: &str,
    provider: &str,
    vars: impl Fn(&str, &UpstreamClient) -> Vec<(String, String)>,
) -> (Broker, Vec<(String, String)>) {
    let port = free_port();
    let public = format!("http://127.0.0.1:{port}");
    let client = register(&[
        format!("{public}/realms/main/broker/{provider}/callback"),
        format!("{public}/realms/main/logged-out"),
    ]);
    let env = Env {
        dir: tempfile::tempdir().unwrap(),
        config: repo_root().join("config/examples").join(file),
        store,
    };
    let mut all = vars(&upstream(), &client);
    all.extend([
        (
            "GATEHOUSE_TEST_UPSTREAM_CLIENT_SECRET".to_owned(),
            client.secret.clone(),
        ),
        (
            "GATEHOUSE_DEMO_APP_SECRET".to_owned(),
            DEMO_APP_SECRET.to_owned(),
        ),
        ("GATEHOUSE_STORE__URL".to_owned(), env.store.url()),
        ("GATEHOUSE_SERVER__PUBLIC_URL".to_owned(), public),
    ]);
    let vars: Vec<(&str, &str)> = all.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    // The doc's step: the account the upstream's user is linked to by username.
    env.ok_with(&["user", "add", "--realm", "main", "alice"], "", &vars);
    let server = Server::start_at(&env, port, &vars).await;
    let b = Broker {
        server,
        env,
        client,
    };
    (b, all)
}

/// `gatehouse user show --realm main alice` with the example's environment.
fn shown(b: &Broker, vars: &[(String, String)]) -> String {
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    b.env
        .ok_with(&["user", "show", "--realm", "main", "alice"], "", &vars)
}

fn demo_app(provider: &str) -> RelyingParty<'_> {
    RelyingParty {
        client_id: "demo-app",
        client_secret: DEMO_APP_SECRET,
        redirect_uri: "http://127.0.0.1:9000/callback",
        post_logout_redirect_uri: "http://127.0.0.1:9000/",
        provider,
    }
}

store_test!(
    the_upstream_oidc_example_logs_in_against_the_test_upstream,
    |store| async move {
        let (b, vars) = example(store, "upstream-oidc.toml", "corp-sso", |op, client| {
            vec![
                (
                    "GATEHOUSE_REALMS__MAIN__PROVIDERS__CORP_SSO__ISSUER".into(),
                    op.to_owned(),
                ),
                (
                    "GATEHOUSE_REALMS__MAIN__PROVIDERS__CORP_SSO__CLIENT_ID".into(),
                    client.id.clone(),
                ),
                ("GATEHOUSE_CORP_SSO_SECRET".into(), client.secret.clone()),
            ]
        })
        .await;
        let result = openid_client(&b, &demo_app("corp-sso"));
        // username_claim = "email", username_regex = '^([^@]+)@example\.org$': alice@example.org
        // is `alice`, linked by username.
        assert_eq!(
            result["login"]["userinfo"]["preferred_username"], "alice",
            "{result}"
        );
        let shown = shown(&b, &vars);
        assert!(shown.contains("corp-sso (oidc): live"), "{shown}");
        // global_logout = true: the logout ended the upstream session too.
        assert_eq!(result["relogin"]["upstream_logins"], 1, "{result}");
    }
);

store_test!(
    the_oauth2_iam_example_logs_in_against_the_test_upstream,
    |store| async move {
        let (b, vars) = example(store, "oauth2-iam.toml", "iam", |op, client| {
            let key = |k: &str| format!("GATEHOUSE_REALMS__MAIN__PROVIDERS__IAM__{k}");
            vec![
                (key("AUTH_URL"), format!("{op}/auth")),
                (key("TOKEN_URL"), format!("{op}/token")),
                (key("PROFILE_URL"), format!("{op}/api/v1/me")),
                (key("CLIENT_ID"), client.id.clone()),
                (
                    key("CLIENT_SECRET"),
                    "env:GATEHOUSE_TEST_UPSTREAM_CLIENT_SECRET".into(),
                ),
                (
                    key("LOGOUT_URL"),
                    format!(
                        "{op}/session/end?client_id={}&post_logout_redirect_uri={{return_to}}",
                        client.id
                    ),
                ),
            ]
        })
        .await;
        let result = openid_client(&b, &demo_app("iam"));
        // id_claim = "user.id", username_claim = "user.login" of the profile JSON.
        assert_eq!(
            result["login"]["userinfo"]["preferred_username"], "alice",
            "{result}"
        );
        let shown = shown(&b, &vars);
        assert!(shown.contains("iam (oauth2): live"), "{shown}");
        assert_eq!(result["relogin"]["upstream_logins"], 1, "{result}");
    }
);
