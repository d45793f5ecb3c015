use sea_orm::entity::prelude::*;

#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "browser_session")]
pub struct Model {
    /// SHA-256 hex of the session cookie's value; the value itself is never stored.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id_hash: String,
    pub realm: String,
    pub account_id: TextUuid,
    pub auth_time: ChronoDateTimeUtc,
    /// JSON array of strings.
    #[sea_orm(column_type = "Text")]
    pub amr: String,
    pub acr: String,
    pub created_at: ChronoDateTimeUtc,
    pub expires_at: ChronoDateTimeUtc,
    pub last_seen_at: ChronoDateTimeUtc,
    /// The redirect provider the session was created through; `None` for password logins.
    pub upstream_provider: Option<String>,
    /// What that provider needs at logout, encrypted by the caller. Never printed: see `Debug`.
    #[sea_orm(column_type = "Blob", nullable)]
    pub upstream_logout_hint: Option<Vec<u8>>,
    /// JSON array: each mechanism passed, with its amr, provider and time.
    #[sea_orm(column_type = "Text")]
    pub passed: String,
    /// JSON array: each level a flow reached (policy, acr, time).
    #[sea_orm(column_type = "Text")]
    pub levels: String,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("browser_session::Model")
            .field("id_hash", &self.id_hash)
            .field("realm", &self.realm)
            .field("account_id", &self.account_id)
            .field("upstream_provider", &self.upstream_provider)
            .field(
                "upstream_logout_hint",
                &self.upstream_logout_hint.as_ref().map(|_| "[redacted]"),
            )
            .finish_non_exhaustive()
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
