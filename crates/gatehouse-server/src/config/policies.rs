//! `[[realms.R.policies]]` and `[realms.R.flows]`: the realm's authentication policies, checked
//! against what the realm offers, and the implicit `default` policy of a realm without any.

use std::collections::HashSet;

use gatehouse_core::auth::{DEFAULT_POLICY, Known, Policy, PolicySpec};

use super::Problem;
use super::model::RealmConfig;

/// The mechanisms this build offers to policies.
pub const MECHANISMS: [&str; 5] = [
    "password",
    "federated",
    "totp",
    "recovery_code",
    "email_otp",
];

impl RealmConfig {
    /// What the realm's policies may name.
    pub fn known_to_policies(&self) -> Known {
        Known {
            mechanisms: MECHANISMS
                .iter()
                .chain(crate::flows::TEST_MECHANISMS)
                .map(|m| (*m).to_owned())
                .collect(),
            redirect_providers: self
                .chain
                .iter()
                .filter_map(|id| self.provider(id))
                .filter(|p| p.enabled && !p.kind().is_password())
                .map(|p| p.id.clone())
                .collect(),
            providers: self.providers.iter().map(|p| p.id.clone()).collect(),
        }
    }

    /// The policies the engine runs: the configured ones (checked at load), or the implicit
    /// `default` that behaves as a realm did before policies existed.
    pub fn auth_policies(&self, name: &str) -> Vec<Policy> {
        if self.policies.is_empty() {
            return vec![Policy::implicit_default(&self.policy(name))];
        }
        let known = self.known_to_policies();
        self.policies
            .iter()
            .filter_map(|spec| spec.build(&known).ok())
            .collect()
    }

    /// The policies whose levels the OpenID provider knows: the engine's, and the implicit
    /// `default` beside configured ones that do not replace it (the login page's one factor).
    pub fn oidc_policies(&self, name: &str) -> Vec<Policy> {
        let mut policies = self.auth_policies(name);
        if !policies.iter().any(|p| p.id == DEFAULT_POLICY) {
            policies.push(Policy::implicit_default(&self.policy(name)));
        }
        policies
    }

    fn has_password_provider(&self) -> bool {
        self.chain
            .iter()
            .filter_map(|id| self.provider(id))
            .any(|p| p.enabled && p.kind().is_password())
    }
}

pub fn check(name: &str, realm: &RealmConfig, problems: &mut Vec<Problem>) {
    for (key, message) in realm.flows.problems() {
        problems.push(Problem::new(format!("realms.{name}.flows.{key}"), message));
    }
    let known = realm.known_to_policies();
    let mut ids = HashSet::new();
    for (i, spec) in realm.policies.iter().enumerate() {
        let at = |key: &str| format!("realms.{name}.policies[{i}].{key}");
        if !ids.insert(spec.id.as_str()) {
            problems.push(Problem::new(
                at("id"),
                format!(
                    "policy id `{}` is used twice in this realm; ids must be unique",
                    spec.id
                ),
            ));
        }
        if let Err(found) = spec.build(&known) {
            for p in found {
                problems.push(Problem::new(at(&p.key), p.message));
            }
        }
        if !realm.has_password_provider() {
            for key in password_steps(spec) {
                problems.push(Problem::new(
                    at(&key),
                    "`password` checks the chain's password providers (database, ldap), and \
                     this realm's chain has none enabled",
                ));
            }
        }
    }
}

/// The keys of the steps that name `password`.
fn password_steps(spec: &PolicySpec) -> Vec<String> {
    let mut out = Vec::new();
    for (i, step) in spec.steps.iter().enumerate() {
        if step
            .mechanism
            .as_ref()
            .is_some_and(|m| m.name == "password")
        {
            out.push(format!("steps[{i}].mechanism"));
        }
        for (j, m) in step.choice.iter().flatten().enumerate() {
            if m.name == "password" {
                out.push(format!("steps[{i}].choice[{j}]"));
            }
        }
    }
    out
}
