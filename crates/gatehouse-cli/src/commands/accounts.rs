//! `gatehouse accounts …`: realm-wide account maintenance.

use gatehouse_server::Gatehouse;
use gatehouse_server::supersede;

use crate::Failure;
use crate::cli::AccountsCommand;

pub async fn run(gatehouse: &Gatehouse, command: AccountsCommand) -> Result<(), Failure> {
    match command {
        AccountsCommand::Supersede { realm, dry_run } => {
            let runtime = gatehouse.realm(&realm.realm)?;
            // The dry run and the real run compute the same plan; only the latter writes it.
            let changes = if dry_run {
                supersede::plan(gatehouse, runtime).await?
            } else {
                supersede::apply(gatehouse, runtime).await?
            };
            for change in &changes {
                println!("{change}");
            }
            let verb = if dry_run { "would change" } else { "changed" };
            println!("{verb} {} account(s)", changes.len());
        }
    }
    Ok(())
}
