use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "pending_redirect")]
pub struct Model {
    /// SHA-256 hex of the upstream `state` (or SAML RelayState) the callback carries.
    #[sea_orm(primary_key, auto_increment = false)]
    pub state_hash: String,
    pub realm: String,
    pub provider: String,
    /// The `id_hash` of the login transaction the redirect belongs to.
    pub login_hash: String,
    pub csrf_hash: String,
    /// JSON: the connector's own state (PKCE verifier, nonce…), opaque to the store.
    #[sea_orm(column_type = "Text")]
    pub connector_state: String,
    pub created_at: ChronoDateTimeUtc,
    pub expires_at: ChronoDateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
