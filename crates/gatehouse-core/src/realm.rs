use serde::{Deserialize, Serialize};

use crate::provider::ProviderDescriptor;

/// What to do when a provider is unreachable (DESIGN.md step 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnUnavailable {
    /// Try the next candidate provider.
    #[default]
    Next,
    /// Stop with a temporary-failure error.
    Fail,
}

/// A realm's login policy: its providers, their order, and how logins are compared.
#[derive(Debug, Clone)]
pub struct RealmPolicy {
    pub name: String,
    /// Every provider the realm defines, chained or not.
    pub providers: Vec<ProviderDescriptor>,
    /// Provider ids in the administrator's order of preference.
    pub chain: Vec<String>,
    pub on_unavailable: OnUnavailable,
    pub usernames_case_sensitive: bool,
    /// Look the account up by email when no username matches.
    pub login_with_email: bool,
}

impl RealmPolicy {
    /// DESIGN.md step 1: trim; case-fold unless usernames are case-sensitive.
    pub fn normalize_login(&self, login: &str) -> String {
        let trimmed = login.trim();
        if self.usernames_case_sensitive {
            trimmed.to_owned()
        } else {
            trimmed.to_lowercase()
        }
    }

    pub fn provider(&self, id: &str) -> Option<&ProviderDescriptor> {
        self.providers.iter().find(|p| p.id == id)
    }

    /// The chain's providers, in order.
    pub fn chained(&self) -> impl Iterator<Item = &ProviderDescriptor> {
        self.chain.iter().filter_map(|id| self.provider(id))
    }

    /// Enabled and in the chain: only such providers authenticate or supersede.
    pub fn is_active(&self, provider: &ProviderDescriptor) -> bool {
        provider.enabled && self.chain.contains(&provider.id)
    }

    /// The first active provider that supersedes `provider`, if any.
    pub fn superseded_by(&self, provider: &ProviderDescriptor) -> Option<&ProviderDescriptor> {
        self.chained()
            .find(|p| self.is_active(p) && p.supersedes(provider))
    }
}
