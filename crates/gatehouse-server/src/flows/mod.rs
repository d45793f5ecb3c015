//! Each realm's policy engine, built at start-up: its policies (configured, or the implicit
//! `default`), the mechanisms they name, the store as the flows' home, and an observer that
//! writes one audit event per flow and counts flows and steps in /metrics.

#[cfg(feature = "test-mechanisms")]
mod test_mechanisms;

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use gatehouse_core::auth::{
    Engine, FederatedMechanism, FlowObserver, FlowReport, IdentityMatcher, Mechanism,
    PasswordMechanism,
};
use gatehouse_core::{CoreError, RepoError};
use gatehouse_store::Store;

use crate::app::RealmRuntime;
use crate::config::{AuthsvcConfig, RealmConfig};
use crate::error::ServerError;

/// Mechanisms that exist only in test builds (`--features test-mechanisms`): fixed codes, so the
/// choose / branch / second-step paths run end to end before the real second factors land.
#[cfg(feature = "test-mechanisms")]
pub const TEST_MECHANISMS: &[&str] = test_mechanisms::NAMES;
#[cfg(not(feature = "test-mechanisms"))]
pub const TEST_MECHANISMS: &[&str] = &[];

/// One realm's engine and how its flows may be started.
pub struct RealmFlows {
    pub engine: Engine,
    pub authsvc: AuthsvcConfig,
}

/// Every realm's flows, by realm id.
#[derive(Default)]
pub struct Flows {
    realms: BTreeMap<String, RealmFlows>,
}

impl Flows {
    pub fn build(
        realms: &BTreeMap<String, RealmConfig>,
        runtimes: &BTreeMap<String, RealmRuntime>,
        store: &Store,
        public_url: &str,
    ) -> Result<Flows, ServerError> {
        let observer: Arc<dyn FlowObserver> = Arc::new(AuditObserver(store.clone()));
        let mut built = BTreeMap::new();
        for (name, config) in realms {
            let Some(runtime) = runtimes.get(name) else {
                continue;
            };
            let engine = Engine::new(
                name,
                config.auth_policies(name),
                mechanisms(config, runtime, store, public_url),
                Arc::new(store.clone()),
                config.flows,
            )?
            .with_observer(observer.clone());
            built.insert(
                name.clone(),
                RealmFlows {
                    engine,
                    authsvc: config.authsvc.clone(),
                },
            );
        }
        Ok(Flows { realms: built })
    }

    pub fn realm(&self, name: &str) -> Option<&RealmFlows> {
        self.realms.get(name)
    }

    /// Writes the audit event of every flow that expired unfinished, and removes it. Run by the
    /// purge timer; each flow is reported once however many instances sweep.
    pub async fn sweep_abandoned(store: &Store, now: DateTime<Utc>) -> Result<usize, CoreError> {
        let abandoned = store
            .end_expired_flows(now)
            .await
            .map_err(RepoError::from)?;
        for flow in &abandoned {
            record(store, FlowReport::abandoned(flow, now)).await?;
        }
        Ok(abandoned.len())
    }
}

fn mechanisms(
    config: &RealmConfig,
    runtime: &RealmRuntime,
    store: &Store,
    public_url: &str,
) -> Vec<Arc<dyn Mechanism>> {
    let mut out: Vec<Arc<dyn Mechanism>> =
        vec![Arc::new(PasswordMechanism::new(runtime.resolver.clone()))];
    // The broker's own matching rules, so a `federated` step links and provisions as the
    // broker's callback does.
    let matcher: Arc<dyn IdentityMatcher> =
        Arc::new(crate::federation::federation_of(config, runtime, store));
    for (id, provider) in &runtime.redirect_providers {
        let callback = format!(
            "{}/realms/{}/broker/{id}/callback",
            public_url.trim_end_matches('/'),
            runtime.name
        );
        out.push(Arc::new(FederatedMechanism::new(
            provider.clone(),
            callback,
            matcher.clone(),
        )));
    }
    // The second factors the realm offers (`totp`, `recovery_code`, `email_otp`).
    out.extend(runtime.mfa.mechanisms.iter().cloned());
    #[cfg(feature = "test-mechanisms")]
    out.extend(test_mechanisms::all());
    out
}

/// The engine's observer: the audit event, then the counters.
struct AuditObserver(Store);

#[async_trait]
impl FlowObserver for AuditObserver {
    async fn flow_ended(&self, report: FlowReport) -> Result<(), CoreError> {
        record(&self.0, report).await
    }
}

/// A flow's audit event (committed before its answer goes out) and its counters.
pub async fn record(store: &Store, report: FlowReport) -> Result<(), CoreError> {
    store.record_flow(&report).await.map_err(RepoError::from)?;
    crate::metrics::flow_ended(&report);
    Ok(())
}
