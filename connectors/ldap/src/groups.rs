//! A user's groups: by member DN or by another attribute (memberUid), nested groups followed level
//! by level with a visited set (cycles end), or on Active Directory in one search with
//! LDAP_MATCHING_RULE_IN_CHAIN. Group names map to roles through `group_roles`.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use crate::entry::Entry;
use crate::error::DirectoryError;
use crate::filter;
use crate::pool::{Answer, Directory, Op, Purpose};
use crate::settings::{DN, ResolvedGroups, Roles};

/// AD's transitive membership rule: one search finds the groups a DN belongs to at any depth.
pub const IN_CHAIN: &str = "1.2.840.113556.1.4.1941";
/// How deep nesting is followed without the AD rule; deeper is certainly a modelling mistake.
const MAX_DEPTH: usize = 16;
/// Member DNs per search when following nesting, to keep filters a sane size.
const BATCH: usize = 64;

pub struct GroupLookup<'a> {
    pub directory: &'a Directory,
    pub config: &'a ResolvedGroups,
    pub active_directory: bool,
    pub page_size: u32,
}

impl GroupLookup<'_> {
    /// The names of the groups `user` belongs to, sorted and without duplicates.
    pub async fn names(&self, user: &Entry) -> Result<Vec<String>, DirectoryError> {
        let c = self.config;
        let attrs = vec![c.name_attr.clone()];
        // Group DN (lowercased) → name, for every group found.
        let mut found: BTreeMap<String, String> = BTreeMap::new();
        let mut frontier = Vec::new();
        for m in &c.matchers {
            let by_dn = m.user_attr == DN;
            let values: Vec<&str> = if by_dn {
                vec![user.dn.as_str()]
            } else {
                user.values(&m.user_attr).collect()
            };
            if values.is_empty() {
                continue;
            }
            let rule = (by_dn && c.nested && self.active_directory).then_some(IN_CHAIN);
            for chunk in values.chunks(BATCH) {
                let filter = filter::attr_in(&c.filter, &m.group_attr, rule, chunk);
                for g in self.search(&filter, &attrs).await? {
                    if found
                        .insert(g.dn.to_ascii_lowercase(), self.name(&g))
                        .is_none()
                    {
                        frontier.push(g.dn);
                    }
                }
            }
        }
        if c.nested && !self.active_directory {
            self.follow_nesting(frontier, &mut found, &attrs).await?;
        }
        let names: BTreeSet<String> = found.into_values().collect();
        Ok(names.into_iter().collect())
    }

    /// Groups whose members (by DN) include groups already found, level by level. A group seen
    /// before is not searched again, so a cycle ends the walk instead of looping.
    async fn follow_nesting(
        &self,
        mut frontier: Vec<String>,
        found: &mut BTreeMap<String, String>,
        attrs: &[String],
    ) -> Result<(), DirectoryError> {
        let c = self.config;
        let dn_attrs: Vec<&str> = c
            .matchers
            .iter()
            .filter(|m| m.user_attr == DN)
            .map(|m| m.group_attr.as_str())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        for depth in 0.. {
            if frontier.is_empty() || dn_attrs.is_empty() {
                return Ok(());
            }
            if depth == MAX_DEPTH {
                tracing::warn!(
                    depth,
                    "group nesting deeper than followed; ignoring the rest"
                );
                return Ok(());
            }
            let mut next = Vec::new();
            for attr in &dn_attrs {
                for chunk in frontier.chunks(BATCH) {
                    let values: Vec<&str> = chunk.iter().map(String::as_str).collect();
                    let filter = filter::attr_in(&c.filter, attr, None, &values);
                    for g in self.search(&filter, attrs).await? {
                        if found
                            .insert(g.dn.to_ascii_lowercase(), self.name(&g))
                            .is_none()
                        {
                            next.push(g.dn);
                        }
                    }
                }
            }
            frontier = next;
        }
        Ok(())
    }

    fn name(&self, group: &Entry) -> String {
        group
            .first(&self.config.name_attr)
            .map(str::to_owned)
            .unwrap_or_else(|| group.dn.clone())
    }

    async fn search(&self, filter: &str, attrs: &[String]) -> Result<Vec<Entry>, DirectoryError> {
        let op = Op::Search {
            base: &self.config.base,
            scope: self.config.scope,
            filter,
            attrs,
            size_limit: 0,
            page_size: self.page_size,
        };
        match self.directory.run(Purpose::Search, &op).await? {
            Answer::Entries { entries, truncated } => {
                if truncated {
                    tracing::warn!("group search hit the server's size limit; set page_size");
                }
                Ok(entries)
            }
            Answer::Bind { .. } => Ok(Vec::new()),
        }
    }
}

/// The roles `group_roles` gives to members of `groups` (group names compare case-insensitively,
/// as the directory compares them), sorted and without duplicates.
pub fn roles_for(groups: &[String], mapping: &BTreeMap<String, Roles>) -> Vec<String> {
    let mut roles = BTreeSet::new();
    for (group, mapped) in mapping {
        if groups.iter().any(|g| g.eq_ignore_ascii_case(group)) {
            roles.extend(mapped.iter().map(str::to_owned));
        }
    }
    roles.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_follow_group_names_case_insensitively() {
        let mapping = BTreeMap::from([
            ("Admins".to_string(), Roles::One("admin".into())),
            (
                "ops".to_string(),
                Roles::Many(vec!["operator".into(), "admin".into()]),
            ),
            ("nobody".to_string(), Roles::One("ghost".into())),
        ]);
        let groups = vec!["admins".to_string(), "OPS".to_string(), "staff".to_string()];
        assert_eq!(roles_for(&groups, &mapping), vec!["admin", "operator"]);
        assert!(roles_for(&[], &mapping).is_empty());
    }
}
