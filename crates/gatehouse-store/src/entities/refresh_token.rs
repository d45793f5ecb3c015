use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "refresh_token")]
pub struct Model {
    /// SHA-256 hex of the token.
    #[sea_orm(primary_key, auto_increment = false)]
    pub token_hash: String,
    /// Every rotation of one grant shares it; reuse of a rotated token revokes the family.
    pub family_id: String,
    pub realm: String,
    pub client_id: String,
    pub account_id: TextUuid,
    pub session_id_hash: Option<String>,
    /// Space-separated, as granted.
    #[sea_orm(column_type = "Text")]
    pub scope: String,
    pub auth_time: ChronoDateTimeUtc,
    /// JSON array of strings.
    #[sea_orm(column_type = "Text")]
    pub amr: String,
    pub acr: String,
    pub created_at: ChronoDateTimeUtc,
    pub expires_at: ChronoDateTimeUtc,
    /// Set by the one rotation that won.
    pub used_at: Option<ChronoDateTimeUtc>,
    pub revoked_at: Option<ChronoDateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
