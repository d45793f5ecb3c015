//! One audit event per authentication flow (issue #20, point 7): kind `authentication_flow`,
//! `result` the flow's outcome code, and `attempts` the policy followed by each judged step.
//!
//! The `attempts` column keeps the shape every audit reader parses (`provider`, `outcome`,
//! `duration_ms`) so that `gatehouse audit` shows a flow like a login: the first entry is the
//! policy (`policy:ID(acr=…;amr=…)`), the others `STEP/MECHANISM`. The flow's own facts ride
//! along as extra members for SQL readers: `flow_id`, `policy`, `acr`, `amr` on the first,
//! `step`, `mechanism`, `code`, `via` on the others.

use gatehouse_core::auth::FlowReport;
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::EntityTrait;
use serde_json::{Value, json};

use crate::entities::audit_event;
use crate::error::StoreError;
use crate::store::{Store, stamp};
use crate::types::AuditEvent;

impl AuditEvent {
    /// One authentication flow, finished or abandoned.
    pub const AUTHENTICATION_FLOW: &'static str = "authentication_flow";
}

/// The `attempts` column of a flow's event.
pub fn flow_attempts(report: &FlowReport) -> Value {
    let amr = report.amr.join("+");
    let mut label = format!("policy:{}", report.policy_id);
    if let Some(acr) = &report.acr {
        label.push_str(&format!("(acr={acr};amr={amr})"));
    }
    let mut entries = vec![json!({
        "provider": label,
        "outcome": if report.success { "verified" } else { "rejected" },
        "duration_ms": report.duration_ms(),
        "flow_id": report.flow_id.to_string(),
        "policy": report.policy_id,
        "acr": report.acr,
        "amr": report.amr,
    })];
    for step in &report.steps {
        let mechanism = step
            .mechanism
            .as_ref()
            .map_or_else(|| "choice".to_owned(), |m| m.to_string());
        entries.push(json!({
            "provider": format!("{}/{mechanism}", step.step),
            "outcome": if step.passed() { "verified" } else { "rejected" },
            "duration_ms": step.duration_ms,
            "step": step.step,
            "mechanism": step.mechanism.as_ref().map(|m| m.to_string()),
            "code": step.outcome,
            "via": step.provider,
        }));
    }
    Value::Array(entries)
}

impl Store {
    /// Writes the flow's audit event; committed when this returns.
    pub async fn record_flow(&self, report: &FlowReport) -> Result<(), StoreError> {
        let client = report
            .context
            .client
            .get("client_id")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let ip = report
            .context
            .client
            .get("ip")
            .and_then(Value::as_str)
            .map(str::to_owned);
        audit_event::Entity::insert(audit_event::ActiveModel {
            id: NotSet,
            realm: Set(report.realm.clone()),
            at: Set(stamp(report.ended_at)),
            kind: Set(AuditEvent::AUTHENTICATION_FLOW.to_owned()),
            login: Set(report
                .account
                .as_ref()
                .map(|(_, username)| username.clone())
                .unwrap_or_default()),
            account_id: Set(report.account.as_ref().map(|(id, _)| id.to_string())),
            success: Set(report.success),
            result: Set(report.outcome.clone()),
            attempts: Set(flow_attempts(report).to_string()),
            client: Set(client),
            ip: Set(ip),
        })
        .exec_without_returning(&self.db)
        .await?;
        Ok(())
    }
}
