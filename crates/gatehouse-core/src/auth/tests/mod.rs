//! The engine's tests: in-memory flows, and mechanisms that exist only here.

mod conditions;
mod engine_basic;
mod engine_branches;
mod engine_limits;
mod mechanisms;
mod reports;
mod spec;
mod wire;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::*;
use crate::account::{Account, AccountId};
use crate::error::CoreError;
use crate::repository::RepoError;
use crate::secret::Secret;

pub const REALM: &str = "main";

pub fn account(username: &str, groups: &[&str]) -> Account {
    Account {
        id: AccountId::generate(),
        realm: REALM.to_owned(),
        username: username.to_owned(),
        email: None,
        name: None,
        disabled_reason: None,
        locked_until: None,
        roles: vec![],
        groups: groups.iter().map(|g| g.to_string()).collect(),
        attributes: serde_json::Map::new(),
        created_at: Utc::now(),
    }
}

/// Flows in memory, with the store's rules: single use per id, refused after the deadline.
#[derive(Default)]
pub struct MemoryFlows {
    rows: Mutex<HashMap<String, FlowState>>,
}

impl MemoryFlows {
    pub fn len(&self) -> usize {
        self.rows.lock().unwrap().len()
    }
}

#[async_trait]
impl FlowRepository for MemoryFlows {
    async fn create_flow(&self, state_id: &StateId, flow: &FlowState) -> Result<(), RepoError> {
        let mut rows = self.rows.lock().unwrap();
        if rows.contains_key(state_id.as_str()) {
            return Err(RepoError::Conflict("state id taken".into()));
        }
        rows.insert(state_id.as_str().to_owned(), flow.clone());
        Ok(())
    }

    async fn take_flow(
        &self,
        realm: &str,
        state_id: &StateId,
        next: &StateId,
        now: DateTime<Utc>,
    ) -> Result<Taken, RepoError> {
        let mut rows = self.rows.lock().unwrap();
        match rows.get(state_id.as_str()) {
            Some(flow) if flow.realm == realm && flow.deadline > now => {}
            _ => return Ok(Taken::Stale),
        }
        let flow = rows.remove(state_id.as_str()).unwrap();
        rows.insert(next.as_str().to_owned(), flow.clone());
        Ok(Taken::Live(Box::new(flow)))
    }

    async fn save_flow(&self, state_id: &StateId, flow: &FlowState) -> Result<bool, RepoError> {
        let mut rows = self.rows.lock().unwrap();
        let Some(key) = rows
            .iter()
            .find(|(_, f)| f.flow_id == flow.flow_id)
            .map(|(k, _)| k.clone())
        else {
            return Ok(false);
        };
        rows.remove(&key);
        rows.insert(state_id.as_str().to_owned(), flow.clone());
        Ok(true)
    }

    async fn end_flow(&self, flow_id: FlowId) -> Result<(), RepoError> {
        self.rows
            .lock()
            .unwrap()
            .retain(|_, f| f.flow_id != flow_id);
        Ok(())
    }
}

/// A test-only mechanism: proves the account named by `login` (or the flow's account) when the
/// `code` field is `expected`; as a redirect, the same through callback parameters.
pub struct TestMechanism {
    pub reference: MechanismRef,
    pub amr: &'static str,
    pub expected: &'static str,
    pub accounts: HashMap<String, Account>,
    /// `None`: everybody is enrolled.
    pub enrolled: Option<HashSet<AccountId>>,
    pub redirect: bool,
    pub begin_fails: bool,
    pub begins: Mutex<u32>,
}

impl TestMechanism {
    pub fn new(reference: &str, amr: &'static str, accounts: &[&Account]) -> Self {
        Self {
            reference: reference.parse().unwrap(),
            amr,
            expected: "ok",
            accounts: accounts
                .iter()
                .map(|a| (a.username.clone(), (*a).clone()))
                .collect(),
            enrolled: None,
            redirect: false,
            begin_fails: false,
            begins: Mutex::new(0),
        }
    }

    pub fn enrolled(mut self, who: &[&Account]) -> Self {
        self.enrolled = Some(who.iter().map(|a| a.id).collect());
        self
    }

    pub fn redirect(mut self) -> Self {
        self.redirect = true;
        self
    }

    pub fn failing_begin(mut self) -> Self {
        self.begin_fails = true;
        self
    }
}

#[async_trait]
impl Mechanism for TestMechanism {
    fn reference(&self) -> &MechanismRef {
        &self.reference
    }

    async fn enrolled(&self, account: &Account) -> Result<bool, CoreError> {
        Ok(self
            .enrolled
            .as_ref()
            .is_none_or(|e| e.contains(&account.id)))
    }

    async fn begin(&self, _flow: FlowView<'_>) -> Result<Begin, Failure> {
        if self.begin_fails {
            return Err(Failure::new("upstream_unavailable", "not now"));
        }
        let n = {
            let mut begins = self.begins.lock().unwrap();
            *begins += 1;
            *begins
        };
        if self.redirect {
            return Ok(Begin::Redirect {
                location: format!("https://idp.example/auth?n={n}"),
                upstream_state: format!("upstream-state-{n}-{}", StateId::generate().as_str()),
                form: None,
                data: serde_json::json!({ "nonce": n }),
            });
        }
        Ok(Begin::Challenge {
            fields: vec![
                Field::new("login", FieldKind::Text, "Login"),
                Field::new("code", FieldKind::Otp, "Code"),
            ],
            data: serde_json::json!({ "n": n }),
        })
    }

    async fn verify(
        &self,
        flow: FlowView<'_>,
        pending: &serde_json::Value,
        input: &Input,
    ) -> Result<Verdict, CoreError> {
        let value = |name: &str| -> Option<String> {
            match input {
                Input::Fields(f) => f.get(name).map(|s| s.expose().to_owned()),
                Input::Callback(p) if self.redirect => p
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.expose().to_owned()),
                _ => None,
            }
        };
        // The data begin kept comes back untouched.
        assert!(pending.is_object());
        let login = value("login").or_else(|| flow.account.map(|a| a.username.clone()));
        let account = login.and_then(|l| self.accounts.get(&l).cloned());
        Ok(match account {
            Some(account) if value("code").as_deref() == Some(self.expected) => {
                Verdict::Passed(Box::new(Passed {
                    account,
                    amr: vec![self.amr.to_owned()],
                    provider: Some(format!("{}-provider", self.reference.name)),
                }))
            }
            _ => Verdict::Rejected(Failure::new("wrong_code", "Wrong code.")),
        })
    }
}

pub fn fields(pairs: &[(&str, &str)]) -> Input {
    Input::Fields(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), Secret::new(*v)))
            .collect::<BTreeMap<_, _>>(),
    )
}

pub fn callback(pairs: &[(&str, &str)]) -> Input {
    Input::Callback(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), Secret::new(*v)))
            .collect(),
    )
}

/// Builds a policy from TOML-like JSON steps, with the test mechanisms known.
pub fn policy(id: &str, steps: serde_json::Value) -> Policy {
    spec(id, steps).build(&known()).unwrap()
}

pub fn spec(id: &str, steps: serde_json::Value) -> PolicySpec {
    serde_json::from_value(
        serde_json::json!({ "id": id, "acr": format!("acr-{id}"), "steps": steps }),
    )
    .unwrap()
}

pub fn known() -> Known {
    Known {
        mechanisms: ["password", "federated", "first", "otp", "idp", "key"]
            .map(str::to_owned)
            .to_vec(),
        redirect_providers: vec!["corp".to_owned(), "social".to_owned()],
        providers: vec![
            "local".to_owned(),
            "corp".to_owned(),
            "first-provider".to_owned(),
        ],
    }
}

pub struct Setup {
    pub engine: Engine,
    pub flows: Arc<MemoryFlows>,
}

impl Setup {
    /// Starts `policy` with nothing passed yet; the engine must answer.
    pub async fn start(&self, policy: &str, now: DateTime<Utc>) -> Answer {
        self.engine
            .start(policy, FlowStart::default(), now)
            .await
            .unwrap()
    }

    /// Submits `input` on the state id `after` handed out; the engine must answer (a refused input
    /// is an answer too).
    pub async fn submit(&self, after: &Answer, input: Input, now: DateTime<Utc>) -> Answer {
        self.engine.submit(&state(after), input, now).await.unwrap()
    }
}

pub fn engine(policies: Vec<Policy>, mechanisms: Vec<TestMechanism>) -> Setup {
    engine_with(policies, mechanisms, FlowLimits::default())
}

pub fn engine_with(
    policies: Vec<Policy>,
    mechanisms: Vec<TestMechanism>,
    limits: FlowLimits,
) -> Setup {
    let flows = Arc::new(MemoryFlows::default());
    let mechanisms = mechanisms
        .into_iter()
        .map(|m| Arc::new(m) as Arc<dyn Mechanism>)
        .collect();
    Setup {
        engine: Engine::new(REALM, policies, mechanisms, flows.clone(), limits).unwrap(),
        flows,
    }
}

pub fn state(answer: &Answer) -> StateId {
    answer
        .state_id()
        .cloned()
        .unwrap_or_else(|| panic!("expected a continuing answer, got {answer:?}"))
}

pub fn success(answer: Answer) -> Completed {
    match answer {
        Answer::Success(done) => *done,
        other => panic!("expected success, got {other:?}"),
    }
}

pub fn failure_code(answer: &Answer) -> &str {
    match answer {
        Answer::Failure(f) => &f.code,
        other => panic!("expected a failure, got {other:?}"),
    }
}
