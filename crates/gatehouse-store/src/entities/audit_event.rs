use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_event")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub realm: String,
    pub at: ChronoDateTimeUtc,
    /// What happened, e.g. `password_login`.
    pub kind: String,
    /// The normalised login as typed, whether or not an account matched.
    pub login: String,
    /// A uuid; deliberately not a foreign key: the trail outlives the account. Plain text because
    /// sea-orm 2.0.4 cannot decode a NULL into `Option<TextUuid>` (its `TryGetable` turns the
    /// null into a type error).
    pub account_id: Option<String>,
    pub success: bool,
    /// `success`, or the refusal code (`invalid_credentials`, `csrf`, `replayed`, …).
    pub result: String,
    /// JSON array of `gatehouse_core::Attempt`: each provider tried, its outcome and duration.
    #[sea_orm(column_type = "Text")]
    pub attempts: String,
    /// The OAuth client id the login was for, when known.
    pub client: Option<String>,
    /// The peer's IP address, when known.
    pub ip: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
