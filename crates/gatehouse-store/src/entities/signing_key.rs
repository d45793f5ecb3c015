use sea_orm::entity::prelude::*;

#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "signing_key")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub kid: String,
    pub realm: String,
    /// `RS256`, `ES256` or `EdDSA`.
    pub alg: String,
    /// Encrypted by the caller. Never printed: see the `Debug` impl below.
    #[sea_orm(column_type = "Blob")]
    pub private_key: Vec<u8>,
    /// JSON object (the public JWK as published).
    #[sea_orm(column_type = "Text")]
    pub public_jwk: String,
    pub created_at: ChronoDateTimeUtc,
    /// When it stopped being the key that signs.
    pub retired_at: Option<ChronoDateTimeUtc>,
    /// When it leaves the JWKS.
    pub expires_at: Option<ChronoDateTimeUtc>,
}

// Hand-written so key material cannot reach a log line through `{:?}`, even encrypted.
impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("signing_key::Model")
            .field("kid", &self.kid)
            .field("realm", &self.realm)
            .field("alg", &self.alg)
            .field("private_key", &"[redacted]")
            .field("public_jwk", &self.public_jwk)
            .field("created_at", &self.created_at)
            .field("retired_at", &self.retired_at)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
