//! A directory user signs in to an application: `config/examples/ldap.toml`, adapted to the
//! project's OpenLDAP (tests/peers/slapd.sh, fixtures/ldap/) the way its comments tell an
//! administrator to, plus one OpenID Connect client. npm `openid-client` (tests/rp/) runs the
//! code and PKCE flow through the login page as that user, and the ID token and userinfo carry the
//! directory groups and the roles `group_roles` maps them to. Runs on SQLite and on PostgreSQL.

mod common;

use common::rp::{node, rp_clients, run_rp};
use common::{Env, Server, free_port, repo_root};
use gatehouse_store::store_test;
use gatehouse_store::testing::TestStore;
use serde_json::{Value, json};

const SVC: (&str, &str) = ("CORP_LDAP_PASSWORD", "svc-pw");
const RP_SECRET: (&str, &str) = ("LDAP_RP_SECRET", "ldap-rp-secret-0123456789");
const REDIRECT_URI: &str = "http://127.0.0.1:9/callback";
const POST_LOGOUT_REDIRECT_URI: &str = "http://127.0.0.1:9/logged-out";

/// The application the directory users sign in to.
const CLIENT: &str = r#"
[[realms.main.clients]]
client_id = "ldap-rp"
client_secret = "env:LDAP_RP_SECRET"
redirect_uris = ["http://127.0.0.1:9/callback"]
post_logout_redirect_uris = ["http://127.0.0.1:9/logged-out"]
grant_types = ["authorization_code", "refresh_token"]
scopes = ["openid", "profile", "email", "groups", "offline_access"]
"#;

fn peer_var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: these tests need the project's OpenLDAP peer; run the suite with \
             tests/run (it starts tests/peers/slapd.sh), or eval \"$(tests/peers/slapd.sh start)\""
        )
    })
}

/// `text` with the one line `from` replaced by `to`: a change to the example that this test no
/// longer matches fails here rather than testing something else.
fn adapt(text: &str, from: &str, to: &str) -> String {
    assert_eq!(
        text.matches(from).count(),
        1,
        "config/examples/ldap.toml no longer has the line `{from}` once"
    );
    text.replacen(from, to, 1)
}

/// The example as an administrator adapts it to this directory: its LDAPS URL and CA, its service
/// account, its developers' group name; the store of the test; and the application's client.
fn adapted_example(store: &TestStore) -> String {
    let example = std::fs::read_to_string(repo_root().join("config/examples/ldap.toml")).unwrap();
    let mut text = adapt(
        &example,
        r#"url = "sqlite://gatehouse.db?mode=rwc""#,
        &format!("url = \"{}\"", store.url()),
    );
    text = adapt(
        &text,
        r#"urls = ["ldaps://ldap1.example.org", "ldaps://ldap2.example.org"]"#,
        &format!("urls = [\"{}\"]", peer_var("GATEHOUSE_TEST_LDAP_TLS_URL")),
    );
    text = adapt(
        &text,
        r#"ca_file = "/etc/ssl/certs/corp-ldap-ca.pem""#,
        &format!("ca_file = \"{}\"", peer_var("GATEHOUSE_TEST_LDAP_CA")),
    );
    text = adapt(
        &text,
        r#"bind_dn = "cn=gatehouse,ou=services,dc=example,dc=org""#,
        r#"bind_dn = "cn=svc-broker,ou=services,dc=example,dc=org""#,
    );
    text = adapt(
        &text,
        r#"developers = ["developer", "deployer"]"#,
        r#"devs = ["developer", "deployer"]"#,
    );
    text + CLIENT
}

// Fields drop in order: the server stops before its store goes away.
struct Broker {
    server: Server,
    env: Env,
}

impl Broker {
    async fn start(store: TestStore) -> Broker {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("gatehouse.toml");
        std::fs::write(&config, adapted_example(&store)).unwrap();
        let env = Env { dir, config, store };
        // The adapted file passes the same validation `serve` runs.
        let checked = env.run_with(&["check-config"], "", &[SVC, RP_SECRET]);
        assert_eq!(checked.code(), 0, "{}", checked.all());
        let port = free_port();
        let public_url = format!("http://127.0.0.1:{port}");
        let server = Server::start_at(
            &env,
            port,
            &[
                SVC,
                RP_SECRET,
                ("GATEHOUSE_SERVER__PUBLIC_URL", public_url.as_str()),
            ],
        )
        .await;
        Broker { server, env }
    }

    /// openid-client's whole flow (no refusal cases) as `user`; the JSON it saw.
    fn sign_in(&self, user: &str, password: &str) -> Value {
        let issuer = format!("{}/realms/main", self.server.base);
        let result = run_rp(
            node(),
            &self.server,
            &[
                ("RP_ISSUER", issuer.as_str()),
                ("RP_CLIENT_ID", "ldap-rp"),
                ("RP_CLIENT_SECRET", RP_SECRET.1),
                ("RP_REDIRECT_URI", REDIRECT_URI),
                ("RP_POST_LOGOUT_REDIRECT_URI", POST_LOGOUT_REDIRECT_URI),
                ("RP_USERNAME", user),
                ("RP_PASSWORD", password),
                ("RP_SCOPE", "openid profile email groups offline_access"),
                ("RP_CASES", "flow"),
            ],
        );
        assert_eq!(result["library"], "openid-client");
        assert_eq!(result["flow"]["ok"], true, "{result:#}");
        assert_eq!(result["flow"]["id_token"]["iss"], issuer, "{result:#}");
        result
    }

    /// `gatehouse user show` of the account the directory login made.
    fn show(&self, user: &str) -> String {
        self.env.ok_with(
            &["user", "show", "--realm", "main", user],
            "",
            &[SVC, RP_SECRET],
        )
    }
}

fn field(shown: &str, name: &str) -> String {
    shown
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|| panic!("no `{name}` in `user show`:\n{shown}"))
}

/// The claims a relying party reads about `user`, in the ID token and at userinfo alike.
fn assert_claims(
    result: &Value,
    sub: &str,
    user: &str,
    email: &str,
    groups: &[&str],
    roles: &[&str],
) {
    let flow = &result["flow"];
    for (what, claims) in [
        ("ID token", &flow["id_token"]),
        ("userinfo", &flow["userinfo"]),
    ] {
        let context = serde_json::to_string_pretty(claims).unwrap();
        assert_eq!(claims["sub"], sub, "{what}: {context}");
        assert_eq!(claims["preferred_username"], user, "{what}: {context}");
        assert_eq!(claims["email"], email, "{what}: {context}");
        assert_eq!(claims["groups"], json!(groups), "{what}: {context}");
        assert_eq!(claims["roles"], json!(roles), "{what}: {context}");
    }
}

store_test!(
    a_directory_user_signs_in_through_openid_client_with_groups_and_roles,
    |store| async move {
        rp_clients();
        let broker = Broker::start(store).await;

        // alice: groupOfNames by DN; `admins` maps to `admin`, `staff` to nothing.
        let alice = tokio::task::block_in_place(|| broker.sign_in("alice", "alice-pw"));
        let shown = broker.show("alice");
        // The account came from the directory just in time; its link holds the entryUUID.
        let link = shown
            .lines()
            .find_map(|l| l.trim().strip_prefix("corp (ldap): live; external id "))
            .unwrap_or_else(|| panic!("no live corp link in:\n{shown}"));
        assert!(
            link.len() == 36 && link.matches('-').count() == 4,
            "external id is not an entryUUID: {link}"
        );
        assert_claims(
            &alice,
            &field(&shown, "id"),
            "alice",
            "alice@example.org",
            &["admins", "staff"],
            &["admin"],
        );
        assert_eq!(alice["flow"]["id_token"]["name"], "Alice Liddell");

        // carol: a posixGroup by memberUid (`devs`, two roles) and nested groups with a cycle.
        let carol = tokio::task::block_in_place(|| broker.sign_in("carol", "carol-pw"));
        assert_claims(
            &carol,
            &field(&broker.show("carol"), "id"),
            "carol",
            "carol@example.org",
            &["devs", "engineering", "everyone-eng", "platform"],
            &["deployer", "developer"],
        );

        let logs = broker.server.logs();
        for secret in ["alice-pw", "carol-pw", SVC.1, RP_SECRET.1] {
            assert!(!logs.contains(secret), "a secret is in the log");
        }
    }
);
