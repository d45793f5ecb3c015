//! The engine's answers on the wire: one REST status each.

use chrono::Utc;
use serde_json::json;

use super::*;
use crate::auth::wire::FlowRequest;

#[test]
fn answers_serialise_to_the_rest_statuses() {
    let challenge = Answer::Challenge {
        state_id: StateId::from("s1"),
        mechanism: MechanismRef::new("password"),
        fields: vec![Field::new("password", FieldKind::Password, "Password")],
        error: Some("Invalid username or password.".into()),
    };
    assert_eq!(
        serde_json::to_value(challenge.to_wire()).unwrap(),
        json!({
            "state_id": "s1", "status": "challenge", "mechanism": "password",
            "fields": [{ "name": "password", "type": "password", "label": "Password" }],
            "error": "Invalid username or password."
        })
    );
    let choose = Answer::Choose {
        state_id: StateId::from("s2"),
        choices: vec![ChoiceOption {
            id: "federated:corp".into(),
            label: "Corp".into(),
        }],
        error: None,
    };
    assert_eq!(
        serde_json::to_value(choose.to_wire()).unwrap(),
        json!({ "state_id": "s2", "status": "choose",
                "choices": [{ "id": "federated:corp", "label": "Corp" }] })
    );
    let redirect = Answer::Redirect {
        state_id: StateId::from("s3"),
        mechanism: "federated:saml".parse().unwrap(),
        location: "https://idp/sso".into(),
        form: Some(vec![("SAMLRequest".into(), "abc".into())]),
    };
    assert_eq!(
        serde_json::to_value(redirect.to_wire()).unwrap(),
        json!({ "state_id": "s3", "status": "redirect", "mechanism": "federated:saml",
                "location": "https://idp/sso", "form": [{ "name": "SAMLRequest", "value": "abc" }] })
    );
    let success = Answer::Success(Box::new(Completed {
        flow_id: FlowId::generate(),
        policy_id: "p".into(),
        acr: "gold".into(),
        max_age: None,
        account: account("alice", &[]),
        amr: vec!["pwd".into(), "otp".into()],
        passed: vec![],
        auth_time: Utc::now(),
        context: FlowContext::default(),
    }));
    assert_eq!(
        serde_json::to_value(success.to_wire()).unwrap(),
        json!({ "status": "success", "acr": "gold", "amr": ["pwd", "otp"] })
    );
    let failure = Answer::Failure(Failure::new("too_many_attempts", "Start again."));
    assert_eq!(
        serde_json::to_value(failure.to_wire()).unwrap(),
        json!({ "status": "failure", "error": "Start again." })
    );
    assert_eq!(
        serde_json::to_value(FlowRefusal::InvalidState.to_wire()).unwrap()["error"],
        "invalid_state"
    );
}

#[test]
fn a_request_becomes_an_input_and_hides_its_values() {
    let request: FlowRequest = serde_json::from_value(json!({
        "state_id": "abc", "fields": { "login": "alice", "password": "hunter2" }
    }))
    .unwrap();
    assert!(!format!("{request:?}").contains("hunter2"));
    assert!(!format!("{request:?}").contains("abc"));
    let (id, input) = request.into_input();
    assert_eq!(id.as_str(), "abc");
    assert_eq!(input.field("password").unwrap().expose(), "hunter2");
    assert!(!format!("{input:?}").contains("hunter2"));

    let request: FlowRequest =
        serde_json::from_value(json!({ "state_id": "abc", "choice": "otp" })).unwrap();
    assert!(matches!(request.into_input().1, Input::Choice(c) if c == "otp"));
    assert!(serde_json::from_value::<FlowRequest>(json!({ "state_id": "a", "extra": 1 })).is_err());
}
