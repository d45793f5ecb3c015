//! Where flows live between requests: the store, shared by every instance. Implemented by
//! `gatehouse-store`; in memory in the engine's tests.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::auth::state::{FlowId, FlowState, StateId};
use crate::repository::RepoError;

/// The result of presenting a state id.
#[derive(Debug, Clone, PartialEq)]
pub enum Taken {
    /// The flow, now re-keyed under the `next` id the caller chose; the presented id is dead.
    Live(Box<FlowState>),
    /// Unknown, already used, expired, or of another realm: nothing was changed.
    Stale,
}

#[async_trait]
pub trait FlowRepository: Send + Sync {
    /// Stores a new flow under `state_id`, until `flow.deadline`.
    async fn create_flow(&self, state_id: &StateId, flow: &FlowState) -> Result<(), RepoError>;

    /// Single use per state id: atomically moves the live flow of `realm` stored under
    /// `state_id` to `next`, and returns it. Of two concurrent takes of one id exactly one gets
    /// [`Taken::Live`]; an id whose flow passed its deadline at `now` is [`Taken::Stale`].
    async fn take_flow(
        &self,
        realm: &str,
        state_id: &StateId,
        next: &StateId,
        now: DateTime<Utc>,
    ) -> Result<Taken, RepoError>;

    /// Writes the flow's new state under `state_id` (the flow found by `flow.flow_id`, whatever
    /// id it was stored under). False when the flow is gone (ended meanwhile).
    async fn save_flow(&self, state_id: &StateId, flow: &FlowState) -> Result<bool, RepoError>;

    /// Removes a finished or dead flow: no id of it works any more.
    async fn end_flow(&self, flow_id: FlowId) -> Result<(), RepoError>;
}
