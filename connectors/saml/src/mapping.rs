//! A checked Assertion → [`ExternalIdentity`]: NameID as the external id, the username from
//! `username_attribute` (default the NameID) through `username_regex`, email / name / groups
//! attributes, the `allowed_groups` filter, the single-logout hint and the replay guard.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use gatehouse_connector_oauth2::claims;
use gatehouse_core::{CallbackError, ExternalIdentity, Profile, ReplayGuard};
use regex::Regex;
use samael::schema::Assertion;
use serde::{Deserialize, Serialize};

use crate::settings::SamlSettings;

#[derive(Debug, Clone)]
pub(crate) struct Mapping {
    pub username_attribute: Option<String>,
    pub username_regex: Regex,
    pub email: String,
    pub name: String,
    pub groups: String,
    pub allowed_groups: Vec<String>,
    pub email_verified: bool,
}

/// What single logout needs to name the IdP session: kept by the broker as the
/// `logout_hint` (JSON) and given back to [`crate::SamlProvider`]'s logout functions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogoutHint {
    pub name_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_id_format: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_index: Option<String>,
}

impl Mapping {
    pub(crate) fn new(s: &SamlSettings) -> Result<Self, String> {
        Ok(Self {
            username_attribute: s.username_attribute.clone(),
            username_regex: s.username_regex()?,
            email: s.email_attribute.clone(),
            name: s.name_attribute.clone(),
            groups: s.groups_attribute.clone(),
            allowed_groups: s.allowed_groups.clone(),
            email_verified: s.email_verified,
        })
    }

    pub(crate) fn identity(
        &self,
        assertion: &Assertion,
        not_after: DateTime<Utc>,
    ) -> Result<ExternalIdentity, CallbackError> {
        let name_id = assertion
            .subject
            .as_ref()
            .and_then(|s| s.name_id.as_ref())
            .filter(|n| !n.value.is_empty())
            .ok_or_else(|| CallbackError::Invalid("subject: the Assertion has no NameID".into()))?;
        let attrs = attributes(assertion);
        let first = |name: &str| {
            attrs
                .get(name)
                .and_then(|v| v.iter().find(|s| !s.is_empty()))
                .cloned()
        };
        let source = match &self.username_attribute {
            Some(a) => first(a).ok_or_else(|| {
                CallbackError::Invalid(format!(
                    "username_attribute: the Assertion has no `{a}` attribute"
                ))
            })?,
            None => name_id.value.clone(),
        };
        let username = claims::mapped_username(&self.username_regex, &source).ok_or_else(|| {
            CallbackError::Invalid(format!(
                "username_regex: the {} does not match `{}`",
                match &self.username_attribute {
                    Some(a) => format!("`{a}` attribute"),
                    None => "NameID".into(),
                },
                self.username_regex.as_str()
            ))
        })?;
        let groups: Vec<String> = attrs
            .get(self.groups.as_str())
            .map(|v| v.iter().filter(|g| !g.is_empty()).cloned().collect())
            .unwrap_or_default();
        if !self.allowed_groups.is_empty()
            && !groups.iter().any(|g| self.allowed_groups.contains(g))
        {
            return Err(CallbackError::Invalid(
                "allowed_groups: the user is in none of the allowed groups".into(),
            ));
        }
        let hint = LogoutHint {
            name_id: name_id.value.clone(),
            name_id_format: name_id.format.clone(),
            session_index: assertion
                .authn_statements
                .as_deref()
                .unwrap_or_default()
                .iter()
                .find_map(|s| s.session_index.clone()),
        };
        Ok(ExternalIdentity {
            external_id: name_id.value.clone(),
            username: Some(username),
            email_verified: self.email_verified,
            profile: Profile {
                email: first(&self.email),
                name: first(&self.name),
                groups,
                roles: Vec::new(),
            },
            logout_hint: serde_json::to_string(&hint).ok(),
            replay_guard: Some(ReplayGuard {
                id: assertion.id.clone(),
                not_after,
            }),
        })
    }
}

/// Attribute values by Name and by FriendlyName (the Name wins on a clash).
fn attributes(assertion: &Assertion) -> HashMap<String, Vec<String>> {
    let mut by_name: HashMap<String, Vec<String>> = HashMap::new();
    let mut by_friendly: HashMap<String, Vec<String>> = HashMap::new();
    for statement in assertion
        .attribute_statements
        .as_deref()
        .unwrap_or_default()
    {
        for a in &statement.attributes {
            let values: Vec<String> = a.values.iter().filter_map(|v| v.value.clone()).collect();
            if let Some(n) = &a.name {
                by_name.entry(n.clone()).or_default().extend(values.clone());
            }
            if let Some(f) = &a.friendly_name {
                by_friendly.entry(f.clone()).or_default().extend(values);
            }
        }
    }
    for (k, v) in by_friendly {
        by_name.entry(k).or_insert(v);
    }
    by_name
}
