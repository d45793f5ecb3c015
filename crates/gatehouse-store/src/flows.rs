//! The flows of authentication policies ([`FlowRepository`]): single use per state id, shared by
//! every instance. A take is one conditional `UPDATE` that moves the row from the presented id's
//! digest to the next one; of two instances presenting the same id, exactly one changes a row.

use async_trait::async_trait;
use aws_lc_rs::digest::{SHA256, digest};
use chrono::{DateTime, Utc};
use gatehouse_core::RepoError;
use gatehouse_core::auth::{FlowId, FlowRepository, FlowState, StateId, Taken};
use sea_orm::prelude::TextUuid;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};

use crate::entities::flow_state::{self, Column as C};
use crate::error::StoreError;
use crate::oidc::{from_json, insert_error, to_json};
use crate::store::{Store, stamp};

/// The store keeps only this digest: a read of the table does not hand out live state ids.
fn state_hash(id: &StateId) -> String {
    digest(&SHA256, id.as_str().as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Store {
    /// How many flows of `realm` are stored, expired or not (operations, tests).
    pub async fn count_flows(&self, realm: &str) -> Result<u64, StoreError> {
        use sea_orm::PaginatorTrait;
        Ok(flow_state::Entity::find()
            .filter(C::Realm.eq(realm))
            .count(&self.db)
            .await?)
    }

    /// Removes every flow past its deadline at `now` and returns them: abandoned flows, each
    /// handed to exactly one caller (one `DELETE … RETURNING`), so each gets one audit event
    /// however many instances sweep at once. Rows that cannot be decoded are dropped unreported.
    pub async fn end_expired_flows(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<FlowState>, StoreError> {
        let rows = flow_state::Entity::delete_many()
            .filter(C::ExpiresAt.lte(stamp(now)))
            .exec_with_returning(&self.db)
            .await?;
        Ok(rows.into_iter().filter_map(decode).collect())
    }

    /// The flow of `realm` stored under `state_id` when it is past its deadline: removed and
    /// returned (for its audit event). A live or unknown id changes nothing.
    pub async fn end_expired_flow(
        &self,
        realm: &str,
        state_id: &StateId,
        now: DateTime<Utc>,
    ) -> Result<Option<FlowState>, StoreError> {
        let rows = flow_state::Entity::delete_many()
            .filter(C::StateHash.eq(state_hash(state_id)))
            .filter(C::Realm.eq(realm))
            .filter(C::ExpiresAt.lte(stamp(now)))
            .exec_with_returning(&self.db)
            .await?;
        Ok(rows.into_iter().find_map(decode))
    }

    async fn take(
        &self,
        realm: &str,
        state_id: &StateId,
        next: &StateId,
        now: DateTime<Utc>,
    ) -> Result<Taken, StoreError> {
        let next_hash = state_hash(next);
        let txn = self.begin_write().await?;
        // PostgreSQL re-checks the WHERE after waiting on a concurrent taker's row lock: the
        // loser finds the digest already replaced and changes nothing.
        let claimed = flow_state::Entity::update_many()
            .col_expr(C::StateHash, Expr::value(next_hash.clone()))
            .filter(C::StateHash.eq(state_hash(state_id)))
            .filter(C::Realm.eq(realm))
            .filter(C::ExpiresAt.gt(stamp(now)))
            .exec(&txn)
            .await?
            .rows_affected
            == 1;
        if !claimed {
            txn.rollback().await?;
            return Ok(Taken::Stale);
        }
        let row = flow_state::Entity::find()
            .filter(C::StateHash.eq(next_hash))
            .one(&txn)
            .await?;
        txn.commit().await?;
        let Some(row) = row else {
            return Ok(Taken::Stale);
        };
        let flow: FlowState = from_json(
            &row.data,
            "flow state",
            format_args!("flow {}", row.flow_id.0),
        )?;
        Ok(Taken::Live(Box::new(flow)))
    }
}

fn decode(row: flow_state::Model) -> Option<FlowState> {
    from_json(
        &row.data,
        "flow state",
        format_args!("flow {}", row.flow_id.0),
    )
    .inspect_err(
        |e| tracing::warn!(error = %e, "an expired flow could not be read for its audit event"),
    )
    .ok()
}

#[async_trait]
impl FlowRepository for Store {
    async fn create_flow(&self, state_id: &StateId, flow: &FlowState) -> Result<(), RepoError> {
        flow_state::Entity::insert(flow_state::ActiveModel {
            flow_id: Set(TextUuid(flow.flow_id.0)),
            state_hash: Set(state_hash(state_id)),
            realm: Set(flow.realm.clone()),
            policy_id: Set(flow.policy_id.clone()),
            data: Set(to_json(flow)?),
            created_at: Set(stamp(flow.started_at)),
            expires_at: Set(stamp(flow.deadline)),
        })
        .exec_without_returning(&self.db)
        .await
        .map_err(|e| insert_error(e, "a flow with this id or state id"))?;
        Ok(())
    }

    async fn take_flow(
        &self,
        realm: &str,
        state_id: &StateId,
        next: &StateId,
        now: DateTime<Utc>,
    ) -> Result<Taken, RepoError> {
        Ok(self.take(realm, state_id, next, now).await?)
    }

    async fn save_flow(&self, state_id: &StateId, flow: &FlowState) -> Result<bool, RepoError> {
        let saved = flow_state::Entity::update_many()
            .col_expr(C::StateHash, Expr::value(state_hash(state_id)))
            .col_expr(C::Data, Expr::value(to_json(flow)?))
            .col_expr(C::ExpiresAt, Expr::value(stamp(flow.deadline)))
            .filter(C::FlowId.eq(TextUuid(flow.flow_id.0)))
            .exec(&self.db)
            .await
            .map_err(|e| insert_error(e, "a flow with this state id"))?;
        Ok(saved.rows_affected == 1)
    }

    async fn end_flow(&self, flow_id: FlowId) -> Result<(), RepoError> {
        flow_state::Entity::delete_by_id(TextUuid(flow_id.0))
            .exec(&self.db)
            .await
            .map_err(StoreError::from)?;
        Ok(())
    }
}
