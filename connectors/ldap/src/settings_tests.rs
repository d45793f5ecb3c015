use super::*;

const MINIMAL: &str = r#"
urls = ["ldaps://ldap.example.org"]
user_search = { base_dn = "ou=people,dc=example,dc=org" }
"#;

fn parse(text: &str) -> Result<LdapSettings, String> {
    toml::from_str(text).map_err(|e| e.to_string())
}

#[test]
fn minimal_settings_take_openldap_defaults() {
    let s = parse(MINIMAL).unwrap();
    assert_eq!(s.validate(), Ok(()));
    assert!(s.jit);
    assert!(!s.start_tls && !s.insecure_skip_verify && !s.active_directory);
    assert_eq!(s.timeout_ms, 5000);
    assert_eq!(s.backoff_s, 10);
    assert_eq!(
        s.pool,
        PoolSettings {
            max_size: 16,
            searches_per_connection: 4,
            idle_timeout_s: 60
        }
    );
    let r = s.resolved();
    assert_eq!(r.username_attrs, vec!["uid", "mail"]);
    assert_eq!(r.user_filter, "(objectClass=person)");
    assert_eq!(r.id_attr, "DN");
    assert_eq!(
        (r.email_attr.as_str(), r.name_attr.as_str()),
        ("mail", "cn")
    );
    assert_eq!(r.page_size, 0);
    assert!(r.groups.is_none());
}

#[test]
fn active_directory_defaults() {
    let s = parse(&format!(
        "{MINIMAL}active_directory = true\ngroup_search = {{ base_dn = \"dc=example,dc=org\" }}\n"
    ))
    .unwrap();
    assert_eq!(s.validate(), Ok(()));
    let r = s.resolved();
    assert_eq!(
        r.username_attrs,
        vec!["sAMAccountName", "userPrincipalName"]
    );
    assert_eq!(r.id_attr, "objectGUID");
    assert_eq!(r.name_attr, "displayName");
    assert_eq!(r.page_size, 500);
    let g = r.groups.unwrap();
    assert_eq!(g.filter, "(objectClass=group)");
    assert!(g.nested);
    assert_eq!(
        g.matchers,
        vec![UserMatcher {
            user_attr: "DN".into(),
            group_attr: "member".into()
        }]
    );
}

#[test]
fn every_documented_key_parses() {
    let s = parse(
        r#"
urls = ["ldap://a.example.org:389", "ldap://b.example.org"]
start_tls = true
bind_dn = "cn=svc,dc=example,dc=org"
bind_password = "svc-secret"
timeout_ms = 1500
backoff_s = 30
jit = false
page_size = 100
pool = { max_size = 4, idle_timeout_s = 5 }
group_roles = { admins = "admin", ops = ["operator", "viewer"] }
[user_search]
base_dn = "dc=example,dc=org"
filter = "(&(objectClass=inetOrgPerson)(employeeType=staff))"
username_attrs = ["uid"]
id_attr = "entryUUID"
email_attr = "mail"
name_attr = "displayName"
scope = "one"
[group_search]
base_dn = "ou=groups,dc=example,dc=org"
filter = "(objectClass=groupOfNames)"
user_matchers = [{ user_attr = "DN", group_attr = "member" }, { user_attr = "uid", group_attr = "memberUid" }]
name_attr = "cn"
nested = false
scope = "sub"
"#,
    )
    .unwrap();
    assert_eq!(s.validate(), Ok(()));
    assert_eq!(s.user_search.scope, Scope::One);
    assert_eq!(
        s.group_roles["ops"].iter().collect::<Vec<_>>(),
        vec!["operator", "viewer"]
    );
    // The password is not in the debug output.
    assert!(!format!("{s:?}").contains("svc-secret"));
}

#[test]
fn unknown_keys_are_refused_at_every_level() {
    for (text, key) in [
        (format!("{MINIMAL}colour = 1"), "colour"),
        (
            "urls = [\"ldap://x\"]\nuser_search = { base_dn = \"dc=x\", bogus = 1 }".to_string(),
            "bogus",
        ),
        (format!("{MINIMAL}pool = {{ size = 1 }}"), "size"),
    ] {
        let err = parse(&text).unwrap_err();
        assert!(err.contains(key), "{err}");
    }
}

fn problems(extra: &str) -> String {
    parse(&format!("{MINIMAL}{extra}"))
        .unwrap()
        .validate()
        .unwrap_err()
}

#[test]
fn validation_names_the_key_and_the_fix() {
    let cases = [
        ("start_tls = true", "urls[0]"),
        ("bind_dn = \"cn=svc\"", "bind_password: required"),
        ("bind_password = \"x\"", "bind_dn:"),
        (
            "bind_dn = \"cn=svc\"\nbind_password = \"\"",
            "bind_password: empty",
        ),
        ("timeout_ms = 0", "timeout_ms"),
        ("pool = { max_size = 0 }", "pool.max_size"),
        (
            "pool = { searches_per_connection = 0 }",
            "pool.searches_per_connection",
        ),
        (
            "pool = { searches_per_connection = 65 }",
            "pool.searches_per_connection",
        ),
        ("netbios_domain = \"EXAMPLE\"", "netbios_domain"),
        (
            "ca_file = \"/nonexistent/ca.pem\"",
            "ca_file: cannot read `/nonexistent/ca.pem`",
        ),
        (
            "group_roles = { admins = \"admin\" }",
            "group_roles: needs a group_search",
        ),
    ];
    for (extra, expected) in cases {
        let err = problems(extra);
        assert!(err.contains(expected), "{extra}: {err}");
    }
    let bad_url = parse("urls = [\"http://x\"]\nuser_search = { base_dn = \"dc=x\" }")
        .unwrap()
        .validate()
        .unwrap_err();
    assert!(bad_url.contains("urls[0]: `http://x`"), "{bad_url}");
}

#[test]
fn filters_and_attribute_names_are_checked_because_they_go_into_filters_verbatim() {
    let text = r#"
urls = ["ldap://x"]
[user_search]
base_dn = "dc=x"
filter = "objectClass=person"
username_attrs = ["uid", "mail)(uid=*"]
id_attr = "entry UUID"
[group_search]
base_dn = "dc=x"
filter = "(objectClass=group"
user_matchers = [{ user_attr = "DN", group_attr = "member=*" }]
"#;
    let err = parse(text).unwrap().validate().unwrap_err();
    for key in [
        "user_search.filter",
        "user_search.username_attrs[1]",
        "user_search.id_attr",
        "group_search.filter",
        "group_search.user_matchers[0].group_attr",
    ] {
        assert!(err.contains(key), "{key} missing from: {err}");
    }
}
