use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "login_throttle")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub realm: String,
    /// `password`, or a second factor's mechanism.
    #[sea_orm(primary_key, auto_increment = false)]
    pub kind: String,
    /// `login_ip`, `login` or `ip`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub scope: String,
    /// `acct:{id}` or `login:{typed}`, with `|{ip}` for `login_ip`; the IP for `ip`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub subject: String,
    pub account_id: Option<String>,
    pub failures: i32,
    pub last_failure_at: ChronoDateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
