use super::*;

const MINIMAL: &str = r#"
[server]
listen = "127.0.0.1:8080"
public_url = "http://127.0.0.1:8080"
[store]
url = "sqlite://gatehouse.db?mode=rwc"
[realms.main]
chain = ["local"]
on_unavailable = "next"
usernames_case_sensitive = false
[[realms.main.providers]]
id = "local"
kind = "database"
"#;

fn load(text: &str) -> Result<Config, ConfigError> {
    Config::from_toml(text, "test.toml", Vec::new())
}

fn load_env(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
    Config::from_toml(text, "test.toml", env)
}

fn problem(text: &str) -> String {
    load(text).unwrap_err().to_string()
}

#[test]
fn the_issue_contract_and_the_shipped_file_load() {
    let config = load(MINIMAL).unwrap();
    let realm = config.realm("main").unwrap();
    assert_eq!(realm.chain, vec!["local"]);
    assert!(realm.provider("local").unwrap().enabled);
    let shipped =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/gatehouse.toml");
    Config::from_toml(
        &std::fs::read_to_string(shipped).unwrap(),
        "shipped",
        Vec::new(),
    )
    .unwrap();
}

#[test]
fn unknown_keys_are_refused_with_their_path() {
    let err = problem(&format!("{MINIMAL}\n[server.extra]\n"));
    assert!(err.contains("server"), "{err}");
    let err = problem(&MINIMAL.replace("usernames_case_sensitive", "usernames_case_sensitiv"));
    assert!(err.contains("realms.main"), "{err}");
    assert!(err.contains("usernames_case_sensitiv"), "{err}");
    assert!(err.contains("remove it or correct its spelling"), "{err}");
    let err = problem(&format!("{MINIMAL}colour = \"blue\"\n"));
    assert!(err.contains("realms.main.providers[0]"), "{err}");
    assert!(err.contains("colour"), "{err}");
    let err = problem(&format!("{MINIMAL}argon2 = {{ memory = 1 }}\n"));
    assert!(err.contains("memory"), "{err}");
}

#[test]
fn a_chain_naming_a_missing_provider_names_the_key_and_the_fix() {
    let err = problem(&MINIMAL.replace(r#"chain = ["local"]"#, r#"chain = ["local", "corp"]"#));
    assert!(err.contains("realms.main.chain[1]"), "{err}");
    assert!(err.contains("no provider `corp`"), "{err}");
    assert!(err.contains("[[realms.main.providers]]"), "{err}");
}

#[test]
fn an_unreadable_secret_file_names_the_key_and_the_file() {
    let err = problem(&MINIMAL.replace(
        r#"url = "sqlite://gatehouse.db?mode=rwc""#,
        r#"url = "file:/nonexistent/store-url""#,
    ));
    assert!(err.contains("store.url"), "{err}");
    assert!(err.contains("/nonexistent/store-url"), "{err}");
}

#[test]
fn secrets_never_appear_in_errors_or_debug_output() {
    let text = MINIMAL.replace(
        r#"url = "sqlite://gatehouse.db?mode=rwc""#,
        r#"url = "mysql://root:topsecret@db/x""#,
    );
    let err = problem(&text);
    assert!(err.contains("store.url"), "{err}");
    assert!(!err.contains("topsecret"), "{err}");
    let config = load(MINIMAL).unwrap();
    assert!(!format!("{config:?}").contains("gatehouse.db"));
}

#[test]
fn environment_overrides_any_value() {
    let config = load_env(
        MINIMAL,
        &[
            ("GATEHOUSE_SERVER__LISTEN", "127.0.0.1:9999"),
            ("GATEHOUSE_STORE__URL", "postgres://db/gatehouse"),
            ("GATEHOUSE_REALMS__MAIN__PROVIDERS__LOCAL__ENABLED", "false"),
            (
                "GATEHOUSE_REALMS__MAIN__PROVIDERS__LOCAL__ARGON2__ITERATIONS",
                "3",
            ),
        ],
    )
    .unwrap();
    assert_eq!(config.server.listen, "127.0.0.1:9999");
    assert_eq!(config.store.url.expose(), "postgres://db/gatehouse");
    let local = config.realm("main").unwrap().provider("local").unwrap();
    assert!(!local.enabled);
    let ProviderSettings::Database(db) = &local.settings else {
        panic!("local is a database provider");
    };
    assert_eq!(db.argon2.iterations, 3);
}

#[test]
fn an_unknown_key_from_the_environment_names_the_variable() {
    let err = load_env(MINIMAL, &[("GATEHOUSE_SERVER__LISTN", "x")])
        .unwrap_err()
        .to_string();
    assert!(err.contains("GATEHOUSE_SERVER__LISTN"), "{err}");
    assert!(err.contains("listn"), "{err}");
}

#[test]
fn every_problem_is_reported_at_once() {
    let text = r#"
[server]
listen = "nowhere"
public_url = "ftp://x"
[realms.main]
chain = ["a", "a", "ghost"]
[[realms.main.providers]]
id = "a"
kind = "database"
supersedes = ["a", "kerberos"]
argon2 = { memory_kib = 1 }
[[realms.main.providers]]
id = "a"
kind = "database"
"#;
    let err = load(text).unwrap_err();
    let keys: Vec<_> = err.problems.iter().map(|p| p.key.as_str()).collect();
    for key in [
        "server.listen",
        "server.public_url",
        "realms.main.providers[1].id",
        "realms.main.chain[1]",
        "realms.main.chain[2]",
        "realms.main.providers[0].supersedes[0]",
        "realms.main.providers[0].supersedes[1]",
        "realms.main.providers[0]",
    ] {
        assert!(keys.contains(&key), "missing {key} in {keys:?}");
    }
}

#[test]
fn unknown_kinds_are_refused_by_name_and_every_kind_is_built() {
    let err = problem(&MINIMAL.replace(r#"kind = "database""#, r#"kind = "kerberos""#));
    assert!(err.contains("unknown kind `kerberos`"), "{err}");
    assert!(
        err.contains("offers `database`, `ldap`, `oidc`, `oauth2` and `saml`"),
        "{err}"
    );
    // `saml` is a kind of this build: without its required keys it names them.
    let err = problem(&MINIMAL.replace(r#"kind = "database""#, r#"kind = "saml""#));
    assert!(err.contains("idp_metadata_url"), "{err}");
}

#[test]
fn a_realm_needs_a_chain_and_a_config_needs_a_realm() {
    let err = problem("[server]\n");
    assert!(err.contains("realms: no realm is configured"), "{err}");
    let err = problem(&MINIMAL.replace(r#"chain = ["local"]"#, "chain = []"));
    assert!(
        err.contains("realms.main.chain: the chain is empty"),
        "{err}"
    );
    let err = problem(&MINIMAL.replace("chain = [\"local\"]\n", ""));
    assert!(err.contains("chain"), "{err}");
}

#[test]
fn pool_settings_have_safe_defaults_and_are_checked_by_key() {
    let pool = load(MINIMAL).unwrap().store.pool_settings();
    assert_eq!(pool, gatehouse_store::PoolSettings::default());
    assert_eq!(pool.acquire_timeout, std::time::Duration::from_secs(1));
    let with = |line: &str| MINIMAL.replace("[realms.main]\n", &format!("{line}\n[realms.main]\n"));
    let config = load_env(
        &with("acquire_timeout_ms = 500"),
        &[("GATEHOUSE_STORE__MAX_CONNECTIONS", "4")],
    )
    .unwrap();
    let pool = config.store.pool_settings();
    assert_eq!(pool.acquire_timeout, std::time::Duration::from_millis(500));
    assert_eq!(pool.max_connections, Some(4));
    let err = problem(&with("acquire_timeout_ms = 0"));
    assert!(err.contains("store.acquire_timeout_ms"), "{err}");
    let err = problem(&with("max_connections = 0"));
    assert!(err.contains("store.max_connections"), "{err}");
    let err = problem(&with("acquire_timeout = 5"));
    assert!(err.contains("acquire_timeout"), "{err}");
}

#[test]
fn display_keys_are_checked_and_the_account_client_id_is_reserved() {
    let realm_keys = |keys: &str| {
        MINIMAL.replace(
            "[[realms.main.providers]]",
            &format!("{keys}\n[[realms.main.providers]]"),
        )
    };
    let config = load(&realm_keys(
        "display_name = \"Example Corp\"\nlogo_url = \"https://example.org/logo.svg\"\nprimary_color = \"#0f766e\"\nhelp_url = \"mailto:help@example.org\"",
    ))
    .unwrap();
    let realm = config.realm("main").unwrap();
    assert_eq!(realm.display_name.as_deref(), Some("Example Corp"));
    assert_eq!(realm.primary_color.as_deref(), Some("#0f766e"));
    let err = problem(&realm_keys("primary_color = \"red; background: url(x)\""));
    assert!(err.contains("realms.main.primary_color"), "{err}");
    let err = problem(&realm_keys("logo_url = \"javascript:alert(1)\""));
    assert!(err.contains("realms.main.logo_url"), "{err}");
    let err = problem(&realm_keys("help_url = \"ftp://example.org/\""));
    assert!(err.contains("realms.main.help_url"), "{err}");
    let err = problem(&realm_keys("display_name = \" \""));
    assert!(err.contains("realms.main.display_name"), "{err}");
    let err = problem(&format!(
        "{MINIMAL}[[realms.main.clients]]\nclient_id = \"account\"\nredirect_uris = [\"https://x.example/cb\"]\n"
    ));
    assert!(err.contains("realms.main.clients[0].client_id"), "{err}");
    assert!(err.contains("built-in account page"), "{err}");
}
