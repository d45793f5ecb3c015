//! A policy as the engine runs it: an ordered list of steps, each a mechanism, a choice among
//! mechanisms, or a branch that jumps forward. Built (and checked) from the configuration by
//! [`crate::auth::spec`]; jumps only go forward, so every flow ends.

use crate::auth::condition::Condition;
use crate::auth::mechanism::MechanismRef;
use crate::realm::RealmPolicy;

/// The id of the policy a realm without policies gets.
pub const DEFAULT_POLICY: &str = "default";
/// The `acr` of the implicit default policy: one factor, as today.
pub const DEFAULT_ACR: &str = "1";

#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub id: String,
    /// The level a flow through this policy achieves.
    pub acr: String,
    /// Seconds the level holds after the flow (step-up runs the missing steps after that).
    pub max_age: Option<u64>,
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// The step's id in the configuration, or `step-N` (1-based) when it has none.
    pub id: String,
    pub kind: StepKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum StepKind {
    Mechanism(MechanismRef),
    /// The user picks one; mechanisms the account has not enrolled are not offered.
    Choice(Vec<MechanismRef>),
    Branch {
        when: Condition,
        then: Target,
        otherwise: Target,
    },
}

/// Where a branch goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Next,
    /// The step at this index (always after the branch).
    Step(usize),
    /// Skip the remaining steps: the flow succeeds.
    Done,
    /// The flow fails.
    Deny,
}

impl Policy {
    /// Today's behaviour, for a realm without `[[realms.R.policies]]`: the chain's password step,
    /// the redirect providers' buttons, or a choice between them.
    pub fn implicit_default(realm: &RealmPolicy) -> Policy {
        let mut options = Vec::new();
        let active = realm.chained().filter(|p| p.enabled);
        let mut password = false;
        for provider in active {
            if provider.kind.is_password() {
                if !password {
                    options.push(MechanismRef::new("password"));
                    password = true;
                }
            } else {
                options.push(MechanismRef::with_provider("federated", &provider.id));
            }
        }
        let kind = if options.len() == 1 {
            StepKind::Mechanism(options.remove(0))
        } else {
            StepKind::Choice(options)
        };
        Policy {
            id: DEFAULT_POLICY.to_owned(),
            acr: DEFAULT_ACR.to_owned(),
            max_age: None,
            steps: vec![Step {
                id: "login".to_owned(),
                kind,
            }],
        }
    }

    /// Every mechanism the policy can run or test, each once.
    pub fn mechanisms(&self) -> Vec<&MechanismRef> {
        let mut out: Vec<&MechanismRef> = Vec::new();
        for step in &self.steps {
            match &step.kind {
                StepKind::Mechanism(m) => out.push(m),
                StepKind::Choice(ms) => out.extend(ms),
                StepKind::Branch { when, .. } => out.extend(when.enrolled_refs()),
            }
        }
        out.sort();
        out.dedup();
        out
    }
}
