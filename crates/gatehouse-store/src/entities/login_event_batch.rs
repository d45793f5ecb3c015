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
    /// One JSON `gatehouse_core::LoginRecord` a line, in the order they were spooled; empty when
    /// `events_zlib` holds them.
    #[sea_orm(column_type = "Text")]
    pub events: String,
    /// The same lines zlib-compressed (RFC 1950): batches written since migration 000008.
    #[sea_orm(column_type = "Blob", nullable)]
    pub events_zlib: Option<Vec<u8>>,
    /// The length of the lines `events_zlib` holds, in bytes.
    pub events_size: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
