//! The engine: runs a realm's policies one request at a time. Each request takes the flow out of
//! the store under its state id (single use), advances it until it needs the user again, and
//! stores it under a new id. Pure logic: mechanisms and the store are reached through traits.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::account::Account;
use crate::auth::answer::{Answer, ChoiceOption, FlowRefusal};
use crate::auth::condition::Facts;
use crate::auth::limits::{FlowLimits, MAX_INPUT_COUNT};
use crate::auth::mechanism::{
    Begin, Failure, Field, FlowView, Input, Mechanism, MechanismRef, Passed, Verdict,
};
use crate::auth::policy::{Policy, StepKind, Target};
use crate::auth::report::{FlowObserver, FlowReport, record};
use crate::auth::repository::{FlowRepository, Taken};
use crate::auth::state::{FlowContext, FlowId, FlowState, PassedMechanism, Pending, StateId};
use crate::error::CoreError;

mod finish;

const CANNOT_LOG_IN: &str = "This account cannot log in this way. Ask an administrator for help.";
const START_AGAIN: &str = "This login has ended. Please start again.";

/// How a flow begins: the transport's context and, for a step-up, what the session already has.
#[derive(Debug, Clone, Default)]
pub struct FlowStart {
    pub context: FlowContext,
    /// The session's account (step-up); every mechanism must then prove this account.
    pub account: Option<Account>,
    /// Mechanisms the session passed that still hold: their steps are skipped.
    pub passed: Vec<PassedMechanism>,
}

/// What the flow waits for after a request.
enum Prompt {
    Challenge {
        mechanism: MechanismRef,
        fields: Vec<Field>,
        error: Option<String>,
    },
    Choose {
        choices: Vec<ChoiceOption>,
        error: Option<String>,
    },
    Redirect {
        mechanism: MechanismRef,
        location: String,
        form: Option<Vec<(String, String)>>,
        upstream_state: String,
    },
}

enum Progress {
    Wait(Prompt),
    Done,
    Dead(Failure),
}

pub struct Engine {
    realm: String,
    policies: HashMap<String, Arc<Policy>>,
    mechanisms: HashMap<MechanismRef, Arc<dyn Mechanism>>,
    flows: Arc<dyn FlowRepository>,
    limits: FlowLimits,
    observer: Option<Arc<dyn FlowObserver>>,
}

impl Engine {
    /// Every mechanism the policies name must come with an implementation.
    pub fn new(
        realm: &str,
        policies: Vec<Policy>,
        mechanisms: Vec<Arc<dyn Mechanism>>,
        flows: Arc<dyn FlowRepository>,
        limits: FlowLimits,
    ) -> Result<Self, CoreError> {
        let mechanisms: HashMap<_, _> = mechanisms
            .into_iter()
            .map(|m| (m.reference().clone(), m))
            .collect();
        for policy in &policies {
            if let Some(missing) = policy
                .mechanisms()
                .into_iter()
                .find(|m| !mechanisms.contains_key(*m))
            {
                return Err(CoreError::Realm {
                    realm: realm.to_owned(),
                    problem: format!(
                        "policy `{}` names mechanism `{missing}`, which has no implementation",
                        policy.id
                    ),
                });
            }
        }
        Ok(Self {
            realm: realm.to_owned(),
            policies: policies
                .into_iter()
                .map(|p| (p.id.clone(), Arc::new(p)))
                .collect(),
            mechanisms,
            flows,
            limits,
            observer: None,
        })
    }

    /// Every flow this engine ends is reported to `observer` (the audit trail, metrics).
    pub fn with_observer(mut self, observer: Arc<dyn FlowObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Every policy of the realm, by id.
    pub fn policies(&self) -> impl Iterator<Item = &Policy> {
        self.policies.values().map(|p| p.as_ref())
    }

    pub fn policy(&self, id: &str) -> Option<&Policy> {
        self.policies.get(id).map(|p| p.as_ref())
    }

    pub fn limits(&self) -> &FlowLimits {
        &self.limits
    }

    /// Starts a flow through `policy_id`: runs it until it needs the user (or is already done,
    /// for a step-up whose steps the session has all passed).
    pub async fn start(
        &self,
        policy_id: &str,
        start: FlowStart,
        now: DateTime<Utc>,
    ) -> Result<Answer, CoreError> {
        let policy = self
            .policies
            .get(policy_id)
            .cloned()
            .ok_or(FlowRefusal::UnknownPolicy)?;
        let lifetime =
            chrono::Duration::seconds(i64::try_from(self.limits.lifetime).unwrap_or(600));
        let mut flow = FlowState {
            flow_id: FlowId::generate(),
            realm: self.realm.clone(),
            policy_id: policy.id.clone(),
            account: start.account,
            passed: start.passed,
            cursor: 0,
            step_id: String::new(),
            pending: None,
            failures: 0,
            started_at: now,
            deadline: now + lifetime,
            context: start.context,
            trail: Vec::new(),
        };
        let progress = self.advance(&policy, &mut flow, None).await?;
        self.finish(&policy, flow, progress, StateId::generate(), false, now)
            .await
    }

    /// Continues the flow `state_id` names with the user's input (a redirect provider's callback
    /// included). The id is dead afterwards, whatever the answer; a refused request
    /// ([`FlowRefusal`] inside [`CoreError::Flow`]) advanced nothing.
    pub async fn submit(
        &self,
        state_id: &StateId,
        input: Input,
        now: DateTime<Utc>,
    ) -> Result<Answer, CoreError> {
        self.check_size(&input)?;
        let next = StateId::generate();
        let mut flow = match self
            .flows
            .take_flow(&self.realm, state_id, &next, now)
            .await?
        {
            Taken::Live(flow) => *flow,
            Taken::Stale => return Err(FlowRefusal::InvalidState.into()),
        };
        if now >= flow.deadline {
            self.flows.end_flow(flow.flow_id).await?;
            self.report(FlowReport::of(
                &flow,
                None,
                "expired",
                None,
                Vec::new(),
                now,
            ))
            .await?;
            return Ok(Answer::Failure(Failure::new("expired", START_AGAIN)));
        }
        let policy = match self.policies.get(&flow.policy_id) {
            Some(policy)
                if policy.steps.get(flow.cursor).map(|s| s.id.as_str())
                    == Some(flow.step_id.as_str()) =>
            {
                policy.clone()
            }
            // The configuration changed under the flow: resuming could skip a step.
            _ => {
                self.flows.end_flow(flow.flow_id).await?;
                self.report(FlowReport::of(
                    &flow,
                    None,
                    "policy_changed",
                    None,
                    Vec::new(),
                    now,
                ))
                .await?;
                return Ok(Answer::Failure(Failure::new("policy_changed", START_AGAIN)));
            }
        };
        let progress = match flow.pending.take() {
            None => Progress::Dead(Failure::new("nothing_pending", START_AGAIN)),
            Some(Pending::Choice { options }) => {
                let picked = match &input {
                    Input::Choice(pick) => options.iter().find(|m| m.to_string() == *pick).cloned(),
                    _ => None,
                };
                match picked {
                    Some(m) => match self.begin(&m, &mut flow, None).await? {
                        Progress::Dead(failure) => {
                            record(&mut flow, Some(m), &failure.code, None, now);
                            self.reject(&mut flow, Pending::Choice { options }, failure)
                        }
                        progress => progress,
                    },
                    None => {
                        record(&mut flow, None, "invalid_choice", None, now);
                        self.reject(
                            &mut flow,
                            Pending::Choice { options },
                            Failure::new(
                                "invalid_choice",
                                "Choose one of the offered ways to log in.",
                            ),
                        )
                    }
                }
            }
            Some(Pending::Challenge {
                mechanism,
                fields,
                data,
            }) => match self.verify(&mechanism, &flow, &data, &input).await? {
                Ok(passed) => {
                    self.passed(&policy, &mut flow, mechanism, passed, now)
                        .await?
                }
                Err(failure) => {
                    record(&mut flow, Some(mechanism.clone()), &failure.code, None, now);
                    self.reject(
                        &mut flow,
                        Pending::Challenge {
                            mechanism,
                            fields,
                            data,
                        },
                        failure,
                    )
                }
            },
            Some(Pending::Redirect { mechanism, data }) => {
                match self.verify(&mechanism, &flow, &data, &input).await? {
                    Ok(passed) => {
                        self.passed(&policy, &mut flow, mechanism, passed, now)
                            .await?
                    }
                    Err(failure) => {
                        // The upstream's state was spent on the way out: the step starts over
                        // (its choice again, or a fresh redirect).
                        record(&mut flow, Some(mechanism), &failure.code, None, now);
                        self.log_refused(&flow, &failure);
                        flow.failures += 1;
                        if flow.failures >= self.limits.max_failed_inputs {
                            too_many()
                        } else {
                            self.advance(&policy, &mut flow, Some(failure.public_message))
                                .await?
                        }
                    }
                }
            }
        };
        self.finish(&policy, flow, progress, next, true, now).await
    }

    fn check_size(&self, input: &Input) -> Result<(), FlowRefusal> {
        let too_large = match input {
            Input::Callback(_) => input.total_size() > self.limits.max_callback_bytes,
            _ => input.largest_value() > self.limits.max_input_bytes,
        };
        if too_large || input.count() > MAX_INPUT_COUNT {
            return Err(FlowRefusal::InputTooLarge);
        }
        Ok(())
    }

    /// Runs steps from the cursor until one needs the user, the policy ends, or a branch denies.
    async fn advance(
        &self,
        policy: &Policy,
        flow: &mut FlowState,
        error: Option<String>,
    ) -> Result<Progress, CoreError> {
        // Jumps only go forward: at most one visit per step.
        for _ in 0..=policy.steps.len() {
            let Some(step) = policy.steps.get(flow.cursor) else {
                return Ok(Progress::Done);
            };
            flow.step_id = step.id.clone();
            match &step.kind {
                StepKind::Mechanism(m) => {
                    if already_passed(flow, m) {
                        flow.cursor += 1;
                        continue;
                    }
                    if !self.usable(m, flow).await? {
                        return Ok(Progress::Dead(Failure::new("not_enrolled", CANNOT_LOG_IN)));
                    }
                    return self.begin(m, flow, error).await;
                }
                StepKind::Choice(options) => {
                    if options.iter().any(|m| already_passed(flow, m)) {
                        flow.cursor += 1;
                        continue;
                    }
                    let mut usable = Vec::new();
                    for m in options {
                        if self.usable(m, flow).await? {
                            usable.push(m.clone());
                        }
                    }
                    return Ok(match usable.len() {
                        0 => Progress::Dead(Failure::new("not_enrolled", CANNOT_LOG_IN)),
                        1 => return self.begin(&usable[0], flow, error).await,
                        _ => {
                            let choices = self.choices(&usable);
                            flow.pending = Some(Pending::Choice { options: usable });
                            Progress::Wait(Prompt::Choose { choices, error })
                        }
                    });
                }
                StepKind::Branch {
                    when,
                    then,
                    otherwise,
                } => {
                    let mut enrolled = HashSet::new();
                    for m in when.enrolled_refs() {
                        if self.usable(m, flow).await? {
                            enrolled.insert(m.clone());
                        }
                    }
                    let holds = when.evaluate(&Facts {
                        account: flow.account.as_ref(),
                        passed: &flow.passed,
                        context: &flow.context,
                        enrolled: &enrolled,
                    });
                    tracing::debug!(flow = %flow.flow_id, step = %step.id, holds, "branch");
                    match if holds { then } else { otherwise } {
                        Target::Next => flow.cursor += 1,
                        Target::Step(j) => flow.cursor = *j,
                        Target::Done => flow.cursor = policy.steps.len(),
                        Target::Deny => {
                            return Ok(Progress::Dead(Failure::new("denied", CANNOT_LOG_IN)));
                        }
                    }
                }
            }
        }
        Ok(Progress::Dead(Failure::new("policy_loop", START_AGAIN)))
    }

    /// Whether `m` can run for the account so far (before any account, every mechanism can).
    async fn usable(&self, m: &MechanismRef, flow: &FlowState) -> Result<bool, CoreError> {
        self.usable_by(m, flow.account.as_ref()).await
    }

    pub(crate) async fn usable_by(
        &self,
        m: &MechanismRef,
        account: Option<&Account>,
    ) -> Result<bool, CoreError> {
        let (Some(mechanism), Some(account)) = (self.mechanisms.get(m), account) else {
            return Ok(self.mechanisms.contains_key(m));
        };
        mechanism.enrolled(account).await
    }

    fn choices(&self, options: &[MechanismRef]) -> Vec<ChoiceOption> {
        options
            .iter()
            .map(|m| ChoiceOption {
                id: m.to_string(),
                label: self
                    .mechanisms
                    .get(m)
                    .map(|x| x.label())
                    .unwrap_or_else(|| m.to_string()),
            })
            .collect()
    }

    async fn begin(
        &self,
        m: &MechanismRef,
        flow: &mut FlowState,
        error: Option<String>,
    ) -> Result<Progress, CoreError> {
        let Some(mechanism) = self.mechanisms.get(m) else {
            return Ok(Progress::Dead(Failure::new("no_mechanism", CANNOT_LOG_IN)));
        };
        let began = mechanism.begin(view(flow)).await;
        Ok(match began {
            Ok(Begin::Challenge { fields, data }) => {
                flow.pending = Some(Pending::Challenge {
                    mechanism: m.clone(),
                    fields: fields.clone(),
                    data,
                });
                Progress::Wait(Prompt::Challenge {
                    mechanism: m.clone(),
                    fields,
                    error,
                })
            }
            Ok(Begin::Redirect {
                location,
                upstream_state,
                form,
                data,
            }) => {
                flow.pending = Some(Pending::Redirect {
                    mechanism: m.clone(),
                    data,
                });
                Progress::Wait(Prompt::Redirect {
                    mechanism: m.clone(),
                    location,
                    form,
                    upstream_state,
                })
            }
            Err(failure) => Progress::Dead(failure),
        })
    }

    async fn verify(
        &self,
        m: &MechanismRef,
        flow: &FlowState,
        data: &serde_json::Value,
        input: &Input,
    ) -> Result<Result<Passed, Failure>, CoreError> {
        let Some(mechanism) = self.mechanisms.get(m) else {
            return Ok(Err(Failure::new("no_mechanism", CANNOT_LOG_IN)));
        };
        Ok(match mechanism.verify(view(flow), data, input).await? {
            Verdict::Passed(passed) => match &flow.account {
                // A later factor proving somebody else is a failed input, not a switch of user.
                Some(account) if account.id != passed.account.id => Err(Failure::new(
                    "account_mismatch",
                    "These credentials do not belong to the account of this login.",
                )),
                _ => Ok(*passed),
            },
            Verdict::Rejected(failure) => Err(failure),
        })
    }

    async fn passed(
        &self,
        policy: &Policy,
        flow: &mut FlowState,
        mechanism: MechanismRef,
        passed: Passed,
        now: DateTime<Utc>,
    ) -> Result<Progress, CoreError> {
        tracing::info!(
            realm = %self.realm,
            flow = %flow.flow_id,
            step = %flow.step_id,
            mechanism = %mechanism,
            account = %passed.account.id,
            "mechanism passed"
        );
        record(
            flow,
            Some(mechanism.clone()),
            "passed",
            passed.provider.clone(),
            now,
        );
        flow.passed.push(PassedMechanism {
            mechanism,
            provider: passed.provider,
            amr: passed.amr,
            at: now,
        });
        flow.account = Some(passed.account);
        flow.cursor += 1;
        self.advance(policy, flow, None).await
    }

    /// One failed input: the same prompt again with the reason, until the limit kills the flow.
    fn reject(&self, flow: &mut FlowState, pending: Pending, failure: Failure) -> Progress {
        self.log_refused(flow, &failure);
        flow.failures += 1;
        if flow.failures >= self.limits.max_failed_inputs {
            return too_many();
        }
        let error = Some(failure.public_message);
        let prompt = match &pending {
            Pending::Challenge {
                mechanism, fields, ..
            } => Prompt::Challenge {
                mechanism: mechanism.clone(),
                fields: fields.clone(),
                error,
            },
            Pending::Choice { options } => Prompt::Choose {
                choices: self.choices(options),
                error,
            },
            Pending::Redirect { .. } => {
                return Progress::Dead(Failure::new("redirect", START_AGAIN));
            }
        };
        flow.pending = Some(pending);
        Progress::Wait(prompt)
    }

    fn log_refused(&self, flow: &FlowState, failure: &Failure) {
        tracing::info!(
            realm = %self.realm,
            flow = %flow.flow_id,
            step = %flow.step_id,
            code = %failure.code,
            failures = flow.failures + 1,
            "flow input refused"
        );
    }
}

fn view(flow: &FlowState) -> FlowView<'_> {
    FlowView {
        realm: &flow.realm,
        account: flow.account.as_ref(),
        passed: &flow.passed,
        context: &flow.context,
    }
}

fn already_passed(flow: &FlowState, m: &MechanismRef) -> bool {
    flow.passed.iter().any(|p| p.mechanism == *m)
}

fn too_many() -> Progress {
    Progress::Dead(Failure::new(
        "too_many_attempts",
        "Too many failed attempts. Please start again.",
    ))
}
