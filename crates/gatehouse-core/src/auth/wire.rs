//! The JSON of the REST transport (`/realms/R/apiauthsvc`), as plain serde types: what a client
//! posts and what it gets back. The engine's [`crate::auth::Answer`] converts to
//! [`FlowResponse`] one to one, so a transport only serialises it.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Challenge,
    Choose,
    Redirect,
    Success,
    Failure,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireField {
    pub name: String,
    /// `text`, `password` or `otp`.
    #[serde(rename = "type")]
    pub kind: String,
    pub label: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireChoice {
    /// What to post back as `choice`.
    pub id: String,
    pub label: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FormField {
    pub name: String,
    pub value: String,
}

/// Every answer of the flow. `state_id` is new in each answer that expects another request; the
/// one the request carried is dead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowResponse {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_id: Option<String>,
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mechanism: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields: Option<Vec<WireField>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub choices: Option<Vec<WireChoice>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// Present when the browser must POST these to `location` rather than follow it (SAML).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub form: Option<Vec<FormField>>,
    /// Words for the user: why the last input was refused, or why the flow failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// On success: the level reached and how (RFC 8176).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amr: Option<Vec<String>>,
}

/// What a client posts to continue a flow: the `state_id` of the last answer, and either the
/// challenge's `fields` or the `choice` it picked.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowRequest {
    pub state_id: String,
    #[serde(default)]
    pub choice: Option<String>,
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
}

/// Field values can be passwords: only the names are printed.
impl fmt::Debug for FlowRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FlowRequest")
            .field("state_id", &"[redacted]")
            .field("choice", &self.choice)
            .field("fields", &self.fields.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// A request the engine refused without advancing anything (HTTP 400/404).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowErrorResponse {
    /// `invalid_state`, `input_too_large`, `unknown_policy`.
    pub error: String,
    pub error_description: String,
}
