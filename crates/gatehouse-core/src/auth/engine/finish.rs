//! The end of every request: the flow stored under its next id (or ended and reported), and the
//! answer shaped for the transport.

use chrono::{DateTime, Utc};

use super::{CANNOT_LOG_IN, Engine, Progress, Prompt};
use crate::auth::answer::{Answer, Completed, FlowRefusal};
use crate::auth::mechanism::Failure;
use crate::auth::policy::Policy;
use crate::auth::report::FlowReport;
use crate::auth::state::{FlowState, StateId};
use crate::error::CoreError;

impl Engine {
    /// Stores the flow under its next id (or ends it) and shapes the answer.
    pub(super) async fn finish(
        &self,
        policy: &Policy,
        mut flow: FlowState,
        progress: Progress,
        next: StateId,
        stored: bool,
        now: DateTime<Utc>,
    ) -> Result<Answer, CoreError> {
        let prompt = match progress {
            Progress::Wait(prompt) => prompt,
            Progress::Done => {
                let Some(account) = flow.account.take() else {
                    // A policy whose branches skipped every mechanism proves nobody.
                    let failure = Failure::new("no_account", CANNOT_LOG_IN);
                    return self.fail(policy, &flow, failure, stored, now).await;
                };
                if stored {
                    self.flows.end_flow(flow.flow_id).await?;
                }
                tracing::info!(realm = %self.realm, flow = %flow.flow_id, policy = %policy.id, account = %account.id, "flow succeeded");
                let report_of = flow.clone();
                let done = Completed::new(policy, flow, account);
                self.report(FlowReport::of(
                    &report_of,
                    Some(&done.account),
                    "success",
                    Some(&done.acr),
                    done.amr.clone(),
                    now,
                ))
                .await?;
                return Ok(Answer::Success(Box::new(done)));
            }
            Progress::Dead(failure) => {
                return self.fail(policy, &flow, failure, stored, now).await;
            }
        };
        let state_id = match &prompt {
            Prompt::Redirect { upstream_state, .. } => StateId::from(upstream_state.as_str()),
            _ => next,
        };
        if stored {
            if !self.flows.save_flow(&state_id, &flow).await? {
                return Err(FlowRefusal::InvalidState.into());
            }
        } else {
            self.flows.create_flow(&state_id, &flow).await?;
        }
        Ok(prompt.into_answer(state_id))
    }

    /// The flow is over without an account: ended in the store, reported, answered.
    async fn fail(
        &self,
        policy: &Policy,
        flow: &FlowState,
        failure: Failure,
        stored: bool,
        now: DateTime<Utc>,
    ) -> Result<Answer, CoreError> {
        if stored {
            self.flows.end_flow(flow.flow_id).await?;
        }
        tracing::info!(realm = %self.realm, flow = %flow.flow_id, policy = %policy.id, code = %failure.code, "flow failed");
        self.report(FlowReport::of(
            flow,
            None,
            &failure.code,
            None,
            Vec::new(),
            now,
        ))
        .await?;
        Ok(Answer::Failure(failure))
    }

    pub(super) async fn report(&self, report: FlowReport) -> Result<(), CoreError> {
        match &self.observer {
            Some(observer) => observer.flow_ended(report).await,
            None => Ok(()),
        }
    }
}

impl Prompt {
    fn into_answer(self, state_id: StateId) -> Answer {
        match self {
            Prompt::Challenge {
                mechanism,
                fields,
                error,
            } => Answer::Challenge {
                state_id,
                mechanism,
                fields,
                error,
            },
            Prompt::Choose { choices, error } => Answer::Choose {
                state_id,
                choices,
                error,
            },
            Prompt::Redirect {
                mechanism,
                location,
                form,
                ..
            } => Answer::Redirect {
                state_id,
                mechanism,
                location,
                form,
            },
        }
    }
}
