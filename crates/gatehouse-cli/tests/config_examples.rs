//! Every shipped example configuration passes `gatehouse check-config`.

use std::process::Command;

#[test]
fn the_redirect_provider_examples_check_out() {
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/examples");
    let dir = tempfile::tempdir().unwrap();
    // The examples name their client secret by `env:`/`file:` reference; give each one a value
    // through the environment overlay, as an operator would.
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "not-a-real-secret\n").unwrap();
    for file in ["upstream-oidc.toml", "oauth2-iam.toml", "saml.toml"] {
        let mut command = Command::new(env!("CARGO_BIN_EXE_gatehouse"));
        command
            .args([
                "--config",
                examples.join(file).to_str().unwrap(),
                "check-config",
            ])
            .current_dir(dir.path())
            .env_remove("GATEHOUSE_CONFIG")
            // upstream-oidc.toml: `env:GATEHOUSE_CORP_SSO_SECRET` (no `__`: not an override).
            .env("GATEHOUSE_CORP_SSO_SECRET", "not-a-real-secret")
            .env("GATEHOUSE_DEMO_APP_SECRET", "not-a-real-secret")
            // saml.toml: its example client's secret.
            .env("GATEHOUSE_EXAMPLE_APP_SECRET", "not-a-real-secret");
        if file == "oauth2-iam.toml" {
            // It names /run/secrets/…; point it at a file that exists here.
            command.env(
                "GATEHOUSE_REALMS__MAIN__PROVIDERS__IAM__CLIENT_SECRET",
                format!("file:{}", secret.display()),
            );
        }
        let out = command.output().unwrap();
        assert!(
            out.status.success(),
            "{file}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains("realm main"), "{file}: {stdout}");
    }
}
