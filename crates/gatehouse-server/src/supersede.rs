//! DESIGN.md, superseded account types, for `serve` and `gatehouse accounts supersede`: the
//! decisions and their writes are core's [`gatehouse_core::supersession`], run against the store.

pub use gatehouse_core::supersession::{Action, Change, PREFIX};

use gatehouse_core::CoreError;

use crate::app::{Gatehouse, RealmRuntime};
use crate::error::ServerError;

/// The changes the current configuration calls for in `runtime`'s realm (the dry run).
pub async fn plan(g: &Gatehouse, runtime: &RealmRuntime) -> Result<Vec<Change>, ServerError> {
    Ok(
        gatehouse_core::supersession::plan(&runtime.policy, &g.store)
            .await
            .map_err(CoreError::from)?,
    )
}

/// Computes the plan and applies it: one audit event per account changed.
pub async fn apply(g: &Gatehouse, runtime: &RealmRuntime) -> Result<Vec<Change>, ServerError> {
    Ok(
        gatehouse_core::supersession::apply(&runtime.policy, &g.store)
            .await
            .map_err(CoreError::from)?,
    )
}

/// At `serve` start: bring every realm in line with the configuration.
pub async fn apply_all(g: &Gatehouse) -> Result<(), ServerError> {
    for runtime in g.realms() {
        apply(g, runtime).await?;
    }
    Ok(())
}
