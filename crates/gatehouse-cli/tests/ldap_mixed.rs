//! Mixed mode through the real `gatehouse` binary: the project's OpenLDAP (tests/peers/slapd.sh)
//! and a database provider, in both chain orders, with the directory up and down. Each test runs
//! on SQLite and on PostgreSQL.

mod common;

use common::{Env, Run, Server};
use gatehouse_store::store_test;
use gatehouse_store::testing::TestStore;

const REALMS: &str = include_str!("../../../fixtures/realms/ldap-mixed.toml");
const SVC: (&str, &str) = ("GATEHOUSE_TEST_SVC_PASSWORD", "svc-pw");
const ALICE_DN: &str = "uid=alice,ou=people,dc=example,dc=org";

fn ldap_url() -> String {
    std::env::var("GATEHOUSE_TEST_LDAP_URL").unwrap_or_else(|_| {
        panic!(
            "GATEHOUSE_TEST_LDAP_URL is not set: these tests need the project's OpenLDAP peer; run \
             the suite with tests/run (it starts tests/peers/slapd.sh)"
        )
    })
}

/// The realms of ldap-mixed.toml with the directory at `url`.
fn env_with(store: TestStore, url: &str) -> Env {
    Env::new(store, &REALMS.replace("@LDAP_URL@", url))
}

/// A URL where no directory answers (connections refused).
fn dead_url() -> String {
    format!("ldap://127.0.0.1:{}", common::free_port())
}

/// `gatehouse ARGS` with `stdin`, the service password's variable and `vars` in the environment.
fn run(env: &Env, args: &[&str], stdin: &str, vars: &[(&str, &str)]) -> Run {
    let mut all = vec![SVC];
    all.extend_from_slice(vars);
    env.run_with(args, stdin, &all)
}

fn ok(env: &Env, args: &[&str], stdin: &str) -> String {
    let r = run(env, args, stdin, &[]);
    assert_eq!(r.code(), 0, "gatehouse {args:?} failed:\n{}", r.all());
    r.stdout()
}

fn login(env: &Env, realm: &str, user: &str, password: &str) -> Run {
    run(
        env,
        &["login", "--realm", realm, user],
        &format!("{password}\n"),
        &[],
    )
}

fn assert_lines(run: &Run, expected: &[&str]) {
    let out = run.stdout();
    for line in expected {
        assert!(out.contains(line), "missing `{line}` in:\n{}", run.all());
    }
}

store_test!(
    a_directory_user_logs_in_just_in_time_with_groups_and_roles,
    |store| async move {
        let env = env_with(store, &ldap_url());
        ok(&env, &["migrate"], "");
        let plan = ok(&env, &["explain", "--realm", "corpfirst", "alice"], "");
        assert!(plan.contains("corp (ldap): try: no account yet"), "{plan}");

        let first = login(&env, "corpfirst", "alice", "alice-pw");
        assert_eq!(first.code(), 0, "{}", first.all());
        assert_lines(&first, &["tried corp: verified", "success: alice"]);
        let shown = ok(&env, &["user", "show", "--realm", "corpfirst", "alice"], "");
        for line in [
            "roles:     directory-admin, member",
            "groups:    admins, staff",
            "email:     alice@example.org",
            "name:      Alice Liddell",
            &format!("corp (ldap): live; external id {ALICE_DN}"),
        ] {
            assert!(shown.contains(line), "missing `{line}` in:\n{shown}");
        }
        // By email, now that the account exists; a wrong password is the generic refusal.
        let by_mail = login(&env, "corpfirst", "alice@example.org", "alice-pw");
        assert_eq!(by_mail.code(), 0, "{}", by_mail.all());
        let wrong = login(&env, "corpfirst", "alice", "wrong");
        assert_eq!(wrong.code(), 1);
        assert_lines(
            &wrong,
            &[
                "tried corp: rejected",
                "refused: Invalid username or password.",
            ],
        );

        // The HTTP endpoint answers with the groups and the mapped roles.
        let server = Server::start_with(&env, &[SVC]).await;
        let response = reqwest::Client::new()
            .post(format!(
                "{}/realms/corpfirst/api/v1/password-login",
                server.base
            ))
            .json(&serde_json::json!({"login": "alice", "password": "alice-pw"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["provider"], "corp");
        assert_eq!(
            body["account"]["groups"],
            serde_json::json!(["admins", "staff"])
        );
        assert_eq!(
            body["account"]["roles"],
            serde_json::json!(["directory-admin", "member"])
        );
    }
);

store_test!(
    both_chain_orders_try_the_linked_providers_in_order,
    |store| async move {
        let env = env_with(store, &ldap_url());
        ok(&env, &["migrate"], "");
        for realm in ["corpfirst", "localfirst"] {
            // bob: a local password and a link to his directory entry.
            ok(&env, &["user", "add", "--realm", realm, "bob"], "");
            ok(
                &env,
                &["user", "set-password", "--realm", realm, "bob"],
                "Old-local-pw1\n",
            );
            ok(
                &env,
                &[
                    "user",
                    "link",
                    "--realm",
                    realm,
                    "--provider",
                    "corp",
                    "bob",
                    "--external-id",
                    "uid=bob,ou=people,dc=example,dc=org",
                ],
                "",
            );
        }
        // Directory first: the directory password is checked there and nowhere else.
        let r = login(&env, "corpfirst", "bob", "bob-pw");
        assert_eq!(r.code(), 0, "{}", r.all());
        assert_lines(&r, &["tried corp: verified"]);
        assert!(!r.stdout().contains("tried local"), "{}", r.all());
        // The local password: the directory rejects it, the database verifies it.
        let r = login(&env, "corpfirst", "bob", "Old-local-pw1");
        assert_eq!(r.code(), 0, "{}", r.all());
        assert_lines(&r, &["tried corp: rejected", "tried local: verified"]);

        // Database first: the other way round.
        let r = login(&env, "localfirst", "bob", "bob-pw");
        assert_eq!(r.code(), 0, "{}", r.all());
        assert_lines(&r, &["tried local: rejected", "tried corp: verified"]);
        let r = login(&env, "localfirst", "bob", "Old-local-pw1");
        assert_eq!(r.code(), 0, "{}", r.all());
        assert_lines(&r, &["tried local: verified"]);

        // An account with only a database link never reaches the directory, even under a name
        // the directory knows.
        ok(&env, &["user", "add", "--realm", "corpfirst", "carol"], "");
        ok(
            &env,
            &["user", "set-password", "--realm", "corpfirst", "carol"],
            "Carol-local1\n",
        );
        let plan = ok(&env, &["explain", "--realm", "corpfirst", "carol"], "");
        assert!(
            plan.contains("corp (ldap): skip: the account has no link to it"),
            "{plan}"
        );
        let r = login(&env, "corpfirst", "carol", "carol-pw");
        assert_eq!(r.code(), 1, "{}", r.all());
        assert!(!r.stdout().contains("tried corp"), "{}", r.all());
    }
);

store_test!(
    with_the_directory_down_database_users_and_the_admin_still_log_in,
    |store| async move {
        let env = env_with(store, &dead_url());
        ok(&env, &["migrate"], "");
        ok(
            &env,
            &["admin", "bootstrap", "--realm", "corpfirst", "root"],
            "Break-glass-pw1\n",
        );
        ok(&env, &["user", "add", "--realm", "corpfirst", "bob"], "");
        ok(
            &env,
            &["user", "set-password", "--realm", "corpfirst", "bob"],
            "Local-pw1\n",
        );
        ok(
            &env,
            &[
                "user",
                "link",
                "--realm",
                "corpfirst",
                "--provider",
                "corp",
                "bob",
                "--external-id",
                "uid=bob,ou=people,dc=example,dc=org",
            ],
            "",
        );

        let admin = login(&env, "corpfirst", "root", "Break-glass-pw1");
        assert_eq!(admin.code(), 0, "{}", admin.all());
        assert_lines(&admin, &["tried local: verified", "success: root"]);

        // The directory is tried first, found down, and the database answers.
        let bob = login(&env, "corpfirst", "bob", "Local-pw1");
        assert_eq!(bob.code(), 0, "{}", bob.all());
        assert_lines(
            &bob,
            &["tried corp: unavailable (", "tried local: verified"],
        );
        let plan = ok(&env, &["explain", "--realm", "corpfirst", "bob"], "");
        assert!(plan.contains("1. corp (ldap): try"), "{plan}");
        assert!(plan.contains("2. local (database): try"), "{plan}");

        // A directory user with no account cannot be searched for: the generic refusal.
        let alice = login(&env, "corpfirst", "alice", "alice-pw");
        assert_eq!(alice.code(), 1, "{}", alice.all());
        assert_lines(
            &alice,
            &[
                "tried corp: unavailable",
                "refused: Invalid username or password.",
            ],
        );

        // A realm that says `fail` stops at the unavailable directory instead.
        let strict = run(
            &env,
            &["login", "--realm", "corpfirst", "bob"],
            "Local-pw1\n",
            &[("GATEHOUSE_REALMS__CORPFIRST__ON_UNAVAILABLE", "fail")],
        );
        assert_eq!(strict.code(), 1, "{}", strict.all());
        assert_lines(
            &strict,
            &["tried corp: unavailable", "temporarily unavailable"],
        );
        assert!(!strict.stdout().contains("tried local"), "{}", strict.all());
    }
);

store_test!(
    a_broken_ldap_entry_is_refused_by_check_config_naming_the_key,
    |store| async move {
        let broken = REALMS.replace("@LDAP_URL@", "http://nowhere").replacen(
            "timeout_ms = 2000",
            "timeout_ms = 0",
            1,
        );
        let env = Env::new(store, &broken);
        let r = run(&env, &["check-config"], "", &[]);
        assert_eq!(r.code(), 2, "{}", r.all());
        for expected in [
            "realms.corpfirst.providers[0]: urls[0]: `http://nowhere`",
            "realms.corpfirst.providers[0]: timeout_ms: must be at least 1",
        ] {
            assert!(
                r.stderr().contains(expected),
                "missing `{expected}`:\n{}",
                r.all()
            );
        }
        let r = run(
            &env,
            &["check-config"],
            "",
            &[("GATEHOUSE_TEST_SVC_PASSWORD", "")],
        );
        assert!(r.stderr().contains("bind_password: empty"), "{}", r.all());
        assert!(!r.all().contains("svc-pw"), "{}", r.all());
    }
);
