use sea_orm::entity::prelude::*;

/// Access tokens are self-contained JWTs; a row exists only for those that may need revoking.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "access_token")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub jti: String,
    pub realm: String,
    pub client_id: String,
    /// `None` for client-credentials tokens. Plain text rather than `Option<TextUuid>`, which
    /// sea-orm 2.0 fails to decode from NULL (as `audit_event.account_id` does).
    pub account_id: Option<String>,
    pub family_id: Option<String>,
    pub code_hash: Option<String>,
    pub session_id_hash: Option<String>,
    pub expires_at: ChronoDateTimeUtc,
    pub revoked_at: Option<ChronoDateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
