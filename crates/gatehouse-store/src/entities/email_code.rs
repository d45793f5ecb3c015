use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "email_code")]
pub struct Model {
    /// The challenge id only the flow's pending data knows.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: TextUuid,
    pub account_id: TextUuid,
    /// Salted SHA-256 hex of the code; the code is only in the email.
    pub digest: String,
    pub salt: String,
    pub sent_at: ChronoDateTimeUtc,
    pub expires_at: ChronoDateTimeUtc,
    pub failures: i32,
    pub used: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
