//! Branches: what they test and where they jump.

use chrono::Utc;
use serde_json::json;

use super::engine_basic::fields_ok;
use super::*;

fn admins_policy() -> Policy {
    policy(
        "p",
        json!([
            { "mechanism": "first" },
            { "when": { "group": "admins" }, "else": "done" },
            { "id": "second", "mechanism": "otp" },
        ]),
    )
}

#[tokio::test]
async fn a_branch_on_a_group_adds_a_step_for_admins_only() {
    let admin = account("root", &["admins"]);
    let user = account("user", &["staff"]);
    let s = engine(
        vec![admins_policy()],
        vec![
            TestMechanism::new("first", "pwd", &[&admin, &user]),
            TestMechanism::new("otp", "otp", &[&admin, &user]),
        ],
    );
    let now = Utc::now();
    let a = s.start("p", now).await;
    let done = success(
        s.engine
            .submit(&state(&a), fields_ok("user"), now)
            .await
            .unwrap(),
    );
    assert_eq!(done.amr, vec!["pwd"]);

    let a = s.start("p", now).await;
    let b = s.submit(&a, fields_ok("root"), now).await;
    let Answer::Challenge { mechanism, .. } = &b else {
        panic!("{b:?}")
    };
    assert_eq!(mechanism.to_string(), "otp");
    let done = success(
        s.engine
            .submit(&state(&b), fields(&[("code", "ok")]), now)
            .await
            .unwrap(),
    );
    assert_eq!(done.amr, vec!["pwd", "otp"]);
}

#[tokio::test]
async fn a_branch_can_jump_over_steps_and_deny() {
    let alice = account("alice", &["blocked"]);
    let bob = account("bob", &[]);
    let s = engine(
        vec![policy(
            "p",
            json!([
                { "mechanism": "first" },
                { "when": { "group": "blocked" }, "then": "deny" },
                { "when": { "not": { "group": "vip" } }, "then": "last" },
                { "mechanism": "otp" },
                { "id": "last", "mechanism": "key" },
            ]),
        )],
        vec![
            TestMechanism::new("first", "pwd", &[&alice, &bob]),
            TestMechanism::new("otp", "otp", &[&alice, &bob]),
            TestMechanism::new("key", "hwk", &[&alice, &bob]),
        ],
    );
    let now = Utc::now();
    let a = s.start("p", now).await;
    let b = s.submit(&a, fields_ok("alice"), now).await;
    assert_eq!(failure_code(&b), "denied");

    let a = s.start("p", now).await;
    let b = s.submit(&a, fields_ok("bob"), now).await;
    let Answer::Challenge { mechanism, .. } = &b else {
        panic!("{b:?}")
    };
    assert_eq!(mechanism.to_string(), "key", "the branch jumps over `otp`");
}

#[tokio::test]
async fn branches_test_the_requested_level_and_the_remembered_browser() {
    let alice = account("alice", &[]);
    let s = engine(
        vec![policy(
            "p",
            json!([
                { "mechanism": "first" },
                { "when": { "any": [
                    { "requested_acr": "gold" },
                    { "not": { "remembered_browser": true } },
                ] }, "else": "done" },
                { "mechanism": "otp" },
            ]),
        )],
        vec![
            TestMechanism::new("first", "pwd", &[&alice]),
            TestMechanism::new("otp", "otp", &[&alice]),
        ],
    );
    let now = Utc::now();
    let run = |requested: &[&str], remembered: bool| {
        let start = FlowStart {
            context: FlowContext {
                requested_acr: requested.iter().map(|s| s.to_string()).collect(),
                remembered_browser: remembered,
                client: serde_json::Value::Null,
                ..FlowContext::default()
            },
            ..FlowStart::default()
        };
        let engine = &s.engine;
        async move {
            let a = engine.start("p", start, now).await.unwrap();
            let b = engine
                .submit(&state(&a), fields_ok("alice"), now)
                .await
                .unwrap();
            matches!(b, Answer::Challenge { .. })
        }
    };
    assert!(
        run(&[], false).await,
        "an unknown browser gets the second step"
    );
    assert!(!run(&[], true).await, "a remembered browser skips it");
    assert!(run(&["gold"], true).await, "unless the RP asks for gold");
}

#[tokio::test]
async fn a_branch_tests_the_first_provider_and_the_enrolment() {
    let alice = account("alice", &[]);
    let bob = account("bob", &[]);
    let s = engine(
        vec![policy(
            "p",
            json!([
                { "mechanism": "first" },
                { "when": { "all": [
                    { "first_provider": "first-provider" },
                    { "enrolled": "otp" },
                ] }, "else": "done" },
                { "mechanism": "otp" },
            ]),
        )],
        vec![
            TestMechanism::new("first", "pwd", &[&alice, &bob]),
            TestMechanism::new("otp", "otp", &[&alice, &bob]).enrolled(&[&alice]),
        ],
    );
    let now = Utc::now();
    let a = s.start("p", now).await;
    let b = s.submit(&a, fields_ok("alice"), now).await;
    assert!(matches!(b, Answer::Challenge { .. }), "{b:?}");
    let a = s.start("p", now).await;
    let done = success(
        s.engine
            .submit(&state(&a), fields_ok("bob"), now)
            .await
            .unwrap(),
    );
    assert_eq!(
        done.amr,
        vec!["pwd"],
        "bob has no otp enrolled: the branch skips it"
    );
}

#[tokio::test]
async fn a_policy_whose_branches_skip_every_mechanism_proves_nobody() {
    let s = engine(
        vec![policy(
            "p",
            json!([
                { "when": { "remembered_browser": true }, "then": "done" },
                { "mechanism": "first" },
            ]),
        )],
        vec![TestMechanism::new("first", "pwd", &[])],
    );
    let start = FlowStart {
        context: FlowContext {
            remembered_browser: true,
            ..FlowContext::default()
        },
        ..FlowStart::default()
    };
    let answer = s.engine.start("p", start, Utc::now()).await.unwrap();
    assert_eq!(failure_code(&answer), "no_account");
}

/// docs/authentication-policies.md, the worked example: the second factor is whichever
/// mechanism the first step did not use.
#[tokio::test]
async fn the_documented_example_asks_admins_for_the_other_mechanism() {
    let alice = account("alice", &["staff"]);
    let bob = account("bob", &["admins"]);
    let s = engine(
        vec![policy(
            "staff",
            json!([
                { "choice": ["first", "otp"] },
                { "when": { "any": [{ "group": "admins" }, { "requested_acr": "mfa" }] }, "else": "done" },
                { "mechanism": "first" },
                { "mechanism": "otp" },
            ]),
        )],
        vec![
            TestMechanism::new("first", "pwd", &[&alice, &bob]),
            TestMechanism::new("otp", "fed", &[&alice, &bob]),
        ],
    );
    let now = Utc::now();
    let pick = |answer: &Answer, what: &str| (state(answer), Input::Choice(what.into()));

    let a = s.start("staff", now).await;
    let (id, input) = pick(&a, "first");
    let b = s.engine.submit(&id, input, now).await.unwrap();
    let done = success(
        s.engine
            .submit(&state(&b), fields_ok("alice"), now)
            .await
            .unwrap(),
    );
    assert_eq!(done.amr, vec!["pwd"]);

    let a = s.start("staff", now).await;
    let (id, input) = pick(&a, "otp");
    let b = s.engine.submit(&id, input, now).await.unwrap();
    let c = s.submit(&b, fields_ok("bob"), now).await;
    let Answer::Challenge { mechanism, .. } = &c else {
        panic!("{c:?}")
    };
    assert_eq!(mechanism.to_string(), "first");
    let done = success(
        s.engine
            .submit(&state(&c), fields(&[("code", "ok")]), now)
            .await
            .unwrap(),
    );
    assert_eq!(done.amr, vec!["fed", "pwd"]);
}
