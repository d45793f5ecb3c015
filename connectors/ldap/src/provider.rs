use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use gatehouse_core::{
    PasswordCheck, PasswordOutcome, PasswordProvider, Profile, ProviderDescriptor, ProviderKind,
    Secret, VerifiedIdentity,
};

use crate::ad;
use crate::entry::Entry;
use crate::error::DirectoryError;
use crate::filter;
use crate::groups::{self, GroupLookup};
use crate::pool::{Answer, Directory, DirectoryConfig, Op, Purpose};
use crate::settings::{DN, LdapSettings, Resolved};
use crate::tls;

/// LDAP result code of a bind with a wrong password or an unusable account.
const INVALID_CREDENTIALS: u32 = 49;

/// An `ldap` provider: search for the login with the service connection, bind as the entry found,
/// read its groups.
///
/// Outcomes: no entry, several entries (a configuration problem, logged), a wrong password →
/// `Rejected`; an account that AD says is disabled, locked or expired (by userAccountControl
/// before any bind, or by the bind's error sub-code) → `Disabled`, which stops the chain; no
/// server reachable → `Unavailable`.
pub struct LdapProvider {
    descriptor: ProviderDescriptor,
    settings: LdapSettings,
    resolved: Resolved,
    directory: Arc<Directory>,
    /// Attributes read with the user entry.
    user_attrs: Vec<String>,
}

impl std::fmt::Debug for LdapProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The settings hold the service password (redacted by its type, but keep Debug short).
        f.debug_struct("LdapProvider")
            .field("id", &self.descriptor.id)
            .field("urls", &self.settings.urls)
            .finish_non_exhaustive()
    }
}

/// What the user search found.
enum Found {
    One(Box<Entry>),
    None,
    Several,
}

impl LdapProvider {
    /// Checks the settings and prepares TLS; connects lazily, at the first login.
    pub fn new(
        descriptor: ProviderDescriptor,
        settings: LdapSettings,
    ) -> Result<Self, DirectoryError> {
        if descriptor.kind != ProviderKind::Ldap {
            return Err(DirectoryError::WrongKind {
                id: descriptor.id,
                kind: descriptor.kind.to_string(),
            });
        }
        settings
            .validate()
            .map_err(DirectoryError::InvalidSettings)?;
        let needs_tls =
            settings.start_tls || settings.urls.iter().any(|u| u.starts_with("ldaps://"));
        let tls = if needs_tls {
            if settings.insecure_skip_verify {
                tracing::warn!(provider = %descriptor.id,
                    "INSECURE: insecure_skip_verify = true, the directory's certificate is NOT \
                     checked; anyone on the network path can read passwords. Use ca_file instead.");
            }
            Some(tls::client_config(
                settings.ca_file.as_deref(),
                settings.insecure_skip_verify,
            )?)
        } else {
            None
        };
        if !needs_tls {
            tracing::warn!(provider = %descriptor.id,
                "passwords go to the directory in clear text: use ldaps:// URLs or start_tls = true");
        }
        let resolved = settings.resolved();
        let directory = Directory::new(DirectoryConfig {
            urls: settings.urls.clone(),
            tls,
            start_tls: settings.start_tls,
            timeout: settings.timeout(),
            backoff: settings.backoff(),
            service: settings
                .bind_dn
                .clone()
                .zip(settings.bind_password.as_ref().map(|p| p.secret().clone())),
            max_size: settings.pool.max_size,
            searches_per_connection: settings.pool.searches_per_connection,
            idle_timeout: Duration::from_secs(settings.pool.idle_timeout_s),
        });
        let mut user_attrs: Vec<String> = resolved.username_attrs.clone();
        user_attrs.extend([resolved.email_attr.clone(), resolved.name_attr.clone()]);
        if resolved.id_attr != DN {
            user_attrs.push(resolved.id_attr.clone());
        }
        if let Some(g) = &resolved.groups {
            user_attrs.extend(
                g.matchers
                    .iter()
                    .filter(|m| m.user_attr != DN)
                    .map(|m| m.user_attr.clone()),
            );
        }
        if settings.active_directory {
            user_attrs.extend(ad::STATE_ATTRS.iter().map(|s| s.to_string()));
        }
        user_attrs.sort_by_key(|a| a.to_ascii_lowercase());
        user_attrs.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
        Ok(Self {
            descriptor,
            settings,
            resolved,
            directory: Arc::new(directory),
            user_attrs,
        })
    }

    pub fn settings(&self) -> &LdapSettings {
        &self.settings
    }

    /// Directory connections held now: (service connections that search, user-bind connections).
    pub fn connections(&self) -> (usize, usize) {
        self.directory.connections()
    }

    async fn find_user(&self, login: &str) -> Result<Found, DirectoryError> {
        let r = &self.resolved;
        let filter = if self.settings.active_directory {
            match filter::ad_login(login, self.settings.netbios_domain.as_deref()) {
                Ok(Some((user, attr))) => filter::any_equals(&r.user_filter, &[attr.into()], user),
                Ok(None) => filter::any_equals(&r.user_filter, &r.username_attrs, login),
                Err(()) => return Ok(Found::None),
            }
        } else {
            filter::any_equals(&r.user_filter, &r.username_attrs, login)
        };
        let op = Op::Search {
            base: &r.user_base,
            scope: r.user_scope,
            filter: &filter,
            attrs: &self.user_attrs,
            // Two are enough to know the login is ambiguous.
            size_limit: 2,
            page_size: 0,
        };
        let Answer::Entries {
            mut entries,
            truncated,
        } = self.directory.run(Purpose::Search, &op).await?
        else {
            return Ok(Found::None);
        };
        Ok(match entries.len() {
            1 if !truncated => Found::One(Box::new(entries.remove(0))),
            0 => Found::None,
            _ => {
                tracing::error!(provider = %self.descriptor.id, filter = %filter,
                    "several directory entries match one login; make user_search.filter or \
                     base_dn select exactly one (the login is refused)");
                Found::Several
            }
        })
    }

    fn external_id(&self, entry: &Entry) -> Option<String> {
        let attr = &self.resolved.id_attr;
        if attr == DN {
            return Some(entry.dn.clone());
        }
        if attr.eq_ignore_ascii_case("objectGUID") {
            return entry.first_bytes(attr).and_then(filter::format_guid);
        }
        entry.first(attr).map(str::to_owned)
    }

    async fn bind(&self, dn: &str, password: &Secret) -> Result<PasswordOutcome, DirectoryError> {
        let op = Op::Bind { dn, password };
        let Answer::Bind { code, text } = self.directory.run(Purpose::Bind, &op).await? else {
            return Ok(PasswordOutcome::Rejected);
        };
        if code == 0 {
            // Placeholder: the caller fills in the identity.
            return Ok(PasswordOutcome::Verified(VerifiedIdentity::default()));
        }
        if self.settings.active_directory
            && let Some(reason) = ad::bind_refusal(&text)
        {
            return Ok(PasswordOutcome::Disabled(reason.into()));
        }
        if code != INVALID_CREDENTIALS {
            tracing::warn!(provider = %self.descriptor.id, code,
                "the directory refused a user bind with an unexpected result code");
        }
        Ok(PasswordOutcome::Rejected)
    }

    /// The DN a known account's link names, when the bind may start with the search: the link
    /// holds the DN itself (`id_attr = "DN"`) and the directory is not AD, whose userAccountControl
    /// is read from the entry before any bind.
    fn linked_dn<'a>(&self, check: &PasswordCheck<'a>) -> Option<&'a str> {
        if self.resolved.id_attr != DN || self.settings.active_directory {
            return None;
        }
        check.link?.external_id.as_deref()
    }

    async fn check(&self, check: &PasswordCheck<'_>) -> Result<PasswordOutcome, DirectoryError> {
        let id = &self.descriptor.id;
        // A known account linked by DN: bind as that DN while the search runs, so the login takes
        // one round trip to the directory instead of two. The outcome is the one of binding after
        // the search: the bind counts only when the search finds exactly the linked entry
        // (compared below), and it goes to no DN but the one the account is linked to.
        let (found, early_bind) = match self.linked_dn(check) {
            Some(dn) => {
                let (found, bound) =
                    tokio::join!(self.find_user(check.login), self.bind(dn, check.password));
                (found?, Some(bound))
            }
            None => (self.find_user(check.login).await?, None),
        };
        let entry = match found {
            Found::One(entry) => entry,
            Found::None | Found::Several => return Ok(PasswordOutcome::Rejected),
        };
        let external_id = self.external_id(&entry);
        if let Some(link) = check.link
            && let Some(expected) = &link.external_id
            && !external_id
                .as_deref()
                .is_some_and(|found| found.eq_ignore_ascii_case(expected))
        {
            // The login now names another directory entry than the one the account was linked
            // to (a reused username): not this account's password to check.
            tracing::warn!(provider = %id, account = %link.account_id,
                "the directory entry found for this login is not the one the account is linked to");
            return Ok(PasswordOutcome::Rejected);
        }
        if self.settings.active_directory
            && let Some(reason) = ad::entry_refusal(&entry, ad::now_filetime())
        {
            return Ok(PasswordOutcome::Disabled(reason.into()));
        }
        let bound = match early_bind {
            Some(bound) => bound?,
            None => self.bind(&entry.dn, check.password).await?,
        };
        match bound {
            PasswordOutcome::Verified(_) => {}
            other => return Ok(other),
        }
        let groups = match &self.resolved.groups {
            Some(config) => {
                GroupLookup {
                    directory: &self.directory,
                    config,
                    active_directory: self.settings.active_directory,
                    page_size: self.resolved.page_size,
                }
                .names(&entry)
                .await?
            }
            None => Vec::new(),
        };
        let roles = groups::roles_for(&groups, &self.settings.group_roles);
        let username = self
            .resolved
            .username_attrs
            .iter()
            .find_map(|a| entry.first(a))
            .map(str::to_owned);
        Ok(PasswordOutcome::Verified(VerifiedIdentity {
            external_id,
            rehashed_secret: None,
            username,
            profile: Some(Profile {
                email: entry.first(&self.resolved.email_attr).map(str::to_owned),
                name: entry.first(&self.resolved.name_attr).map(str::to_owned),
                groups,
                roles,
            }),
        }))
    }
}

#[async_trait]
impl PasswordProvider for LdapProvider {
    fn descriptor(&self) -> &ProviderDescriptor {
        &self.descriptor
    }

    async fn verify(&self, check: PasswordCheck<'_>) -> PasswordOutcome {
        // An LDAP bind with an empty password is an anonymous bind, which succeeds.
        if check.password.is_empty() || check.login.trim().is_empty() {
            return PasswordOutcome::Rejected;
        }
        if let Some(link) = check.link
            && link.provider_id != self.descriptor.id
        {
            tracing::warn!(provider = %self.descriptor.id, link = %link.id,
                "handed another provider's link; rejecting");
            return PasswordOutcome::Rejected;
        }
        match self.check(&check).await {
            Ok(outcome) => outcome,
            Err(DirectoryError::Unavailable(why)) => PasswordOutcome::Unavailable(why),
            Err(e) => {
                // The directory answered, but not as a login expects (a bad filter, no rights to
                // search): the password was never checked, so this is not a wrong password.
                tracing::error!(provider = %self.descriptor.id, error = %e, "directory error");
                PasswordOutcome::Unavailable(e.to_string())
            }
        }
    }
}
