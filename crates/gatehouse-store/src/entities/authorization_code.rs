use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "authorization_code")]
pub struct Model {
    /// SHA-256 hex of the code.
    #[sea_orm(primary_key, auto_increment = false)]
    pub code_hash: String,
    pub realm: String,
    pub client_id: String,
    #[sea_orm(column_type = "Text")]
    pub redirect_uri: String,
    pub account_id: TextUuid,
    pub session_id_hash: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub scope: String,
    #[sea_orm(column_type = "Text", nullable)]
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub auth_time: ChronoDateTimeUtc,
    /// JSON array of strings.
    #[sea_orm(column_type = "Text")]
    pub amr: String,
    pub acr: String,
    pub created_at: ChronoDateTimeUtc,
    pub expires_at: ChronoDateTimeUtc,
    /// Set by the one redemption that won; a code with `used_at` is a replay.
    pub used_at: Option<ChronoDateTimeUtc>,
    /// The refresh-token family issued from this code.
    pub family_id: Option<String>,
    /// Set when a replay revoked what the code issued (store-internal, not in the public record).
    pub revoked_at: Option<ChronoDateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
