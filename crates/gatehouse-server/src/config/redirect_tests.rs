//! The shared keys of redirect providers (`oidc`, `oauth2`, `saml`) and their refusal elsewhere.

use super::*;
use gatehouse_core::ProviderKind;

const BASE: &str = r#"
[realms.main]
chain = ["sso", "local"]
[[realms.main.providers]]
id = "local"
kind = "database"
[[realms.main.providers]]
id = "sso"
kind = "oidc"
issuer = "https://login.example.org/realms/corp"
client_id = "gatehouse"
"#;

fn load(text: &str) -> Result<Config, ConfigError> {
    Config::from_toml(text, "test.toml", Vec::new())
}

fn problem(text: &str) -> String {
    load(text).unwrap_err().to_string()
}

#[test]
fn oidc_and_oauth2_load_with_the_redirect_defaults() {
    let config = load(BASE).unwrap();
    let sso = config.realm("main").unwrap().provider("sso").unwrap();
    assert_eq!(sso.kind(), ProviderKind::Oidc);
    assert_eq!(sso.redirect, RedirectOptions::default());
    assert_eq!(sso.redirect.link_existing, LinkExisting::Never);
    assert!(!sso.descriptor().jit);

    let oauth2 = BASE.replace(
        "kind = \"oidc\"\nissuer = \"https://login.example.org/realms/corp\"",
        "kind = \"oauth2\"\nauth_url = \"https://iam.example.org/a\"\ntoken_url = \"https://iam.example.org/t\"\nprofile_url = \"https://iam.example.org/me\"",
    );
    let config = load(&oauth2).unwrap();
    let sso = config.realm("main").unwrap().provider("sso").unwrap();
    assert_eq!(sso.kind(), ProviderKind::Oauth2);
}

#[test]
fn the_shared_redirect_keys_are_parsed_beside_id_and_kind() {
    let text = format!(
        "{BASE}jit = true\nlink_existing = \"verified_email\"\nauto_redirect = true\nsupersedes = [\"ldap\"]\n"
    );
    let config = load(&text).unwrap();
    let sso = config.realm("main").unwrap().provider("sso").unwrap();
    assert_eq!(
        sso.redirect,
        RedirectOptions {
            jit: true,
            link_existing: LinkExisting::VerifiedEmail,
            auto_redirect: true,
        }
    );
    assert!(sso.descriptor().jit);
    assert_eq!(sso.supersedes, vec!["ldap"]);
}

#[test]
fn a_wrong_link_existing_value_names_the_provider_and_the_choices() {
    let err = problem(&format!("{BASE}link_existing = \"email\"\n"));
    assert!(err.contains("provider `sso` (oidc)"), "{err}");
    assert!(err.contains("email"), "{err}");
    assert!(err.contains("verified_email"), "{err}");
}

#[test]
fn redirect_only_keys_are_refused_on_password_providers_by_name() {
    for key in ["auto_redirect = true", "link_existing = \"username\""] {
        let text = BASE.replace(
            "kind = \"database\"\n",
            &format!("kind = \"database\"\n{key}\n"),
        );
        let err = problem(&text);
        let name = key.split(' ').next().unwrap();
        assert!(err.contains(&format!("`{name}`")), "{err}");
        assert!(err.contains("redirect providers"), "{err}");
        assert!(err.contains("provider `local` (database)"), "{err}");
    }
    // `jit` means nothing to a database provider either: refused as an unknown key.
    let err = problem(&BASE.replace("kind = \"database\"\n", "kind = \"database\"\njit = true\n"));
    assert!(err.contains("jit"), "{err}");
}

#[test]
fn the_connectors_own_checks_name_the_key() {
    let err = problem(&BASE.replace("client_id = \"gatehouse\"", "client_id = \"\""));
    assert!(err.contains("realms.main.providers[1]"), "{err}");
    assert!(err.contains("client_id"), "{err}");
    let err = problem(&format!("{BASE}username_regex = \"(\"\n"));
    assert!(err.contains("username_regex"), "{err}");
    let err = problem(&format!("{BASE}colour = \"blue\"\n"));
    assert!(err.contains("colour"), "{err}");
}

const SAML: &str = r#"
[realms.main]
chain = ["corp", "local"]
[[realms.main.providers]]
id = "local"
kind = "database"
[[realms.main.providers]]
id = "corp"
kind = "saml"
idp_metadata_url = "https://idp.example.org/metadata"
"#;

#[test]
fn saml_loads_with_the_shared_redirect_keys() {
    let config = load(SAML).unwrap();
    let corp = config.realm("main").unwrap().provider("corp").unwrap();
    assert_eq!(corp.kind(), ProviderKind::Saml);
    assert_eq!(corp.redirect, RedirectOptions::default());
    assert!(matches!(corp.settings, ProviderSettings::Saml(_)));

    let text = format!("{SAML}jit = true\nlink_existing = \"username\"\nauto_redirect = true\n");
    let config = load(&text).unwrap();
    let corp = config.realm("main").unwrap().provider("corp").unwrap();
    assert_eq!(
        corp.redirect,
        RedirectOptions {
            jit: true,
            link_existing: LinkExisting::Username,
            auto_redirect: true,
        }
    );
    assert!(corp.descriptor().jit);
}

#[test]
fn saml_settings_are_checked_with_the_key_named() {
    let err = problem(&format!(
        "{SAML}idp_metadata_file = \"/etc/gatehouse/idp.xml\"\n"
    ));
    assert!(err.contains("realms.main.providers[1]"), "{err}");
    assert!(err.contains("idp_metadata_file"), "{err}");
    let err = problem(&format!("{SAML}colour = \"blue\"\n"));
    assert!(err.contains("provider `corp` (saml)"), "{err}");
    assert!(err.contains("colour"), "{err}");
    let err = problem(&format!("{SAML}sign_requests = true\n"));
    assert!(err.contains("sp_key_file"), "{err}");
}

#[test]
fn idp_initiated_login_is_refused_by_name_until_the_broker_supports_it() {
    let err = problem(&format!("{SAML}allow_idp_initiated = true\n"));
    assert!(
        err.contains("realms.main.providers[1].allow_idp_initiated"),
        "{err}"
    );
    assert!(
        err.contains("IdP-initiated login is not supported by the broker yet"),
        "{err}"
    );
    load(&format!("{SAML}allow_idp_initiated = false\n")).unwrap();
}

#[test]
fn an_unknown_kind_names_every_kind_this_build_offers() {
    let err = problem(&SAML.replace("kind = \"saml\"", "kind = \"kerberos\""));
    assert!(err.contains("unknown kind `kerberos`"), "{err}");
    for kind in ["database", "ldap", "oidc", "oauth2", "saml"] {
        assert!(err.contains(&format!("`{kind}`")), "{err}");
    }
}

#[test]
fn the_sp_urls_derive_from_the_public_url() {
    let urls = crate::app::sp_urls("https://gh.example.org/", "main", "corp");
    assert_eq!(
        urls.entity_id,
        "https://gh.example.org/realms/main/broker/corp/metadata"
    );
    assert_eq!(
        urls.acs_url,
        "https://gh.example.org/realms/main/broker/corp/callback"
    );
    assert_eq!(
        urls.slo_url,
        "https://gh.example.org/realms/main/broker/corp/slo"
    );
}
