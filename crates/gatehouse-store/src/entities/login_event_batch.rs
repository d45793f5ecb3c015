use sea_orm::entity::prelude::*;

/// The audit events of logins applied together from an SQLite login spool, of one realm.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "login_event_batch")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub realm: String,
    /// The earliest and the latest `at` of its events.
    pub first_at: ChronoDateTimeUtc,
    pub last_at: ChronoDateTimeUtc,
    /// The audit event id of its first event; the others follow in order.
    pub first_event_id: i64,
    pub count: i32,
    /// One JSON `gatehouse_core::LoginRecord` a line, in the order they were spooled.
    #[sea_orm(column_type = "Text")]
    pub events: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
