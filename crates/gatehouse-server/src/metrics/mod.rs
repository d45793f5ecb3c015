//! Prometheus metrics: the families Gatehouse records, and `/metrics`.
//!
//! Recording goes through the `metrics` facade (connectors use it too, for what only they see);
//! one process-wide Prometheus recorder renders it on scrape. Labels are bounded: realm, provider
//! id, kind, outcome code, grant type, directory URL — never a login or an account id.

mod http;
mod process;
mod repo;

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

use gatehouse_core::LoginRecord;
use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::config::Config;

pub use http::{router, spawn_listener};
pub use repo::MeteredRepo;

pub const LOGINS: &str = "gatehouse_logins_total";
pub const ATTEMPT_DURATION: &str = "gatehouse_provider_attempt_duration_seconds";
pub const TOKENS_ISSUED: &str = "gatehouse_tokens_issued_total";
pub const STORE_WRITE_DURATION: &str = "gatehouse_store_write_duration_seconds";
pub const STORE_UP: &str = "gatehouse_store_up";
/// One per judged input of a policy flow, labelled realm/flow (the policy)/step/outcome
/// (`passed` or `rejected`), counted when the flow ends (see [`flow_ended`]).
pub const FLOW_STEPS: &str = "gatehouse_flow_steps_total";
/// One per ended policy flow, labelled realm/policy/outcome.
pub const FLOWS: &str = "gatehouse_flows_total";

/// Latency buckets (seconds) for every histogram: from a cached lookup (~1 ms) to a provider
/// timing out (10 s).
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The process-wide recorder. The `metrics` facade takes one global recorder, so a second
/// `Gatehouse` in the same process (tests) shares it.
static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

fn install() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = match PrometheusBuilder::new().set_buckets(&BUCKETS) {
                Ok(builder) => builder,
                Err(e) => {
                    tracing::error!(error = %e, "metrics: bad histogram buckets; /metrics is off");
                    return None;
                }
            };
            match builder.install_recorder() {
                Ok(handle) => {
                    describe();
                    Some(handle)
                }
                // Another recorder is installed (an embedding program's): it gets the data.
                Err(e) => {
                    tracing::warn!(error = %e, "metrics: a recorder is already installed; /metrics is off");
                    None
                }
            }
        })
        .clone()
}

fn describe() {
    describe_counter!(
        LOGINS,
        "Finished logins (password and redirect) by realm, deciding provider and outcome (`success` or the refusal code)"
    );
    describe_histogram!(
        ATTEMPT_DURATION,
        metrics::Unit::Seconds,
        "One provider's part of a login, by realm, provider, provider kind and attempt outcome"
    );
    describe_counter!(
        TOKENS_ISSUED,
        "Token responses issued by the token endpoint, by realm and grant type"
    );
    describe_histogram!(
        STORE_WRITE_DURATION,
        metrics::Unit::Seconds,
        "Store writes the login path waits for (the login log's commit, provisioning, profile and link updates), by operation"
    );
    describe_gauge!(
        STORE_UP,
        "1 when the last store check (/readyz) or login write succeeded, 0 when it failed"
    );
    describe_counter!(
        FLOW_STEPS,
        "Policy-engine flow steps by realm, flow, step and outcome"
    );
    describe_counter!(
        FLOWS,
        "Ended policy-engine flows by realm, policy and outcome (`success`, `abandoned`, or the failure code)"
    );
    process::describe();
}

/// What the server records, with the provider kinds of the configuration (attempts name only the
/// provider id).
pub struct Metrics {
    handle: Option<PrometheusHandle>,
    kinds: HashMap<(String, String), &'static str>,
}

impl Metrics {
    /// Installs the process-wide recorder unless `server.metrics.enabled = false`.
    pub fn new(config: &Config) -> Self {
        let handle = if config.server.metrics.enabled {
            install()
        } else {
            None
        };
        if handle.is_some() {
            // Built on a store that was just connected and migrated: it answered.
            store_up(true);
        }
        let kinds = config
            .realms
            .iter()
            .flat_map(|(realm, r)| {
                r.providers
                    .iter()
                    .map(|p| ((realm.clone(), p.id.clone()), p.kind().as_str()))
            })
            .collect();
        Self { handle, kinds }
    }

    pub fn enabled(&self) -> bool {
        self.handle.is_some()
    }

    /// One finished login, from its audit record: the deciding provider is the last one tried.
    pub fn login(&self, record: &LoginRecord) {
        if !self.enabled() {
            return;
        }
        let provider = record
            .attempts
            .last()
            .map_or_else(|| "none".to_owned(), |a| a.provider.clone());
        counter!(LOGINS, "realm" => record.realm.clone(), "provider" => provider, "outcome" => record.result.clone())
            .increment(1);
        for attempt in &record.attempts {
            let kind = self
                .kinds
                .get(&(record.realm.clone(), attempt.provider.clone()))
                .copied()
                .unwrap_or("unknown");
            histogram!(ATTEMPT_DURATION,
                "realm" => record.realm.clone(),
                "provider" => attempt.provider.clone(),
                "kind" => kind,
                "outcome" => attempt.outcome.label())
            .record(attempt.duration.as_secs_f64());
        }
    }

    /// The Prometheus text of every family, process metrics refreshed first.
    pub fn render(&self) -> Option<String> {
        let handle = self.handle.as_ref()?;
        process::refresh();
        handle.run_upkeep();
        Some(handle.render())
    }
}

/// A token response was sent. Grant types outside the known set count as `other`, so a client
/// cannot grow the label set.
pub fn token_issued(realm: &str, grant_type: Option<&str>) {
    let grant = match grant_type {
        Some(
            g @ ("authorization_code"
            | "refresh_token"
            | "client_credentials"
            | "password"
            | "urn:ietf:params:oauth:grant-type:device_code"
            | "urn:ietf:params:oauth:grant-type:token-exchange"),
        ) => g.to_owned(),
        _ => "other".to_owned(),
    };
    counter!(TOKENS_ISSUED, "realm" => realm.to_owned(), "grant_type" => grant).increment(1);
}

/// How long one store write took. `answered` is false only when the store could not be reached:
/// a refused write (a conflict, a deleted account) says nothing of the store being down.
pub fn store_write(operation: &'static str, took: Duration, answered: bool) {
    histogram!(STORE_WRITE_DURATION, "operation" => operation).record(took.as_secs_f64());
    store_up(answered);
}

/// The store answered (1) or not (0): `/readyz` and the writes of the login path set it.
pub fn store_up(up: bool) {
    gauge!(STORE_UP).set(if up { 1.0 } else { 0.0 });
}

/// One ended flow and each of its steps. Failure codes outside the engine's own set count as
/// `failed`, so a mechanism's words cannot grow the label set.
pub fn flow_ended(report: &gatehouse_core::auth::FlowReport) {
    let outcome = match report.outcome.as_str() {
        o @ ("success"
        | "abandoned"
        | "expired"
        | "too_many_attempts"
        | "denied"
        | "not_enrolled"
        | "no_account"
        | "policy_changed"
        | "policy_loop"
        | "upstream_unavailable") => o.to_owned(),
        _ => "failed".to_owned(),
    };
    counter!(FLOWS,
        "realm" => report.realm.clone(),
        "policy" => report.policy_id.clone(),
        "outcome" => outcome)
    .increment(1);
    for step in &report.steps {
        let outcome = if step.passed() { "passed" } else { "rejected" };
        flow_step(&report.realm, &report.policy_id, &step.step, outcome);
    }
}

/// One judged step of a flow.
pub fn flow_step(realm: &str, flow: &str, step: &str, outcome: &'static str) {
    counter!(FLOW_STEPS,
        "realm" => realm.to_owned(),
        "flow" => flow.to_owned(),
        "step" => step.to_owned(),
        "outcome" => outcome)
    .increment(1);
}

#[cfg(test)]
mod tests;
