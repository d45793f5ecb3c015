//! Each flow that ends is reported once, with its steps, outcome and level (issue #20, point 7).

use chrono::{Duration, Utc};
use serde_json::json;

use super::engine_basic::fields_ok;
use super::*;

#[derive(Default)]
struct Reports(Mutex<Vec<FlowReport>>);

#[async_trait]
impl FlowObserver for Reports {
    async fn flow_ended(&self, report: FlowReport) -> Result<(), CoreError> {
        self.0.lock().unwrap().push(report);
        Ok(())
    }
}

fn observed(limits: FlowLimits) -> (Setup, Arc<Reports>) {
    let alice = account("alice", &[]);
    let mut s = engine_with(
        vec![policy(
            "p",
            json!([{ "mechanism": "first" }, { "mechanism": "otp" }]),
        )],
        vec![
            TestMechanism::new("first", "pwd", &[&alice]),
            TestMechanism::new("otp", "otp", &[&alice]),
        ],
        limits,
    );
    let reports = Arc::new(Reports::default());
    s.engine = s.engine.with_observer(reports.clone());
    (s, reports)
}

#[tokio::test]
async fn a_finished_flow_is_reported_once_with_each_step_and_its_level() {
    let (s, reports) = observed(FlowLimits::default());
    let t = Utc::now();
    let a = s.start("p", t).await;
    let b = s
        .submit(&a, fields_ok("alice"), t + Duration::seconds(2))
        .await;
    assert!(
        reports.0.lock().unwrap().is_empty(),
        "a running flow is not reported"
    );
    let c = s
        .submit(&b, fields(&[("code", "bad")]), t + Duration::seconds(5))
        .await;
    success(
        s.submit(&c, fields(&[("code", "ok")]), t + Duration::seconds(6))
            .await,
    );
    let reports = reports.0.lock().unwrap();
    assert_eq!(reports.len(), 1);
    let r = &reports[0];
    assert!(r.success);
    assert_eq!(r.outcome, "success");
    assert_eq!(r.policy_id, "p");
    assert_eq!(r.acr.as_deref(), Some("acr-p"));
    assert_eq!(r.amr, ["pwd", "otp"]);
    assert_eq!(r.account.as_ref().map(|(_, u)| u.as_str()), Some("alice"));
    assert_eq!(r.duration_ms(), 6000);
    let steps: Vec<_> = r
        .steps
        .iter()
        .map(|s| {
            (
                s.step.as_str(),
                s.mechanism.as_ref().map(|m| m.to_string()),
                s.outcome.as_str(),
                s.duration_ms,
            )
        })
        .collect();
    assert_eq!(
        steps,
        [
            ("step-1", Some("first".to_owned()), "passed", 2000),
            ("step-2", Some("otp".to_owned()), "wrong_code", 3000),
            ("step-2", Some("otp".to_owned()), "passed", 1000),
        ]
    );
    assert_eq!(r.steps[0].provider.as_deref(), Some("first-provider"));
}

#[tokio::test]
async fn a_flow_killed_by_the_attempt_limit_is_reported_as_such() {
    let limits = FlowLimits {
        max_failed_inputs: 2,
        ..FlowLimits::default()
    };
    let (s, reports) = observed(limits);
    let t = Utc::now();
    let a = s.start("p", t).await;
    let b = s
        .submit(&a, fields(&[("login", "alice"), ("code", "no")]), t)
        .await;
    let c = s
        .submit(&b, fields(&[("login", "alice"), ("code", "no")]), t)
        .await;
    assert_eq!(failure_code(&c), "too_many_attempts");
    let reports = reports.0.lock().unwrap();
    assert_eq!(reports.len(), 1);
    assert!(!reports[0].success);
    assert_eq!(reports[0].outcome, "too_many_attempts");
    assert_eq!(reports[0].acr, None);
    assert_eq!(reports[0].steps.len(), 2);
}

#[tokio::test]
async fn an_expired_flow_is_reported_by_whoever_finds_it() {
    let (s, reports) = observed(FlowLimits::default());
    let t = Utc::now();
    let a = s.start("p", t).await;
    let b = s.submit(&a, fields_ok("alice"), t).await;
    let flow = s
        .flows
        .rows
        .lock()
        .unwrap()
        .get(state(&b).as_str())
        .cloned()
        .unwrap();
    let abandoned = FlowReport::abandoned(&flow, flow.deadline);
    assert_eq!(abandoned.outcome, ABANDONED);
    assert!(!abandoned.success);
    assert_eq!(abandoned.account.map(|(_, u)| u), Some("alice".to_owned()));
    assert_eq!(abandoned.steps.len(), 1);
    assert!(reports.0.lock().unwrap().is_empty());
}
