//! Real relying parties against `gatehouse serve`: npm `openid-client` and PyPI `authlib`
//! (tests/rp/, installed by tests/peers/rp-clients.sh) each know only the issuer URL, a client id
//! and secret, and run the whole code + PKCE flow as a database user made with the CLI — the
//! login page filled over plain HTTP — then userinfo, refresh, introspection, revocation and
//! RP-initiated logout; then every refusal with its RFC error code and nothing issued.

mod common;

use std::process::Command;

use common::rp::{self, node, python, rp_clients};
use common::{Env, OIDC_REALM, OIDC_SECRETS, Server, free_port};
use gatehouse_store::store_test;
use serde_json::Value;

const USER: &str = "alice";
const PASSWORD: &str = "alice: Correct horse battery 1";
const EMAIL: &str = "alice@example.org";
const REDIRECT_URI: &str = "http://127.0.0.1:9/callback";
const POST_LOGOUT_REDIRECT_URI: &str = "http://127.0.0.1:9/logged-out";

// Fields drop in order: the server stops before its store goes away.
struct Provider {
    server: Server,
    _env: Env,
    sub: String,
}

impl Provider {
    fn issuer(&self, realm: &str) -> String {
        format!("{}/realms/{realm}", self.server.base)
    }
}

/// Alice in realms `main` and `short` (created with the CLI), and `gatehouse serve` whose public
/// URL is its own address, so the issuer is what the relying parties reach.
async fn provider(store: gatehouse_store::testing::TestStore) -> Provider {
    let env = Env::new(store, OIDC_REALM);
    for realm in ["main", "short"] {
        env.ok_with(
            &[
                "user",
                "add",
                "--realm",
                realm,
                USER,
                "--email",
                EMAIL,
                "--name",
                "Alice Liddell",
            ],
            "",
            &OIDC_SECRETS,
        );
        env.ok_with(
            &["user", "set-password", "--realm", realm, USER],
            &format!("{PASSWORD}\n"),
            &OIDC_SECRETS,
        );
    }
    let shown = env.ok_with(
        &["user", "show", "--realm", "main", USER],
        "",
        &OIDC_SECRETS,
    );
    let sub = shown
        .lines()
        .find_map(|l| l.strip_prefix("id:"))
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|| panic!("no id in `user show`:\n{shown}"));
    let port = free_port();
    let public_url = format!("http://127.0.0.1:{port}");
    let mut vars: Vec<(&str, &str)> = OIDC_SECRETS.to_vec();
    vars.push(("GATEHOUSE_SERVER__PUBLIC_URL", &public_url));
    let server = Server::start_at(&env, port, &vars).await;
    Provider {
        server,
        _env: env,
        sub,
    }
}

/// Runs a relying-party script for `client_id` against the realms of [`provider`].
fn run_rp(cmd: Command, p: &Provider, client_id: &str, secret_var: &str) -> Value {
    let (issuer, short_issuer) = (p.issuer("main"), p.issuer("short"));
    rp::run_rp(
        cmd,
        &p.server,
        &[
            ("RP_ISSUER", &issuer),
            ("RP_SHORT_ISSUER", &short_issuer),
            ("RP_CLIENT_ID", client_id),
            ("RP_CLIENT_SECRET", secret_of(secret_var)),
            ("RP_REDIRECT_URI", REDIRECT_URI),
            ("RP_POST_LOGOUT_REDIRECT_URI", POST_LOGOUT_REDIRECT_URI),
            ("RP_USERNAME", USER),
            ("RP_PASSWORD", PASSWORD),
            ("RP_PUBLIC_CLIENT_ID", "spa"),
            ("RP_SERVICE_CLIENT_ID", "service"),
            ("RP_SERVICE_CLIENT_SECRET", secret_of("SERVICE_SECRET")),
            ("RP_PASSWORD_CLIENT_ID", "legacy"),
            ("RP_PASSWORD_CLIENT_SECRET", secret_of("LEGACY_SECRET")),
        ],
    )
}

fn secret_of(var: &str) -> &'static str {
    OIDC_SECRETS
        .iter()
        .find(|(k, _)| *k == var)
        .map(|(_, v)| *v)
        .unwrap()
}

/// What both libraries must have seen.
fn assert_flow(result: &Value, p: &Provider, client_id: &str) {
    let flow = &result["flow"];
    let context = || serde_json::to_string_pretty(flow).unwrap();
    assert_eq!(flow["ok"], true, "{}", context());
    let id = &flow["id_token"];
    assert_eq!(id["iss"], p.issuer("main"), "{}", context());
    assert_eq!(
        id["sub"],
        p.sub.as_str(),
        "sub is the account id: {}",
        context()
    );
    let aud_ok = id["aud"] == client_id
        || id["aud"]
            .as_array()
            .is_some_and(|a| a.iter().any(|v| v == client_id));
    assert!(aud_ok, "aud: {}", context());
    assert_eq!(id["preferred_username"], USER, "{}", context());
    assert_eq!(id["email"], EMAIL, "{}", context());
    assert_eq!(id["amr"], serde_json::json!(["pwd"]), "{}", context());
    assert_eq!(
        id["acr"],
        "1",
        "the implicit default policy's level: {}",
        context()
    );
    for claim in ["exp", "iat", "auth_time", "nonce", "sid"] {
        assert!(
            !id[claim].is_null(),
            "ID token without `{claim}`: {}",
            context()
        );
    }
    assert_eq!(flow["userinfo"]["sub"], p.sub.as_str(), "{}", context());
    assert_eq!(flow["userinfo"]["email"], EMAIL, "{}", context());
    let typ = flow["access_token_header"]["typ"]
        .as_str()
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(
        typ == "at+jwt" || typ == "application/at+jwt",
        "access token typ (RFC 9068): {}",
        context()
    );
    assert_eq!(flow["refresh_rotated"], true, "{}", context());
    assert_eq!(
        flow["introspection_active"]["active"],
        true,
        "{}",
        context()
    );
    assert_eq!(
        flow["introspection_after_revocation"]["active"],
        false,
        "{}",
        context()
    );
    assert_eq!(
        flow["prompt_none_after_logout"]["error"],
        "login_required",
        "{}",
        context()
    );
    assert!(
        flow["logout_redirect"]
            .as_str()
            .is_some_and(|u| u.starts_with(POST_LOGOUT_REDIRECT_URI)),
        "{}",
        context()
    );
}

/// Each refusal case ran (not skipped), passed, and answered the RFC's code.
fn assert_cases(result: &Value, expected: &[(&str, Option<&str>)]) {
    let cases = &result["cases"];
    for (name, code) in expected {
        let case = &cases[*name];
        let context = serde_json::to_string_pretty(case).unwrap();
        assert_eq!(
            case["ok"], true,
            "{} case {name}: {context}",
            result["library"]
        );
        assert!(
            case["skipped"].is_null(),
            "case {name} was skipped: {context}"
        );
        if let Some(code) = code {
            assert_eq!(case["error"], *code, "case {name}: {context}");
        }
    }
}

/// Secrets never reach a log line.
fn assert_logs_clean(p: &Provider) {
    let logs = p.server.logs();
    assert!(!logs.contains(PASSWORD), "the password is in the log");
    for (var, secret) in OIDC_SECRETS {
        assert!(!logs.contains(secret), "{var} is in the log");
    }
}

store_test!(
    openid_client_logs_in_and_is_refused_by_the_rfc,
    |store| async move {
        rp_clients();
        let p = provider(store).await;
        let result =
            tokio::task::block_in_place(|| run_rp(node(), &p, "node-rp", "NODE_RP_SECRET"));
        assert_eq!(result["library"], "openid-client");
        assert_flow(&result, &p, "node-rp");
        assert_cases(
            &result,
            &[
                ("wrong_redirect_uri", None),
                ("missing_code_verifier", Some("invalid_grant")),
                ("wrong_code_verifier", Some("invalid_grant")),
                ("replayed_code", Some("invalid_grant")),
                ("reused_refresh_token", Some("invalid_grant")),
                ("wrong_client_secret", Some("invalid_client")),
                ("expired_code", Some("invalid_grant")),
                ("password_grant_not_allowed", Some("unauthorized_client")),
                ("password_grant_allowed", None),
                ("client_credentials", None),
                ("public_client", None),
            ],
        );
        assert_eq!(result["cases"]["wrong_redirect_uri"]["status"], 400);
        assert_eq!(result["cases"]["wrong_client_secret"]["status"], 401);
        assert_eq!(
            result["cases"]["replayed_code"]["first_access_token_active_after"],
            false
        );
        assert_eq!(
            result["cases"]["reused_refresh_token"]["newest_refresh_token_active"],
            false
        );
        // openid-client read the level from discovery and from the ID token of a forced login.
        let flow = &result["flow"];
        assert_eq!(
            flow["discovery"]["acr_values_supported"],
            serde_json::json!(["1"])
        );
        assert_eq!(flow["discovery"]["claims_parameter_supported"], true);
        let reauth = &flow["max_age_id_token"];
        assert_eq!(reauth["acr"], "1", "{flow}");
        assert_eq!(reauth["amr"], serde_json::json!(["pwd"]), "{flow}");
        assert!(
            reauth["auth_time"].as_i64().unwrap()
                >= flow["id_token"]["auth_time"].as_i64().unwrap(),
            "{flow}"
        );
        assert_logs_clean(&p);
    }
);

store_test!(
    authlib_logs_in_and_is_refused_by_the_rfc,
    |store| async move {
        rp_clients();
        let p = provider(store).await;
        let result = tokio::task::block_in_place(|| run_rp(python(), &p, "py-rp", "PY_RP_SECRET"));
        assert_eq!(result["library"], "authlib");
        assert_flow(&result, &p, "py-rp");
        assert_cases(
            &result,
            &[
                ("wrong_redirect_uri", None),
                ("missing_code_verifier", Some("invalid_grant")),
                ("wrong_code_verifier", Some("invalid_grant")),
                ("replayed_code", Some("invalid_grant")),
                ("reused_refresh_token", Some("invalid_grant")),
                ("wrong_client_secret", Some("invalid_client")),
                ("expired_code", Some("invalid_grant")),
                ("password_grant_not_allowed", Some("unauthorized_client")),
                ("password_grant_allowed", None),
            ],
        );
        assert_eq!(result["cases"]["wrong_client_secret"]["status"], 401);
        assert_logs_clean(&p);
    }
);
