//! `password`: the realm's provider chain (DESIGN.md "How a password login is resolved") as a
//! mechanism. The resolver runs unchanged: its rules, its audit record, its dummy verification.

use std::sync::Arc;

use async_trait::async_trait;

use crate::auth::mechanism::{
    Begin, Failure, Field, FieldKind, FlowView, Input, Mechanism, MechanismRef, Passed, Verdict,
};
use crate::error::CoreError;
use crate::repository::AttemptOutcome;
use crate::resolver::{LoginDecision, Resolver};
use crate::secret::Secret;

pub const LOGIN_FIELD: &str = "login";
pub const PASSWORD_FIELD: &str = "password";

pub struct PasswordMechanism {
    reference: MechanismRef,
    resolver: Arc<Resolver>,
}

impl PasswordMechanism {
    pub fn new(resolver: Arc<Resolver>) -> Self {
        Self {
            reference: MechanismRef::new("password"),
            resolver,
        }
    }
}

#[async_trait]
impl Mechanism for PasswordMechanism {
    fn reference(&self) -> &MechanismRef {
        &self.reference
    }

    fn label(&self) -> String {
        "Username and password".to_owned()
    }

    async fn begin(&self, flow: FlowView<'_>) -> Result<Begin, Failure> {
        let mut login = Field::new(LOGIN_FIELD, FieldKind::Text, "Username");
        // After a first factor the login is known: the password must be this account's.
        login.value = flow.account.map(|a| a.username.clone());
        Ok(Begin::Challenge {
            fields: vec![
                login,
                Field::new(PASSWORD_FIELD, FieldKind::Password, "Password"),
            ],
            data: serde_json::Value::Null,
        })
    }

    async fn verify(
        &self,
        flow: FlowView<'_>,
        _pending: &serde_json::Value,
        input: &Input,
    ) -> Result<Verdict, CoreError> {
        let empty = Secret::default();
        let login = match flow.account {
            Some(account) => account.username.clone(),
            None => input
                .field(LOGIN_FIELD)
                .map(|s| s.expose().to_owned())
                .unwrap_or_default(),
        };
        let password = input.field(PASSWORD_FIELD).unwrap_or(&empty);
        // A missing field goes through the resolver as an empty one: the same refusal, in the
        // same time, as a wrong password.
        let result = self
            .resolver
            .resolve_from(&login, password, &flow.context.origin)
            .await?;
        Ok(match (result.decision, result.account) {
            (LoginDecision::Success, Some(account)) => Verdict::Passed(Box::new(Passed {
                account,
                amr: vec!["pwd".to_owned()],
                provider: result
                    .attempts
                    .iter()
                    .rev()
                    .find(|a| a.outcome == AttemptOutcome::Verified)
                    .map(|a| a.provider.clone()),
            })),
            (LoginDecision::Refused(refusal), _) => {
                Verdict::Rejected(Failure::new(refusal.code(), refusal.public_message()))
            }
            (LoginDecision::Success, None) => {
                Verdict::Rejected(Failure::new("no_account", "Invalid username or password."))
            }
        })
    }
}
