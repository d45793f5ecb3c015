//! Step-up: whether a browser session answers an authorization request as it stands, or which
//! policy must run first and which of the session's mechanisms still count in it. Pure logic
//! over the realm's policies, the session's record and the request; the OpenID provider asks,
//! the transports run the flow (`Engine::start` with [`StepUp::Needed`]'s `passed`).
//!
//! A session holds **levels**: each policy a flow completed, its `acr` and when. A level holds
//! while its policy still exists with that `acr`, within the policy's `max_age` and the
//! request's `max_age`; an expired level is gone, never silently kept.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::auth::policy::{DEFAULT_POLICY, Policy};
use crate::auth::state::PassedMechanism;

/// A level a session reached: the policy a flow completed, its `acr`, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AchievedLevel {
    pub policy_id: String,
    pub acr: String,
    pub at: DateTime<Utc>,
}

/// What the relying party asked for (OIDC Core §3.1.2.1, §5.5.1.1).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LevelRequest {
    /// `acr_values` and the `acr` claims request's values, in the order of preference.
    pub acr: Vec<String>,
    /// The `acr` claims request was `essential`: an unmet level is an error, not a downgrade.
    pub essential: bool,
    /// `max_age` in seconds: the authentication must be at most this old.
    pub max_age: Option<u64>,
    /// `prompt=login`: authenticate again whatever the session holds.
    pub force: bool,
}

/// The session's side of the decision.
#[derive(Debug, Clone, Copy)]
pub struct SessionAuth<'a> {
    pub levels: &'a [AchievedLevel],
    pub passed: &'a [PassedMechanism],
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepUp {
    /// The session answers the request at this level.
    Satisfied(AchievedLevel),
    /// Run this policy; these of the session's mechanisms still hold and are skipped.
    Needed {
        policy_id: String,
        passed: Vec<PassedMechanism>,
    },
    /// An essential `acr` that no policy of the realm achieves
    /// (`unmet_authentication_requirements`).
    Unmet,
}

/// The policy a login runs when nothing else is asked for: `default`, else the first one.
pub fn login_policy(policies: &[Policy]) -> Option<&Policy> {
    policies
        .iter()
        .find(|p| p.id == DEFAULT_POLICY)
        .or_else(|| policies.first())
}

/// The requested values some policy achieves, in the request's order.
fn achievable<'a>(policies: &[Policy], request: &'a LevelRequest) -> Vec<&'a str> {
    request
        .acr
        .iter()
        .map(String::as_str)
        .filter(|acr| policies.iter().any(|p| p.acr == *acr))
        .collect()
}

/// A century: longer ages are the same as none (and stay within chrono's range).
const LONGEST_AGE_S: u64 = 100 * 366 * 86_400;

fn within(at: DateTime<Utc>, max_age: Option<u64>, now: DateTime<Utc>) -> bool {
    max_age.is_none_or(|s| {
        let s = i64::try_from(s.min(LONGEST_AGE_S)).unwrap_or(0);
        at + Duration::seconds(s) >= now
    })
}

/// The session's levels that still hold for this request, most recent first.
pub fn valid_levels(
    policies: &[Policy],
    levels: &[AchievedLevel],
    request: &LevelRequest,
    now: DateTime<Utc>,
) -> Vec<AchievedLevel> {
    if request.force {
        return Vec::new();
    }
    let mut out: Vec<AchievedLevel> = levels
        .iter()
        .filter(|l| {
            policies
                .iter()
                .find(|p| p.id == l.policy_id && p.acr == l.acr)
                .is_some_and(|p| within(l.at, p.max_age, now))
                && within(l.at, request.max_age, now)
                && l.at <= now
        })
        .cloned()
        .collect();
    out.sort_by_key(|l| std::cmp::Reverse(l.at));
    out
}

/// The session's mechanisms that still count in a flow through `policy` for this request.
pub fn valid_passed(
    policy: &Policy,
    passed: &[PassedMechanism],
    request: &LevelRequest,
    now: DateTime<Utc>,
) -> Vec<PassedMechanism> {
    if request.force {
        return Vec::new();
    }
    passed
        .iter()
        .filter(|p| within(p.at, policy.max_age, now) && within(p.at, request.max_age, now))
        .cloned()
        .collect()
}

/// Whether `session` answers `request`, and if not which policy runs with which of its
/// mechanisms. `policies` are the realm's, the implicit default included.
pub fn decide(
    policies: &[Policy],
    session: Option<SessionAuth<'_>>,
    request: &LevelRequest,
    now: DateTime<Utc>,
) -> StepUp {
    let wanted = achievable(policies, request);
    if wanted.is_empty() && request.essential && !request.acr.is_empty() {
        return StepUp::Unmet;
    }
    let levels = session
        .map(|s| valid_levels(policies, s.levels, request, now))
        .unwrap_or_default();
    // Voluntary values no policy achieves ask for nothing the realm can give: the session's
    // level answers (OIDC Core §5.5.1.1: the OP does its best).
    let held = if wanted.is_empty() {
        levels.into_iter().next()
    } else {
        levels
            .into_iter()
            .find(|l| wanted.contains(&l.acr.as_str()))
    };
    if let Some(level) = held {
        return StepUp::Satisfied(level);
    }
    let policy = match wanted.first() {
        Some(acr) => policies.iter().find(|p| p.acr == *acr),
        None => login_policy(policies),
    };
    let Some(policy) = policy else {
        return StepUp::Unmet;
    };
    StepUp::Needed {
        policy_id: policy.id.clone(),
        passed: session
            .map(|s| valid_passed(policy, s.passed, request, now))
            .unwrap_or_default(),
    }
}

/// At which level a code is issued right after a login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IssueLevel {
    /// A held level: one that meets the request, else (voluntary request) the most recent.
    At(AchievedLevel),
    /// The session holds no level the realm's policies still know: issue what it recorded.
    AsRecorded,
    /// The `acr` was essential and the login did not reach it.
    Unmet,
}

pub fn level_to_issue(
    policies: &[Policy],
    levels: &[AchievedLevel],
    request: &LevelRequest,
    now: DateTime<Utc>,
) -> IssueLevel {
    // The login just happened: `prompt=login` and `max_age` were what sent it there.
    let relaxed = LevelRequest {
        force: false,
        max_age: None,
        ..request.clone()
    };
    let held = valid_levels(policies, levels, &relaxed, now);
    if request.acr.is_empty() {
        return held
            .into_iter()
            .next()
            .map_or(IssueLevel::AsRecorded, IssueLevel::At);
    }
    if let Some(level) = held.iter().find(|l| request.acr.contains(&l.acr)) {
        return IssueLevel::At(level.clone());
    }
    if request.essential {
        return IssueLevel::Unmet;
    }
    held.into_iter()
        .next()
        .map_or(IssueLevel::AsRecorded, IssueLevel::At)
}

#[cfg(test)]
#[path = "step_up_tests.rs"]
mod tests;
