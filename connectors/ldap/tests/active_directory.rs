//! Against a real Active Directory: Samba 4 as a domain controller (tests/peers/samba-ad.sh).
//!
//! AD listens on fixed ports (389, 636, 88, 3268, 3269 on 127.0.0.1), so these tests are not part
//! of `tests/run` (see README, "Active Directory tests"); run them with `tests/run-ad`, which
//! starts Samba, runs them, and stops it. Without Samba they fail, they are never skipped.

mod common;

use common::*;
use gatehouse_connector_ldap::LdapProvider;
use gatehouse_core::PasswordOutcome;

fn ad_url() -> String {
    std::env::var("GATEHOUSE_TEST_AD_URL").unwrap_or_else(|_| {
        panic!(
            "GATEHOUSE_TEST_AD_URL is not set: the Active Directory tests need Samba; run \
             tests/run-ad (it starts tests/peers/samba-ad.sh)"
        )
    })
}

fn ad(extra: &str) -> LdapProvider {
    provider(&format!(
        r#"urls = ["{}"]
active_directory = true
bind_dn = "svc-broker@example.org"
bind_password = "Svc-Pw-123!"
timeout_ms = 5000
{extra}
[user_search]
base_dn = "CN=Users,DC=example,DC=org"
[group_search]
base_dn = "DC=example,DC=org"
"#,
        ad_url()
    ))
}

#[tokio::test]
#[ignore = "needs Samba AD on 127.0.0.1:389: run tests/run-ad"]
async fn upn_and_domain_backslash_user_logins() {
    let p = ad("netbios_domain = \"EXAMPLE\"");
    let by_upn = identity(verify(&p, "alice@example.org", "Alice-Pw-123!").await);
    let guid = by_upn.external_id.clone().unwrap();
    assert_eq!(guid.len(), 36, "objectGUID as text: {guid}");
    assert_eq!(by_upn.username.as_deref(), Some("alice"));
    assert_eq!(
        by_upn.profile.unwrap().email.as_deref(),
        Some("alice@example.org")
    );
    // The resolver hands logins over case-folded; AD compares names case-insensitively.
    for login in ["EXAMPLE\\alice", "example\\alice", "alice"] {
        let id = identity(verify(&p, login, "Alice-Pw-123!").await);
        assert_eq!(id.external_id.as_deref(), Some(guid.as_str()), "{login}");
    }
    assert_eq!(
        verify(&p, "OTHER\\alice", "Alice-Pw-123!").await,
        PasswordOutcome::Rejected
    );
}

#[tokio::test]
#[ignore = "needs Samba AD on 127.0.0.1:389: run tests/run-ad"]
async fn wrong_password_and_unknown_user_are_rejected() {
    let p = ad("");
    assert_eq!(
        verify(&p, "alice@example.org", "wrong").await,
        PasswordOutcome::Rejected
    );
    assert_eq!(
        verify(&p, "nobody@example.org", "Alice-Pw-123!").await,
        PasswordOutcome::Rejected
    );
}

#[tokio::test]
#[ignore = "needs Samba AD on 127.0.0.1:389: run tests/run-ad"]
async fn an_account_disabled_by_user_account_control_is_disabled_whatever_the_password() {
    let p = ad("");
    // With a wrong password AD itself answers 52e (wrong password) and would let the chain fall
    // through to a local password: the entry's userAccountControl says disabled first.
    for password in ["Carol-Pw-123!", "wrong"] {
        match verify(&p, "carol@example.org", password).await {
            PasswordOutcome::Disabled(why) => assert!(why.contains("disabled"), "{why}"),
            other => panic!("expected disabled, got {other:?}"),
        }
    }
}

#[tokio::test]
#[ignore = "needs Samba AD on 127.0.0.1:389: run tests/run-ad"]
async fn group_membership_direct_and_nested_in_chain() {
    let nested = ad("");
    assert_eq!(
        groups(verify(&nested, "alice@example.org", "Alice-Pw-123!").await),
        vec!["All Staff", "Broker Admins"]
    );
    assert_eq!(
        groups(verify(&nested, "bob@example.org", "Bob-Pw-123!").await),
        vec!["All Staff"]
    );
    let flat = provider(&format!(
        r#"urls = ["{}"]
active_directory = true
bind_dn = "svc-broker@example.org"
bind_password = "Svc-Pw-123!"
group_roles = {{ "Broker Admins" = "admin" }}
[user_search]
base_dn = "CN=Users,DC=example,DC=org"
[group_search]
base_dn = "DC=example,DC=org"
nested = false
"#,
        ad_url()
    ));
    let alice = identity(verify(&flat, "EXAMPLE\\alice", "Alice-Pw-123!").await)
        .profile
        .unwrap();
    assert_eq!(alice.groups, vec!["Broker Admins"]);
    assert_eq!(alice.roles, vec!["admin"]);
}

#[tokio::test]
#[ignore = "needs Samba AD on 127.0.0.1:389: run tests/run-ad"]
async fn ldaps_to_active_directory_with_a_ca_file() {
    let ca = std::env::var("GATEHOUSE_TEST_AD_CA").expect("GATEHOUSE_TEST_AD_CA (tests/run-ad)");
    let url = std::env::var("GATEHOUSE_TEST_AD_TLS_URL").expect("GATEHOUSE_TEST_AD_TLS_URL");
    let p = provider(&format!(
        r#"urls = ["{url}"]
active_directory = true
ca_file = "{ca}"
bind_dn = "svc-broker@example.org"
bind_password = "Svc-Pw-123!"
[user_search]
base_dn = "CN=Users,DC=example,DC=org"
"#
    ));
    assert!(matches!(
        verify(&p, "alice@example.org", "Alice-Pw-123!").await,
        PasswordOutcome::Verified(_)
    ));
}
