//! A policy's checks: each problem names its key.

use serde_json::json;

use super::*;

fn problems(steps: serde_json::Value) -> Vec<PolicyProblem> {
    spec("p", steps).build(&known()).unwrap_err()
}

fn one(steps: serde_json::Value, key: &str, words: &str) {
    let found = problems(steps);
    assert!(
        found
            .iter()
            .any(|p| p.key == key && p.message.contains(words)),
        "expected `{key}`: …{words}… in {found:#?}"
    );
}

#[test]
fn a_valid_policy_builds_with_targets_resolved() {
    let p = policy(
        "p",
        json!([
            { "mechanism": "password" },
            { "when": { "group": "admins" }, "then": "mfa", "else": "done" },
            { "id": "mfa", "choice": ["otp", "key"] },
        ]),
    );
    assert_eq!(p.acr, "acr-p");
    assert_eq!(p.steps[0].id, "step-1");
    assert_eq!(
        p.steps[1].kind,
        StepKind::Branch {
            when: Condition::Group("admins".into()),
            then: Target::Step(2),
            otherwise: Target::Done,
        }
    );
    assert_eq!(p.steps[2].id, "mfa");
}

#[test]
fn federated_alone_is_a_choice_among_the_chains_redirect_providers() {
    let p = policy("p", json!([{ "mechanism": "federated" }]));
    assert_eq!(
        p.steps[0].kind,
        StepKind::Choice(vec![
            "federated:corp".parse().unwrap(),
            "federated:social".parse().unwrap()
        ])
    );
    let p = policy("p", json!([{ "choice": ["password", "federated"] }]));
    assert!(matches!(&p.steps[0].kind, StepKind::Choice(o) if o.len() == 3));
    let p = policy("p", json!([{ "mechanism": "federated:corp" }]));
    assert_eq!(
        p.steps[0].kind,
        StepKind::Mechanism("federated:corp".parse().unwrap())
    );
}

#[test]
fn an_unknown_mechanism_is_named_with_the_ones_offered() {
    one(
        json!([{ "mechanism": "pasword" }]),
        "steps[0].mechanism",
        "unknown mechanism `pasword`; this build offers `password`",
    );
    one(
        json!([{ "choice": ["password", "sms"] }]),
        "steps[0].choice[1]",
        "unknown mechanism `sms`",
    );
    one(
        json!([{ "mechanism": "federated:nope" }]),
        "steps[0].mechanism",
        "`nope` is not an enabled redirect provider",
    );
    one(
        json!([{ "mechanism": "password:corp" }]),
        "steps[0].mechanism",
        "only `federated` takes a provider",
    );
    one(
        json!([{ "mechanism": "password" }, { "when": { "enrolled": "totp" }, "then": "done" }]),
        "steps[1].when",
        "unknown mechanism `totp`",
    );
}

#[test]
fn federated_without_redirect_providers_is_refused() {
    let known = Known {
        redirect_providers: vec![],
        ..known()
    };
    let err = spec("p", json!([{ "mechanism": "federated" }]))
        .build(&known)
        .unwrap_err();
    assert!(err[0].message.contains("has none enabled"), "{err:?}");
}

#[test]
fn a_branch_on_an_unknown_attribute_names_the_ones_that_exist() {
    let err = serde_json::from_value::<PolicySpec>(json!({
        "id": "p", "acr": "a",
        "steps": [{ "when": { "department": "sales" }, "then": "done" }]
    }))
    .unwrap_err()
    .to_string();
    assert!(err.contains("cannot test `department`"), "{err}");
    assert!(err.contains("group, role, first_provider"), "{err}");
    let err = serde_json::from_value::<Condition>(json!({ "group": "a", "role": "b" }))
        .unwrap_err()
        .to_string();
    assert!(err.contains("exactly one key"), "{err}");
    let err = serde_json::from_value::<Condition>(json!({ "remembered_browser": "yes" }))
        .unwrap_err()
        .to_string();
    assert!(err.contains("true or false"), "{err}");
    one(
        json!([{ "mechanism": "password" }, { "when": { "first_provider": "ghost" }, "then": "done" }]),
        "steps[1].when",
        "`ghost`, which is not a provider of this realm",
    );
}

#[test]
fn a_jump_backwards_is_a_cycle() {
    one(
        json!([
            { "id": "start", "mechanism": "password" },
            { "when": { "group": "x" }, "then": "start" },
        ]),
        "steps[1].then",
        "jumps back to step `start`, which would run steps again (a cycle)",
    );
    one(
        json!([{ "id": "self", "when": { "group": "x" }, "else": "self" }, { "mechanism": "password" }]),
        "steps[0].else",
        "a cycle",
    );
}

#[test]
fn an_unreachable_step_is_named() {
    one(
        json!([
            { "mechanism": "password" },
            { "when": { "group": "x" }, "then": "done", "else": "deny" },
            { "id": "orphan", "mechanism": "otp" },
        ]),
        "steps[2]",
        "step `orphan` can never run",
    );
    one(
        json!([
            { "mechanism": "password" },
            { "when": { "group": "x" }, "then": "last", "else": "last" },
            { "mechanism": "otp" },
            { "id": "last", "mechanism": "key" },
        ]),
        "steps[2]",
        "step `step-3` can never run",
    );
}

#[test]
fn duplicate_and_reserved_step_ids_and_unknown_targets_are_refused() {
    one(
        json!([{ "id": "a", "mechanism": "password" }, { "id": "a", "mechanism": "otp" }]),
        "steps[1].id",
        "step id `a` is used twice",
    );
    one(
        json!([{ "id": "done", "mechanism": "password" }]),
        "steps[0].id",
        "jump target of its own",
    );
    one(
        json!([{ "mechanism": "password" }, { "when": { "group": "x" }, "then": "nowhere" }]),
        "steps[1].then",
        "no step `nowhere` in this policy",
    );
}

#[test]
fn a_step_is_exactly_one_kind() {
    one(
        json!([{ "mechanism": "password", "choice": ["otp", "key"] }]),
        "steps[0]",
        "this one has mechanism and choice",
    );
    one(json!([{ "id": "x" }]), "steps[0]", "this one has none");
    one(
        json!([{ "mechanism": "password", "then": "done" }]),
        "steps[0].then",
        "`then` belongs to a branch",
    );
    one(
        json!([{ "when": { "group": "x" } }, { "mechanism": "password" }]),
        "steps[0]",
        "a branch needs `then` or `else`",
    );
    one(
        json!([{ "choice": [] }]),
        "steps[0].choice",
        "a choice needs",
    );
    one(
        json!([{ "choice": ["otp", "otp"] }]),
        "steps[0].choice[1]",
        "`otp` is offered twice",
    );
}

#[test]
fn the_policys_own_keys_are_checked() {
    let err = serde_json::from_value::<PolicySpec>(
        json!({ "id": "bad id", "acr": " ", "max_age": 0, "steps": [] }),
    )
    .unwrap()
    .build(&known())
    .unwrap_err();
    let keys: Vec<&str> = err.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(keys, ["id", "acr", "max_age", "steps"], "{err:#?}");
    let err = serde_json::from_value::<PolicySpec>(
        json!({ "id": "p", "acr": "a", "steps": [{ "mechanism": "password", "colour": 1 }] }),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("unknown field `colour`"), "{err}");
}

#[test]
fn the_implicit_default_is_todays_behaviour() {
    use crate::provider::{ProviderDescriptor, ProviderKind};
    use crate::realm::{OnUnavailable, RealmPolicy};
    let desc = |id: &str, kind| ProviderDescriptor {
        id: id.into(),
        kind,
        enabled: true,
        supersedes: vec![],
        jit: false,
    };
    let realm = |providers: Vec<ProviderDescriptor>| RealmPolicy {
        name: REALM.into(),
        chain: providers.iter().map(|p| p.id.clone()).collect(),
        providers,
        on_unavailable: OnUnavailable::Next,
        usernames_case_sensitive: false,
        login_with_email: true,
    };
    let only_passwords = Policy::implicit_default(&realm(vec![
        desc("local", ProviderKind::Database),
        desc("corp", ProviderKind::Ldap),
    ]));
    assert_eq!(only_passwords.id, "default");
    assert_eq!(only_passwords.acr, DEFAULT_ACR);
    assert_eq!(
        only_passwords.steps[0].kind,
        StepKind::Mechanism(MechanismRef::new("password"))
    );
    let mixed = Policy::implicit_default(&realm(vec![
        desc("local", ProviderKind::Database),
        desc("google", ProviderKind::Oidc),
        desc("corp", ProviderKind::Saml),
    ]));
    assert_eq!(
        mixed.steps[0].kind,
        StepKind::Choice(vec![
            MechanismRef::new("password"),
            MechanismRef::with_provider("federated", "google"),
            MechanismRef::with_provider("federated", "corp"),
        ])
    );
    let one_idp = Policy::implicit_default(&realm(vec![desc("google", ProviderKind::Oidc)]));
    assert_eq!(
        one_idp.steps[0].kind,
        StepKind::Mechanism(MechanismRef::with_provider("federated", "google"))
    );
}
