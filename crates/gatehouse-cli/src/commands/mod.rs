mod account_view;
mod accounts;
mod admin;
mod audit;
mod keys;
mod login;
mod policy_explain;
mod service;
mod user;
mod user_mfa;
mod user_protection;

pub use user_mfa::MfaCommand;

use std::path::Path;
use std::sync::Arc;

use gatehouse_server::{Config, Gatehouse};

use crate::Failure;
use crate::cli::{AccountsCommand, Cli, Command, KeysCommand, UserCommand};

pub async fn run(cli: Cli) -> Result<(), Failure> {
    let writes = writes(&cli.command);
    let config = match &cli.command {
        Command::CheckConfig | Command::Serve => None,
        _ => Some(load_config(&cli.config)?),
    };
    // A SQLite file that does not exist yet is created by the command: say so, since a wrong
    // `--config` would otherwise go unnoticed.
    let created = config.as_ref().and_then(|c| {
        gatehouse_server::config::sqlite_file(c.store.url.expose())
            .filter(|file| !Path::new(file).exists())
            .map(|_| ())
    });
    run_command(cli).await?;
    if writes && let Some(config) = config {
        let url = gatehouse_store::redact_url(config.store.url.expose());
        let new = if created.is_some() {
            " (created now)"
        } else {
            ""
        };
        println!("store: {url}{new}");
    }
    Ok(())
}

/// Commands that change the store, which then name it.
fn writes(command: &Command) -> bool {
    match command {
        Command::Migrate | Command::Admin(_) => true,
        Command::User(c) => !matches!(
            c,
            UserCommand::Show { .. }
                | UserCommand::List { .. }
                | UserCommand::Mfa(MfaCommand::Show { .. })
        ),
        Command::Accounts(AccountsCommand::Supersede { dry_run, .. }) => !dry_run,
        Command::Keys(c) => matches!(c, KeysCommand::Rotate { .. }),
        Command::Serve
        | Command::CheckConfig
        | Command::Explain { .. }
        | Command::Login { .. }
        | Command::Audit(_) => false,
    }
}

async fn run_command(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        Command::CheckConfig => service::check_config(&cli.config),
        Command::Migrate => service::migrate(&open(&cli.config, QUIET).await?).await,
        Command::Serve => service::serve(Arc::new(open(&cli.config, None).await?)).await,
        Command::User(command) => user::run(&open(&cli.config, QUIET).await?, command).await,
        Command::Admin(command) => admin::run(&open(&cli.config, QUIET).await?, command).await,
        Command::Accounts(command) => {
            accounts::run(&open(&cli.config, QUIET).await?, command).await
        }
        Command::Keys(command) => keys::run(&open(&cli.config, QUIET).await?, command).await,
        Command::Explain {
            realm,
            policy,
            login,
        } => {
            let gatehouse = open(&cli.config, QUIET).await?;
            login::explain(&gatehouse, &realm.realm, &login).await?;
            match policy {
                Some(policy) => {
                    policy_explain::explain(&gatehouse, &realm.realm, &policy, &login).await
                }
                None => Ok(()),
            }
        }
        Command::Login { realm, login } => {
            let gatehouse = open(&cli.config, QUIET).await?;
            // The login's audit event is committed before the login is answered.
            login::login(&gatehouse, &realm.realm, &login).await
        }
        Command::Audit(args) => audit::run(&open(&cli.config, QUIET).await?, args).await,
    }
}

fn load_config(path: &Path) -> Result<Config, Failure> {
    Config::load(path).map_err(|e| Failure::Config(e.to_string()))
}

/// Administrative commands print their own results; their logs are for warnings only.
const QUIET: Option<&str> = Some("warn");

async fn open(path: &Path, log_level: Option<&str>) -> Result<Gatehouse, Failure> {
    let config = load_config(path)?;
    gatehouse_server::telemetry::init(&config.server, log_level);
    // Applies pending migrations: a fresh store works for `admin bootstrap` before `serve`.
    Ok(Gatehouse::open(config).await?)
}
