//! The engine's answers: one per REST status (challenge, choose, redirect, success, failure),
//! and the typed refusal of a request that advanced nothing.

use std::fmt;

use chrono::{DateTime, Utc};

use crate::account::Account;
use crate::auth::mechanism::{Failure, Field, FieldKind, Input, MechanismRef};
use crate::auth::policy::Policy;
use crate::auth::state::{FlowContext, FlowId, FlowState, PassedMechanism, StateId};
use crate::auth::wire::{
    FlowErrorResponse, FlowRequest, FlowResponse, FormField, Status, WireChoice, WireField,
};
use crate::secret::Secret;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChoiceOption {
    /// The mechanism, as the client posts it back.
    pub id: String,
    pub label: String,
}

/// A flow that succeeded: what the transport turns into a session or an authorization code.
#[derive(Debug, Clone, PartialEq)]
pub struct Completed {
    pub flow_id: FlowId,
    pub policy_id: String,
    pub acr: String,
    pub max_age: Option<u64>,
    pub account: Account,
    /// The `amr` values of every mechanism passed, each once, in order.
    pub amr: Vec<String>,
    /// Each mechanism with its time, for the session (a level expires with `max_age`).
    pub passed: Vec<PassedMechanism>,
    /// When the last mechanism passed.
    pub auth_time: DateTime<Utc>,
    pub context: FlowContext,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Challenge {
        state_id: StateId,
        mechanism: MechanismRef,
        fields: Vec<Field>,
        /// Why the previous input was refused.
        error: Option<String>,
    },
    Choose {
        state_id: StateId,
        choices: Vec<ChoiceOption>,
        error: Option<String>,
    },
    Redirect {
        state_id: StateId,
        mechanism: MechanismRef,
        location: String,
        form: Option<Vec<(String, String)>>,
    },
    Success(Box<Completed>),
    /// The flow is over (dead, expired, denied); a new one must be started.
    Failure(Failure),
}

impl Completed {
    pub(crate) fn new(policy: &Policy, flow: FlowState, account: Account) -> Self {
        let mut amr: Vec<String> = Vec::new();
        for value in flow.passed.iter().flat_map(|p| &p.amr) {
            if !amr.contains(value) {
                amr.push(value.clone());
            }
        }
        Self {
            flow_id: flow.flow_id,
            policy_id: policy.id.clone(),
            acr: policy.acr.clone(),
            max_age: policy.max_age,
            account,
            amr,
            auth_time: flow
                .passed
                .iter()
                .map(|p| p.at)
                .max()
                .unwrap_or(flow.started_at),
            passed: flow.passed,
            context: flow.context,
        }
    }
}

impl Answer {
    /// The id to continue with; `None` once the flow is over.
    pub fn state_id(&self) -> Option<&StateId> {
        match self {
            Answer::Challenge { state_id, .. }
            | Answer::Choose { state_id, .. }
            | Answer::Redirect { state_id, .. } => Some(state_id),
            Answer::Success(_) | Answer::Failure(_) => None,
        }
    }

    pub fn to_wire(&self) -> FlowResponse {
        let mut out = FlowResponse {
            state_id: self.state_id().map(|s| s.as_str().to_owned()),
            status: Status::Failure,
            mechanism: None,
            fields: None,
            choices: None,
            location: None,
            form: None,
            error: None,
            acr: None,
            amr: None,
        };
        match self {
            Answer::Challenge {
                mechanism,
                fields,
                error,
                ..
            } => {
                out.status = Status::Challenge;
                out.mechanism = Some(mechanism.to_string());
                out.fields = Some(
                    fields
                        .iter()
                        .map(|f| WireField {
                            name: f.name.clone(),
                            kind: match f.kind {
                                FieldKind::Text => "text",
                                FieldKind::Password => "password",
                                FieldKind::Otp => "otp",
                            }
                            .to_owned(),
                            label: f.label.clone(),
                            value: f.value.clone(),
                        })
                        .collect(),
                );
                out.error = error.clone();
            }
            Answer::Choose { choices, error, .. } => {
                out.status = Status::Choose;
                out.choices = Some(
                    choices
                        .iter()
                        .map(|c| WireChoice {
                            id: c.id.clone(),
                            label: c.label.clone(),
                        })
                        .collect(),
                );
                out.error = error.clone();
            }
            Answer::Redirect {
                mechanism,
                location,
                form,
                ..
            } => {
                out.status = Status::Redirect;
                out.mechanism = Some(mechanism.to_string());
                out.location = Some(location.clone());
                out.form = form.as_ref().map(|pairs| {
                    pairs
                        .iter()
                        .map(|(name, value)| FormField {
                            name: name.clone(),
                            value: value.clone(),
                        })
                        .collect()
                });
            }
            Answer::Success(done) => {
                out.status = Status::Success;
                out.acr = Some(done.acr.clone());
                out.amr = Some(done.amr.clone());
            }
            Answer::Failure(failure) => {
                out.status = Status::Failure;
                out.error = Some(failure.public_message.clone());
            }
        }
        out
    }
}

/// A request refused before anything advanced: the state id it carried (if live) still works.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowRefusal {
    /// Unknown, already used, expired, or of another realm (HTTP 400 `invalid_state`).
    InvalidState,
    /// An input over the realm's size bounds (HTTP 400 `input_too_large`).
    InputTooLarge,
    /// No such policy in the realm (HTTP 404 `unknown_policy`).
    UnknownPolicy,
}

impl FlowRefusal {
    pub fn code(self) -> &'static str {
        match self {
            FlowRefusal::InvalidState => "invalid_state",
            FlowRefusal::InputTooLarge => "input_too_large",
            FlowRefusal::UnknownPolicy => "unknown_policy",
        }
    }

    pub fn to_wire(self) -> FlowErrorResponse {
        FlowErrorResponse {
            error: self.code().to_owned(),
            error_description: self.to_string(),
        }
    }
}

impl fmt::Display for FlowRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FlowRefusal::InvalidState => {
                "the state id is unknown, used or expired; start the flow again"
            }
            FlowRefusal::InputTooLarge => "an input is larger than this server accepts",
            FlowRefusal::UnknownPolicy => "no such authentication policy in this realm",
        })
    }
}

impl std::error::Error for FlowRefusal {}

impl FlowRequest {
    /// The state id and the input it carries: a `choice` wins over `fields`.
    pub fn into_input(self) -> (StateId, Input) {
        let input = match self.choice {
            Some(choice) => Input::Choice(choice),
            None => Input::Fields(
                self.fields
                    .into_iter()
                    .map(|(k, v)| (k, Secret::new(v)))
                    .collect(),
            ),
        };
        (StateId::from(self.state_id), input)
    }
}
