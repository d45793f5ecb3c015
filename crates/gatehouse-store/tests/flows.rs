//! The flows of authentication policies, on SQLite and PostgreSQL: single use per state id,
//! expiry, re-keying, and one winner among concurrent takes, from one pool or two instances.

mod common;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Duration, SubsecRound, Utc};
use gatehouse_core::auth::{
    Answer, Begin, Engine, Failure, Field, FieldKind, FlowContext, FlowId, FlowLimits,
    FlowRepository, FlowStart, FlowState, FlowView, Input, Known, Mechanism, MechanismRef, Passed,
    Pending, PolicySpec, StateId, Taken, Verdict,
};
use gatehouse_core::{Account, AccountId, CoreError};
use gatehouse_store::{Store, store_test};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::json;
use tokio::sync::Barrier;

const REALM: &str = common::REALM;
const RACERS: usize = 16;

fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

fn account() -> Account {
    Account {
        id: AccountId::generate(),
        realm: REALM.into(),
        username: "alice".into(),
        email: None,
        name: None,
        disabled_reason: None,
        locked_until: None,
        roles: vec![],
        groups: vec!["admins".into()],
        attributes: serde_json::Map::new(),
        created_at: now(),
    }
}

fn flow(at: DateTime<Utc>) -> FlowState {
    FlowState {
        flow_id: FlowId::generate(),
        realm: REALM.into(),
        policy_id: "staff".into(),
        account: Some(account()),
        passed: vec![],
        cursor: 1,
        step_id: "second".into(),
        pending: Some(Pending::Challenge {
            mechanism: MechanismRef::new("otp"),
            fields: vec![Field::new("code", FieldKind::Otp, "Code")],
            data: json!({ "nonce": "n-1" }),
        }),
        failures: 2,
        started_at: at,
        deadline: at + Duration::minutes(10),
        context: FlowContext {
            requested_acr: vec!["gold".into()],
            remembered_browser: false,
            client: json!({ "client_id": "app" }),
            ..FlowContext::default()
        },
        trail: vec![],
    }
}

async fn take(store: &Store, id: &StateId, at: DateTime<Utc>) -> (Taken, StateId) {
    let next = StateId::generate();
    (store.take_flow(REALM, id, &next, at).await.unwrap(), next)
}

fn live(taken: Taken) -> FlowState {
    match taken {
        Taken::Live(flow) => *flow,
        Taken::Stale => panic!("expected the flow, got a stale id"),
    }
}

store_test!(
    a_state_id_is_taken_once_and_the_flow_moves_to_the_next,
    |store| async move {
        let t = now();
        let f = flow(t);
        let first = StateId::generate();
        store.create_flow(&first, &f).await.unwrap();
        assert!(
            store.create_flow(&first, &flow(t)).await.is_err(),
            "one row per state id"
        );

        let (taken, second) = take(&store, &first, t).await;
        assert_eq!(live(taken), f, "the flow round-trips");
        let (again, _) = take(&store, &first, t).await;
        assert_eq!(again, Taken::Stale, "a replayed id is refused");
        let (taken, _) = take(&store, &second, t).await;
        assert_eq!(live(taken).flow_id, f.flow_id, "the next id works");
    }
);

store_test!(
    another_realm_or_an_unknown_id_changes_nothing,
    |store| async move {
        let t = now();
        let f = flow(t);
        let id = StateId::generate();
        store.create_flow(&id, &f).await.unwrap();
        let next = StateId::generate();
        assert_eq!(
            store.take_flow("other", &id, &next, t).await.unwrap(),
            Taken::Stale
        );
        assert_eq!(take(&store, &StateId::generate(), t).await.0, Taken::Stale);
        assert_eq!(
            take(&store, &next, t).await.0,
            Taken::Stale,
            "the refused next was not stored"
        );
        live(take(&store, &id, t).await.0);
    }
);

store_test!(
    a_flow_past_its_deadline_is_stale_and_purged,
    |store| async move {
        let t = now();
        let f = flow(t);
        let a = StateId::generate();
        store.create_flow(&a, &f).await.unwrap();
        let b = StateId::generate();
        store.create_flow(&b, &flow(t)).await.unwrap();
        assert_eq!(take(&store, &a, f.deadline).await.0, Taken::Stale);
        live(take(&store, &b, f.deadline - Duration::seconds(1)).await.0);
        assert_eq!(store.count_flows(REALM).await.unwrap(), 2);
        // Nothing expired yet: an early sweep, or a late request naming a live id, takes nothing.
        let early = f.deadline - Duration::seconds(1);
        assert!(store.end_expired_flows(early).await.unwrap().is_empty());
        assert_eq!(
            store.end_expired_flow(REALM, &a, early).await.unwrap(),
            None
        );
        // The late request that finds its flow expired gets it (for the audit), once.
        let ended = store.end_expired_flow(REALM, &a, f.deadline).await.unwrap();
        assert_eq!(ended.map(|e| e.flow_id), Some(f.flow_id));
        assert_eq!(
            store.end_expired_flow(REALM, &a, f.deadline).await.unwrap(),
            None
        );
        // The sweep gets the rest, once; the general purge leaves flows to it.
        store.purge_expired(f.deadline).await.unwrap();
        assert_eq!(store.count_flows(REALM).await.unwrap(), 1);
        assert_eq!(store.end_expired_flows(f.deadline).await.unwrap().len(), 1);
        assert!(
            store
                .end_expired_flows(f.deadline)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(store.count_flows(REALM).await.unwrap(), 0);
    }
);

store_test!(
    save_re_keys_the_flow_and_end_removes_it,
    |store| async move {
        let t = now();
        let f = flow(t);
        let a = StateId::generate();
        store.create_flow(&a, &f).await.unwrap();
        let (taken, b) = take(&store, &a, t).await;
        let mut f = live(taken);
        f.cursor = 2;
        f.failures = 0;
        f.pending = None;
        let c = StateId::generate();
        assert!(store.save_flow(&c, &f).await.unwrap());
        assert_eq!(
            take(&store, &b, t).await.0,
            Taken::Stale,
            "save moved the flow off `b`"
        );
        let (taken, d) = take(&store, &c, t).await;
        assert_eq!(live(taken), f);

        store.end_flow(f.flow_id).await.unwrap();
        assert_eq!(take(&store, &d, t).await.0, Taken::Stale);
        assert!(
            !store.save_flow(&c, &f).await.unwrap(),
            "an ended flow is not revived"
        );
        assert_eq!(store.count_flows(REALM).await.unwrap(), 0);
    }
);

store_test!(the_store_keeps_digests_not_state_ids, |store| async move {
    let t = now();
    let id = StateId::generate();
    store.create_flow(&id, &flow(t)).await.unwrap();
    let db = store.connection();
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT state_hash, data FROM flow_state",
        ))
        .await
        .unwrap()
        .unwrap();
    let hash: String = row.try_get("", "state_hash").unwrap();
    let data: String = row.try_get("", "data").unwrap();
    assert_eq!(hash.len(), 64);
    assert!(!hash.contains(id.as_str()) && !data.contains(id.as_str()));
});

async fn race(stores: Vec<Store>, id: StateId) -> usize {
    let barrier = Arc::new(Barrier::new(RACERS));
    let mut tasks = Vec::new();
    for i in 0..RACERS {
        let store = stores[i % stores.len()].clone();
        let barrier = barrier.clone();
        let id = id.clone();
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let next = StateId::generate();
            store.take_flow(REALM, &id, &next, now()).await.unwrap()
        }));
    }
    let mut won = 0;
    for task in tasks {
        if matches!(task.await.unwrap(), Taken::Live(_)) {
            won += 1;
        }
    }
    won
}

store_test!(
    concurrent_takes_of_one_state_id_have_one_winner,
    |store| async move {
        let id = StateId::generate();
        store.create_flow(&id, &flow(now())).await.unwrap();
        assert_eq!(race(vec![store.store().clone()], id).await, 1);

        // Two instances: two pools on the same database.
        let other = Store::connect(&store.url()).await.unwrap();
        let id = StateId::generate();
        store.create_flow(&id, &flow(now())).await.unwrap();
        assert_eq!(
            race(vec![store.store().clone(), other.clone()], id).await,
            1
        );
        other.close().await.unwrap();
    }
);

/// A code mechanism that exists only in this test.
struct Code(MechanismRef, Account);

#[async_trait]
impl Mechanism for Code {
    fn reference(&self) -> &MechanismRef {
        &self.0
    }
    async fn begin(&self, _flow: FlowView<'_>) -> Result<Begin, Failure> {
        Ok(Begin::Challenge {
            fields: vec![Field::new("code", FieldKind::Otp, "Code")],
            data: json!({}),
        })
    }
    async fn verify(
        &self,
        _flow: FlowView<'_>,
        _pending: &serde_json::Value,
        input: &Input,
    ) -> Result<Verdict, CoreError> {
        Ok(match input.field("code") {
            Some(code) if code.ct_eq("ok") => Verdict::Passed(Box::new(Passed {
                account: self.1.clone(),
                amr: vec![self.0.name.clone()],
                provider: None,
            })),
            _ => Verdict::Rejected(Failure::new("wrong", "Wrong code.")),
        })
    }
}

fn engine(store: Store, alice: &Account) -> Engine {
    let spec: PolicySpec = serde_json::from_value(json!({
        "id": "two", "acr": "gold",
        "steps": [{ "mechanism": "first" }, { "mechanism": "second" }]
    }))
    .unwrap();
    let known = Known {
        mechanisms: vec!["first".into(), "second".into()],
        ..Known::default()
    };
    Engine::new(
        REALM,
        vec![spec.build(&known).unwrap()],
        vec![
            Arc::new(Code(MechanismRef::new("first"), alice.clone())),
            Arc::new(Code(MechanismRef::new("second"), alice.clone())),
        ],
        Arc::new(store),
        FlowLimits::default(),
    )
    .unwrap()
}

fn code(value: &str) -> Input {
    Input::Fields([("code".to_owned(), value.into())].into())
}

store_test!(
    a_flow_started_on_one_instance_finishes_on_another,
    |store| async move {
        let alice = account();
        let other = Store::connect(&store.url()).await.unwrap();
        let one = engine(store.store().clone(), &alice);
        let two = engine(other.clone(), &alice);
        let t = now();
        let a = one.start("two", FlowStart::default(), t).await.unwrap();
        let b = two
            .submit(a.state_id().unwrap(), code("ok"), t)
            .await
            .unwrap();
        let c = one
            .submit(b.state_id().unwrap(), code("no"), t)
            .await
            .unwrap();
        assert!(
            matches!(&c, Answer::Challenge { error: Some(_), .. }),
            "{c:?}"
        );
        let stale = two
            .submit(b.state_id().unwrap(), code("ok"), t)
            .await
            .unwrap_err();
        assert!(
            stale.to_string().contains("unknown, used or expired"),
            "{stale}"
        );
        let Answer::Success(done) = two
            .submit(c.state_id().unwrap(), code("ok"), t)
            .await
            .unwrap()
        else {
            panic!("expected success");
        };
        assert_eq!(done.account.id, alice.id);
        assert_eq!(done.amr, vec!["first", "second"]);
        assert_eq!(done.acr, "gold");
        assert_eq!(store.count_flows(REALM).await.unwrap(), 0);
        other.close().await.unwrap();
    }
);
