use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "replay_guard")]
pub struct Model {
    /// SHA-256 hex of (realm, provider, upstream id), computed by the caller.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id_hash: String,
    pub realm: String,
    pub provider: String,
    pub expires_at: ChronoDateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
