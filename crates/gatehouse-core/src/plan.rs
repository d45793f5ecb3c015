//! DESIGN.md step 3: which providers a login is tried against, in which order, and why the others
//! are skipped; and the supersession rule that makes links inert. `gatehouse explain` prints this
//! plan and the resolver executes it, so the two can never disagree.

use std::fmt;

use crate::account::{AccountWithLinks, Link};
use crate::provider::ProviderDescriptor;
use crate::realm::RealmPolicy;

/// Whether a link takes part in logins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkState {
    Live,
    /// An active provider supersedes this link's provider.
    Inert {
        superseded_by: String,
    },
    ProviderDisabled,
    /// The provider exists but is not in the realm's chain.
    NotChained,
    /// The realm no longer defines this provider.
    UnknownProvider,
}

impl fmt::Display for LinkState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinkState::Live => f.write_str("live"),
            LinkState::Inert { superseded_by } => write!(f, "inert: superseded by {superseded_by}"),
            LinkState::ProviderDisabled => f.write_str("inert: provider disabled"),
            LinkState::NotChained => f.write_str("inert: provider not in the chain"),
            LinkState::UnknownProvider => f.write_str("inert: provider not configured"),
        }
    }
}

pub fn link_state(realm: &RealmPolicy, link: &Link) -> LinkState {
    let Some(provider) = realm.provider(&link.provider_id) else {
        return LinkState::UnknownProvider;
    };
    if !provider.enabled {
        return LinkState::ProviderDisabled;
    }
    if !realm.is_active(provider) {
        return LinkState::NotChained;
    }
    if !link.protected
        && let Some(by) = realm.superseded_by(provider)
    {
        return LinkState::Inert {
            superseded_by: by.id.clone(),
        };
    }
    LinkState::Live
}

/// `Some(provider id)` when supersession left the account without a live link: the account is then
/// disabled with the reason `superseded by <provider>`, and restored as soon as that provider is
/// switched off (the state is derived from the configuration, never stored as the only truth).
pub fn superseded_by(realm: &RealmPolicy, account: &AccountWithLinks) -> Option<String> {
    let mut first_superseder = None;
    for link in &account.links {
        match link_state(realm, link) {
            LinkState::Live => return None,
            LinkState::Inert { superseded_by } => {
                first_superseder.get_or_insert(superseded_by);
            }
            _ => {}
        }
    }
    first_superseder
}

/// What the plan does with one chained provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepDecision {
    /// Check the password against the account's live link.
    TryLink,
    /// No account yet: the provider searches for the login and may provision it.
    TrySearch,
    SkipRedirectProvider,
    SkipDisabled,
    SkipNoLink,
    SkipInert {
        superseded_by: String,
    },
    SkipNoJit,
}

impl StepDecision {
    pub fn is_try(&self) -> bool {
        matches!(self, StepDecision::TryLink | StepDecision::TrySearch)
    }
}

impl fmt::Display for StepDecision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StepDecision::TryLink => f.write_str("try: the account has a live link"),
            StepDecision::TrySearch => f.write_str(
                "try: no account yet, the provider searches for the login (just in time)",
            ),
            StepDecision::SkipRedirectProvider => {
                f.write_str("skip: redirect provider, not asked for passwords")
            }
            StepDecision::SkipDisabled => f.write_str("skip: provider disabled"),
            StepDecision::SkipNoLink => f.write_str("skip: the account has no link to it"),
            StepDecision::SkipInert { superseded_by } => {
                write!(f, "skip: link inert, superseded by {superseded_by}")
            }
            StepDecision::SkipNoJit => {
                f.write_str("skip: no account, and the provider does not provision just in time")
            }
        }
    }
}

#[derive(Debug, Clone)]
pub struct PlanStep {
    pub provider: ProviderDescriptor,
    pub decision: StepDecision,
}

/// The plan of step 3 for one login.
#[derive(Debug, Clone)]
pub struct LoginPlan {
    pub steps: Vec<PlanStep>,
    /// Set when supersession left the account without a live link.
    pub superseded_by: Option<String>,
}

impl LoginPlan {
    pub fn candidates(&self) -> impl Iterator<Item = &PlanStep> {
        self.steps.iter().filter(|s| s.decision.is_try())
    }
}

pub fn plan(realm: &RealmPolicy, account: Option<&AccountWithLinks>) -> LoginPlan {
    let steps = realm
        .chained()
        .map(|provider| PlanStep {
            provider: provider.clone(),
            decision: decide(realm, provider, account),
        })
        .collect();
    LoginPlan {
        steps,
        superseded_by: account.and_then(|a| superseded_by(realm, a)),
    }
}

fn decide(
    realm: &RealmPolicy,
    provider: &ProviderDescriptor,
    account: Option<&AccountWithLinks>,
) -> StepDecision {
    if !provider.kind.is_password() {
        return StepDecision::SkipRedirectProvider;
    }
    if !provider.enabled {
        return StepDecision::SkipDisabled;
    }
    let Some(account) = account else {
        return if provider.jit {
            StepDecision::TrySearch
        } else {
            StepDecision::SkipNoJit
        };
    };
    match account.link_to(&provider.id).map(|l| link_state(realm, l)) {
        None => StepDecision::SkipNoLink,
        Some(LinkState::Live) => StepDecision::TryLink,
        Some(LinkState::Inert { superseded_by }) => StepDecision::SkipInert { superseded_by },
        // Chained and enabled providers leave no other state.
        Some(_) => StepDecision::SkipDisabled,
    }
}
