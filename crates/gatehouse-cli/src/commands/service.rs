use std::path::Path;
use std::sync::Arc;

use gatehouse_server::Gatehouse;

use super::load_config;
use crate::Failure;

pub fn check_config(path: &Path) -> Result<(), Failure> {
    let config = load_config(path)?;
    println!("configuration {} is valid", path.display());
    for (name, realm) in &config.realms {
        println!("  realm {name}: chain {}", realm.chain.join(" → "));
    }
    Ok(())
}

/// `open` already ran the migrations.
pub async fn migrate(gatehouse: &Gatehouse) -> Result<(), Failure> {
    println!("store migrated ({})", gatehouse.store.backend_name());
    Ok(())
}

pub async fn serve(gatehouse: Arc<Gatehouse>) -> Result<(), Failure> {
    gatehouse_server::serve(gatehouse).await?;
    Ok(())
}
