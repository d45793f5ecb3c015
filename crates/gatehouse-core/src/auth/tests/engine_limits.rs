//! Expiry, the attempt limit, single-use state ids, input bounds (issue #20, point 6).

use chrono::{Duration, Utc};
use serde_json::json;

use super::engine_basic::fields_ok;
use super::*;

fn one_step() -> (Setup, Account) {
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
    (s, alice)
}

fn is_invalid_state(e: &CoreError) -> bool {
    matches!(e, CoreError::Flow(FlowRefusal::InvalidState))
}

#[tokio::test]
async fn a_state_id_works_once_and_a_replay_advances_nothing() {
    let (s, _) = one_step();
    let now = Utc::now();
    let a = s.start("p", now).await;
    let first = state(&a);
    let b = s
        .engine
        .submit(&first, fields_ok("alice"), now)
        .await
        .unwrap();
    let second = state(&b);
    assert_ne!(first, second, "every answer carries a new state id");

    let replay = s
        .engine
        .submit(&first, fields_ok("alice"), now)
        .await
        .unwrap_err();
    assert!(is_invalid_state(&replay), "{replay}");
    // The replay changed nothing: the live id still continues at the same step.
    let c = s
        .engine
        .submit(&second, fields(&[("code", "ok")]), now)
        .await
        .unwrap();
    success(c);
    // And after success no id of the flow works.
    let again = s
        .engine
        .submit(&second, fields(&[("code", "ok")]), now)
        .await
        .unwrap_err();
    assert!(is_invalid_state(&again));
    let unknown = s
        .engine
        .submit(&StateId::generate(), fields(&[]), now)
        .await
        .unwrap_err();
    assert!(is_invalid_state(&unknown));
}

#[tokio::test]
async fn a_refused_input_also_rotates_the_state_id() {
    let (s, _) = one_step();
    let now = Utc::now();
    let a = s.start("p", now).await;
    let b = s
        .engine
        .submit(
            &state(&a),
            fields(&[("login", "alice"), ("code", "bad")]),
            now,
        )
        .await
        .unwrap();
    let Answer::Challenge { error, .. } = &b else {
        panic!("{b:?}")
    };
    assert_eq!(error.as_deref(), Some("Wrong code."));
    assert!(is_invalid_state(
        &s.engine
            .submit(&state(&a), fields_ok("alice"), now)
            .await
            .unwrap_err()
    ));
    assert!(matches!(
        s.engine
            .submit(&state(&b), fields_ok("alice"), now)
            .await
            .unwrap(),
        Answer::Challenge { .. }
    ));
}

#[tokio::test]
async fn a_flow_expires_after_its_lifetime() {
    let (s, _) = one_step();
    let started = Utc::now();
    let a = s.start("p", started).await;
    let late = started + Duration::seconds(600);
    let err = s
        .engine
        .submit(&state(&a), fields_ok("alice"), late)
        .await
        .unwrap_err();
    assert!(is_invalid_state(&err), "{err}");

    // The limit is the realm's; just before it the flow still works.
    let limits = FlowLimits {
        lifetime: 60,
        ..FlowLimits::default()
    };
    let alice = account("alice", &[]);
    let s = engine_with(
        vec![policy("p", json!([{ "mechanism": "first" }]))],
        vec![TestMechanism::new("first", "pwd", &[&alice])],
        limits,
    );
    let a = s.start("p", started).await;
    let b = s.start("p", started).await;
    let just_before = started + Duration::seconds(59);
    success(
        s.engine
            .submit(&state(&a), fields_ok("alice"), just_before)
            .await
            .unwrap(),
    );
    let after = started + Duration::seconds(61);
    assert!(is_invalid_state(
        &s.engine
            .submit(&state(&b), fields_ok("alice"), after)
            .await
            .unwrap_err()
    ));
}

#[tokio::test]
async fn the_engine_refuses_an_expired_flow_even_if_the_store_returns_it() {
    struct Lenient(MemoryFlows);
    #[async_trait]
    impl FlowRepository for Lenient {
        async fn create_flow(&self, id: &StateId, flow: &FlowState) -> Result<(), RepoError> {
            self.0.create_flow(id, flow).await
        }
        async fn take_flow(
            &self,
            realm: &str,
            id: &StateId,
            next: &StateId,
            _now: DateTime<Utc>,
        ) -> Result<Taken, RepoError> {
            // A store whose clock lags: it still hands out the flow.
            self.0
                .take_flow(realm, id, next, DateTime::<Utc>::MIN_UTC)
                .await
        }
        async fn save_flow(&self, id: &StateId, flow: &FlowState) -> Result<bool, RepoError> {
            self.0.save_flow(id, flow).await
        }
        async fn end_flow(&self, id: FlowId) -> Result<(), RepoError> {
            self.0.end_flow(id).await
        }
    }
    let alice = account("alice", &[]);
    let flows = Arc::new(Lenient(MemoryFlows::default()));
    let engine = Engine::new(
        REALM,
        vec![policy("p", json!([{ "mechanism": "first" }]))],
        vec![Arc::new(TestMechanism::new("first", "pwd", &[&alice]))],
        flows.clone(),
        FlowLimits::default(),
    )
    .unwrap();
    let now = Utc::now();
    let a = engine.start("p", FlowStart::default(), now).await.unwrap();
    let b = engine
        .submit(&state(&a), fields_ok("alice"), now + Duration::minutes(11))
        .await
        .unwrap();
    assert_eq!(failure_code(&b), "expired");
    assert_eq!(flows.0.len(), 0);
}

#[tokio::test]
async fn the_fifth_failed_input_kills_the_flow() {
    let (s, _) = one_step();
    let now = Utc::now();
    let mut answer = s
        .engine
        .start("p", FlowStart::default(), now)
        .await
        .unwrap();
    for attempt in 1..=5 {
        answer = s
            .engine
            .submit(
                &state(&answer),
                fields(&[("login", "alice"), ("code", "bad")]),
                now,
            )
            .await
            .unwrap();
        if attempt < 5 {
            assert!(
                matches!(answer, Answer::Challenge { .. }),
                "{attempt}: {answer:?}"
            );
        }
    }
    assert_eq!(failure_code(&answer), "too_many_attempts");
    assert_eq!(answer.to_wire().state_id, None);
    assert_eq!(s.flows.len(), 0, "a dead flow is gone from the store");
}

#[tokio::test]
async fn failures_count_across_steps_and_the_limit_is_the_realms() {
    let alice = account("alice", &[]);
    let s = engine_with(
        vec![policy("p", json!([{ "choice": ["first", "otp"] }]))],
        vec![
            TestMechanism::new("first", "pwd", &[&alice]),
            TestMechanism::new("otp", "otp", &[&alice]),
        ],
        FlowLimits {
            max_failed_inputs: 2,
            ..FlowLimits::default()
        },
    );
    let now = Utc::now();
    let a = s.start("p", now).await;
    let b = s.submit(&a, Input::Choice("x".into()), now).await;
    let c = s.submit(&b, Input::Choice("first".into()), now).await;
    let d = s.submit(&c, fields(&[("code", "bad")]), now).await;
    assert_eq!(failure_code(&d), "too_many_attempts");
}

#[tokio::test]
async fn oversized_inputs_are_refused_before_the_state_id_is_spent() {
    let (s, _) = one_step();
    let now = Utc::now();
    let a = s.start("p", now).await;
    let big = "x".repeat(1025);
    let err = s
        .engine
        .submit(
            &state(&a),
            fields(&[("login", "alice"), ("code", &big)]),
            now,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, CoreError::Flow(FlowRefusal::InputTooLarge)),
        "{err}"
    );
    let many: Vec<(String, String)> = (0..40).map(|i| (format!("f{i}"), "v".to_owned())).collect();
    let many: Vec<(&str, &str)> = many.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let err = s
        .engine
        .submit(&state(&a), fields(&many), now)
        .await
        .unwrap_err();
    assert!(
        matches!(err, CoreError::Flow(FlowRefusal::InputTooLarge)),
        "{err}"
    );
    let huge_callback = "y".repeat(300 * 1024);
    let err = s
        .engine
        .submit(
            &state(&a),
            callback(&[("SAMLResponse", &huge_callback)]),
            now,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, CoreError::Flow(FlowRefusal::InputTooLarge)),
        "{err}"
    );
    // Nothing was spent: the same id goes on.
    assert!(matches!(
        s.engine
            .submit(&state(&a), fields_ok("alice"), now)
            .await
            .unwrap(),
        Answer::Challenge { .. }
    ));
}

#[tokio::test]
async fn a_policy_changed_under_a_running_flow_ends_it() {
    let alice = account("alice", &[]);
    let flows = Arc::new(MemoryFlows::default());
    let build = |steps: serde_json::Value| {
        Engine::new(
            REALM,
            vec![policy("p", steps)],
            vec![
                Arc::new(TestMechanism::new("first", "pwd", &[&alice])) as Arc<dyn Mechanism>,
                Arc::new(TestMechanism::new("otp", "otp", &[&alice])),
            ],
            flows.clone(),
            FlowLimits::default(),
        )
        .unwrap()
    };
    let before = build(json!([{ "mechanism": "first" }, { "id": "two", "mechanism": "otp" }]));
    let after = build(json!([{ "mechanism": "first" }, { "id": "other", "mechanism": "otp" }]));
    let now = Utc::now();
    let a = before.start("p", FlowStart::default(), now).await.unwrap();
    let b = before
        .submit(&state(&a), fields_ok("alice"), now)
        .await
        .unwrap();
    let c = after
        .submit(&state(&b), fields(&[("code", "ok")]), now)
        .await
        .unwrap();
    assert_eq!(failure_code(&c), "policy_changed");
}

#[tokio::test]
async fn the_flow_state_survives_serialisation() {
    let (s, _) = one_step();
    let now = Utc::now();
    let a = s.start("p", now).await;
    let b = s.submit(&a, fields_ok("alice"), now).await;
    let flow = s
        .flows
        .rows
        .lock()
        .unwrap()
        .get(state(&b).as_str())
        .cloned()
        .unwrap();
    let text = serde_json::to_string(&flow).unwrap();
    let back: FlowState = serde_json::from_str(&text).unwrap();
    assert_eq!(back, flow);
    assert_eq!(back.passed.len(), 1);
    assert_eq!(back.cursor, 1);
    assert!(matches!(back.pending, Some(Pending::Challenge { .. })));
    // The pending data (a nonce, a PKCE verifier) is not in Debug.
    assert!(!format!("{flow:?}").contains("\"n\""));
    assert!(!format!("{:?}", state(&b)).contains(state(&b).as_str()));
}
