//! A policy as the configuration writes it (`[[realms.R.policies]]`), and the checks that turn
//! it into a [`Policy`]: every problem is reported with the key at fault, relative to the
//! policy's table (`steps[2].then`).

use std::collections::HashMap;

use serde::Deserialize;

use crate::auth::condition::Condition;
use crate::auth::mechanism::MechanismRef;
use crate::auth::policy::{Policy, Step, StepKind, Target};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySpec {
    pub id: String,
    pub acr: String,
    #[serde(default)]
    pub max_age: Option<u64>,
    #[serde(default)]
    pub steps: Vec<StepSpec>,
}

/// One `[[realms.R.policies.steps]]`: exactly one of `mechanism`, `choice`, `when`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepSpec {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub mechanism: Option<MechanismRef>,
    #[serde(default)]
    pub choice: Option<Vec<MechanismRef>>,
    #[serde(default)]
    pub when: Option<Condition>,
    /// Where the branch goes when the condition holds: a step id, `next`, `done` or `deny`.
    #[serde(default)]
    pub then: Option<String>,
    #[serde(default, rename = "else")]
    pub otherwise: Option<String>,
}

/// What the realm offers, for the checks that need it.
#[derive(Debug, Clone, Default)]
pub struct Known {
    /// The mechanism names this build offers (`password`, `federated`).
    pub mechanisms: Vec<String>,
    /// Redirect providers a `federated` step can send the browser to (enabled, in the chain).
    pub redirect_providers: Vec<String>,
    /// Every provider id of the realm (for `first_provider`).
    pub providers: Vec<String>,
}

/// One thing wrong with a policy: the key relative to the policy's table, and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyProblem {
    pub key: String,
    pub message: String,
}

impl PolicyProblem {
    fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into(),
        }
    }
}

const RESERVED_TARGETS: [&str; 3] = ["next", "done", "deny"];

fn valid_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

impl Known {
    /// Whether `m` names a mechanism this realm can run.
    pub fn check(&self, m: &MechanismRef) -> Result<(), String> {
        if !self.mechanisms.contains(&m.name) {
            return Err(format!(
                "unknown mechanism `{}`; this build offers {}",
                m.name,
                self.mechanisms
                    .iter()
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        match (m.name.as_str(), &m.provider) {
            ("federated", None) if self.redirect_providers.is_empty() => Err(
                "`federated` sends the browser to a redirect provider (oidc, oauth2, saml), and \
                 this realm's chain has none enabled"
                    .to_owned(),
            ),
            ("federated", Some(p)) if !self.redirect_providers.contains(p) => Err(format!(
                "`{m}`: `{p}` is not an enabled redirect provider (oidc, oauth2, saml) in this \
                 realm's chain"
            )),
            ("federated", _) => Ok(()),
            (_, Some(_)) => Err(format!(
                "`{m}`: only `federated` takes a provider (`federated:ID`)"
            )),
            _ => Ok(()),
        }
    }

    /// `federated` alone means any of the chain's redirect providers: one option each.
    fn expand(&self, m: &MechanismRef) -> Vec<MechanismRef> {
        if m.name == "federated" && m.provider.is_none() {
            self.redirect_providers
                .iter()
                .map(|p| MechanismRef::with_provider("federated", p))
                .collect()
        } else {
            vec![m.clone()]
        }
    }
}

impl PolicySpec {
    pub fn build(&self, known: &Known) -> Result<Policy, Vec<PolicyProblem>> {
        let mut problems = Vec::new();
        if !valid_id(&self.id) {
            problems.push(PolicyProblem::new(
                "id",
                format!(
                    "`{}` is not a valid policy id: it appears in URLs; use letters, digits, `-` \
                     and `_` (at most 64)",
                    self.id
                ),
            ));
        }
        if self.acr.trim().is_empty() {
            problems.push(PolicyProblem::new(
                "acr",
                "name the level this policy achieves, e.g. acr = \"urn:example:acr:mfa\"",
            ));
        }
        if self.max_age == Some(0) {
            problems.push(PolicyProblem::new(
                "max_age",
                "must be at least 1 second; leave it out for a level that holds as long as the \
                 session",
            ));
        }
        if self.steps.is_empty() {
            problems.push(PolicyProblem::new(
                "steps",
                "a policy needs at least one step, e.g. [[realms.R.policies.steps]] with \
                 mechanism = \"password\"",
            ));
            return Err(problems);
        }

        let ids: Vec<String> = self
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| s.id.clone().unwrap_or_else(|| format!("step-{}", i + 1)))
            .collect();
        let mut index: HashMap<&str, usize> = HashMap::new();
        for (i, step) in self.steps.iter().enumerate() {
            let Some(id) = &step.id else { continue };
            let key = format!("steps[{i}].id");
            if !valid_id(id) {
                problems.push(PolicyProblem::new(
                    key,
                    format!("`{id}` is not a valid step id: use letters, digits, `-` and `_`"),
                ));
            } else if RESERVED_TARGETS.contains(&id.as_str()) {
                problems.push(PolicyProblem::new(
                    key,
                    format!(
                        "`{id}` is a jump target of its own (next, done, deny); rename the step"
                    ),
                ));
            } else if index.insert(id, i).is_some() {
                problems.push(PolicyProblem::new(
                    key,
                    format!("step id `{id}` is used twice in this policy; ids must be unique"),
                ));
            }
        }

        let mut steps = Vec::with_capacity(self.steps.len());
        for (i, spec) in self.steps.iter().enumerate() {
            let at = |key: &str| format!("steps[{i}]{key}");
            let given: Vec<&str> = [
                ("mechanism", spec.mechanism.is_some()),
                ("choice", spec.choice.is_some()),
                ("when", spec.when.is_some()),
            ]
            .into_iter()
            .filter_map(|(k, set)| set.then_some(k))
            .collect();
            if given.len() != 1 {
                problems.push(PolicyProblem::new(
                    at(""),
                    format!(
                        "a step is exactly one of `mechanism`, `choice` or `when`; this one has {}",
                        if given.is_empty() {
                            "none".to_owned()
                        } else {
                            given.join(" and ")
                        }
                    ),
                ));
                continue;
            }
            if spec.when.is_none() {
                for (key, set) in [
                    ("then", spec.then.is_some()),
                    ("else", spec.otherwise.is_some()),
                ] {
                    if set {
                        problems.push(PolicyProblem::new(
                            at(&format!(".{key}")),
                            format!("`{key}` belongs to a branch (a step with `when`); remove it"),
                        ));
                    }
                }
            }
            let kind = if let Some(m) = &spec.mechanism {
                if let Err(e) = known.check(m) {
                    problems.push(PolicyProblem::new(at(".mechanism"), e));
                }
                let mut options = known.expand(m);
                if options.len() == 1 {
                    StepKind::Mechanism(options.remove(0))
                } else {
                    StepKind::Choice(options)
                }
            } else if let Some(choice) = &spec.choice {
                let mut options: Vec<MechanismRef> = Vec::new();
                for (j, m) in choice.iter().enumerate() {
                    if let Err(e) = known.check(m) {
                        problems.push(PolicyProblem::new(at(&format!(".choice[{j}]")), e));
                    }
                    for option in known.expand(m) {
                        if options.contains(&option) {
                            problems.push(PolicyProblem::new(
                                at(&format!(".choice[{j}]")),
                                format!("`{option}` is offered twice in this choice"),
                            ));
                        } else {
                            options.push(option);
                        }
                    }
                }
                if choice.is_empty() {
                    problems.push(PolicyProblem::new(
                        at(".choice"),
                        "a choice needs the mechanisms to choose from, e.g. choice = [\"password\", \"federated\"]",
                    ));
                }
                if options.len() == 1 {
                    StepKind::Mechanism(options.remove(0))
                } else {
                    StepKind::Choice(options)
                }
            } else {
                let when = spec
                    .when
                    .clone()
                    .unwrap_or(Condition::RememberedBrowser(true));
                check_condition(&when, known, &at(".when"), &mut problems);
                if spec.then.is_none() && spec.otherwise.is_none() {
                    problems.push(PolicyProblem::new(
                        at(""),
                        "a branch needs `then` or `else` (a step id, `next`, `done` or `deny`); \
                         without either it changes nothing",
                    ));
                }
                let mut target = |key: &str, value: &Option<String>| -> Target {
                    match resolve(value.as_deref(), i, &index) {
                        Ok(t) => t,
                        Err(e) => {
                            problems.push(PolicyProblem::new(at(&format!(".{key}")), e));
                            Target::Next
                        }
                    }
                };
                let then = target("then", &spec.then);
                let otherwise = target("else", &spec.otherwise);
                StepKind::Branch {
                    when,
                    then,
                    otherwise,
                }
            };
            steps.push(Step {
                id: ids[i].clone(),
                kind,
            });
        }
        if !problems.is_empty() {
            return Err(problems);
        }

        let mut reached = vec![false; steps.len()];
        reached[0] = true;
        for i in 0..steps.len() {
            if !reached[i] {
                continue;
            }
            let targets = match &steps[i].kind {
                StepKind::Branch {
                    then, otherwise, ..
                } => vec![*then, *otherwise],
                _ => vec![Target::Next],
            };
            for t in targets {
                match t {
                    Target::Next if i + 1 < steps.len() => reached[i + 1] = true,
                    Target::Step(j) => reached[j] = true,
                    _ => {}
                }
            }
        }
        for (i, reached) in reached.iter().enumerate() {
            if !reached {
                problems.push(PolicyProblem::new(
                    format!("steps[{i}]"),
                    format!(
                        "step `{}` can never run: no step leads to it (a branch before it jumps \
                         over it or ends the flow); remove it or point a `then`/`else` at it",
                        steps[i].id
                    ),
                ));
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Policy {
            id: self.id.clone(),
            acr: self.acr.clone(),
            max_age: self.max_age,
            steps,
        })
    }
}

fn resolve(
    value: Option<&str>,
    from: usize,
    index: &HashMap<&str, usize>,
) -> Result<Target, String> {
    match value {
        None | Some("next") => Ok(Target::Next),
        Some("done") => Ok(Target::Done),
        Some("deny") => Ok(Target::Deny),
        Some(id) => match index.get(id) {
            None => Err(format!(
                "no step `{id}` in this policy; name a step id, `next`, `done` or `deny`"
            )),
            Some(&j) if j <= from => Err(format!(
                "jumps back to step `{id}`, which would run steps again (a cycle); jumps go \
                 forward only"
            )),
            Some(&j) => Ok(Target::Step(j)),
        },
    }
}

fn check_condition(when: &Condition, known: &Known, key: &str, problems: &mut Vec<PolicyProblem>) {
    when.walk(&mut |c| match c {
        Condition::Enrolled(m) | Condition::Passed(m) => {
            if let Err(e) = known.check(m) {
                problems.push(PolicyProblem::new(key, e));
            }
        }
        Condition::FirstProvider(p) if !known.providers.contains(p) => {
            problems.push(PolicyProblem::new(
                key,
                format!("`first_provider` names `{p}`, which is not a provider of this realm"),
            ));
        }
        _ => {}
    });
}
