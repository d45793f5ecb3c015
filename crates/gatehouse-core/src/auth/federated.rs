//! `federated:PROVIDER`: a redirect provider (oidc, oauth2, saml) as a mechanism. `begin` sends
//! the browser upstream; the callback's parameters come back as [`Input::Callback`], the
//! connector turns them into an [`ExternalIdentity`], and an [`IdentityMatcher`] says which
//! account that identity logs in as.

use std::sync::Arc;

use async_trait::async_trait;

use crate::account::Account;
use crate::auth::mechanism::{
    Begin, Failure, FlowView, Input, Mechanism, MechanismRef, Passed, Verdict,
};
use crate::error::CoreError;
use crate::redirect::{CallbackError, ExternalIdentity, RedirectProvider};

/// DESIGN.md, redirect providers: the link, `link_existing` or a just-in-time account, whether the
/// account may log in, and the replay guard of single-use answers. Core's
/// [`crate::federation::Federation`] implements it over the repository traits, so every
/// transport matches identities the same way.
#[async_trait]
pub trait IdentityMatcher: Send + Sync {
    /// `Ok(Err(_))` is a refusal to show the user (no account, account disabled, a replay).
    async fn account_for(
        &self,
        provider: &str,
        identity: &ExternalIdentity,
    ) -> Result<Result<Account, Failure>, CoreError>;
}

pub struct FederatedMechanism {
    reference: MechanismRef,
    label: String,
    provider: Arc<dyn RedirectProvider>,
    callback_url: String,
    accounts: Arc<dyn IdentityMatcher>,
}

const UNAVAILABLE: &str = "Login through this provider is not available right now.";
const REFUSED: &str = "The login at the identity provider did not succeed.";

impl FederatedMechanism {
    /// `callback_url` is the broker's URL the upstream sends the browser back to.
    pub fn new(
        provider: Arc<dyn RedirectProvider>,
        callback_url: String,
        accounts: Arc<dyn IdentityMatcher>,
    ) -> Self {
        let id = provider.descriptor().id.clone();
        Self {
            reference: MechanismRef::with_provider("federated", &id),
            label: id,
            provider,
            callback_url,
            accounts,
        }
    }

    /// The words of its button (the provider's display name).
    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
    }
}

/// The upstream's words can quote unauthenticated input: one bounded line for the log.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(200)
        .collect()
}

#[async_trait]
impl Mechanism for FederatedMechanism {
    fn reference(&self) -> &MechanismRef {
        &self.reference
    }

    fn label(&self) -> String {
        self.label.clone()
    }

    async fn begin(&self, _flow: FlowView<'_>) -> Result<Begin, Failure> {
        match self.provider.begin(&self.callback_url).await {
            Ok(start) => Ok(Begin::Redirect {
                location: start.location,
                upstream_state: start.state,
                form: start.form,
                data: start.pending,
            }),
            Err(e) => {
                tracing::warn!(provider = %self.label, error = %one_line(&e.to_string()), "redirect login could not start");
                Err(Failure::new("upstream_unavailable", UNAVAILABLE))
            }
        }
    }

    async fn verify(
        &self,
        _flow: FlowView<'_>,
        pending: &serde_json::Value,
        input: &Input,
    ) -> Result<Verdict, CoreError> {
        let Input::Callback(params) = input else {
            return Ok(Verdict::Rejected(Failure::new("not_a_callback", REFUSED)));
        };
        let params: Vec<(String, String)> = params
            .iter()
            .map(|(k, v)| (k.clone(), v.expose().to_owned()))
            .collect();
        let identity = match self
            .provider
            .complete(pending, &self.callback_url, &params)
            .await
        {
            Ok(identity) => identity,
            Err(e) => {
                let (code, message) = match &e {
                    CallbackError::Unavailable(_) => ("upstream_unavailable", UNAVAILABLE),
                    _ => ("upstream_refused", REFUSED),
                };
                // The audit event carries the code alone; which check failed (it can quote
                // the upstream's unauthenticated answer) goes to the log on one bounded line.
                tracing::info!(provider = %self.label, code, error = %one_line(&e.to_string()), "redirect login refused");
                return Ok(Verdict::Rejected(Failure::new(code, message)));
            }
        };
        let provider = self.provider.descriptor().id.clone();
        Ok(
            match self.accounts.account_for(&provider, &identity).await? {
                Ok(account) => Verdict::Passed(Box::new(Passed {
                    account,
                    // RFC 8176 `fed`; the upstream's own amr once connectors report it.
                    amr: vec!["fed".to_owned()],
                    provider: Some(provider),
                })),
                Err(failure) => Verdict::Rejected(failure),
            },
        )
    }
}
