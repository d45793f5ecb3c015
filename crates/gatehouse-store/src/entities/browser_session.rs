use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "browser_session")]
pub struct Model {
    /// SHA-256 hex of the session cookie's value; the value itself is never stored.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id_hash: String,
    pub realm: String,
    pub account_id: TextUuid,
    pub auth_time: ChronoDateTimeUtc,
    /// JSON array of strings.
    #[sea_orm(column_type = "Text")]
    pub amr: String,
    pub acr: String,
    pub created_at: ChronoDateTimeUtc,
    pub expires_at: ChronoDateTimeUtc,
    pub last_seen_at: ChronoDateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
