//! The two mechanisms of this build, `password` (the resolver) and `federated` (a redirect
//! provider), driven through the engine.

use chrono::Utc;
use serde_json::json;
use uuid::Uuid;

use super::*;
use crate::account::{AccountWithLinks, Link, Profile};
use crate::provider::{
    PasswordCheck, PasswordOutcome, PasswordProvider, ProviderDescriptor, ProviderKind,
    VerifiedIdentity,
};
use crate::realm::{OnUnavailable, RealmPolicy};
use crate::redirect::{CallbackError, ExternalIdentity, RedirectProvider, RedirectStart};
use crate::repository::{AccountRepository, LoginRecord, NewLink};
use crate::resolver::Resolver;

struct Repo {
    known: AccountWithLinks,
    records: Mutex<Vec<LoginRecord>>,
}

#[async_trait]
impl AccountRepository for Repo {
    async fn find_for_login(
        &self,
        _realm: &str,
        key: &str,
        _by_email: bool,
    ) -> Result<Option<AccountWithLinks>, RepoError> {
        Ok((key == self.known.account.username).then(|| self.known.clone()))
    }
    async fn provision(
        &self,
        _: &str,
        _: &str,
        _: &str,
        _: &Profile,
        _: NewLink,
    ) -> Result<AccountWithLinks, RepoError> {
        Err(RepoError::Other("no provisioning here".into()))
    }
    async fn update_link_secret(&self, _: Uuid, _: &str) -> Result<(), RepoError> {
        Ok(())
    }
    async fn update_profile(&self, _: AccountId, _: &Profile) -> Result<Account, RepoError> {
        Ok(self.known.account.clone())
    }
    async fn record_login(&self, record: &LoginRecord) -> Result<(), RepoError> {
        self.records.lock().unwrap().push(record.clone());
        Ok(())
    }
}

fn descriptor(id: &str, kind: ProviderKind) -> ProviderDescriptor {
    ProviderDescriptor {
        id: id.into(),
        kind,
        enabled: true,
        supersedes: vec![],
        jit: false,
    }
}

struct Db(ProviderDescriptor);

#[async_trait]
impl PasswordProvider for Db {
    fn descriptor(&self) -> &ProviderDescriptor {
        &self.0
    }
    async fn verify(&self, check: PasswordCheck<'_>) -> PasswordOutcome {
        if check.password.ct_eq("right") {
            PasswordOutcome::Verified(VerifiedIdentity::default())
        } else {
            PasswordOutcome::Rejected
        }
    }
    async fn verify_dummy(&self, _: &Secret) -> bool {
        true
    }
}

fn password_mechanism(alice: &Account) -> (Arc<dyn Mechanism>, Arc<Repo>) {
    let realm = Arc::new(RealmPolicy {
        name: REALM.into(),
        providers: vec![descriptor("local", ProviderKind::Database)],
        chain: vec!["local".into()],
        on_unavailable: OnUnavailable::Next,
        usernames_case_sensitive: false,
        login_with_email: false,
    });
    let repo = Arc::new(Repo {
        known: AccountWithLinks {
            account: alice.clone(),
            links: vec![Link {
                id: Uuid::new_v4(),
                account_id: alice.id,
                provider_id: "local".into(),
                external_id: None,
                secret: Some(Secret::new("$argon2id$stand-in")),
                protected: false,
                created_at: Utc::now(),
            }],
        },
        records: Mutex::new(Vec::new()),
    });
    let resolver = Resolver::new(
        realm,
        vec![Arc::new(Db(descriptor("local", ProviderKind::Database)))],
        repo.clone(),
    )
    .unwrap();
    (Arc::new(PasswordMechanism::new(Arc::new(resolver))), repo)
}

#[tokio::test]
async fn password_runs_the_resolver_and_adds_pwd() {
    let alice = account("alice", &[]);
    let (password, repo) = password_mechanism(&alice);
    let engine = Engine::new(
        REALM,
        vec![policy("p", json!([{ "mechanism": "password" }]))],
        vec![password],
        Arc::new(MemoryFlows::default()),
        FlowLimits::default(),
    )
    .unwrap();
    let now = Utc::now();
    let a = engine.start("p", FlowStart::default(), now).await.unwrap();
    let wire = a.to_wire();
    let names: Vec<&str> = wire
        .fields
        .iter()
        .flatten()
        .map(|f| f.name.as_str())
        .collect();
    assert_eq!(names, ["login", "password"]);
    assert_eq!(wire.fields.as_ref().unwrap()[1].kind, "password");

    // The resolver's own refusal words, for a wrong password and an unknown user alike.
    let b = engine
        .submit(
            &state(&a),
            fields(&[("login", "alice"), ("password", "wrong")]),
            now,
        )
        .await
        .unwrap();
    let c = engine
        .submit(
            &state(&b),
            fields(&[("login", "mallory"), ("password", "right")]),
            now,
        )
        .await
        .unwrap();
    for refused in [&b, &c] {
        let Answer::Challenge { error, .. } = refused else {
            panic!("{refused:?}")
        };
        assert_eq!(error.as_deref(), Some("Invalid username or password."));
    }
    let done = success(
        engine
            .submit(
                &state(&c),
                fields(&[("login", " Alice "), ("password", "right")]),
                now,
            )
            .await
            .unwrap(),
    );
    assert_eq!(done.account.id, alice.id);
    assert_eq!(done.amr, vec!["pwd"]);
    assert_eq!(done.passed[0].provider.as_deref(), Some("local"));
    // The resolver wrote its audit record for each of the three attempts, as it always did.
    let results: Vec<String> = repo
        .records
        .lock()
        .unwrap()
        .iter()
        .map(|r| r.result.clone())
        .collect();
    assert_eq!(
        results,
        ["invalid_credentials", "invalid_credentials", "success"]
    );
}

#[tokio::test]
async fn password_after_a_first_factor_is_the_accounts_password() {
    let alice = account("alice", &[]);
    let (password, _) = password_mechanism(&alice);
    let engine = Engine::new(
        REALM,
        vec![policy(
            "p",
            json!([{ "mechanism": "otp" }, { "mechanism": "password" }]),
        )],
        vec![
            password,
            Arc::new(TestMechanism::new("otp", "otp", &[&alice])),
        ],
        Arc::new(MemoryFlows::default()),
        FlowLimits::default(),
    )
    .unwrap();
    let now = Utc::now();
    let a = engine.start("p", FlowStart::default(), now).await.unwrap();
    let b = engine
        .submit(
            &state(&a),
            fields(&[("login", "alice"), ("code", "ok")]),
            now,
        )
        .await
        .unwrap();
    let Answer::Challenge { fields: shown, .. } = &b else {
        panic!("{b:?}")
    };
    assert_eq!(
        shown[0].value.as_deref(),
        Some("alice"),
        "the login is filled in"
    );
    // A login typed into the form does not switch the account.
    let done = success(
        engine
            .submit(
                &state(&b),
                fields(&[("login", "mallory"), ("password", "right")]),
                now,
            )
            .await
            .unwrap(),
    );
    assert_eq!(done.account.id, alice.id);
    assert_eq!(done.amr, vec!["otp", "pwd"]);
}

struct Upstream(ProviderDescriptor);

#[async_trait]
impl RedirectProvider for Upstream {
    fn descriptor(&self) -> &ProviderDescriptor {
        &self.0
    }
    async fn begin(&self, callback_url: &str) -> Result<RedirectStart, CallbackError> {
        assert_eq!(
            callback_url,
            "https://gh.example/realms/main/broker/corp/callback"
        );
        Ok(RedirectStart {
            location: "https://idp.example/authorize".into(),
            state: format!("st-{}", StateId::generate().as_str()),
            pending: json!({ "verifier": "v-123" }),
            form: None,
        })
    }
    async fn complete(
        &self,
        pending: &serde_json::Value,
        _callback_url: &str,
        params: &[(String, String)],
    ) -> Result<ExternalIdentity, CallbackError> {
        assert_eq!(pending["verifier"], "v-123", "the pending data comes back");
        let code = params
            .iter()
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v.as_str());
        match code {
            Some("good") | Some("stranger") => Ok(ExternalIdentity {
                external_id: if code == Some("good") {
                    "ext-alice"
                } else {
                    "ext-x"
                }
                .into(),
                username: None,
                email_verified: false,
                profile: Profile::default(),
                logout_hint: None,
                replay_guard: None,
            }),
            _ => Err(CallbackError::Upstream("access_denied".into())),
        }
    }
}

struct Matcher(Account);

#[async_trait]
impl IdentityMatcher for Matcher {
    async fn account_for(
        &self,
        provider: &str,
        identity: &ExternalIdentity,
    ) -> Result<Result<Account, Failure>, CoreError> {
        assert_eq!(provider, "corp");
        Ok(if identity.external_id == "ext-alice" {
            Ok(self.0.clone())
        } else {
            Err(Failure::new(
                "no_account",
                "There is no account for this identity here.",
            ))
        })
    }
}

#[tokio::test]
async fn federated_redirects_then_resumes_with_the_callbacks_identity() {
    let alice = account("alice", &[]);
    let federated = FederatedMechanism::new(
        Arc::new(Upstream(descriptor("corp", ProviderKind::Oidc))),
        "https://gh.example/realms/main/broker/corp/callback".into(),
        Arc::new(Matcher(alice.clone())),
    )
    .with_label("Corporate login");
    let engine = Engine::new(
        REALM,
        vec![policy(
            "p",
            json!([{ "choice": ["federated:corp", "otp"] }]),
        )],
        vec![
            Arc::new(federated),
            Arc::new(TestMechanism::new("otp", "otp", &[&alice])),
        ],
        Arc::new(MemoryFlows::default()),
        FlowLimits::default(),
    )
    .unwrap();
    let now = Utc::now();
    let a = engine.start("p", FlowStart::default(), now).await.unwrap();
    let Answer::Choose { choices, .. } = &a else {
        panic!("{a:?}")
    };
    assert_eq!(choices[0].label, "Corporate login");
    let b = engine
        .submit(&state(&a), Input::Choice("federated:corp".into()), now)
        .await
        .unwrap();
    let wire = b.to_wire();
    assert_eq!(
        wire.location.as_deref(),
        Some("https://idp.example/authorize")
    );
    assert!(wire.state_id.as_deref().unwrap().starts_with("st-"));

    // The upstream refused: the choice is offered again with the reason.
    let c = engine
        .submit(&state(&b), callback(&[("error", "access_denied")]), now)
        .await
        .unwrap();
    assert!(matches!(&c, Answer::Choose { error: Some(_), .. }), "{c:?}");
    // An identity with no account: refused the same way.
    let d = engine
        .submit(&state(&c), Input::Choice("federated:corp".into()), now)
        .await
        .unwrap();
    let e = engine
        .submit(&state(&d), callback(&[("code", "stranger")]), now)
        .await
        .unwrap();
    let Answer::Choose { error, .. } = &e else {
        panic!("{e:?}")
    };
    assert_eq!(
        error.as_deref(),
        Some("There is no account for this identity here.")
    );

    let f = engine
        .submit(&state(&e), Input::Choice("federated:corp".into()), now)
        .await
        .unwrap();
    let done = success(
        engine
            .submit(
                &state(&f),
                callback(&[("code", "good"), ("state", "x")]),
                now,
            )
            .await
            .unwrap(),
    );
    assert_eq!(done.account.id, alice.id);
    assert_eq!(done.amr, vec!["fed"]);
    assert_eq!(done.passed[0].provider.as_deref(), Some("corp"));
}
