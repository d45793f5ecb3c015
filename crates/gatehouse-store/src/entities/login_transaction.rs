use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "login_transaction")]
pub struct Model {
    /// SHA-256 hex of the transaction id carried by the login page.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id_hash: String,
    pub realm: String,
    /// JSON: the pending authorization request, opaque to the store.
    #[sea_orm(column_type = "Text")]
    pub request: String,
    pub csrf_hash: String,
    #[sea_orm(column_type = "Text", nullable)]
    pub username: Option<String>,
    pub created_at: ChronoDateTimeUtc,
    pub expires_at: ChronoDateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
