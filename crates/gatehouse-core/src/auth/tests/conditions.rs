//! What branches test, one condition at a time.

use std::collections::HashSet;

use chrono::Utc;
use serde_json::json;

use super::*;
use crate::auth::condition::Facts;

fn holds(
    condition: serde_json::Value,
    account: Option<&Account>,
    passed: &[PassedMechanism],
    context: &FlowContext,
    enrolled: &HashSet<MechanismRef>,
) -> bool {
    let c: Condition = serde_json::from_value(condition).unwrap();
    c.evaluate(&Facts {
        account,
        passed,
        context,
        enrolled,
    })
}

#[test]
fn each_condition_tests_what_it_says() {
    let mut admin = account("root", &["admins"]);
    admin.roles = vec!["auditor".into()];
    let passed = vec![PassedMechanism {
        mechanism: MechanismRef::new("password"),
        provider: Some("corp".into()),
        amr: vec!["pwd".into()],
        at: Utc::now(),
    }];
    let context = FlowContext {
        requested_acr: vec!["gold".into()],
        remembered_browser: false,
        client: serde_json::Value::Null,
        ..FlowContext::default()
    };
    let enrolled: HashSet<MechanismRef> = [MechanismRef::new("otp")].into();
    let a = Some(&admin);
    let t = |c| holds(c, a, &passed, &context, &enrolled);
    assert!(t(json!({ "group": "admins" })));
    assert!(!t(json!({ "group": "staff" })));
    assert!(t(json!({ "role": "auditor" })));
    assert!(!t(json!({ "role": "admins" })));
    assert!(t(json!({ "first_provider": "corp" })));
    assert!(!t(json!({ "first_provider": "local" })));
    assert!(t(json!({ "enrolled": "otp" })));
    assert!(!t(json!({ "enrolled": "key" })));
    assert!(t(json!({ "requested_acr": "gold" })));
    assert!(!t(json!({ "requested_acr": "silver" })));
    assert!(t(json!({ "remembered_browser": false })));
    assert!(!t(json!({ "remembered_browser": true })));
    assert!(t(json!({ "passed": "password" })));
    assert!(!t(json!({ "passed": "otp" })));
    assert!(t(json!({ "not": { "group": "staff" } })));
    assert!(t(
        json!({ "any": [{ "group": "staff" }, { "role": "auditor" }] })
    ));
    assert!(!t(
        json!({ "all": [{ "group": "admins" }, { "role": "nope" }] })
    ));

    // Before any account, account conditions are false.
    let none = holds(json!({ "group": "admins" }), None, &[], &context, &enrolled);
    assert!(!none);
    assert!(!holds(
        json!({ "enrolled": "otp" }),
        None,
        &[],
        &context,
        &enrolled
    ));
}
