//! Every step kind, branches and choices, through the engine.

use chrono::Utc;
use serde_json::json;

use super::*;

#[tokio::test]
async fn a_mechanism_step_challenges_then_succeeds_with_its_amr_and_the_policy_acr() {
    let alice = account("alice", &[]);
    let s = engine(
        vec![policy("p", json!([{ "mechanism": "first" }]))],
        vec![TestMechanism::new("first", "pwd", &[&alice])],
    );
    let now = Utc::now();
    let answer = s.start("p", now).await;
    let Answer::Challenge {
        mechanism,
        fields,
        error,
        ..
    } = &answer
    else {
        panic!("expected a challenge, got {answer:?}");
    };
    assert_eq!(mechanism.to_string(), "first");
    assert_eq!(fields.len(), 2);
    assert_eq!(*error, None);
    assert_eq!(s.flows.len(), 1);

    let done = success(
        s.engine
            .submit(&state(&answer), fields_ok("alice"), now)
            .await
            .unwrap(),
    );
    assert_eq!(done.account.id, alice.id);
    assert_eq!(done.acr, "acr-p");
    assert_eq!(done.amr, vec!["pwd"]);
    assert_eq!(done.passed.len(), 1);
    assert_eq!(done.passed[0].provider.as_deref(), Some("first-provider"));
    assert_eq!(done.auth_time, now);
    // A finished flow leaves nothing behind.
    assert_eq!(s.flows.len(), 0);
}

pub fn fields_ok(login: &str) -> Input {
    fields(&[("login", login), ("code", "ok")])
}

#[tokio::test]
async fn steps_run_in_order_and_amr_accumulates_without_repeats() {
    let alice = account("alice", &[]);
    let s = engine(
        vec![policy(
            "p",
            json!([{ "mechanism": "first" }, { "mechanism": "otp" }, { "mechanism": "key" }]),
        )],
        vec![
            TestMechanism::new("first", "pwd", &[&alice]),
            TestMechanism::new("otp", "otp", &[&alice]),
            TestMechanism::new("key", "otp", &[&alice]),
        ],
    );
    let now = Utc::now();
    let a = s.start("p", now).await;
    let b = s.submit(&a, fields_ok("alice"), now).await;
    let Answer::Challenge { mechanism, .. } = &b else {
        panic!("{b:?}")
    };
    assert_eq!(mechanism.to_string(), "otp");
    // The later steps prove the flow's account: no login needed.
    let c = s.submit(&b, fields(&[("code", "ok")]), now).await;
    let d = s.submit(&c, fields(&[("code", "ok")]), now).await;
    let done = success(d);
    assert_eq!(done.amr, vec!["pwd", "otp"]);
    assert_eq!(done.passed.len(), 3);
}

#[tokio::test]
async fn a_later_factor_proving_another_account_is_a_failed_input() {
    let alice = account("alice", &[]);
    let bob = account("bob", &[]);
    let s = engine(
        vec![policy(
            "p",
            json!([{ "mechanism": "first" }, { "mechanism": "otp" }]),
        )],
        vec![
            TestMechanism::new("first", "pwd", &[&alice, &bob]),
            TestMechanism::new("otp", "otp", &[&alice, &bob]),
        ],
    );
    let now = Utc::now();
    let a = s.start("p", now).await;
    let b = s.submit(&a, fields_ok("alice"), now).await;
    let c = s.submit(&b, fields_ok("bob"), now).await;
    let Answer::Challenge { error, .. } = &c else {
        panic!("{c:?}")
    };
    assert!(error.as_deref().unwrap().contains("do not belong"), "{c:?}");
    let done = success(
        s.engine
            .submit(&state(&c), fields(&[("code", "ok")]), now)
            .await
            .unwrap(),
    );
    assert_eq!(done.account.id, alice.id);
}

#[tokio::test]
async fn a_choice_offers_its_mechanisms_and_begins_the_one_picked() {
    let alice = account("alice", &[]);
    let s = engine(
        vec![policy("p", json!([{ "choice": ["first", "otp"] }]))],
        vec![
            TestMechanism::new("first", "pwd", &[&alice]),
            TestMechanism::new("otp", "otp", &[&alice]),
        ],
    );
    let now = Utc::now();
    let a = s.start("p", now).await;
    let Answer::Choose { choices, .. } = &a else {
        panic!("{a:?}")
    };
    let ids: Vec<&str> = choices.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["first", "otp"]);

    // A choice that was not offered is a failed input, and the choice is offered again.
    let b = s.submit(&a, Input::Choice("password".into()), now).await;
    let Answer::Choose { error, .. } = &b else {
        panic!("{b:?}")
    };
    assert!(error.is_some());

    let c = s.submit(&b, Input::Choice("otp".into()), now).await;
    let Answer::Challenge { mechanism, .. } = &c else {
        panic!("{c:?}")
    };
    assert_eq!(mechanism.to_string(), "otp");
    let done = success(
        s.engine
            .submit(&state(&c), fields_ok("alice"), now)
            .await
            .unwrap(),
    );
    assert_eq!(done.amr, vec!["otp"]);
}

#[tokio::test]
async fn a_choice_offers_only_enrolled_mechanisms_and_one_left_is_begun_directly() {
    let alice = account("alice", &[]);
    let bob = account("bob", &[]);
    let s = engine(
        vec![policy(
            "p",
            json!([{ "mechanism": "first" }, { "choice": ["otp", "key"] }]),
        )],
        vec![
            TestMechanism::new("first", "pwd", &[&alice, &bob]),
            TestMechanism::new("otp", "otp", &[&alice, &bob]).enrolled(&[&alice]),
            TestMechanism::new("key", "hwk", &[&alice, &bob]).enrolled(&[&alice, &bob]),
        ],
    );
    let now = Utc::now();
    let a = s.start("p", now).await;
    let b = s.submit(&a, fields_ok("alice"), now).await;
    assert!(
        matches!(&b, Answer::Choose { choices, .. } if choices.len() == 2),
        "{b:?}"
    );

    let a = s.start("p", now).await;
    let b = s.submit(&a, fields_ok("bob"), now).await;
    let Answer::Challenge { mechanism, .. } = &b else {
        panic!("{b:?}")
    };
    assert_eq!(mechanism.to_string(), "key");
}

#[tokio::test]
async fn a_mechanism_the_account_has_not_enrolled_ends_the_flow() {
    let bob = account("bob", &[]);
    let s = engine(
        vec![policy(
            "p",
            json!([{ "mechanism": "first" }, { "mechanism": "otp" }]),
        )],
        vec![
            TestMechanism::new("first", "pwd", &[&bob]),
            TestMechanism::new("otp", "otp", &[&bob]).enrolled(&[]),
        ],
    );
    let now = Utc::now();
    let a = s.start("p", now).await;
    let b = s.submit(&a, fields_ok("bob"), now).await;
    assert_eq!(failure_code(&b), "not_enrolled");
    assert_eq!(s.flows.len(), 0);
}

#[tokio::test]
async fn a_redirect_step_answers_the_location_and_resumes_on_the_callback() {
    let alice = account("alice", &[]);
    let s = engine(
        vec![policy("p", json!([{ "mechanism": "idp" }]))],
        vec![TestMechanism::new("idp", "fed", &[&alice]).redirect()],
    );
    let now = Utc::now();
    let a = s.start("p", now).await;
    let Answer::Redirect {
        state_id, location, ..
    } = &a
    else {
        panic!("{a:?}")
    };
    assert_eq!(location, "https://idp.example/auth?n=1");
    // The callback carries the upstream's state back: it is the flow's next state id.
    assert!(state_id.as_str().starts_with("upstream-state-1-"));
    assert_eq!(a.to_wire().state_id.as_deref(), Some(state_id.as_str()));

    // A refused callback starts the step over, with a fresh upstream state.
    let b = s
        .engine
        .submit(
            state_id,
            callback(&[("login", "alice"), ("code", "no")]),
            now,
        )
        .await
        .unwrap();
    let Answer::Redirect {
        state_id: again, ..
    } = &b
    else {
        panic!("{b:?}")
    };
    assert!(again.as_str().starts_with("upstream-state-2-"));
    let done = success(
        s.engine
            .submit(again, callback(&[("login", "alice"), ("code", "ok")]), now)
            .await
            .unwrap(),
    );
    assert_eq!(done.amr, vec!["fed"]);
}

#[tokio::test]
async fn a_choice_whose_pick_cannot_begin_is_offered_again() {
    let alice = account("alice", &[]);
    let s = engine(
        vec![policy("p", json!([{ "choice": ["idp", "first"] }]))],
        vec![
            TestMechanism::new("idp", "fed", &[&alice])
                .redirect()
                .failing_begin(),
            TestMechanism::new("first", "pwd", &[&alice]),
        ],
    );
    let now = Utc::now();
    let a = s.start("p", now).await;
    let b = s.submit(&a, Input::Choice("idp".into()), now).await;
    let Answer::Choose { error, .. } = &b else {
        panic!("{b:?}")
    };
    assert_eq!(error.as_deref(), Some("not now"));
}

#[tokio::test]
async fn a_step_up_runs_only_the_missing_steps() {
    let alice = account("alice", &[]);
    let s = engine(
        vec![policy(
            "p",
            json!([{ "mechanism": "first" }, { "mechanism": "otp" }]),
        )],
        vec![
            TestMechanism::new("first", "pwd", &[&alice]),
            TestMechanism::new("otp", "otp", &[&alice]),
        ],
    );
    let earlier = Utc::now() - chrono::Duration::minutes(3);
    let now = Utc::now();
    let start = FlowStart {
        account: Some(alice.clone()),
        passed: vec![PassedMechanism {
            mechanism: MechanismRef::new("first"),
            provider: Some("local".into()),
            amr: vec!["pwd".into()],
            at: earlier,
        }],
        ..FlowStart::default()
    };
    let a = s.engine.start("p", start.clone(), now).await.unwrap();
    let Answer::Challenge { mechanism, .. } = &a else {
        panic!("{a:?}")
    };
    assert_eq!(mechanism.to_string(), "otp");
    let done = success(
        s.engine
            .submit(&state(&a), fields(&[("code", "ok")]), now)
            .await
            .unwrap(),
    );
    assert_eq!(done.amr, vec!["pwd", "otp"]);
    assert_eq!(done.auth_time, now);

    // Everything already passed: success at once, nothing stored.
    let mut all = start;
    all.passed.push(PassedMechanism {
        mechanism: MechanismRef::new("otp"),
        provider: None,
        amr: vec!["otp".into()],
        at: earlier,
    });
    let done = success(s.engine.start("p", all, now).await.unwrap());
    assert_eq!(done.auth_time, earlier);
    assert_eq!(s.flows.len(), 0);
}

#[tokio::test]
async fn an_unknown_policy_and_a_missing_implementation_are_refused() {
    let s = engine(
        vec![policy("p", json!([{ "mechanism": "first" }]))],
        vec![TestMechanism::new("first", "pwd", &[])],
    );
    let err = s
        .engine
        .start("nope", FlowStart::default(), Utc::now())
        .await
        .unwrap_err();
    assert!(
        matches!(err, CoreError::Flow(FlowRefusal::UnknownPolicy)),
        "{err}"
    );

    let Err(err) = Engine::new(
        REALM,
        vec![policy("p", json!([{ "mechanism": "otp" }]))],
        vec![],
        Arc::new(MemoryFlows::default()),
        FlowLimits::default(),
    ) else {
        panic!("an engine without the policy's mechanism was built");
    };
    assert!(err.to_string().contains("mechanism `otp`"), "{err}");
}
