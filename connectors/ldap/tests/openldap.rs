//! Against the project's real OpenLDAP (tests/peers/slapd.sh, data in fixtures/ldap/): logins,
//! escaping, entry selection, groups, TLS, anonymous search.

mod common;

use common::*;
use gatehouse_connector_ldap::LdapProvider;
use gatehouse_core::PasswordOutcome;

const ALICE_DN: &str = "uid=alice,ou=people,dc=example,dc=org";

#[tokio::test]
async fn logs_in_by_each_username_attribute() {
    let p = people();
    for login in ["alice", "alice@example.org"] {
        let id = identity(verify(&p, login, "alice-pw").await);
        assert_eq!(id.external_id.as_deref(), Some(ALICE_DN), "{login}");
        assert_eq!(id.username.as_deref(), Some("alice"));
        let profile = id.profile.unwrap();
        assert_eq!(profile.email.as_deref(), Some("alice@example.org"));
        assert_eq!(profile.name.as_deref(), Some("Alice Liddell"));
    }
    // Only the configured attributes are compared with the login.
    let uid_only = provider(&settings(
        &[&url()],
        PEOPLE,
        "username_attrs = [\"uid\"]",
        "",
    ));
    assert!(matches!(
        verify(&uid_only, "alice", "alice-pw").await,
        PasswordOutcome::Verified(_)
    ));
    assert_eq!(
        verify(&uid_only, "alice@example.org", "alice-pw").await,
        PasswordOutcome::Rejected
    );
    // A stable id attribute instead of the DN.
    let by_uuid = provider(&settings(&[&url()], PEOPLE, "id_attr = \"entryUUID\"", ""));
    let id = identity(verify(&by_uuid, "bob", "bob-pw").await);
    let uuid = id.external_id.unwrap();
    assert_eq!(uuid.len(), 36, "{uuid}");
}

#[tokio::test]
async fn wrong_password_unknown_user_and_empty_password_are_rejected() {
    let p = people();
    assert_eq!(
        verify(&p, "alice", "wrong").await,
        PasswordOutcome::Rejected
    );
    assert_eq!(
        verify(&p, "alice", "bob-pw").await,
        PasswordOutcome::Rejected
    );
    assert_eq!(
        verify(&p, "nobody", "alice-pw").await,
        PasswordOutcome::Rejected
    );
    // An empty password would be an anonymous bind, which the directory accepts.
    assert_eq!(verify(&p, "alice", "").await, PasswordOutcome::Rejected);
}

#[tokio::test]
async fn filter_metacharacters_in_logins_are_escaped() {
    // Unescaped, `a*` would find alice (the only uid or mail starting with a) and log in as her.
    let p = people();
    assert_eq!(
        verify(&p, "a*", "alice-pw").await,
        PasswordOutcome::Rejected
    );
    // In a branch holding a single user, unescaped `*` and `*)(uid=*` would both find that user.
    let one_user = provider(&settings(
        &[&url()],
        CONTRACTORS,
        "username_attrs = [\"uid\"]",
        "",
    ));
    assert!(matches!(
        verify(&one_user, "dave", "dave-contractor-pw").await,
        PasswordOutcome::Verified(_)
    ));
    for login in ["*", "*)(uid=*", "d*", "*)(|(uid=*"] {
        assert_eq!(
            verify(&one_user, login, "dave-contractor-pw").await,
            PasswordOutcome::Rejected,
            "{login}"
        );
    }
    // A uid made of metacharacters is found only by its escaped value.
    let id = identity(verify(&p, "star*(user)", "star-pw").await);
    assert_eq!(
        id.external_id.as_deref(),
        Some("uid=star*(user),ou=people,dc=example,dc=org")
    );
}

#[tokio::test]
async fn a_user_filter_picks_one_of_two_same_named_users() {
    // Two `dave`s under the base: ambiguous, refused even with a right password (and logged).
    let both = provider(&settings(&[&url()], BASE, "username_attrs = [\"uid\"]", ""));
    assert_eq!(
        verify(&both, "dave", "dave-pw").await,
        PasswordOutcome::Rejected
    );
    assert_eq!(
        verify(&both, "dave", "dave-contractor-pw").await,
        PasswordOutcome::Rejected
    );

    let contractors = provider(&settings(
        &[&url()],
        BASE,
        "username_attrs = [\"uid\"]\nfilter = \"(&(objectClass=inetOrgPerson)(employeeType=contractor))\"",
        "",
    ));
    let id = identity(verify(&contractors, "dave", "dave-contractor-pw").await);
    assert_eq!(
        id.external_id.as_deref(),
        Some("uid=dave,ou=contractors,dc=example,dc=org")
    );
    assert_eq!(
        verify(&contractors, "dave", "dave-pw").await,
        PasswordOutcome::Rejected
    );
}

fn with_groups(group_search: &str, extra: &str) -> LdapProvider {
    provider(&settings(
        &[&url()],
        PEOPLE,
        "",
        &format!("{extra}\ngroup_search = {{ base_dn = \"{GROUPS}\", {group_search} }}"),
    ))
}

const BOTH_MATCHERS: &str = "user_matchers = [{ user_attr = \"DN\", group_attr = \"member\" }, { user_attr = \"uid\", group_attr = \"memberUid\" }]";

#[tokio::test]
async fn groups_by_member_dn_and_by_member_uid() {
    let by_dn = with_groups("nested = false", "");
    assert_eq!(groups(verify(&by_dn, "bob", "bob-pw").await), vec!["staff"]);
    assert_eq!(
        groups(verify(&by_dn, "alice", "alice-pw").await),
        vec!["admins", "staff"]
    );

    let by_uid = with_groups(
        "nested = false, user_matchers = [{ user_attr = \"uid\", group_attr = \"memberUid\" }]",
        "",
    );
    assert_eq!(groups(verify(&by_uid, "bob", "bob-pw").await), vec!["devs"]);

    let both = with_groups(&format!("nested = false, {BOTH_MATCHERS}"), "");
    assert_eq!(
        groups(verify(&both, "bob", "bob-pw").await),
        vec!["devs", "staff"]
    );
}

#[tokio::test]
async fn nested_groups_are_followed_and_a_cycle_ends() {
    // platform -> engineering -> everyone-eng -> platform (a cycle).
    let flat = with_groups(&format!("nested = false, {BOTH_MATCHERS}"), "");
    assert_eq!(
        groups(verify(&flat, "carol", "carol-pw").await),
        vec!["devs", "platform"]
    );

    let nested = with_groups(BOTH_MATCHERS, "");
    let found = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        verify(&nested, "carol", "carol-pw"),
    )
    .await
    .expect("the nesting walk must end despite the cycle");
    assert_eq!(
        groups(found),
        vec!["devs", "engineering", "everyone-eng", "platform"]
    );
}

#[tokio::test]
async fn group_roles_map_groups_to_roles() {
    let p = with_groups(
        BOTH_MATCHERS,
        "group_roles = { admins = \"admin\", engineering = [\"engineer\", \"deployer\"], staff = \"member\" }",
    );
    let alice = identity(verify(&p, "alice", "alice-pw").await)
        .profile
        .unwrap();
    assert_eq!(alice.roles, vec!["admin", "member"]);
    let carol = identity(verify(&p, "carol", "carol-pw").await)
        .profile
        .unwrap();
    assert_eq!(carol.roles, vec!["deployer", "engineer"]);
}

#[tokio::test]
async fn start_tls_and_ldaps_with_a_ca_file() {
    let ca = env("GATEHOUSE_TEST_LDAP_CA");
    let tls_url = env("GATEHOUSE_TEST_LDAP_TLS_URL");
    let start_tls = provider(&settings(
        &[&url()],
        PEOPLE,
        "",
        &format!("start_tls = true\nca_file = \"{ca}\""),
    ));
    assert!(matches!(
        verify(&start_tls, "alice", "alice-pw").await,
        PasswordOutcome::Verified(_)
    ));
    let ldaps = provider(&settings(
        &[&tls_url],
        PEOPLE,
        "",
        &format!("ca_file = \"{ca}\""),
    ));
    assert!(matches!(
        verify(&ldaps, "alice", "alice-pw").await,
        PasswordOutcome::Verified(_)
    ));
    assert_eq!(
        verify(&ldaps, "alice", "wrong").await,
        PasswordOutcome::Rejected
    );
}

#[tokio::test]
async fn certificates_are_verified_unless_told_otherwise() {
    let tls_url = env("GATEHOUSE_TEST_LDAP_TLS_URL");
    // The test CA is not among the system's roots: nothing is sent to an unverified server.
    for p in [
        provider(&settings(&[&tls_url], PEOPLE, "", "")),
        provider(&settings(&[&url()], PEOPLE, "", "start_tls = true")),
    ] {
        match verify(&p, "alice", "alice-pw").await {
            PasswordOutcome::Unavailable(why) => {
                assert!(why.to_lowercase().contains("certificate"), "{why}")
            }
            other => panic!("expected unavailable, got {other:?}"),
        }
    }
    let insecure = provider(&settings(
        &[&tls_url],
        PEOPLE,
        "",
        "insecure_skip_verify = true",
    ));
    assert!(matches!(
        verify(&insecure, "alice", "alice-pw").await,
        PasswordOutcome::Verified(_)
    ));
}

#[tokio::test]
async fn anonymous_search_without_a_service_account() {
    let anon = |base: &str| {
        provider(&format!(
            "urls = [\"{}\"]\nuser_search = {{ base_dn = \"{base}\" }}\n",
            url()
        ))
    };
    // The fixture lets anonymous clients read ou=contractors only.
    assert!(matches!(
        verify(&anon(CONTRACTORS), "dave", "dave-contractor-pw").await,
        PasswordOutcome::Verified(_)
    ));
    assert_eq!(
        verify(&anon(PEOPLE), "alice", "alice-pw").await,
        PasswordOutcome::Rejected
    );
}

#[tokio::test]
async fn a_link_to_another_entry_is_not_this_logins_account() {
    let p = people();
    assert!(matches!(
        verify_linked(&p, "alice", "alice-pw", ALICE_DN).await,
        PasswordOutcome::Verified(_)
    ));
    assert!(matches!(
        verify_linked(&p, "alice", "alice-pw", &ALICE_DN.to_uppercase()).await,
        PasswordOutcome::Verified(_)
    ));
    assert_eq!(
        verify_linked(
            &p,
            "alice",
            "alice-pw",
            "uid=old-alice,ou=people,dc=example,dc=org"
        )
        .await,
        PasswordOutcome::Rejected
    );
}

#[tokio::test]
async fn a_refused_service_account_makes_the_provider_unavailable_not_the_user_wrong() {
    let p = provider(&format!(
        "urls = [\"{}\"]\nbind_dn = \"cn=svc-broker,ou=services,dc=example,dc=org\"\nbind_password = \"not-the-password\"\nuser_search = {{ base_dn = \"{PEOPLE}\" }}\n",
        url()
    ));
    match verify(&p, "alice", "alice-pw").await {
        PasswordOutcome::Unavailable(why) => {
            assert!(why.contains("service account"), "{why}");
            assert!(!why.contains("not-the-password"), "{why}");
        }
        other => panic!("expected unavailable, got {other:?}"),
    }
}
