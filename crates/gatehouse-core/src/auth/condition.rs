//! What a branch tests. Written in a policy as a table with one key, e.g.
//! `when = { group = "admins" }` or `when = { not = { remembered_browser = true } }`.

use std::collections::HashSet;

use serde::Deserialize;
use serde::de::{self, Deserializer};

use crate::account::Account;
use crate::auth::mechanism::MechanismRef;
use crate::auth::state::{FlowContext, PassedMechanism};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// The account so far is a member of this group.
    Group(String),
    /// The account so far holds this role.
    Role(String),
    /// The provider that passed the flow's first mechanism (e.g. `corp-ldap`).
    FirstProvider(String),
    /// The account has a credential enrolled for this mechanism.
    Enrolled(MechanismRef),
    /// The relying party asked for this `acr` value.
    RequestedAcr(String),
    /// Whether the browser is a remembered one.
    RememberedBrowser(bool),
    /// The flow (or the session it steps up) already passed this mechanism.
    Passed(MechanismRef),
    Not(Box<Condition>),
    Any(Vec<Condition>),
    All(Vec<Condition>),
}

/// The keys a condition table may have.
pub const ATTRIBUTES: [&str; 10] = [
    "group",
    "role",
    "first_provider",
    "enrolled",
    "requested_acr",
    "remembered_browser",
    "passed",
    "not",
    "any",
    "all",
];

/// What a condition is evaluated against.
pub struct Facts<'a> {
    pub account: Option<&'a Account>,
    pub passed: &'a [PassedMechanism],
    pub context: &'a FlowContext,
    /// The mechanisms of [`Condition::enrolled_refs`] the account has enrolled.
    pub enrolled: &'a HashSet<MechanismRef>,
}

impl Condition {
    pub fn evaluate(&self, facts: &Facts<'_>) -> bool {
        match self {
            Condition::Group(g) => facts.account.is_some_and(|a| a.groups.contains(g)),
            Condition::Role(r) => facts.account.is_some_and(|a| a.roles.contains(r)),
            Condition::FirstProvider(p) => facts
                .passed
                .first()
                .is_some_and(|m| m.provider.as_deref() == Some(p.as_str())),
            Condition::Enrolled(m) => facts.account.is_some() && facts.enrolled.contains(m),
            Condition::RequestedAcr(acr) => facts.context.requested_acr.contains(acr),
            Condition::RememberedBrowser(want) => facts.context.remembered_browser == *want,
            Condition::Passed(m) => facts.passed.iter().any(|p| p.mechanism == *m),
            Condition::Not(c) => !c.evaluate(facts),
            Condition::Any(cs) => cs.iter().any(|c| c.evaluate(facts)),
            Condition::All(cs) => cs.iter().all(|c| c.evaluate(facts)),
        }
    }

    /// Every mechanism an `enrolled` test names, to ask about before evaluating.
    pub fn enrolled_refs(&self) -> Vec<&MechanismRef> {
        let mut out = Vec::new();
        self.walk(&mut |c| {
            if let Condition::Enrolled(m) = c {
                out.push(m);
            }
        });
        out
    }

    /// Calls `f` on this condition and every one nested in it.
    pub fn walk<'a>(&'a self, f: &mut dyn FnMut(&'a Condition)) {
        f(self);
        match self {
            Condition::Not(c) => c.walk(f),
            Condition::Any(cs) | Condition::All(cs) => cs.iter().for_each(|c| c.walk(f)),
            _ => {}
        }
    }
}

/// Hand-written so an unknown attribute is named with the ones that exist.
impl<'de> Deserialize<'de> for Condition {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(d)?;
        from_value(&value).map_err(de::Error::custom)
    }
}

fn from_value(value: &serde_json::Value) -> Result<Condition, String> {
    let table = value.as_object().filter(|t| t.len() == 1).ok_or_else(|| {
        "a condition is a table with exactly one key, e.g. { group = \"admins\" }".to_owned()
    })?;
    let Some((key, v)) = table.iter().next() else {
        return Err("a condition needs one key".to_owned());
    };
    let text = || {
        v.as_str()
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| format!("`{key}` takes a non-empty string"))
    };
    let mechanism = || text()?.parse::<MechanismRef>();
    let list = || -> Result<Vec<Condition>, String> {
        let items = v
            .as_array()
            .filter(|a| !a.is_empty())
            .ok_or_else(|| format!("`{key}` takes a non-empty list of conditions"))?;
        items.iter().map(from_value).collect()
    };
    Ok(match key.as_str() {
        "group" => Condition::Group(text()?),
        "role" => Condition::Role(text()?),
        "first_provider" => Condition::FirstProvider(text()?),
        "enrolled" => Condition::Enrolled(mechanism()?),
        "requested_acr" => Condition::RequestedAcr(text()?),
        "remembered_browser" => Condition::RememberedBrowser(
            v.as_bool()
                .ok_or_else(|| "`remembered_browser` takes true or false".to_owned())?,
        ),
        "passed" => Condition::Passed(mechanism()?),
        "not" => Condition::Not(Box::new(from_value(v)?)),
        "any" => Condition::Any(list()?),
        "all" => Condition::All(list()?),
        other => {
            return Err(format!(
                "a branch cannot test `{other}`: the conditions are {}",
                ATTRIBUTES.join(", ")
            ));
        }
    })
}
