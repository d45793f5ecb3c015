//! What the audit trail keeps of a flow (issue #20, point 7): one [`FlowReport`] per flow that
//! finished (succeeded or died) or was abandoned (expired), with every step the user went
//! through. The engine hands finished flows to a [`FlowObserver`]; abandoned ones are reported
//! by whoever finds them expired (the store's purge, or a late request).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::account::{Account, AccountId};
use crate::auth::mechanism::MechanismRef;
use crate::auth::state::{FlowContext, FlowId, FlowState};
use crate::error::CoreError;

/// The result code of a flow that expired without finishing.
pub const ABANDONED: &str = "abandoned";

/// One input the flow judged: a mechanism passed or refused, a choice not offered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepRecord {
    /// The policy step's id.
    pub step: String,
    /// `None` for a refused choice (no mechanism was picked).
    pub mechanism: Option<MechanismRef>,
    /// `passed`, or the refusal's code (`invalid_credentials`, `invalid_choice`, …).
    pub outcome: String,
    /// The provider that verified it, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    pub at: DateTime<Utc>,
    /// Since the previous record (or the start of the flow): how long the step took the user.
    pub duration_ms: u64,
}

impl StepRecord {
    pub fn passed(&self) -> bool {
        self.outcome == "passed"
    }
}

/// A flow at its end.
#[derive(Debug, Clone, PartialEq)]
pub struct FlowReport {
    pub flow_id: FlowId,
    pub realm: String,
    pub policy_id: String,
    /// The account the flow established, as far as it got.
    pub account: Option<(AccountId, String)>,
    pub success: bool,
    /// `success`, the failure's code (`too_many_attempts`, `denied`, `expired`, …), or
    /// [`ABANDONED`].
    pub outcome: String,
    pub steps: Vec<StepRecord>,
    pub started_at: DateTime<Utc>,
    pub ended_at: DateTime<Utc>,
    /// On success: the level reached and how.
    pub acr: Option<String>,
    pub amr: Vec<String>,
    pub context: FlowContext,
}

impl FlowReport {
    pub(crate) fn of(
        flow: &FlowState,
        account: Option<&Account>,
        outcome: &str,
        acr: Option<&str>,
        amr: Vec<String>,
        now: DateTime<Utc>,
    ) -> Self {
        let account = account.or(flow.account.as_ref());
        Self {
            flow_id: flow.flow_id,
            realm: flow.realm.clone(),
            policy_id: flow.policy_id.clone(),
            account: account.map(|a| (a.id, a.username.clone())),
            success: outcome == "success",
            outcome: outcome.to_owned(),
            steps: flow.trail.clone(),
            started_at: flow.started_at,
            ended_at: now,
            acr: acr.map(str::to_owned),
            amr,
            context: flow.context.clone(),
        }
    }

    /// A flow found past its deadline, never finished.
    pub fn abandoned(flow: &FlowState, now: DateTime<Utc>) -> Self {
        Self::of(flow, None, ABANDONED, None, Vec::new(), now)
    }

    pub fn duration_ms(&self) -> u64 {
        millis(self.started_at, self.ended_at)
    }
}

/// Notes one judged input in the flow's trail.
pub(crate) fn record(
    flow: &mut FlowState,
    mechanism: Option<MechanismRef>,
    outcome: &str,
    provider: Option<String>,
    now: DateTime<Utc>,
) {
    let since = flow.trail.last().map_or(flow.started_at, |r| r.at);
    flow.trail.push(StepRecord {
        step: flow.step_id.clone(),
        mechanism,
        outcome: outcome.to_owned(),
        provider,
        at: now,
        duration_ms: millis(since, now),
    });
}

pub(crate) fn millis(from: DateTime<Utc>, to: DateTime<Utc>) -> u64 {
    u64::try_from((to - from).num_milliseconds()).unwrap_or(0)
}

/// Told of every flow the engine ends. The answer waits for it: a flow's audit event is
/// committed before the user hears the flow's outcome.
#[async_trait]
pub trait FlowObserver: Send + Sync {
    async fn flow_ended(&self, report: FlowReport) -> Result<(), CoreError>;
}
