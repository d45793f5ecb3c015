//! Test-only mechanisms (`--features test-mechanisms`, which only the test builds turn on): a
//! second step that accepts one fixed code for the account the first step established. Never in
//! a release build: a fixed code is no factor.

use std::sync::Arc;

use async_trait::async_trait;
use gatehouse_core::CoreError;
use gatehouse_core::auth::{
    Begin, Failure, Field, FieldKind, FlowView, Input, Mechanism, MechanismRef, Passed, Verdict,
};

pub const NAMES: &[&str] = &["test_code", "test_key"];

/// `test_code` takes `424242` (amr `otp`); `test_key` takes `key-1` (amr `hwk`). Accounts with
/// the group `no-test-key` are not enrolled in `test_key`.
pub fn all() -> Vec<Arc<dyn Mechanism>> {
    vec![
        Arc::new(FixedCode {
            reference: MechanismRef::new("test_code"),
            label: "Code from the test app",
            code: "424242",
            amr: "otp",
        }),
        Arc::new(FixedCode {
            reference: MechanismRef::new("test_key"),
            label: "Test security key",
            code: "key-1",
            amr: "hwk",
        }),
    ]
}

struct FixedCode {
    reference: MechanismRef,
    label: &'static str,
    code: &'static str,
    amr: &'static str,
}

#[async_trait]
impl Mechanism for FixedCode {
    fn reference(&self) -> &MechanismRef {
        &self.reference
    }

    fn label(&self) -> String {
        self.label.to_owned()
    }

    async fn enrolled(&self, account: &gatehouse_core::Account) -> Result<bool, CoreError> {
        Ok(self.reference.name != "test_key" || !account.groups.iter().any(|g| g == "no-test-key"))
    }

    async fn begin(&self, flow: FlowView<'_>) -> Result<Begin, Failure> {
        if flow.account.is_none() {
            return Err(Failure::new(
                "needs_first_factor",
                "This step needs an earlier one.",
            ));
        }
        Ok(Begin::Challenge {
            fields: vec![Field::new("code", FieldKind::Otp, "Code")],
            data: serde_json::Value::Null,
        })
    }

    async fn verify(
        &self,
        flow: FlowView<'_>,
        _pending: &serde_json::Value,
        input: &Input,
    ) -> Result<Verdict, CoreError> {
        Ok(match (flow.account, input.field("code")) {
            (Some(account), Some(code)) if code.ct_eq(self.code) => {
                Verdict::Passed(Box::new(Passed {
                    account: account.clone(),
                    amr: vec![self.amr.to_owned()],
                    provider: None,
                }))
            }
            _ => Verdict::Rejected(Failure::new("wrong_code", "That code is not right.")),
        })
    }
}
