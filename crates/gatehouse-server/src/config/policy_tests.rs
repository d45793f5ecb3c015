//! `[[realms.R.policies]]` and `[realms.R.flows]`: every problem names its key.

use gatehouse_core::auth::{MechanismRef, StepKind, Target};

use super::*;

const REALM: &str = r#"
[realms.main]
chain = ["local", "corp"]
[[realms.main.providers]]
id = "local"
kind = "database"
[[realms.main.providers]]
id = "corp"
kind = "oidc"
issuer = "https://idp.example"
client_id = "gatehouse"
"#;

const STAFF: &str = r#"
[[realms.main.policies]]
id = "staff"
acr = "urn:example:acr:mfa"
max_age = 3600

[[realms.main.policies.steps]]
choice = ["password", "federated"]

[[realms.main.policies.steps]]
when = { any = [{ group = "admins" }, { requested_acr = "urn:example:acr:mfa" }] }
else = "done"

[[realms.main.policies.steps]]
id = "second"
mechanism = "federated:corp"
"#;

fn load(text: &str) -> Result<Config, ConfigError> {
    Config::from_toml(text, "test.toml", Vec::new())
}

fn problem(extra: &str) -> String {
    load(&format!("{REALM}{extra}")).unwrap_err().to_string()
}

fn expect(extra: &str, key: &str, words: &str) {
    let err = problem(extra);
    assert!(
        err.contains(&format!("{key}: ")) && err.contains(words),
        "expected `{key}: …{words}…` in\n{err}"
    );
}

#[test]
fn policies_load_and_a_realm_without_any_gets_the_implicit_default() {
    let config = load(&format!("{REALM}{STAFF}")).unwrap();
    let realm = config.realm("main").unwrap();
    let policies = realm.auth_policies("main");
    assert_eq!(policies.len(), 1);
    let staff = &policies[0];
    assert_eq!(staff.acr, "urn:example:acr:mfa");
    assert_eq!(staff.max_age, Some(3600));
    assert_eq!(
        staff.steps[0].kind,
        StepKind::Choice(vec![
            MechanismRef::new("password"),
            MechanismRef::with_provider("federated", "corp"),
        ])
    );
    assert!(matches!(
        staff.steps[1].kind,
        StepKind::Branch {
            then: Target::Next,
            otherwise: Target::Done,
            ..
        }
    ));
    assert_eq!(staff.steps[2].id, "second");
    assert_eq!(realm.flows.lifetime, 600);
    assert_eq!(realm.flows.max_failed_inputs, 5);

    let config = load(REALM).unwrap();
    let defaults = config.realm("main").unwrap().auth_policies("main");
    assert_eq!(defaults.len(), 1);
    assert_eq!(defaults[0].id, "default");
    assert_eq!(
        defaults[0].steps[0].kind,
        StepKind::Choice(vec![
            MechanismRef::new("password"),
            MechanismRef::with_provider("federated", "corp"),
        ])
    );
}

#[test]
fn an_unknown_mechanism_is_named() {
    expect(
        "[[realms.main.policies]]\nid = \"p\"\nacr = \"a\"\n[[realms.main.policies.steps]]\nmechanism = \"webauthn\"\n",
        "realms.main.policies[0].steps[0].mechanism",
        "unknown mechanism `webauthn`; this build offers `password`, `federated`",
    );
    expect(
        "[[realms.main.policies]]\nid = \"p\"\nacr = \"a\"\n[[realms.main.policies.steps]]\nchoice = [\"password\", \"federated:local\"]\n",
        "realms.main.policies[0].steps[0].choice[1]",
        "`local` is not an enabled redirect provider",
    );
}

#[test]
fn a_branch_on_an_unknown_attribute_is_named() {
    let err = problem(
        "[[realms.main.policies]]\nid = \"p\"\nacr = \"a\"\n[[realms.main.policies.steps]]\nmechanism = \"password\"\n[[realms.main.policies.steps]]\nwhen = { department = \"sales\" }\nthen = \"done\"\n",
    );
    assert!(
        err.contains("realms.main.policies[0].steps[1].when"),
        "{err}"
    );
    assert!(err.contains("a branch cannot test `department`"), "{err}");
    expect(
        "[[realms.main.policies]]\nid = \"p\"\nacr = \"a\"\n[[realms.main.policies.steps]]\nmechanism = \"password\"\n[[realms.main.policies.steps]]\nwhen = { first_provider = \"nobody\" }\nthen = \"done\"\n",
        "realms.main.policies[0].steps[1].when",
        "`nobody`, which is not a provider of this realm",
    );
}

#[test]
fn a_cycle_is_named() {
    expect(
        "[[realms.main.policies]]\nid = \"p\"\nacr = \"a\"\n[[realms.main.policies.steps]]\nid = \"first\"\nmechanism = \"password\"\n[[realms.main.policies.steps]]\nwhen = { group = \"x\" }\nthen = \"first\"\n",
        "realms.main.policies[0].steps[1].then",
        "jumps back to step `first`, which would run steps again (a cycle)",
    );
}

#[test]
fn an_unreachable_step_is_named() {
    expect(
        "[[realms.main.policies]]\nid = \"p\"\nacr = \"a\"\n[[realms.main.policies.steps]]\nmechanism = \"password\"\n[[realms.main.policies.steps]]\nwhen = { group = \"x\" }\nthen = \"done\"\nelse = \"deny\"\n[[realms.main.policies.steps]]\nid = \"lost\"\nmechanism = \"federated\"\n",
        "realms.main.policies[0].steps[2]",
        "step `lost` can never run",
    );
}

#[test]
fn duplicate_ids_are_named() {
    let twice = format!("{STAFF}{}", STAFF.replace("second", "other"));
    expect(
        &twice,
        "realms.main.policies[1].id",
        "policy id `staff` is used twice in this realm",
    );
    expect(
        "[[realms.main.policies]]\nid = \"p\"\nacr = \"a\"\n[[realms.main.policies.steps]]\nid = \"x\"\nmechanism = \"password\"\n[[realms.main.policies.steps]]\nid = \"x\"\nmechanism = \"federated\"\n",
        "realms.main.policies[0].steps[1].id",
        "step id `x` is used twice in this policy",
    );
}

#[test]
fn unknown_keys_and_missing_providers_are_named() {
    let err = problem(
        "[[realms.main.policies]]\nid = \"p\"\nacr = \"a\"\n[[realms.main.policies.steps]]\nmechanism = \"password\"\ngoto = \"x\"\n",
    );
    assert!(err.contains("realms.main.policies[0].steps[0]"), "{err}");
    assert!(err.contains("unknown field `goto`"), "{err}");
    let only_idp = REALM.replace("chain = [\"local\", \"corp\"]", "chain = [\"corp\"]");
    let err = load(&format!(
        "{only_idp}[[realms.main.policies]]\nid = \"p\"\nacr = \"a\"\n[[realms.main.policies.steps]]\nmechanism = \"password\"\n"
    ))
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("realms.main.policies[0].steps[0].mechanism: `password` checks the chain's password providers"),
        "{err}"
    );
}

#[test]
fn flow_limits_are_checked() {
    expect(
        "[realms.main.flows]\nlifetime = 5\n",
        "realms.main.flows.lifetime",
        "5 seconds is out of range",
    );
    expect(
        "[realms.main.flows]\nmax_failed_inputs = 0\n",
        "realms.main.flows.max_failed_inputs",
        "between 1 and 100",
    );
    let config = load(&format!(
        "{REALM}[realms.main.flows]\nlifetime = 300\nmax_failed_inputs = 3\nmax_input_bytes = 2048\n"
    ))
    .unwrap();
    let flows = config.realm("main").unwrap().flows;
    assert_eq!(
        (
            flows.lifetime,
            flows.max_failed_inputs,
            flows.max_input_bytes
        ),
        (300, 3, 2048)
    );
}
