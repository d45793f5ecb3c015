//! The state of one flow between two requests. It is serialisable because it lives in the store
//! (any instance continues any flow), and it is found by a [`StateId`] that changes on every step.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::account::Account;
use crate::auth::mechanism::{Field, MechanismRef};
use crate::auth::report::StepRecord;

/// The single-use handle a client presents to continue a flow. Random (244 bits); the store
/// keeps only a digest of it. `Debug` does not print it: it is a bearer credential while live.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct StateId(String);

impl StateId {
    pub fn generate() -> Self {
        Self(format!(
            "{}{}",
            Uuid::new_v4().simple(),
            Uuid::new_v4().simple()
        ))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<String> for StateId {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for StateId {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

impl fmt::Debug for StateId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StateId([redacted])")
    }
}

/// The flow's own id: stable across its steps (the audit trail and the store's row key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FlowId(pub Uuid);

impl FlowId {
    pub fn generate() -> Self {
        Self(Uuid::now_v7())
    }
}

impl fmt::Display for FlowId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A mechanism the flow (or, for a step-up, the session it started from) has passed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PassedMechanism {
    pub mechanism: MechanismRef,
    pub provider: Option<String>,
    /// RFC 8176 values, e.g. `["pwd"]`, `["fed"]`.
    pub amr: Vec<String>,
    pub at: DateTime<Utc>,
}

/// What the transport knew when it started the flow; the branches may test it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FlowContext {
    /// `acr_values` / the `acr` claims request of the relying party, in its order.
    #[serde(default)]
    pub requested_acr: Vec<String>,
    /// The browser carries a valid remembered-browser mark for the account.
    #[serde(default)]
    pub remembered_browser: bool,
    /// The transport's own data, opaque to the engine and handed back at success (the pending
    /// authorization request, a first-party client's `client_id` and PKCE challenge).
    #[serde(default)]
    pub client: serde_json::Value,
    /// Who started the flow (the relying party, the peer's address): the password step's
    /// brute-force counters are kept per IP, as on every other way to log in.
    #[serde(default)]
    pub origin: crate::repository::LoginOrigin,
}

/// What the flow waits for.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Pending {
    Challenge {
        mechanism: MechanismRef,
        fields: Vec<Field>,
        data: serde_json::Value,
    },
    Choice {
        options: Vec<MechanismRef>,
    },
    Redirect {
        mechanism: MechanismRef,
        data: serde_json::Value,
    },
}

/// `data` can hold a PKCE verifier or a nonce: left out of `Debug`.
impl fmt::Debug for Pending {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pending::Challenge {
                mechanism, fields, ..
            } => f
                .debug_struct("Challenge")
                .field("mechanism", mechanism)
                .field("fields", fields)
                .finish_non_exhaustive(),
            Pending::Choice { options } => {
                f.debug_struct("Choice").field("options", options).finish()
            }
            Pending::Redirect { mechanism, .. } => f
                .debug_struct("Redirect")
                .field("mechanism", mechanism)
                .finish_non_exhaustive(),
        }
    }
}

/// One flow between two requests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlowState {
    pub flow_id: FlowId,
    pub realm: String,
    pub policy_id: String,
    /// The account the mechanisms passed so far established; every later mechanism must prove
    /// the same one.
    pub account: Option<Account>,
    pub passed: Vec<PassedMechanism>,
    /// Index of the current step in the policy, and that step's id: a configuration that
    /// changed under a running flow is noticed instead of resuming at another step.
    pub cursor: usize,
    pub step_id: String,
    pub pending: Option<Pending>,
    /// Failed inputs so far; at the limit the flow is dead.
    pub failures: u32,
    pub started_at: DateTime<Utc>,
    pub deadline: DateTime<Utc>,
    pub context: FlowContext,
    /// Every input judged so far, for the flow's audit event.
    #[serde(default)]
    pub trail: Vec<StepRecord>,
}
