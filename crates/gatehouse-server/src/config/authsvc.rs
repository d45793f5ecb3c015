//! `[realms.R.authsvc]`: how the realm's policies may be started over HTTP (the web flow
//! `/realms/R/authsvc`, the REST flow `/realms/R/apiauthsvc`).

use serde::Deserialize;

use super::Problem;
use super::model::RealmConfig;

/// The seed's `sps.authService.policyKickoffMethod`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KickoffMethod {
    /// `/authsvc/policy/{id}` and `/authsvc?PolicyId={id}`.
    #[default]
    PathAndQuery,
    /// Only `/authsvc/policy/{id}`: an access rule on the path then covers every way in.
    Path,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthsvcConfig {
    #[serde(default)]
    pub policy_kickoff_method: KickoffMethod,
    /// Clients of this realm that may take an authorization code straight from the REST flow
    /// (first-party apps that collect the user's credentials themselves). Any other client must
    /// send the user through `/authorize`.
    #[serde(default)]
    pub first_party_clients: Vec<String>,
}

impl AuthsvcConfig {
    pub fn query_kickoff(&self) -> bool {
        self.policy_kickoff_method == KickoffMethod::PathAndQuery
    }
}

pub fn check(name: &str, realm: &RealmConfig, problems: &mut Vec<Problem>) {
    for (i, id) in realm.authsvc.first_party_clients.iter().enumerate() {
        let key = format!("realms.{name}.authsvc.first_party_clients[{i}]");
        match realm.clients.iter().find(|c| &c.client_id == id) {
            None => problems.push(Problem::new(
                key,
                format!(
                    "no client `{id}` in this realm; add a [[realms.{name}.clients]] entry with \
                     client_id = \"{id}\" or remove it here"
                ),
            )),
            Some(c) if c.redirect_uris.is_empty() => problems.push(Problem::new(
                key,
                format!(
                    "client `{id}` has no redirect_uris; a code from the REST flow is bound to \
                     one of them, as at /authorize"
                ),
            )),
            Some(_) => {}
        }
    }
}
