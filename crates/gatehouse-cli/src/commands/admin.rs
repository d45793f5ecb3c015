use gatehouse_server::Gatehouse;

use super::user;
use crate::Failure;
use crate::cli::AdminCommand;
use crate::password_input;

const ADMIN_ROLE: &str = "admin";
/// The break-glass account opens everything; until the realm's password policy exists, at least
/// its length is not left to chance.
pub const MIN_PASSWORD_CHARS: usize = 12;

pub async fn run(gatehouse: &Gatehouse, command: AdminCommand) -> Result<(), Failure> {
    match command {
        AdminCommand::Bootstrap { realm, username } => {
            let realm = realm.realm;
            let provider = user::database_provider(gatehouse, &realm, None)?;
            let password = password_input::read(true).map_err(Failure::Other)?;
            // Counted in characters, and the password itself is never repeated back.
            if password.expose().chars().count() < MIN_PASSWORD_CHARS {
                return Err(Failure::Other(format!(
                    "the break-glass administrator's password must be at least {MIN_PASSWORD_CHARS} characters long; nothing was changed"
                )));
            }
            // Idempotent: running it again repairs the role and resets the password.
            let account = match user::find(gatehouse, &realm, &username).await {
                Ok(found) => {
                    if !found.account.roles.iter().any(|r| r == ADMIN_ROLE) {
                        let mut roles = found.account.roles.clone();
                        roles.push(ADMIN_ROLE.into());
                        gatehouse.store.set_roles(found.account.id, roles).await?;
                    }
                    found
                }
                Err(_) => {
                    user::create(
                        gatehouse,
                        &realm,
                        &username,
                        None,
                        None,
                        vec![ADMIN_ROLE.into()],
                    )
                    .await?;
                    user::find(gatehouse, &realm, &username).await?
                }
            };
            user::set_password(gatehouse, &realm, &provider, &account, &password, true).await?;
            println!(
                "break-glass administrator {} ({}) ready in realm {realm}: role admin, protected link to {provider}",
                account.account.username, account.account.id
            );
            Ok(())
        }
    }
}
