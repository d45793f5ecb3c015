use sea_orm::entity::prelude::*;

#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "password_history")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: TextUuid,
    pub account_id: TextUuid,
    pub provider_id: String,
    /// PHC string of a password the link had. Never printed: see `Debug` below.
    #[sea_orm(column_type = "Text")]
    pub secret: String,
    pub created_at: ChronoDateTimeUtc,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("password_history::Model")
            .field("id", &self.id)
            .field("account_id", &self.account_id)
            .field("provider_id", &self.provider_id)
            .field("secret", &"[redacted]")
            .field("created_at", &self.created_at)
            .finish()
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
