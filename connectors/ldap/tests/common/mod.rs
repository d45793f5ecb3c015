//! Shared set-up of the tests against the project's own directory peers (tests/peers/).
#![allow(dead_code)]

use std::collections::HashMap;
use std::process::Command;

use gatehouse_connector_ldap::{LdapProvider, LdapSettings};
use gatehouse_core::{
    AccountId, Link, PasswordCheck, PasswordOutcome, PasswordProvider, ProviderDescriptor,
    ProviderKind, Secret, VerifiedIdentity,
};

pub const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/peers/slapd.sh");
pub const BASE: &str = "dc=example,dc=org";
pub const PEOPLE: &str = "ou=people,dc=example,dc=org";
pub const CONTRACTORS: &str = "ou=contractors,dc=example,dc=org";
pub const GROUPS: &str = "ou=groups,dc=example,dc=org";
pub const SERVICE: &str =
    "bind_dn = \"cn=svc-broker,ou=services,dc=example,dc=org\"\nbind_password = \"svc-pw\"\n";

/// A variable `tests/run` exports; its absence fails the test (it is never skipped).
pub fn env(var: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| {
        panic!(
            "{var} is not set: the LDAP tests need the project's OpenLDAP peer. Run the suite with \
             tests/run (it starts tests/peers/slapd.sh), or `eval \"$(tests/peers/slapd.sh start)\"` \
             before cargo test"
        )
    })
}

pub fn url() -> String {
    env("GATEHOUSE_TEST_LDAP_URL")
}

/// Two rustls crypto providers are linked into the workspace (STACK.md): pick one, as main does.
pub fn init() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let _ = tracing_subscriber::fmt()
        .with_env_filter("gatehouse_connector_ldap=debug")
        .with_test_writer()
        .try_init();
}

/// A provider `corp` from the kind's own TOML keys.
pub fn provider(toml: &str) -> LdapProvider {
    init();
    let settings: LdapSettings =
        toml::from_str(toml).unwrap_or_else(|e| panic!("bad test settings: {e}\n{toml}"));
    LdapProvider::new(descriptor(), settings).unwrap()
}

pub fn descriptor() -> ProviderDescriptor {
    ProviderDescriptor {
        id: "corp".into(),
        kind: ProviderKind::Ldap,
        enabled: true,
        supersedes: vec![],
        jit: true,
    }
}

/// The usual settings: the service account searching `base` for inetOrgPerson entries; `extra`
/// adds top-level keys, `user_extra` keys of user_search.
pub fn settings(urls: &[&str], base: &str, user_extra: &str, extra: &str) -> String {
    let urls: Vec<String> = urls.iter().map(|u| format!("\"{u}\"")).collect();
    let filter = if user_extra.contains("filter =") {
        ""
    } else {
        "filter = \"(objectClass=inetOrgPerson)\"\n"
    };
    let timeout = if extra.contains("timeout_ms") {
        ""
    } else {
        "timeout_ms = 2000\n"
    };
    format!(
        "urls = [{}]\n{timeout}{SERVICE}{extra}\n[user_search]\nbase_dn = \"{base}\"\n{filter}{user_extra}\n",
        urls.join(", ")
    )
}

pub fn people() -> LdapProvider {
    provider(&settings(&[&url()], PEOPLE, "", ""))
}

pub async fn verify(p: &LdapProvider, login: &str, password: &str) -> PasswordOutcome {
    p.verify(PasswordCheck {
        login,
        password: &Secret::new(password),
        link: None,
    })
    .await
}

pub async fn verify_linked(
    p: &LdapProvider,
    login: &str,
    password: &str,
    external_id: &str,
) -> PasswordOutcome {
    let link = Link {
        id: uuid::Uuid::new_v4(),
        account_id: AccountId::generate(),
        provider_id: "corp".into(),
        external_id: Some(external_id.into()),
        secret: None,
        protected: false,
        created_at: chrono::Utc::now(),
    };
    p.verify(PasswordCheck {
        login,
        password: &Secret::new(password),
        link: Some(&link),
    })
    .await
}

pub fn identity(outcome: PasswordOutcome) -> VerifiedIdentity {
    match outcome {
        PasswordOutcome::Verified(identity) => identity,
        other => panic!("expected verified, got {other:?}"),
    }
}

pub fn groups(outcome: PasswordOutcome) -> Vec<String> {
    identity(outcome).profile.expect("a profile").groups
}

/// A slapd instance of this test's own (`tests/peers/slapd.sh start NAME`), stopped on drop.
pub struct Slapd {
    pub name: String,
    pub vars: HashMap<String, String>,
}

impl Slapd {
    pub fn start(name: &str) -> Slapd {
        let out = Command::new("bash")
            .args([SCRIPT, "start", name])
            .output()
            .unwrap_or_else(|e| panic!("cannot run {SCRIPT}: {e}"));
        assert!(
            out.status.success(),
            "{SCRIPT} start {name} failed (run the suite with tests/run):\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let vars = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.strip_prefix("export "))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        Slapd {
            name: name.into(),
            vars,
        }
    }

    pub fn url(&self) -> String {
        let key = format!("GATEHOUSE_TEST_LDAP_{}_URL", self.name.to_uppercase());
        self.vars
            .get(&key)
            .cloned()
            .unwrap_or_else(|| panic!("{SCRIPT} printed no {key}"))
    }

    pub fn stop(&self) {
        self.run("stop");
    }

    /// SIGKILL: the server dies with its connections open, as a crashed one does.
    pub fn kill(&self) {
        self.run("kill");
    }

    fn run(&self, command: &str) {
        let status = Command::new("bash")
            .args([SCRIPT, command, &self.name])
            .status()
            .unwrap_or_else(|e| panic!("cannot run {SCRIPT}: {e}"));
        assert!(status.success(), "{SCRIPT} {command} {} failed", self.name);
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .args([SCRIPT, "stop", &self.name])
            .output();
    }
}
