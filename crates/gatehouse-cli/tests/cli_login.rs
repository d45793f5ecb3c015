//! Acceptance of the foundation issue through the real binary: bootstrap, login, mixed mode,
//! explain, account administration, broken configurations. Each test runs on SQLite and PostgreSQL.

mod common;

use common::{Env, MIXED_REALM, ONE_DATABASE_REALM, SUPERSEDING_REALM};
use gatehouse_store::store_test;

const GENERIC: &str = "refused: Invalid username or password.";

store_test!(
    bootstrap_admin_logs_in_and_refusals_are_indistinguishable,
    |store| async move {
        let env = Env::new(store, ONE_DATABASE_REALM);
        env.ok(&["migrate"], "");
        let out = env.ok(
            &["admin", "bootstrap", "--realm", "main", "root"],
            "Correct horse1\n",
        );
        assert!(out.contains("break-glass administrator root"), "{out}");

        let good = env.run(&["login", "--realm", "main", "root"], "Correct horse1\n");
        assert_eq!(good.code(), 0, "{}", good.all());
        assert!(good.stdout().contains("success: root"), "{}", good.all());
        assert!(
            good.stdout().contains("tried local: verified"),
            "{}",
            good.all()
        );

        let wrong = env.run(&["login", "--realm", "main", "root"], "wrong\n");
        let unknown = env.run(&["login", "--realm", "main", "nobody"], "Correct horse1\n");
        assert_eq!(wrong.code(), 1);
        assert_eq!(unknown.code(), 1);
        for run in [&wrong, &unknown] {
            let first_refusal = run
                .stdout()
                .lines()
                .find(|l| l.starts_with("refused"))
                .map(str::to_owned);
            assert_eq!(first_refusal.as_deref(), Some(GENERIC), "{}", run.all());
        }

        let shown = env.ok(&["user", "show", "--realm", "main", "root"], "");
        assert!(shown.contains("roles:     admin"), "{shown}");
        assert!(shown.contains("protected (break-glass admin)"), "{shown}");
        assert!(shown.contains("1 succeeded"), "{shown}");
        assert!(shown.contains("1 failed"), "{shown}");
    }
);

store_test!(
    mixed_mode_tries_linked_providers_in_chain_order,
    |store| async move {
        let env = Env::new(store, MIXED_REALM);
        env.ok(&["migrate"], "");
        env.ok(
            &[
                "user",
                "add",
                "--realm",
                "main",
                "both",
                "--email",
                "both@example.org",
            ],
            "",
        );
        env.ok(
            &[
                "user",
                "set-password",
                "--realm",
                "main",
                "--provider",
                "corp",
                "both",
            ],
            "Corp-pw1\n",
        );
        env.ok(
            &[
                "user",
                "set-password",
                "--realm",
                "main",
                "--provider",
                "local",
                "both",
            ],
            "Local-pw1\n",
        );
        env.ok(&["user", "add", "--realm", "main", "onlylocal"], "");
        // Without --provider: the realm's first database provider in chain order (corp).
        env.ok(
            &["user", "set-password", "--realm", "main", "onlylocal"],
            "Xx12345\n",
        );
        env.ok(
            &[
                "user",
                "unlink",
                "--realm",
                "main",
                "--provider",
                "corp",
                "onlylocal",
            ],
            "",
        );
        env.ok(
            &[
                "user",
                "set-password",
                "--realm",
                "main",
                "--provider",
                "local",
                "onlylocal",
            ],
            "Local-only-pw1\n",
        );

        let by_corp = env.ok(&["login", "--realm", "main", "both"], "Corp-pw1\n");
        assert!(by_corp.contains("tried corp: verified"), "{by_corp}");
        assert!(!by_corp.contains("tried local"), "{by_corp}");

        let by_local = env.ok(&["login", "--realm", "main", "BOTH"], "Local-pw1\n");
        let corp_at = by_local.find("tried corp: rejected").expect(&by_local);
        let local_at = by_local.find("tried local: verified").expect(&by_local);
        assert!(corp_at < local_at, "{by_local}");

        // Login by email works too (the realm allows it by default).
        env.ok(
            &["login", "--realm", "main", "both@example.org"],
            "Local-pw1\n",
        );

        // A user linked to one provider is never tried against the other, even with its password.
        let only = env.ok(
            &["login", "--realm", "main", "onlylocal"],
            "Local-only-pw1\n",
        );
        assert!(!only.contains("tried corp"), "{only}");
        let refused = env.run(&["login", "--realm", "main", "onlylocal"], "Corp-pw1\n");
        assert_eq!(refused.code(), 1);
        assert!(
            !refused.stdout().contains("tried corp"),
            "{}",
            refused.all()
        );

        let explained = env.ok(&["explain", "--realm", "main", "onlylocal"], "");
        assert!(
            explained.contains("1. corp (database): skip: the account has no link to it"),
            "{explained}"
        );
        assert!(
            explained.contains("2. local (database): try: the account has a live link"),
            "{explained}"
        );
        let explained = env.ok(&["explain", "--realm", "main", "stranger"], "");
        assert!(explained.contains("no account"), "{explained}");
        assert!(
            explained.contains("no provider would be tried"),
            "{explained}"
        );
    }
);

store_test!(accounts_are_administered_from_the_cli, |store| async move {
    let env = Env::new(store, ONE_DATABASE_REALM);
    env.ok(&["migrate"], "");
    env.ok(
        &[
            "user", "add", "--realm", "main", "Carol", "--name", "Carol C",
        ],
        "",
    );
    let dup = env.run(&["user", "add", "--realm", "main", "carol"], "");
    assert_ne!(dup.code(), 0);
    assert!(
        dup.stderr().contains("carol") || dup.stderr().contains("Carol"),
        "{}",
        dup.all()
    );

    env.ok(
        &["user", "set-password", "--realm", "main", "carol"],
        "Pw-1abc\n",
    );
    env.ok(&["login", "--realm", "main", "carol"], "Pw-1abc\n");

    env.ok(
        &[
            "user", "disable", "--realm", "main", "carol", "--reason", "on leave",
        ],
        "",
    );
    let refused = env.run(&["login", "--realm", "main", "carol"], "Pw-1abc\n");
    assert_eq!(refused.code(), 1);
    assert!(refused.stdout().contains(GENERIC), "{}", refused.all());
    assert!(refused.stdout().contains("on leave"), "{}", refused.all());
    let listed = env.ok(&["user", "list", "--realm", "main"], "");
    assert!(listed.contains("disabled (on leave)"), "{listed}");

    env.ok(&["user", "enable", "--realm", "main", "carol"], "");
    env.ok(&["login", "--realm", "main", "carol"], "Pw-1abc\n");

    env.ok(
        &[
            "user",
            "unlink",
            "--realm",
            "main",
            "--provider",
            "local",
            "carol",
        ],
        "",
    );
    let shown = env.ok(&["user", "show", "--realm", "main", "carol"], "");
    assert!(shown.contains("links:     none"), "{shown}");
    assert_eq!(
        env.run(&["login", "--realm", "main", "carol"], "Pw-1abc\n")
            .code(),
        1
    );

    // The break-glass link is not removed by accident.
    env.ok(
        &["admin", "bootstrap", "--realm", "main", "root"],
        "Pw-long-enough1\n",
    );
    let kept = env.run(
        &[
            "user",
            "unlink",
            "--realm",
            "main",
            "--provider",
            "local",
            "root",
        ],
        "",
    );
    assert_ne!(kept.code(), 0);
    assert!(kept.stderr().contains("--force"), "{}", kept.all());

    let bad_provider = env.run(
        &[
            "user",
            "link",
            "--realm",
            "main",
            "--provider",
            "nope",
            "carol",
        ],
        "",
    );
    assert_eq!(bad_provider.code(), 2);
    assert!(
        bad_provider.stderr().contains("no provider `nope`"),
        "{}",
        bad_provider.all()
    );
    let bad_realm = env.run(&["user", "list", "--realm", "elsewhere"], "");
    assert!(
        bad_realm.stderr().contains("no realm `elsewhere`"),
        "{}",
        bad_realm.all()
    );
});

store_test!(
    supersession_disables_and_restores_from_configuration,
    |store| async move {
        let env = Env::new(store, SUPERSEDING_REALM);
        env.ok(&["migrate"], "");
        env.ok(&["user", "add", "--realm", "main", "legacy"], "");
        env.ok(
            &[
                "user",
                "set-password",
                "--realm",
                "main",
                "--provider",
                "old",
                "legacy",
            ],
            "Legacy-pw1\n",
        );
        env.ok(
            &["admin", "bootstrap", "--realm", "main", "root"],
            "Root-pw-long-enough1\n",
        );
        env.ok(
            &[
                "user",
                "link",
                "--realm",
                "main",
                "--provider",
                "old",
                "root",
            ],
            "",
        );

        let shown = env.ok(&["user", "show", "--realm", "main", "legacy"], "");
        assert!(
            shown.contains("status:    disabled (superseded by new)"),
            "{shown}"
        );
        assert!(shown.contains("inert: superseded by new"), "{shown}");
        let refused = env.run(&["login", "--realm", "main", "legacy"], "Legacy-pw1\n");
        assert_eq!(refused.code(), 1);
        assert!(
            refused.stdout().contains("superseded by new"),
            "{}",
            refused.all()
        );
        env.ok(
            &["login", "--realm", "main", "root"],
            "Root-pw-long-enough1\n",
        );

        // Switching the superseding provider off restores the account.
        let restored = env.run_with(
            &["login", "--realm", "main", "legacy"],
            "Legacy-pw1\n",
            &[("GATEHOUSE_REALMS__MAIN__PROVIDERS__NEW__ENABLED", "false")],
        );
        assert_eq!(restored.code(), 0, "{}", restored.all());
    }
);

#[test]
fn a_broken_configuration_fails_check_config_and_serve_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("broken.toml");
    std::fs::write(
        &config,
        "[realms.main]\nchain = [\"local\", \"corp\"]\n[[realms.main.providers]]\nid = \"local\"\nkind = \"database\"\n",
    )
    .unwrap();
    for command in ["check-config", "serve"] {
        let out = std::process::Command::new(common::BIN)
            .args(["--config", config.to_str().unwrap(), command])
            .current_dir(dir.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{command}: {stderr}");
        assert!(
            stderr.contains("realms.main.chain[1]"),
            "{command}: {stderr}"
        );
        assert!(stderr.contains("no provider `corp`"), "{command}: {stderr}");
    }
    // Nothing was created by the refused start.
    assert!(!dir.path().join("gatehouse.db").exists());

    std::fs::write(&config, "[server]\nlisten = \"127.0.0.1:8080\"\nport = 1\n").unwrap();
    let out = std::process::Command::new(common::BIN)
        .args(["--config", config.to_str().unwrap(), "check-config"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("port"));

    let missing = std::process::Command::new(common::BIN)
        .args(["--config", "/nonexistent/gatehouse.toml", "check-config"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/gatehouse.toml"));
}

#[test]
fn the_shipped_configuration_checks_out() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = std::process::Command::new(common::BIN)
        .arg("check-config")
        .current_dir(&root)
        .env_remove("GATEHOUSE_CONFIG")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("realm main: chain local"));
}
