use gatehouse_core::{AccountWithLinks, NewLink, ProviderKind};
use gatehouse_server::{Gatehouse, RealmRuntime};
use gatehouse_store::NewAccount;

use super::account_view;
use crate::Failure;
use crate::cli::UserCommand;
use crate::password_input;

pub async fn run(gatehouse: &Gatehouse, command: UserCommand) -> Result<(), Failure> {
    match command {
        UserCommand::Add {
            realm,
            username,
            email,
            name,
        } => {
            let account = create(gatehouse, &realm.realm, &username, email, name, vec![]).await?;
            println!(
                "created {} ({}) in realm {}",
                account.username, account.id, realm.realm
            );
        }
        UserCommand::SetPassword {
            realm,
            provider,
            username,
        } => {
            let found = find(gatehouse, &realm.realm, &username).await?;
            let provider = database_provider(gatehouse, &realm.realm, provider.as_deref())?;
            let password = password_input::read(true).map_err(Failure::Other)?;
            let protected = found.link_to(&provider).is_some_and(|l| l.protected);
            set_password(
                gatehouse,
                &realm.realm,
                &provider,
                &found,
                &password,
                protected,
            )
            .await?;
            println!(
                "password set for {} on provider {provider}; its sessions and tokens were ended",
                found.account.username
            );
        }
        UserCommand::Link {
            realm,
            provider,
            username,
            external_id,
        } => {
            let found = find(gatehouse, &realm.realm, &username).await?;
            let kind = provider_kind(gatehouse, &realm.realm, &provider)?;
            if kind == ProviderKind::Database && external_id.is_some() {
                return Err(Failure::Config(format!(
                    "provider `{provider}` is a database provider: it keeps a password, not an external id; use `user set-password --provider {provider}`"
                )));
            }
            let existing = found.link_to(&provider);
            // A redirect provider matches its callback by external id: a link without one would
            // never be found.
            if !kind.is_password()
                && external_id.is_none()
                && existing.and_then(|l| l.external_id.as_ref()).is_none()
            {
                return Err(Failure::Config(format!(
                    "provider `{provider}` is a {kind} provider: pass --external-id (the id it knows the user by, e.g. the upstream `sub`)"
                )));
            }
            gatehouse
                .store
                .upsert_link(
                    found.account.id,
                    NewLink {
                        provider_id: provider.clone(),
                        external_id: external_id
                            .or_else(|| existing.and_then(|l| l.external_id.clone())),
                        secret: existing
                            .and_then(|l| l.secret.as_ref().map(|s| s.expose().to_owned())),
                        protected: existing.is_some_and(|l| l.protected),
                    },
                )
                .await?;
            println!("linked {} to {provider}", found.account.username);
        }
        UserCommand::Unlink {
            realm,
            provider,
            username,
            force,
        } => {
            let found = find(gatehouse, &realm.realm, &username).await?;
            let Some(link) = found.link_to(&provider) else {
                return Err(Failure::Other(format!(
                    "{} has no link to provider `{provider}`",
                    found.account.username
                )));
            };
            if link.protected && !force {
                return Err(Failure::Other(format!(
                    "the link of {} to {provider} is the break-glass administrator's; pass --force to remove it anyway",
                    found.account.username
                )));
            }
            gatehouse
                .store
                .remove_link(found.account.id, &provider)
                .await?;
            println!("unlinked {} from {provider}", found.account.username);
        }
        UserCommand::Disable {
            realm,
            username,
            reason,
        } => {
            let found = find(gatehouse, &realm.realm, &username).await?;
            gatehouse
                .store
                .set_disabled(found.account.id, Some(reason))
                .await?;
            println!("disabled {}", found.account.username);
        }
        UserCommand::Enable { realm, username } => {
            let found = find(gatehouse, &realm.realm, &username).await?;
            gatehouse.store.set_disabled(found.account.id, None).await?;
            println!("enabled {}", found.account.username);
        }
        UserCommand::Unlock { realm, username } => {
            let found = find(gatehouse, &realm.realm, &username).await?;
            super::user_protection::unlock(gatehouse, &realm.realm, &found).await?;
        }
        UserCommand::Show { realm, username } => {
            let runtime = gatehouse.realm(&realm.realm)?;
            let found = find(gatehouse, &realm.realm, &username).await?;
            show(gatehouse, runtime, &found).await?;
        }
        UserCommand::Mfa(command) => return super::user_mfa::run(gatehouse, command).await,
        UserCommand::List { realm } => {
            let runtime = gatehouse.realm(&realm.realm)?;
            let accounts = gatehouse.store.list_accounts(&realm.realm).await?;
            println!("{:<24} {:<36} {:<28} links", "username", "id", "status");
            for a in &accounts {
                println!(
                    "{:<24} {:<36} {:<28} {}",
                    a.account.username,
                    a.account.id.to_string(),
                    account_view::status(&runtime.policy, a),
                    account_view::links_line(&runtime.policy, a)
                );
            }
            println!("{} account(s)", accounts.len());
        }
    }
    Ok(())
}

pub async fn create(
    gatehouse: &Gatehouse,
    realm: &str,
    username: &str,
    email: Option<String>,
    name: Option<String>,
    roles: Vec<String>,
) -> Result<gatehouse_core::Account, Failure> {
    let runtime = gatehouse.realm(realm)?;
    let username = username.trim();
    if username.is_empty() {
        return Err(Failure::Other("the username is empty".into()));
    }
    Ok(gatehouse
        .store
        .create_account(NewAccount {
            realm: realm.to_owned(),
            username: username.to_owned(),
            username_key: runtime.policy.normalize_login(username),
            email,
            name,
            roles,
        })
        .await?)
}

pub async fn find(
    gatehouse: &Gatehouse,
    realm: &str,
    username: &str,
) -> Result<AccountWithLinks, Failure> {
    let runtime = gatehouse.realm(realm)?;
    gatehouse
        .store
        .find_account(realm, &runtime.policy.normalize_login(username))
        .await?
        .ok_or_else(|| Failure::Other(format!("no account `{username}` in realm `{realm}`")))
}

/// `--provider P` when given (it must be a database provider), else the realm's first one.
pub fn database_provider(
    gatehouse: &Gatehouse,
    realm: &str,
    requested: Option<&str>,
) -> Result<String, Failure> {
    let config = gatehouse.realm_config(realm)?;
    match requested {
        Some(id) => {
            let kind = provider_kind(gatehouse, realm, id)?;
            if kind != ProviderKind::Database {
                return Err(Failure::Config(format!(
                    "provider `{id}` is a {kind} provider; passwords are set on database providers"
                )));
            }
            Ok(id.to_owned())
        }
        None => config
            .first_database_provider()
            .map(|p| p.id.clone())
            .ok_or_else(|| {
                Failure::Config(format!(
                    "realm `{realm}` has no database provider; add one ([[realms.{realm}.providers]] kind = \"database\")"
                ))
            }),
    }
}

fn provider_kind(gatehouse: &Gatehouse, realm: &str, id: &str) -> Result<ProviderKind, Failure> {
    let config = gatehouse.realm_config(realm)?;
    config.provider(id).map(|p| p.kind()).ok_or_else(|| {
        let known: Vec<_> = config.providers.iter().map(|p| p.id.as_str()).collect();
        Failure::Config(format!(
            "no provider `{id}` in realm `{realm}` (configured: {})",
            known.join(", ")
        ))
    })
}

pub async fn set_password(
    gatehouse: &Gatehouse,
    realm: &str,
    provider: &str,
    account: &AccountWithLinks,
    password: &gatehouse_core::Secret,
    protected: bool,
) -> Result<(), Failure> {
    let runtime = gatehouse.realm(realm)?;
    let db = runtime.database_providers.get(provider).ok_or_else(|| {
        Failure::Other(format!("provider `{provider}` is not a database provider"))
    })?;
    super::user_protection::change_password(gatehouse, db, provider, account, password, protected)
        .await
}

async fn show(
    gatehouse: &Gatehouse,
    runtime: &RealmRuntime,
    found: &AccountWithLinks,
) -> Result<(), Failure> {
    let a = &found.account;
    println!("username:  {}", a.username);
    println!("id:        {}", a.id);
    println!("realm:     {}", a.realm);
    println!("email:     {}", a.email.as_deref().unwrap_or("-"));
    println!("name:      {}", a.name.as_deref().unwrap_or("-"));
    println!(
        "status:    {}",
        account_view::status(&runtime.policy, found)
    );
    println!("roles:     {}", join_or_dash(&a.roles));
    println!("groups:    {}", join_or_dash(&a.groups));
    println!("created:   {}", a.created_at.to_rfc3339());
    match gatehouse.store.login_stats(a.id).await? {
        Some(s) => println!(
            "logins:    {} succeeded (last {}), {} failed (last {})",
            s.success_count,
            s.last_success_at
                .map(|t| t.to_rfc3339())
                .unwrap_or_else(|| "-".into()),
            s.failure_count,
            s.last_failure_at
                .map(|t| t.to_rfc3339())
                .unwrap_or_else(|| "-".into()),
        ),
        None => println!("logins:    none yet"),
    }
    super::user_protection::print_lock_state(gatehouse, runtime, found).await?;
    account_view::print_links(&runtime.policy, found);
    Ok(())
}

fn join_or_dash(items: &[String]) -> String {
    if items.is_empty() {
        "-".into()
    } else {
        items.join(", ")
    }
}
