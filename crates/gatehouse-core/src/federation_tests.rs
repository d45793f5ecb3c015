//! The redirect-login decisions without HTTP: matching (link, `link_existing`, JIT, restore,
//! refusals, replay), the audit record of a callback, and the `federated` mechanism's matcher.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{Duration, Utc};

use super::*;
use crate::account::Profile;
use crate::auth::{FederatedMechanism, FlowContext, FlowView, Input, Mechanism, Verdict};
use crate::federation::memory::{Memory, descriptor, policy};
use crate::provider::{ProviderDescriptor, ProviderKind};
use crate::redirect::{CallbackError, RedirectProvider, RedirectStart, ReplayGuard};
use crate::repository::AttemptOutcome;
use crate::secret::Secret;

// ---------- harness ----------

fn federation(memory: &Arc<Memory>, rules: MatchRules, policy: RealmPolicy) -> Federation {
    Federation::new(
        Arc::new(policy),
        BTreeMap::from([("corp".to_owned(), rules)]),
        memory.clone(),
    )
}

/// A realm with a database provider and the `corp` upstream.
fn realm() -> RealmPolicy {
    policy(vec![
        descriptor("local", ProviderKind::Database, &[]),
        descriptor("corp", ProviderKind::Oidc, &[]),
    ])
}

fn identity(external_id: &str, username: Option<&str>) -> ExternalIdentity {
    ExternalIdentity {
        external_id: external_id.into(),
        username: username.map(str::to_owned),
        email_verified: false,
        profile: Profile::default(),
        logout_hint: None,
        replay_guard: None,
    }
}

fn with_email(mut identity: ExternalIdentity, email: &str, verified: bool) -> ExternalIdentity {
    identity.profile.email = Some(email.into());
    identity.email_verified = verified;
    identity
}

const USERNAME: MatchRules = MatchRules {
    jit: false,
    link_existing: LinkExisting::Username,
};
const EMAIL: MatchRules = MatchRules {
    jit: false,
    link_existing: LinkExisting::VerifiedEmail,
};
const JIT: MatchRules = MatchRules {
    jit: true,
    link_existing: LinkExisting::Never,
};

async fn code_of(f: &Federation, identity: &ExternalIdentity) -> &'static str {
    match f.account_for("corp", identity, Utc::now()).await {
        Ok(_) => "ok",
        Err(e) => e.code(),
    }
}

// ---------- matching ----------

#[tokio::test]
async fn a_linked_identity_logs_in_as_its_account_with_the_upstreams_profile() {
    let memory = Arc::new(Memory::default());
    let alice = memory.add("alice", None, &[("corp", "ext-alice")]);
    let f = federation(&memory, MatchRules::default(), realm());
    let mut who = identity("ext-alice", Some("someone-else"));
    who.profile.groups = vec!["staff".into()];
    let found = f.account_for("corp", &who, Utc::now()).await.unwrap();
    assert_eq!(found.account.id, alice);
    assert_eq!(
        found.account.groups,
        ["staff"],
        "the profile is the upstream's now"
    );
    assert_eq!(memory.get("alice").unwrap().account.groups, ["staff"]);
}

#[tokio::test]
async fn without_a_link_nothing_matches_unless_a_rule_allows_it() {
    let memory = Arc::new(Memory::default());
    memory.add("alice", Some("alice@example.org"), &[]);
    let f = federation(&memory, MatchRules::default(), realm());
    let who = with_email(
        identity("ext-alice", Some("alice")),
        "alice@example.org",
        true,
    );
    assert_eq!(code_of(&f, &who).await, "no_account");
    assert!(
        memory.get("alice").unwrap().links.is_empty(),
        "nothing linked"
    );
    assert_eq!(memory.count(), 1, "nothing created");
}

#[tokio::test]
async fn link_existing_username_links_the_named_account_once() {
    let memory = Arc::new(Memory::default());
    let alice = memory.add("alice", None, &[]);
    let f = federation(&memory, USERNAME, realm());
    // The mapped username is normalised as the realm does.
    let found = f
        .account_for("corp", &identity("ext-a", Some(" Alice ")), Utc::now())
        .await
        .unwrap();
    assert_eq!(found.account.id, alice);
    let link = memory.get("alice").unwrap().links[0].clone();
    assert_eq!(
        (link.provider_id.as_str(), link.external_id.as_deref()),
        ("corp", Some("ext-a"))
    );
    // Next time the link finds it, whatever the upstream calls the user.
    let again = f
        .account_for("corp", &identity("ext-a", None), Utc::now())
        .await
        .unwrap();
    assert_eq!(again.account.id, alice);
    // No username claim: nothing to link by.
    assert_eq!(code_of(&f, &identity("ext-b", None)).await, "no_account");
}

#[tokio::test]
async fn link_existing_verified_email_trusts_only_a_verified_unique_email() {
    let memory = Arc::new(Memory::default());
    let alice = memory.add("alice", Some("alice@example.org"), &[]);
    memory.add("bob", Some("shared@example.org"), &[]);
    memory.add("carol", Some("shared@example.org"), &[]);
    let f = federation(&memory, EMAIL, realm());
    let unverified = with_email(identity("ext-a", None), "alice@example.org", false);
    assert_eq!(code_of(&f, &unverified).await, "no_account");
    assert!(memory.get("alice").unwrap().links.is_empty());
    let shared = with_email(identity("ext-s", None), "shared@example.org", true);
    assert_eq!(code_of(&f, &shared).await, "no_account", "ambiguous email");
    let verified = with_email(identity("ext-a", None), " Alice@Example.org ", true);
    let found = f.account_for("corp", &verified, Utc::now()).await.unwrap();
    assert_eq!(found.account.id, alice);
}

#[tokio::test]
async fn an_account_whose_username_is_the_address_but_not_its_email_is_not_linked_by_email() {
    let memory = Arc::new(Memory::default());
    memory.add("mallory@example.org", Some("other@example.org"), &[]);
    let f = federation(&memory, EMAIL, realm());
    let who = with_email(identity("ext-m", None), "mallory@example.org", true);
    assert_eq!(code_of(&f, &who).await, "no_account");
}

#[tokio::test]
async fn jit_creates_a_linked_account_but_never_takes_a_username() {
    let memory = Arc::new(Memory::default());
    memory.add("taken", None, &[]);
    let f = federation(&memory, JIT, realm());
    let created = f
        .account_for("corp", &identity("ext-n", Some("Newcomer")), Utc::now())
        .await
        .unwrap();
    assert_eq!(created.account.username, "Newcomer");
    assert_eq!(
        memory.get("Newcomer").unwrap().links[0]
            .external_id
            .as_deref(),
        Some("ext-n")
    );
    // A username already taken is `link_existing`'s decision, not JIT's.
    assert_eq!(
        code_of(&f, &identity("ext-t", Some("TAKEN"))).await,
        "no_account"
    );
    assert!(memory.get("taken").unwrap().links.is_empty());
    // Nothing to name the account by.
    assert_eq!(code_of(&f, &identity("ext-x", None)).await, "no_account");
    assert_eq!(memory.count(), 2);
}

#[tokio::test]
async fn a_provider_without_rules_neither_links_nor_creates() {
    let memory = Arc::new(Memory::default());
    memory.add("alice", None, &[]);
    // Rules for `corp` only; a callback of `other` has none.
    let f = federation(
        &memory,
        JIT,
        policy(vec![
            descriptor("corp", ProviderKind::Oidc, &[]),
            descriptor("other", ProviderKind::Saml, &[]),
        ]),
    );
    let refused = f
        .account_for("other", &identity("ext", Some("someone")), Utc::now())
        .await
        .unwrap_err();
    assert_eq!(refused.code(), "no_account");
    assert_eq!(memory.count(), 1);
}

#[tokio::test]
async fn disabled_and_locked_accounts_are_refused_naming_the_account() {
    let memory = Arc::new(Memory::default());
    let alice = memory.add("alice", None, &[("corp", "ext-alice")]);
    memory.add("bob", None, &[("corp", "ext-bob")]);
    memory.edit("alice", |a| a.disabled_reason = Some("left".into()));
    memory.edit("bob", |a| {
        a.locked_until = Some(Utc::now() + Duration::hours(1))
    });
    let f = federation(&memory, MatchRules::default(), realm());
    let refused = f
        .account_for("corp", &identity("ext-alice", None), Utc::now())
        .await
        .unwrap_err();
    assert_eq!(refused.code(), "account_disabled");
    assert_eq!(refused.account(), Some(alice));
    assert_eq!(
        code_of(&f, &identity("ext-bob", None)).await,
        "account_locked"
    );
    // The message names nothing of the account.
    assert!(!refused.public_message().contains("alice"));
    assert!(!refused.public_message().contains("left"));
}

#[tokio::test]
async fn a_link_to_a_superseded_provider_is_refused() {
    let memory = Arc::new(Memory::default());
    memory.add("alice", None, &[("old-sso", "ext-alice")]);
    let realm = policy(vec![
        descriptor("corp", ProviderKind::Oidc, &["old-sso"]),
        descriptor("old-sso", ProviderKind::Saml, &[]),
    ]);
    let f = Federation::new(Arc::new(realm), BTreeMap::new(), memory.clone());
    let refused = f
        .account_for("old-sso", &identity("ext-alice", None), Utc::now())
        .await
        .unwrap_err();
    assert_eq!(refused.code(), "superseded");
}

#[tokio::test]
async fn linking_to_the_superseding_provider_restores_a_superseded_account() {
    let memory = Arc::new(Memory::default());
    let alice = memory.add("alice", None, &[("ldap", "uid=alice")]);
    memory.edit("alice", |a| {
        a.disabled_reason = Some(format!("{}corp", supersession::PREFIX))
    });
    let realm = policy(vec![
        descriptor("corp", ProviderKind::Oidc, &["ldap"]),
        descriptor("ldap", ProviderKind::Ldap, &[]),
    ]);
    let f = federation(&memory, USERNAME, realm);
    let found = f
        .account_for("corp", &identity("ext-alice", Some("alice")), Utc::now())
        .await
        .unwrap();
    assert_eq!(found.account.id, alice);
    assert_eq!(found.account.disabled_reason, None);
    assert_eq!(
        *memory.superseded.lock().unwrap(),
        [(alice, None, "restored".to_owned())],
        "restored with its audit event"
    );
}

#[tokio::test]
async fn an_administrators_disable_is_not_restored_by_a_new_link() {
    let memory = Arc::new(Memory::default());
    memory.add("alice", None, &[]);
    memory.edit("alice", |a| a.disabled_reason = Some("on leave".into()));
    let f = federation(&memory, USERNAME, realm());
    assert_eq!(
        code_of(&f, &identity("ext-alice", Some("alice"))).await,
        "account_disabled"
    );
    assert!(memory.superseded.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_replayed_answer_is_refused_before_anything_is_created() {
    let memory = Arc::new(Memory::default());
    let f = federation(&memory, JIT, realm());
    let mut who = identity("ext-n", Some("newcomer"));
    who.replay_guard = Some(ReplayGuard {
        id: "assertion-1".into(),
        not_after: Utc::now() + Duration::minutes(5),
    });
    f.account_for("corp", &who, Utc::now()).await.unwrap();
    memory.accounts.lock().unwrap().clear();
    let refused = f.account_for("corp", &who, Utc::now()).await.unwrap_err();
    assert_eq!(refused.code(), "replayed");
    assert_eq!(memory.count(), 0, "no account made by the replay");
}

// ---------- the audit record of a callback ----------

#[test]
fn a_callback_is_recorded_as_the_upstream_knows_the_user_with_a_result_code() {
    let attempt = Attempt {
        provider: "corp".into(),
        outcome: AttemptOutcome::Verified,
        duration: std::time::Duration::from_millis(3),
    };
    let named = identity("sub-123", Some("alice"));
    let record = callback_record(
        "main",
        Some(&known_as(&named)),
        None,
        FederationRefusal::NoAccount.code(),
        attempt.clone(),
        LoginOrigin::default(),
        Utc::now(),
    );
    assert_eq!(record.login, "alice", "the user, not the provider");
    assert_eq!(record.result, "no_account");
    assert!(!record.success && record.redirect);
    assert_eq!(
        record.attempts[0].provider, "corp",
        "the provider is in the attempt"
    );
    // No mapped username: the upstream's subject.
    assert_eq!(known_as(&identity("sub-123", None)), "sub-123");
    // Not tied to any login: empty.
    let stale = callback_record(
        "main",
        None,
        None,
        "expired",
        attempt.clone(),
        LoginOrigin::default(),
        Utc::now(),
    );
    assert_eq!(stale.login, "");
    let ok = callback_record(
        "main",
        Some("alice"),
        None,
        SUCCESS,
        attempt,
        LoginOrigin::default(),
        Utc::now(),
    );
    assert!(ok.success);
}

// ---------- the `federated` mechanism decides as the broker does ----------

struct Upstream(ProviderDescriptor);

#[async_trait]
impl RedirectProvider for Upstream {
    fn descriptor(&self) -> &ProviderDescriptor {
        &self.0
    }

    async fn begin(&self, _: &str) -> Result<RedirectStart, CallbackError> {
        Err(CallbackError::Unavailable("not in this test".into()))
    }

    async fn complete(
        &self,
        _: &serde_json::Value,
        _: &str,
        params: &[(String, String)],
    ) -> Result<ExternalIdentity, CallbackError> {
        match params.first().map(|(_, v)| v.as_str()) {
            Some("alice") => Ok(identity("ext-alice", Some("alice"))),
            Some(other) => Err(CallbackError::Invalid(format!(
                "destination `{other}`\nforged: line"
            ))),
            None => Err(CallbackError::State),
        }
    }
}

async fn verify(mechanism: &FederatedMechanism, code: &str) -> Verdict {
    let context = FlowContext::default();
    let view = FlowView {
        realm: "main",
        account: None,
        passed: &[],
        context: &context,
    };
    let input = Input::Callback(vec![("code".into(), Secret::new(code))]);
    mechanism
        .verify(view, &serde_json::Value::Null, &input)
        .await
        .unwrap()
}

#[tokio::test]
async fn the_federated_mechanism_matches_through_the_realms_federation() {
    let memory = Arc::new(Memory::default());
    let alice = memory.add("alice", None, &[]);
    memory.add("bob", None, &[("corp", "ext-bob")]);
    memory.edit("bob", |a| a.disabled_reason = Some("left".into()));
    let matcher = Arc::new(federation(&memory, USERNAME, realm()));
    let mechanism = FederatedMechanism::new(
        Arc::new(Upstream(descriptor("corp", ProviderKind::Oidc, &[]))),
        "https://gh.example/realms/main/broker/corp/callback".into(),
        matcher.clone(),
    );
    let Verdict::Passed(passed) = verify(&mechanism, "alice").await else {
        panic!("alice passes")
    };
    assert_eq!(passed.account.id, alice);
    assert_eq!(passed.provider.as_deref(), Some("corp"));
    // A refusal reaches the engine as a failure with the broker's code and words.
    let refused =
        IdentityMatcher::account_for(matcher.as_ref(), "corp", &identity("ext-bob", None))
            .await
            .unwrap()
            .unwrap_err();
    assert_eq!(refused.code, "account_disabled");
    assert_eq!(
        refused.public_message,
        FederationRefusal::NotUsable {
            account: alice,
            code: "account_disabled"
        }
        .public_message()
    );
}

#[tokio::test]
async fn an_upstream_refusal_is_a_result_code_not_the_upstreams_words() {
    let memory = Arc::new(Memory::default());
    let mechanism = FederatedMechanism::new(
        Arc::new(Upstream(descriptor("corp", ProviderKind::Oidc, &[]))),
        "https://gh.example/realms/main/broker/corp/callback".into(),
        Arc::new(federation(&memory, USERNAME, realm())),
    );
    let Verdict::Rejected(failure) = verify(&mechanism, "mallory").await else {
        panic!("refused")
    };
    assert_eq!(failure.code, "upstream_refused");
    assert!(!failure.public_message.contains("forged"));
}
