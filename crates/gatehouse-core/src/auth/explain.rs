//! `gatehouse explain --policy`: the steps a login would go through in a policy, without any
//! input. Branches are evaluated on what is known ahead: the account's groups and roles, its
//! enrolled credentials, the provider the chain would try first; every mechanism asked for is
//! assumed to pass (a choice: the first option the account can use).

use std::collections::HashSet;

use chrono::Utc;

use crate::account::Account;
use crate::auth::condition::{Condition, Facts};
use crate::auth::engine::Engine;
use crate::auth::mechanism::MechanismRef;
use crate::auth::policy::{StepKind, Target};
use crate::auth::state::{FlowContext, PassedMechanism};
use crate::error::CoreError;

/// One line of the explanation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExplainedStep {
    pub step: String,
    pub text: String,
}

/// The steps, and how the login would end if every asked mechanism passes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    pub policy: String,
    pub acr: String,
    pub steps: Vec<ExplainedStep>,
    /// `None`: the policy succeeds; else why it cannot.
    pub refused: Option<String>,
}

impl Engine {
    /// `first_provider`: the provider the password step would verify with (the chain's plan).
    pub async fn explain(
        &self,
        policy_id: &str,
        account: Option<&Account>,
        first_provider: Option<&str>,
    ) -> Result<Explanation, CoreError> {
        let policy = self
            .policy(policy_id)
            .ok_or(crate::auth::answer::FlowRefusal::UnknownPolicy)?;
        let mut out = Explanation {
            policy: policy.id.clone(),
            acr: policy.acr.clone(),
            steps: Vec::new(),
            refused: None,
        };
        let context = FlowContext::default();
        let mut passed: Vec<PassedMechanism> = Vec::new();
        let mut cursor = 0;
        for _ in 0..=policy.steps.len() {
            let Some(step) = policy.steps.get(cursor) else {
                return Ok(out);
            };
            let mut say = |text: String| {
                out.steps.push(ExplainedStep {
                    step: step.id.clone(),
                    text,
                })
            };
            match &step.kind {
                StepKind::Mechanism(m) => {
                    if !self.usable_by(m, account).await? {
                        say(format!("{m}: not enrolled for this account"));
                        out.refused = Some(format!("step `{}` cannot run", step.id));
                        return Ok(out);
                    }
                    say(format!("asks for {m}{}", via(m, first_provider)));
                    passed.push(pass(m, first_provider));
                    cursor += 1;
                }
                StepKind::Choice(options) => {
                    let mut usable = Vec::new();
                    let mut missing = Vec::new();
                    for m in options {
                        if self.usable_by(m, account).await? {
                            usable.push(m);
                        } else {
                            missing.push(m.to_string());
                        }
                    }
                    let list = usable
                        .iter()
                        .map(|m| m.to_string())
                        .collect::<Vec<_>>()
                        .join(", ");
                    let not = if missing.is_empty() {
                        String::new()
                    } else {
                        format!(" (not enrolled: {})", missing.join(", "))
                    };
                    match usable.len() {
                        0 => {
                            say(format!("a choice with nothing enrolled{not}"));
                            out.refused = Some(format!("step `{}` cannot run", step.id));
                            return Ok(out);
                        }
                        1 => say(format!("asks for {list}{not}")),
                        _ => say(format!("lets the user choose one of {list}{not}")),
                    }
                    passed.push(pass(usable[0], first_provider));
                    cursor += 1;
                }
                StepKind::Branch {
                    when,
                    then,
                    otherwise,
                } => {
                    let mut enrolled = HashSet::new();
                    for m in when.enrolled_refs() {
                        if account.is_some() && self.usable_by(m, account).await? {
                            enrolled.insert(m.clone());
                        }
                    }
                    let holds = when.evaluate(&Facts {
                        account,
                        passed: &passed,
                        context: &context,
                        enrolled: &enrolled,
                    });
                    let target = if holds { then } else { otherwise };
                    let goes = match target {
                        Target::Next => "continues".to_owned(),
                        Target::Step(j) => format!(
                            "goes to step `{}`",
                            policy.steps.get(*j).map_or("?", |s| s.id.as_str())
                        ),
                        Target::Done => "ends the policy: success".to_owned(),
                        Target::Deny => "denies the login".to_owned(),
                    };
                    say(format!(
                        "if {}: {} — {goes}",
                        describe(when),
                        if holds { "yes" } else { "no" }
                    ));
                    match target {
                        Target::Next => cursor += 1,
                        Target::Step(j) => cursor = *j,
                        Target::Done => return Ok(out),
                        Target::Deny => {
                            out.refused = Some(format!("step `{}` denies it", step.id));
                            return Ok(out);
                        }
                    }
                }
            }
        }
        Ok(out)
    }
}

fn via(m: &MechanismRef, first_provider: Option<&str>) -> String {
    match (m.name.as_str(), first_provider) {
        ("password", Some(p)) => format!(" (verified by `{p}`)"),
        _ => String::new(),
    }
}

fn pass(m: &MechanismRef, first_provider: Option<&str>) -> PassedMechanism {
    PassedMechanism {
        mechanism: m.clone(),
        provider: match m.name.as_str() {
            "password" => first_provider.map(str::to_owned),
            _ => m.provider.clone(),
        },
        amr: Vec::new(),
        at: Utc::now(),
    }
}

/// A condition as the configuration writes it.
pub fn describe(c: &Condition) -> String {
    let list = |cs: &[Condition]| cs.iter().map(describe).collect::<Vec<_>>().join(", ");
    match c {
        Condition::Group(g) => format!("group = \"{g}\""),
        Condition::Role(r) => format!("role = \"{r}\""),
        Condition::FirstProvider(p) => format!("first_provider = \"{p}\""),
        Condition::Enrolled(m) => format!("enrolled = \"{m}\""),
        Condition::RequestedAcr(a) => format!("requested_acr = \"{a}\""),
        Condition::RememberedBrowser(b) => format!("remembered_browser = {b}"),
        Condition::Passed(m) => format!("passed = \"{m}\""),
        Condition::Not(c) => format!("not {}", describe(c)),
        Condition::Any(cs) => format!("any of [{}]", list(cs)),
        Condition::All(cs) => format!("all of [{}]", list(cs)),
    }
}
