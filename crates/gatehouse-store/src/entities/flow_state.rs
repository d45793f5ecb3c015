use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "flow_state")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub flow_id: TextUuid,
    /// SHA-256 hex of the flow's current state id; replaced at every step.
    #[sea_orm(unique)]
    pub state_hash: String,
    pub realm: String,
    pub policy_id: String,
    /// JSON: the engine's `FlowState`, opaque to the store.
    #[sea_orm(column_type = "Text")]
    pub data: String,
    pub created_at: ChronoDateTimeUtc,
    pub expires_at: ChronoDateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
