use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "login_spool")]
pub struct Model {
    /// The spool file's name (not its path: the directory may move with the database).
    #[sea_orm(primary_key, auto_increment = false)]
    pub name: String,
    /// How many of its records, from the first, are in the audit trail.
    pub applied: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
