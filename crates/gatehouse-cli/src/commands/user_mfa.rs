//! `gatehouse user mfa …`: an administrator's hand on an account's second factors.

use clap::Subcommand;
use gatehouse_server::Gatehouse;

use super::user::find;
use crate::Failure;
use crate::cli::RealmArg;

/// The audit event of an administrator's reset.
pub const RESET_EVENT: &str = "mfa_reset";

#[derive(Subcommand)]
pub enum MfaCommand {
    /// Remove the account's authenticator app and recovery codes (a lost device without
    /// codes); the user sets a new one up on the account page. Audited.
    Reset {
        #[command(flatten)]
        realm: RealmArg,
        username: String,
    },
    /// Show which second factors the account has.
    Show {
        #[command(flatten)]
        realm: RealmArg,
        username: String,
    },
}

pub async fn run(gatehouse: &Gatehouse, command: MfaCommand) -> Result<(), Failure> {
    match command {
        MfaCommand::Reset { realm, username } => {
            let found = find(gatehouse, &realm.realm, &username).await?;
            let removed = gatehouse
                .store
                .reset_second_factors_audited(
                    &realm.realm,
                    found.account.id,
                    &found.account.username,
                    RESET_EVENT,
                )
                .await?;
            if removed {
                println!(
                    "removed the authenticator app and recovery codes of {}; they set up a new one on the account page",
                    found.account.username
                );
            } else {
                println!(
                    "{} had no authenticator app or recovery codes; nothing removed",
                    found.account.username
                );
            }
        }
        MfaCommand::Show { realm, username } => {
            let found = find(gatehouse, &realm.realm, &username).await?;
            let runtime = gatehouse.realm(&realm.realm)?;
            let (app, remaining) = runtime
                .mfa
                .factors
                .status(&found.account)
                .await
                .map_err(|e| Failure::Other(e.to_string()))?;
            let app = match app {
                gatehouse_mfa::TotpStatus::None => "none",
                gatehouse_mfa::TotpStatus::Pending => "set-up started, not confirmed",
                gatehouse_mfa::TotpStatus::Enrolled => "enrolled",
            };
            println!("authenticator app: {app}");
            println!("recovery codes left: {remaining}");
        }
    }
    Ok(())
}
