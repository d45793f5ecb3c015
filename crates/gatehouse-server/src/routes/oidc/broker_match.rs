//! DESIGN.md, redirect providers: which account an upstream identity logs in as — its link, else
//! an existing account named by `link_existing`, else a just-in-time account — and whether that
//! account may log in.

use chrono::Utc;
use gatehouse_core::{AccountId, AccountRepository, AccountWithLinks, ExternalIdentity, NewLink};

use crate::app::{Gatehouse, RealmRuntime};
use crate::config::LinkExisting;
use crate::error::{DescribedFault, Fault};

pub struct Matched(pub AccountWithLinks);

pub enum Refused {
    /// Nothing matched and nothing may be created.
    NoAccount,
    /// The account exists but may not log in (disabled, locked, superseded).
    NotUsable(AccountId, &'static str),
    Internal(DescribedFault),
}

impl Refused {
    pub fn code(&self) -> &'static str {
        match self {
            Refused::NoAccount => "no_account",
            Refused::NotUsable(_, code) => code,
            Refused::Internal(_) => "internal",
        }
    }

    pub fn account(&self) -> Option<AccountId> {
        match self {
            Refused::NotUsable(id, _) => Some(*id),
            _ => None,
        }
    }

    /// One sentence per case that names no account detail.
    pub fn public_message(&self) -> &'static str {
        match self {
            Refused::NoAccount => {
                "There is no account for this identity here. Ask an administrator for access."
            }
            _ => "This account cannot log in. Ask an administrator for help.",
        }
    }
}

fn internal(e: impl Fault) -> Refused {
    Refused::Internal(DescribedFault::of(&e))
}

pub async fn account_for(
    g: &Gatehouse,
    runtime: &RealmRuntime,
    provider: &str,
    identity: &ExternalIdentity,
) -> Result<Matched, Refused> {
    let realm = runtime.name.as_str();
    let options = g
        .config
        .realms
        .get(realm)
        .and_then(|r| r.provider(provider))
        .map(|p| p.redirect)
        .unwrap_or_default();
    let linked = g
        .store
        .find_by_external_id(realm, provider, &identity.external_id)
        .await
        .map_err(internal)?;
    let mut account = match linked {
        Some(account) => account,
        None => match existing(g, runtime, options.link_existing, identity).await? {
            Some(account) => {
                link(g, account.account.id, provider, identity).await?;
                // Read again: the new link is live, and decides supersession below.
                g.store
                    .get_account(account.account.id)
                    .await
                    .map_err(internal)?
                    .ok_or(Refused::NoAccount)?
            }
            None if options.jit => provision(g, runtime, provider, identity).await?,
            None => return Err(Refused::NoAccount),
        },
    };
    restore(g, runtime, &mut account).await?;
    usable(runtime, &account)?;
    // What the upstream says now wins over what it said last time (email, name, groups).
    g.store
        .update_profile(account.account.id, &identity.profile)
        .await
        .map_err(internal)?;
    Ok(Matched(account))
}

/// `link_existing`: the account an unlinked identity names, if the provider trusts that naming.
async fn existing(
    g: &Gatehouse,
    runtime: &RealmRuntime,
    how: LinkExisting,
    identity: &ExternalIdentity,
) -> Result<Option<AccountWithLinks>, Refused> {
    let realm = runtime.name.as_str();
    match how {
        LinkExisting::Never => Ok(None),
        LinkExisting::Username => {
            let Some(username) = &identity.username else {
                return Ok(None);
            };
            let key = runtime.policy.normalize_login(username);
            g.store.find_account(realm, &key).await.map_err(internal)
        }
        LinkExisting::VerifiedEmail => {
            // An unverified email proves nothing: anybody can type one into an upstream profile.
            let Some(email) = identity
                .profile
                .email
                .as_deref()
                .filter(|_| identity.email_verified)
            else {
                return Ok(None);
            };
            let email = email.trim().to_lowercase();
            // By email only: several accounts with that email find nothing; an account whose
            // username happens to be the address must also carry it as its email.
            let found = g
                .store
                .find_for_login(realm, &email, true)
                .await
                .map_err(internal)?;
            Ok(found.filter(|a| {
                a.account
                    .email
                    .as_deref()
                    .is_some_and(|e| e.trim().to_lowercase() == email)
            }))
        }
    }
}

async fn link(
    g: &Gatehouse,
    account: AccountId,
    provider: &str,
    identity: &ExternalIdentity,
) -> Result<(), Refused> {
    g.store
        .upsert_link(
            account,
            NewLink {
                provider_id: provider.to_owned(),
                external_id: Some(identity.external_id.clone()),
                secret: None,
                protected: false,
            },
        )
        .await
        .map(|_| ())
        .map_err(internal)
}

/// `jit = true`: a new account named by the mapped username, linked to the identity. A username
/// already taken is not linked to (that is `link_existing`'s decision): no account.
async fn provision(
    g: &Gatehouse,
    runtime: &RealmRuntime,
    provider: &str,
    identity: &ExternalIdentity,
) -> Result<AccountWithLinks, Refused> {
    let Some(username) = identity.username.as_deref() else {
        return Err(Refused::NoAccount);
    };
    let key = runtime.policy.normalize_login(username);
    if g.store
        .find_account(&runtime.name, &key)
        .await
        .map_err(internal)?
        .is_some()
    {
        return Err(Refused::NoAccount);
    }
    g.store
        .provision(
            &runtime.name,
            username.trim(),
            &key,
            &identity.profile,
            NewLink {
                provider_id: provider.to_owned(),
                external_id: Some(identity.external_id.clone()),
                secret: None,
                protected: false,
            },
        )
        .await
        .map_err(internal)
}

/// An account supersession disabled that now has a live link again (the new link to the superseding
/// provider, made by `link_existing`) is restored here, as `accounts supersede` would: otherwise
/// moving users from a directory to the upstream that supersedes it could never work.
async fn restore(
    g: &Gatehouse,
    runtime: &RealmRuntime,
    account: &mut AccountWithLinks,
) -> Result<(), Refused> {
    let by_supersession = account
        .account
        .disabled_reason
        .as_deref()
        .is_some_and(|r| r.starts_with(crate::supersede::PREFIX));
    if !by_supersession || gatehouse_core::plan::superseded_by(&runtime.policy, account).is_some() {
        return Ok(());
    }
    g.store
        .set_disabled_audited(
            &runtime.name,
            account.account.id,
            &account.account.username,
            None,
            gatehouse_store::AuditEvent::SUPERSESSION,
            "restored",
        )
        .await
        .map_err(internal)?;
    account.account.disabled_reason = None;
    Ok(())
}

/// DESIGN.md step 6: refuse disabled, locked and superseded accounts.
fn usable(runtime: &RealmRuntime, account: &AccountWithLinks) -> Result<(), Refused> {
    let id = account.account.id;
    if account.account.disabled_reason.is_some() {
        return Err(Refused::NotUsable(id, "account_disabled"));
    }
    if account.account.is_locked_at(Utc::now()) {
        return Err(Refused::NotUsable(id, "account_locked"));
    }
    if gatehouse_core::plan::superseded_by(&runtime.policy, account).is_some() {
        return Err(Refused::NotUsable(id, "superseded"));
    }
    Ok(())
}
