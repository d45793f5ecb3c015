use sea_orm::entity::prelude::*;

#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "link")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: TextUuid,
    pub account_id: TextUuid,
    pub provider_id: String,
    /// LDAP DN or objectGUID, SAML NameID, OIDC `sub`; `None` for database links.
    pub external_id: Option<String>,
    /// PHC string of a database link. Never printed: see the `Debug` impl below.
    #[sea_orm(column_type = "Text", nullable)]
    pub secret: Option<String>,
    /// The break-glass administrator's link, never made inert by supersession.
    pub protected: bool,
    pub created_at: ChronoDateTimeUtc,
    pub updated_at: ChronoDateTimeUtc,
}

// Hand-written so a password hash cannot reach a log line through `{:?}`.
impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("link::Model")
            .field("id", &self.id)
            .field("account_id", &self.account_id)
            .field("provider_id", &self.provider_id)
            .field("external_id", &self.external_id)
            .field("secret", &self.secret.as_ref().map(|_| "[redacted]"))
            .field("protected", &self.protected)
            .field("created_at", &self.created_at)
            .field("updated_at", &self.updated_at)
            .finish()
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::account::Entity",
        from = "Column::AccountId",
        to = "super::account::Column::Id",
        on_delete = "Cascade"
    )]
    Account,
}

impl Related<super::account::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Account.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
