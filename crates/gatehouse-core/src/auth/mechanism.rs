//! What one step of a policy runs: a [`Mechanism`] answers `begin` with a challenge (fields to
//! fill, or an upstream to send the browser to) and `verify` with a verdict on the input. The
//! engine knows mechanisms only through this trait, as the resolver knows providers.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use async_trait::async_trait;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::account::Account;
use crate::auth::state::{FlowContext, PassedMechanism};
use crate::error::CoreError;
use crate::secret::Secret;

/// A mechanism as a policy names it: `password`, `federated`, `federated:corp-saml`, `totp`.
/// The part after `:` picks one instance (for `federated`, a redirect provider id).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MechanismRef {
    pub name: String,
    pub provider: Option<String>,
}

impl MechanismRef {
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            provider: None,
        }
    }

    pub fn with_provider(name: &str, provider: &str) -> Self {
        Self {
            name: name.to_owned(),
            provider: Some(provider.to_owned()),
        }
    }
}

impl fmt::Display for MechanismRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.provider {
            Some(p) => write!(f, "{}:{p}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

fn valid_part(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

impl FromStr for MechanismRef {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (name, provider) = match s.split_once(':') {
            Some((name, provider)) => (name, Some(provider)),
            None => (s, None),
        };
        if !valid_part(name) || provider.is_some_and(|p| !valid_part(p)) {
            return Err(format!(
                "`{s}` is not a mechanism name: write `name` or `name:provider` with letters, \
                 digits, `-` and `_`"
            ));
        }
        Ok(Self {
            name: name.to_owned(),
            provider: provider.map(str::to_owned),
        })
    }
}

impl Serialize for MechanismRef {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for MechanismRef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// How a transport renders a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldKind {
    Text,
    /// Rendered masked; never echoed back.
    Password,
    /// A one-time code.
    Otp,
}

/// One input a challenge asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Field {
    pub name: String,
    pub kind: FieldKind,
    pub label: String,
    /// A value to show filled in (the username the first factor established); never a secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

impl Field {
    pub fn new(name: &str, kind: FieldKind, label: &str) -> Self {
        Self {
            name: name.to_owned(),
            kind,
            label: label.to_owned(),
            value: None,
        }
    }
}

/// What `begin` asks of the user.
#[derive(Debug, Clone)]
pub enum Begin {
    /// Fill these fields. `data` is kept in the flow (server side) until `verify`.
    Challenge {
        fields: Vec<Field>,
        data: serde_json::Value,
    },
    /// Send the browser to `location` (or POST `form` to it); the callback resumes the flow.
    /// `upstream_state` is the value the callback carries back (OIDC `state`, SAML
    /// `RelayState`): the flow's next state id, so the callback names its flow. `data` (PKCE
    /// verifier, nonce, request id) stays in the flow, never in the browser.
    Redirect {
        location: String,
        upstream_state: String,
        form: Option<Vec<(String, String)>>,
        data: serde_json::Value,
    },
}

/// What the user sent for the pending step. Values are [`Secret`]s: a typed password or a
/// callback's authorization code never reaches a log through `Debug`.
#[derive(Clone)]
pub enum Input {
    /// The challenge's fields, by name.
    Fields(BTreeMap<String, Secret>),
    /// The id of one of the offered choices.
    Choice(String),
    /// A redirect provider's callback parameters (query or form).
    Callback(Vec<(String, Secret)>),
}

impl Input {
    pub fn field(&self, name: &str) -> Option<&Secret> {
        match self {
            Input::Fields(fields) => fields.get(name),
            _ => None,
        }
    }

    /// The largest single value, in bytes (typed inputs are bounded one by one).
    pub fn largest_value(&self) -> usize {
        match self {
            Input::Fields(fields) => fields
                .iter()
                .map(|(k, v)| k.len().max(v.expose().len()))
                .max()
                .unwrap_or(0),
            Input::Choice(c) => c.len(),
            Input::Callback(_) => 0,
        }
    }

    /// Every name and value together, in bytes.
    pub fn total_size(&self) -> usize {
        match self {
            Input::Fields(fields) => fields.iter().map(|(k, v)| k.len() + v.expose().len()).sum(),
            Input::Choice(c) => c.len(),
            Input::Callback(params) => params.iter().map(|(k, v)| k.len() + v.expose().len()).sum(),
        }
    }

    pub fn count(&self) -> usize {
        match self {
            Input::Fields(fields) => fields.len(),
            Input::Choice(_) => 1,
            Input::Callback(params) => params.len(),
        }
    }
}

impl fmt::Debug for Input {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Input::Fields(fields) => f
                .debug_tuple("Fields")
                .field(&fields.keys().collect::<Vec<_>>())
                .finish(),
            Input::Choice(c) => f.debug_tuple("Choice").field(c).finish(),
            Input::Callback(params) => f
                .debug_tuple("Callback")
                .field(&params.iter().map(|(k, _)| k).collect::<Vec<_>>())
                .finish(),
        }
    }
}

/// A refused input or a step that cannot run: `code` goes to the audit log, `public_message` to
/// the user, and it must not tell whether an account exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub code: String,
    pub public_message: String,
}

impl Failure {
    pub fn new(code: impl Into<String>, public_message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            public_message: public_message.into(),
        }
    }
}

/// A mechanism that passed: who it proved, and the RFC 8176 `amr` values it adds.
#[derive(Debug, Clone, PartialEq)]
pub struct Passed {
    pub account: Account,
    pub amr: Vec<String>,
    /// The provider that verified it (the chain's password provider, the upstream IdP).
    pub provider: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Passed(Box<Passed>),
    /// Counts as one failed input; the step is offered again while attempts remain.
    Rejected(Failure),
}

/// What a mechanism may know of the flow it runs in.
#[derive(Debug, Clone, Copy)]
pub struct FlowView<'a> {
    pub realm: &'a str,
    /// The account the earlier steps established, if any.
    pub account: Option<&'a Account>,
    pub passed: &'a [PassedMechanism],
    pub context: &'a FlowContext,
}

#[async_trait]
pub trait Mechanism: Send + Sync {
    /// The name policies use for this instance (`password`, `federated:corp`).
    fn reference(&self) -> &MechanismRef;

    /// The words of its button when the user chooses among mechanisms.
    fn label(&self) -> String {
        self.reference().to_string()
    }

    /// Whether the account has what this mechanism checks (an enrolled credential). Mechanisms
    /// that need nothing enrolled keep the default.
    async fn enrolled(&self, _account: &Account) -> Result<bool, CoreError> {
        Ok(true)
    }

    async fn begin(&self, flow: FlowView<'_>) -> Result<Begin, Failure>;

    /// `pending` is the `data` of the [`Begin`] this input answers.
    async fn verify(
        &self,
        flow: FlowView<'_>,
        pending: &serde_json::Value,
        input: &Input,
    ) -> Result<Verdict, CoreError>;
}
