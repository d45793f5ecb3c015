//! The `ldap` kind's own keys of a provider entry, their defaults (which depend on
//! `active_directory`), and the checks that name the key at fault.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use gatehouse_core::SecretValue;
use serde::Deserialize;

use crate::filter;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LdapSettings {
    /// `ldap://` or `ldaps://` URLs, tried in this order.
    pub urls: Vec<String>,
    /// Upgrade `ldap://` connections with StartTLS (refused with `ldaps://`).
    #[serde(default)]
    pub start_tls: bool,
    /// PEM file of the CA certificates to trust; the system's roots when absent.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Accept any server certificate. Test use only: logged loudly at start.
    #[serde(default)]
    pub insecure_skip_verify: bool,
    /// The service account that searches; anonymous search when absent.
    #[serde(default)]
    pub bind_dn: Option<String>,
    #[serde(default)]
    pub bind_password: Option<SecretValue>,
    pub user_search: UserSearch,
    #[serde(default)]
    pub group_search: Option<GroupSearch>,
    /// Directory group name → role(s) given to its members.
    #[serde(default)]
    pub group_roles: BTreeMap<String, Roles>,
    /// Connect and per-operation timeout.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// How long a server that could not be reached is skipped.
    #[serde(default = "default_backoff_s")]
    pub backoff_s: u64,
    #[serde(default)]
    pub pool: PoolSettings,
    /// Provision an account for a login that has none but that the search finds.
    #[serde(default = "yes")]
    pub jit: bool,
    /// Active Directory: UPN / sAMAccountName / `DOMAIN\user` logins, userAccountControl,
    /// bind error sub-codes, LDAP_MATCHING_RULE_IN_CHAIN for nested groups, AD defaults.
    #[serde(default)]
    pub active_directory: bool,
    /// With `active_directory`: the NetBIOS domain a `DOMAIN\user` login must name.
    #[serde(default)]
    pub netbios_domain: Option<String>,
    /// Page size of group searches (RFC 2696); 0 turns paging off. Default 500 with
    /// `active_directory` (AD caps a page at 1000), else 0.
    #[serde(default)]
    pub page_size: Option<u32>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserSearch {
    pub base_dn: String,
    /// Extra conditions an entry must meet, e.g. `(objectClass=person)`.
    #[serde(default)]
    pub filter: Option<String>,
    /// Attributes the login is compared with, OR-ed.
    #[serde(default)]
    pub username_attrs: Option<Vec<String>>,
    /// `DN`, or an attribute holding a stable id (entryUUID, objectGUID).
    #[serde(default)]
    pub id_attr: Option<String>,
    #[serde(default)]
    pub email_attr: Option<String>,
    #[serde(default)]
    pub name_attr: Option<String>,
    #[serde(default)]
    pub scope: Scope,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupSearch {
    pub base_dn: String,
    #[serde(default)]
    pub filter: Option<String>,
    /// How a group names its members: the user's `user_attr` (or `DN`) in the group's `group_attr`.
    #[serde(default)]
    pub user_matchers: Option<Vec<UserMatcher>>,
    #[serde(default)]
    pub name_attr: Option<String>,
    /// Follow groups that are members of groups (cycle-safe).
    #[serde(default = "yes")]
    pub nested: bool,
    #[serde(default)]
    pub scope: Scope,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserMatcher {
    pub user_attr: String,
    pub group_attr: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    #[default]
    Sub,
    One,
    Base,
}

/// One role or several: `admins = "admin"` or `ops = ["operator", "viewer"]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Roles {
    One(String),
    Many(Vec<String>),
}

impl Roles {
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        let slice: &[String] = match self {
            Roles::One(r) => std::slice::from_ref(r),
            Roles::Many(rs) => rs,
        };
        slice.iter().map(String::as_str)
    }
}

/// Above this a connection would hold more outstanding operations than slapd's default
/// `conn_max_pending` (100) lets it.
const MAX_SEARCHES_PER_CONNECTION: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PoolSettings {
    /// Connections per pool (one pool searches, one binds users).
    pub max_size: usize,
    /// Searches one service connection carries at a time (a user bind always has a connection to
    /// itself).
    pub searches_per_connection: usize,
    /// A connection idle longer than this is closed instead of reused.
    pub idle_timeout_s: u64,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            max_size: 16,
            searches_per_connection: 4,
            idle_timeout_s: 60,
        }
    }
}

fn yes() -> bool {
    true
}
fn default_timeout_ms() -> u64 {
    5000
}
fn default_backoff_s() -> u64 {
    10
}

/// `id_attr = "DN"` names the entry's DN rather than an attribute.
pub const DN: &str = "DN";

/// The settings with every default filled in for the directory flavour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub user_base: String,
    pub user_filter: String,
    pub user_scope: Scope,
    pub username_attrs: Vec<String>,
    pub id_attr: String,
    pub email_attr: String,
    pub name_attr: String,
    pub groups: Option<ResolvedGroups>,
    pub page_size: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedGroups {
    pub base: String,
    pub filter: String,
    pub scope: Scope,
    pub matchers: Vec<UserMatcher>,
    pub name_attr: String,
    pub nested: bool,
}

impl LdapSettings {
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    pub fn backoff(&self) -> Duration {
        Duration::from_secs(self.backoff_s)
    }

    pub fn resolved(&self) -> Resolved {
        let ad = self.active_directory;
        let pick = |v: &Option<String>, ad_default: &str, default: &str| {
            v.clone()
                .unwrap_or_else(|| if ad { ad_default } else { default }.to_owned())
        };
        let u = &self.user_search;
        Resolved {
            user_base: u.base_dn.clone(),
            user_filter: pick(
                &u.filter,
                "(&(objectCategory=person)(objectClass=user))",
                "(objectClass=person)",
            ),
            user_scope: u.scope,
            username_attrs: u.username_attrs.clone().unwrap_or_else(|| {
                let attrs: &[&str] = if ad {
                    &["sAMAccountName", "userPrincipalName"]
                } else {
                    &["uid", "mail"]
                };
                attrs.iter().map(|s| s.to_string()).collect()
            }),
            id_attr: pick(&u.id_attr, "objectGUID", DN),
            email_attr: pick(&u.email_attr, "mail", "mail"),
            name_attr: pick(&u.name_attr, "displayName", "cn"),
            groups: self.group_search.as_ref().map(|g| ResolvedGroups {
                base: g.base_dn.clone(),
                filter: pick(
                    &g.filter,
                    "(objectClass=group)",
                    "(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames)(objectClass=posixGroup))",
                ),
                scope: g.scope,
                matchers: g.user_matchers.clone().unwrap_or_else(|| {
                    vec![UserMatcher {
                        user_attr: DN.into(),
                        group_attr: "member".into(),
                    }]
                }),
                name_attr: pick(&g.name_attr, "cn", "cn"),
                nested: g.nested,
            }),
            page_size: self.page_size.unwrap_or(if ad { 500 } else { 0 }),
        }
    }

    /// Every problem with the settings, each starting with the key at fault, so start-up and
    /// `check-config` can say what to fix before the first login.
    pub fn validate(&self) -> Result<(), String> {
        let problems = self.problems();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }

    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if self.urls.is_empty() {
            p.push(
                "urls: list at least one server, e.g. urls = [\"ldaps://ldap.example.org\"]".into(),
            );
        }
        for (i, url) in self.urls.iter().enumerate() {
            let ldaps = url.starts_with("ldaps://");
            if !(ldaps || url.starts_with("ldap://")) || url.len() <= "ldaps://".len() {
                p.push(format!(
                    "urls[{i}]: `{url}` must be an ldap://HOST[:PORT] or ldaps://HOST[:PORT] URL"
                ));
            } else if ldaps && self.start_tls {
                p.push(format!(
                    "urls[{i}]: `{url}` is already TLS; start_tls applies to ldap:// URLs only"
                ));
            }
        }
        if let Some(ca) = &self.ca_file
            && let Err(e) = crate::tls::read_ca_file(ca)
        {
            p.push(format!("ca_file: {e}"));
        }
        if self.insecure_skip_verify && self.ca_file.is_some() {
            p.push("insecure_skip_verify: contradicts ca_file; remove one of them".into());
        }
        match (&self.bind_dn, &self.bind_password) {
            (Some(dn), None) if !dn.is_empty() => p.push(
                "bind_password: required with bind_dn (give it as \"env:VAR\" or \"file:/path\")"
                    .into(),
            ),
            (None, Some(_)) => {
                p.push("bind_dn: bind_password is set but bind_dn is not; set both or neither".into())
            }
            (Some(dn), _) if dn.trim().is_empty() => {
                p.push("bind_dn: empty; remove it for anonymous search".into())
            }
            (Some(_), Some(pw)) if pw.expose().is_empty() => p.push(
                "bind_password: empty; an empty password is an anonymous bind, remove bind_dn for that"
                    .into(),
            ),
            _ => {}
        }
        if self.timeout_ms == 0 {
            p.push("timeout_ms: must be at least 1".into());
        }
        if self.pool.max_size == 0 {
            p.push("pool.max_size: must be at least 1".into());
        }
        if !(1..=MAX_SEARCHES_PER_CONNECTION).contains(&self.pool.searches_per_connection) {
            p.push(format!(
                "pool.searches_per_connection: must be 1 to {MAX_SEARCHES_PER_CONNECTION} \
                 (slapd refuses more than 100 outstanding operations on a connection by default)"
            ));
        }
        if self.netbios_domain.is_some() && !self.active_directory {
            p.push("netbios_domain: applies only with active_directory = true".into());
        }
        let r = self.resolved();
        if r.user_base.trim().is_empty() {
            p.push("user_search.base_dn: empty; name the subtree that holds the users".into());
        }
        check_filter("user_search.filter", &r.user_filter, &mut p);
        if r.username_attrs.is_empty() {
            p.push(
                "user_search.username_attrs: list at least one attribute, e.g. [\"uid\"]".into(),
            );
        }
        for (i, a) in r.username_attrs.iter().enumerate() {
            check_attr(
                &format!("user_search.username_attrs[{i}]"),
                a,
                false,
                &mut p,
            );
        }
        check_attr("user_search.id_attr", &r.id_attr, true, &mut p);
        check_attr("user_search.email_attr", &r.email_attr, false, &mut p);
        check_attr("user_search.name_attr", &r.name_attr, false, &mut p);
        if let Some(g) = &r.groups {
            if g.base.trim().is_empty() {
                p.push(
                    "group_search.base_dn: empty; name the subtree that holds the groups".into(),
                );
            }
            check_filter("group_search.filter", &g.filter, &mut p);
            check_attr("group_search.name_attr", &g.name_attr, false, &mut p);
            if g.matchers.is_empty() {
                p.push(
                    "group_search.user_matchers: list at least one { user_attr, group_attr }"
                        .into(),
                );
            }
            for (i, m) in g.matchers.iter().enumerate() {
                let at = format!("group_search.user_matchers[{i}]");
                check_attr(&format!("{at}.user_attr"), &m.user_attr, true, &mut p);
                check_attr(&format!("{at}.group_attr"), &m.group_attr, false, &mut p);
            }
        } else if !self.group_roles.is_empty() {
            p.push("group_roles: needs a group_search to find the groups".into());
        }
        for (group, roles) in &self.group_roles {
            if roles.iter().next().is_none() || roles.iter().any(|r| r.trim().is_empty()) {
                p.push(format!(
                    "group_roles.{group}: give one role or a list of non-empty roles"
                ));
            }
        }
        p
    }
}

fn check_filter(key: &str, value: &str, problems: &mut Vec<String>) {
    if let Err(why) = filter::check_filter(value) {
        problems.push(format!(
            "{key}: `{value}` is not an LDAP filter ({why}); write it in parentheses, e.g. (objectClass=person)"
        ));
    }
}

/// Attribute names go into filters as they are, so only real attribute descriptions pass.
fn check_attr(key: &str, value: &str, dn_allowed: bool, problems: &mut Vec<String>) {
    if dn_allowed && value == DN {
        return;
    }
    if !filter::is_attribute_name(value) {
        problems.push(format!(
            "{key}: `{value}` is not an attribute name (letters, digits and `-`, or an OID){}",
            if dn_allowed { ", nor DN" } else { "" }
        ));
    }
}

#[cfg(test)]
#[path = "settings_tests.rs"]
mod tests;
