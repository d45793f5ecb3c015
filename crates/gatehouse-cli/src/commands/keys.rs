use gatehouse_server::Gatehouse;

use crate::Failure;
use crate::cli::KeysCommand;

pub async fn run(gatehouse: &Gatehouse, command: KeysCommand) -> Result<(), Failure> {
    match command {
        KeysCommand::Rotate { realm } => {
            let runtime = gatehouse.realm(&realm.realm)?;
            let kid = runtime.oidc.keys.rotate().await?;
            println!(
                "realm {}: new signing key {kid}; older keys stay in the JWKS until their tokens expire",
                realm.realm
            );
        }
        KeysCommand::List { realm } => {
            let runtime = gatehouse.realm(&realm.realm)?;
            let signer = runtime.oidc.keys.signer().await?;
            let jwks = serde_json::to_value(runtime.oidc.jwks().await?)?;
            for key in jwks["keys"].as_array().into_iter().flatten() {
                let kid = key["kid"].as_str().unwrap_or("?");
                let role = if kid == signer.kid {
                    "signing"
                } else {
                    "verification only"
                };
                println!("{kid}  {}  {role}", key["kty"].as_str().unwrap_or("?"));
            }
        }
    }
    Ok(())
}
