//! Supersession through the resolver: inert links, superseded accounts, the protected link.

use super::*;

#[tokio::test]
async fn superseded_links_are_inert_and_accounts_left_without_a_live_link_are_disabled() {
    let corp = Arc::new(TestProvider::ldap("corp", Script::Password("pw")));
    let local = Arc::new(TestProvider::db("local", "pw"));
    let iam = Arc::new(TestProvider::db("iam", "new-pw").superseding(&["ldap"]));
    let repo = Arc::new(MemoryRepo::default());
    repo.add("ldap-only", &[("corp", false)]);
    repo.add("mixed", &[("corp", false), ("local", false)]);
    let policy = realm(&[&corp, &local, &iam], OnUnavailable::Next);
    let r = resolver(policy.clone(), &[&corp, &local, &iam], &repo);

    let result = login(&r, "ldap-only", "pw").await;
    assert_eq!(refusal(&result), Refusal::Superseded { by: "iam".into() });
    assert_eq!(
        refusal(&result).public_message(),
        Refusal::InvalidCredentials.public_message()
    );
    assert_eq!(corp.calls(), 0);
    let (_, plan) = r.explain("ldap-only").await.unwrap();
    assert_eq!(plan.superseded_by.as_deref(), Some("iam"));
    assert_eq!(
        plan.steps[0].decision,
        StepDecision::SkipInert {
            superseded_by: "iam".into()
        }
    );

    // An account that keeps another live link is not superseded, and its inert link is skipped.
    let result = login(&r, "mixed", "pw").await;
    assert!(result.is_success());
    assert_eq!(tried(&result), vec![("local", "verified")]);

    // Switching the superseding provider off restores the account.
    let mut off = policy.clone();
    off.providers
        .iter_mut()
        .find(|p| p.id == "iam")
        .unwrap()
        .enabled = false;
    let r = resolver(off, &[&corp, &local, &iam], &repo);
    let result = login(&r, "ldap-only", "pw").await;
    assert!(result.is_success());
    assert_eq!(tried(&result), vec![("corp", "verified")]);
}

#[tokio::test]
async fn the_protected_bootstrap_link_is_never_superseded() {
    let local = Arc::new(TestProvider::db("local", "admin-pw"));
    let iam = Arc::new(TestProvider::ldap("iam", Script::Password("x")).superseding(&["database"]));
    let repo = Arc::new(MemoryRepo::default());
    repo.add("admin", &[("local", true)]);
    repo.add("plain", &[("local", false)]);
    let r = resolver(
        realm(&[&iam, &local], OnUnavailable::Next),
        &[&iam, &local],
        &repo,
    );

    let admin = login(&r, "admin", "admin-pw").await;
    assert!(admin.is_success());
    assert_eq!(tried(&admin), vec![("local", "verified")]);
    assert_eq!(
        refusal(&login(&r, "plain", "admin-pw").await),
        Refusal::Superseded { by: "iam".into() }
    );
}

#[tokio::test]
async fn disabled_and_redirect_providers_are_skipped_with_their_reason() {
    let off = TestProvider::db("off", "pw");
    let mut off_desc = off.descriptor.clone();
    off_desc.enabled = false;
    let off = Arc::new(off);
    let sso = Arc::new(TestProvider::new(
        "sso",
        ProviderKind::Oidc,
        Script::Password("pw"),
    ));
    let local = Arc::new(TestProvider::db("local", "pw"));
    let repo = Arc::new(MemoryRepo::default());
    repo.add("alice", &[("off", false), ("sso", false), ("local", false)]);
    let mut policy = realm(&[&off, &sso, &local], OnUnavailable::Next);
    policy.providers[0] = off_desc;
    let r = resolver(policy, &[&off, &sso, &local], &repo);

    let (_, plan) = r.explain("alice").await.unwrap();
    let decisions: Vec<_> = plan.steps.iter().map(|s| s.decision.clone()).collect();
    assert_eq!(
        decisions,
        vec![
            StepDecision::SkipDisabled,
            StepDecision::SkipRedirectProvider,
            StepDecision::TryLink
        ]
    );
    let result = login(&r, "alice", "pw").await;
    assert_eq!(tried(&result), vec![("local", "verified")]);
    assert_eq!(off.calls() + sso.calls(), 0);
}

#[tokio::test]
async fn a_chained_password_provider_without_an_implementation_is_a_configuration_error() {
    let a = Arc::new(TestProvider::db("a", "pw"));
    let b = Arc::new(TestProvider::db("b", "pw"));
    let repo = Arc::new(MemoryRepo::default());
    let policy = realm(&[&a, &b], OnUnavailable::Next);
    let err = Resolver::new(
        Arc::new(policy),
        vec![a.clone() as Arc<dyn PasswordProvider>],
        repo,
    )
    .err()
    .unwrap();
    assert!(err.to_string().contains("`b`"), "{err}");
}
