//! Superseded account types through the CLI (DESIGN.md): enabling an `oauth2` provider with
//! `supersedes = ["ldap"]` disables an LDAP-only account, keeps an account that also has a
//! database link; switching it off restores the first. The dry run lists exactly what the real run
//! changes. Nothing here talks to the directory or the upstream (both are built lazily).

mod common;

use common::Env;
use gatehouse_store::store_test;

/// Realm `main`: `local` (database), `corp` (ldap, at a dead address), `iam` (oauth2) with
/// `supersedes = ["ldap"]` and `enabled = @IAM@`.
const REALM: &str = r#"
[realms.main]
chain = ["iam", "corp", "local"]
[[realms.main.providers]]
id = "local"
kind = "database"
[[realms.main.providers]]
id = "corp"
kind = "ldap"
urls = ["ldap://127.0.0.1:9"]
[realms.main.providers.user_search]
base_dn = "ou=people,dc=example,dc=org"
[[realms.main.providers]]
id = "iam"
kind = "oauth2"
enabled = @IAM@
supersedes = ["ldap"]
client_id = "gatehouse"
auth_url = "http://127.0.0.1:9/authorize"
token_url = "http://127.0.0.1:9/token"
profile_url = "http://127.0.0.1:9/me"
"#;

fn with_iam(env: &Env, enabled: bool) {
    let text = std::fs::read_to_string(&env.config).unwrap();
    let text = text.replace(
        &format!("enabled = {}", !enabled),
        &format!("enabled = {enabled}"),
    );
    std::fs::write(&env.config, text).unwrap();
}

store_test!(
    a_superseding_provider_disables_directory_only_accounts_and_restores_them,
    |store| async move {
        let env = Env::new(store, &REALM.replace("@IAM@", "false"));
        for user in ["dora", "mixed"] {
            env.ok(&["user", "add", "--realm", "main", user], "");
            env.ok(
                &[
                    "user",
                    "link",
                    "--realm",
                    "main",
                    "--provider",
                    "corp",
                    user,
                    "--external-id",
                    &format!("uid={user},ou=people,dc=example,dc=org"),
                ],
                "",
            );
        }
        env.ok(
            &["user", "set-password", "--realm", "main", "mixed"],
            "mixed: a long enough Password1\n",
        );
        // An oauth2 link needs the external id the callback will match.
        let refused = env.run(
            &[
                "user",
                "link",
                "--realm",
                "main",
                "--provider",
                "iam",
                "mixed",
            ],
            "",
        );
        assert_ne!(refused.code(), 0, "{}", refused.all());
        assert!(
            refused.stderr().contains("--external-id"),
            "{}",
            refused.all()
        );

        // Provider off: nothing to do.
        let dry = env.ok(
            &["accounts", "supersede", "--realm", "main", "--dry-run"],
            "",
        );
        assert!(dry.contains("would change 0 account(s)"), "{dry}");

        with_iam(&env, true);
        let dry = env.ok(
            &["accounts", "supersede", "--realm", "main", "--dry-run"],
            "",
        );
        assert!(dry.contains("disable dora: superseded by iam"), "{dry}");
        assert!(
            dry.contains("link corp: inert (superseded by iam)"),
            "{dry}"
        );
        assert!(!dry.contains("mixed"), "{dry}");
        assert!(dry.contains("would change 1 account(s)"), "{dry}");
        // The dry run wrote nothing: the real run below still has the change to make.
        let real = env.ok(&["accounts", "supersede", "--realm", "main"], "");
        // The real run also names the store it wrote to.
        let (real, store) = real.rsplit_once("store: ").expect("the store written to");
        assert!(
            store.starts_with("sqlite:") || store.starts_with("postgres"),
            "{store}"
        );
        assert_eq!(
            real.replace("changed 1", "N"),
            dry.replace("would change 1", "N"),
            "the dry run and the real run list the same accounts"
        );
        let shown = env.ok(&["user", "show", "--realm", "main", "dora"], "");
        assert!(shown.contains("superseded by iam"), "{shown}");
        let shown = env.ok(&["user", "show", "--realm", "main", "mixed"], "");
        assert!(shown.contains("status:    active"), "{shown}");
        // Applied once: the next run has nothing to do.
        let again = env.ok(&["accounts", "supersede", "--realm", "main"], "");
        assert!(again.contains("changed 0 account(s)"), "{again}");

        // Switched off: dora is restored.
        with_iam(&env, false);
        let dry = env.ok(
            &["accounts", "supersede", "--realm", "main", "--dry-run"],
            "",
        );
        assert!(dry.contains("restore dora"), "{dry}");
        let real = env.ok(&["accounts", "supersede", "--realm", "main"], "");
        assert!(real.contains("restore dora"), "{real}");
        let shown = env.ok(&["user", "show", "--realm", "main", "dora"], "");
        assert!(shown.contains("status:    active"), "{shown}");
        let again = env.ok(&["accounts", "supersede", "--realm", "main"], "");
        assert!(again.contains("changed 0 account(s)"), "{again}");
    }
);
