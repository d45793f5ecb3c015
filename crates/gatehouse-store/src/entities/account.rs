use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "account")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: TextUuid,
    pub realm: String,
    /// As given (the directory's or the administrator's spelling).
    pub username: String,
    /// Normalised by the caller (`RealmPolicy::normalize_login`); unique per realm.
    pub username_key: String,
    pub email: Option<String>,
    /// Trimmed and lowercased `email`; indexed but not unique (shared mailboxes exist).
    pub email_key: Option<String>,
    pub name: Option<String>,
    pub disabled_reason: Option<String>,
    pub locked_until: Option<ChronoDateTimeUtc>,
    /// JSON array of strings.
    #[sea_orm(column_type = "Text")]
    pub roles: String,
    /// JSON array of strings.
    #[sea_orm(column_type = "Text")]
    pub groups: String,
    /// JSON array of the roles a provider granted (directory `group_roles`); replaced at each
    /// login through that provider. `roles` holds the administrator's, which logins never touch.
    #[sea_orm(column_type = "Text")]
    pub directory_roles: String,
    /// JSON object.
    #[sea_orm(column_type = "Text")]
    pub attributes: String,
    pub created_at: ChronoDateTimeUtc,
    pub updated_at: ChronoDateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::link::Entity")]
    Link,
    #[sea_orm(has_one = "super::login_stat::Entity")]
    LoginStat,
}

impl Related<super::link::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Link.def()
    }
}

impl Related<super::login_stat::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::LoginStat.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
