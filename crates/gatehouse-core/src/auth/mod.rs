//! Authentication policies (DESIGN.md "How an authentication policy runs"): a policy is an
//! ordered list of steps — a mechanism, a choice among mechanisms, a branch — run by the
//! [`Engine`] one request at a time. The flow's state lives in the store behind
//! [`FlowRepository`], under a state id that changes on every answer, so any instance continues
//! any flow. Transports (HTML pages, the JSON API) only translate: the engine's [`Answer`] maps
//! one to one onto the wire types of [`wire`].
//!
//! One responsibility per file: `policy` (the steps), `spec` (the configuration's form and its
//! checks), `condition` (what branches test), `mechanism` (the trait), `state` (the flow),
//! `repository` (the store's side), `report` (the audit's view of a flow), `limits`, `engine`, `answer`, `wire`, and the mechanisms
//! `password` and `federated`.

pub mod answer;
pub mod condition;
pub mod engine;
pub mod explain;
pub mod federated;
pub mod limits;
pub mod mechanism;
pub mod password;
pub mod policy;
pub mod report;
pub mod repository;
pub mod spec;
pub mod state;
pub mod step_up;
pub mod wire;

pub use answer::{Answer, ChoiceOption, Completed, FlowRefusal};
pub use condition::Condition;
pub use engine::{Engine, FlowStart};
pub use explain::{ExplainedStep, Explanation};
pub use federated::{FederatedMechanism, IdentityMatcher};
pub use limits::FlowLimits;
pub use mechanism::{
    Begin, Failure, Field, FieldKind, FlowView, Input, Mechanism, MechanismRef, Passed, Verdict,
};
pub use password::PasswordMechanism;
pub use policy::{DEFAULT_ACR, DEFAULT_POLICY, Policy, Step, StepKind, Target};
pub use report::{ABANDONED, FlowObserver, FlowReport, StepRecord};
pub use repository::{FlowRepository, Taken};
pub use spec::{Known, PolicyProblem, PolicySpec, StepSpec};
pub use state::{FlowContext, FlowId, FlowState, PassedMechanism, Pending, StateId};
pub use step_up::{AchievedLevel, IssueLevel, LevelRequest, SessionAuth, StepUp};

#[cfg(test)]
mod tests;
