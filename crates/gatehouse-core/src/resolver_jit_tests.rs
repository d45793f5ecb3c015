//! Just-in-time provisioning when the account appears meanwhile, and profiles (groups, roles)
//! landing on the account the login returns.

use super::*;

fn identity(external_id: &str, username: &str) -> VerifiedIdentity {
    VerifiedIdentity {
        external_id: Some(external_id.into()),
        rehashed_secret: None,
        username: Some(username.into()),
        profile: Some(Profile {
            email: Some(format!("{username}@example.org")),
            name: None,
            groups: vec!["staff".into()],
            roles: vec!["member".into()],
        }),
    }
}

fn link_external_id(repo: &MemoryRepo, username: &str, external_id: &str) {
    let mut accounts = repo.accounts.lock().unwrap();
    let a = accounts
        .iter_mut()
        .find(|a| a.account.username == username)
        .unwrap();
    a.links[0].external_id = Some(external_id.into());
}

fn directory(id: &str, identity: VerifiedIdentity) -> Arc<TestProvider> {
    Arc::new(TestProvider::ldap(id, Script::Always(PasswordOutcome::Verified(identity))).jit())
}

#[tokio::test]
async fn another_spelling_of_a_linked_login_reaches_the_same_account() {
    let corp = directory("corp", identity("uid=alice", "alice"));
    let repo = Arc::new(MemoryRepo::default());
    let id = repo.add("alice", &[("corp", false)]);
    link_external_id(&repo, "alice", "uid=alice");
    let r = resolver(realm(&[&corp], OnUnavailable::Next), &[&corp], &repo);

    let result = login(&r, "EXAMPLE\\alice", "pw").await;
    assert!(result.is_success(), "{:?}", result.decision);
    let account = result.account.unwrap();
    assert_eq!(account.id, id);
    assert_eq!(account.groups, vec!["staff"]);
    assert_eq!(account.roles, vec!["member"]);
    assert_eq!(repo.accounts.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_directory_entry_never_takes_over_an_account_not_linked_to_it() {
    let corp = directory("corp", identity("uid=alice", "alice"));
    let repo = Arc::new(MemoryRepo::default());
    repo.add("alice", &[("local", false)]);
    let other = directory("other", identity("uid=alice,ou=elsewhere", "bob"));
    repo.add("bob", &[("other", false)]);
    link_external_id(&repo, "bob", "uid=bob");
    for provider in [&corp, &other] {
        let r = resolver(realm(&[provider], OnUnavailable::Next), &[provider], &repo);
        let result = login(&r, "someone-else", "pw").await;
        assert_eq!(refusal(&result), Refusal::InvalidCredentials);
    }
    assert_eq!(repo.accounts.lock().unwrap().len(), 2);
}

/// Provisions the account itself while verifying, as a concurrent login of the same user would
/// between this login's lookup and its own provisioning.
struct RacingProvider {
    inner: Arc<TestProvider>,
    repo: Arc<MemoryRepo>,
}

#[async_trait]
impl PasswordProvider for RacingProvider {
    fn descriptor(&self) -> &ProviderDescriptor {
        self.inner.descriptor()
    }

    async fn verify(&self, check: PasswordCheck<'_>) -> PasswordOutcome {
        let outcome = self.inner.verify(check).await;
        if let PasswordOutcome::Verified(identity) = &outcome {
            self.repo
                .provision(
                    "main",
                    "newbie",
                    "newbie",
                    &Profile::default(),
                    NewLink {
                        provider_id: "corp".into(),
                        external_id: identity.external_id.clone(),
                        secret: None,
                        protected: false,
                    },
                )
                .await
                .unwrap();
        }
        outcome
    }
}

#[tokio::test]
async fn concurrent_just_in_time_logins_of_one_user_both_succeed_with_one_account() {
    let corp = directory("corp", identity("uid=newbie", "newbie"));
    let repo = Arc::new(MemoryRepo::default());
    let racing: Arc<dyn PasswordProvider> = Arc::new(RacingProvider {
        inner: corp.clone(),
        repo: repo.clone(),
    });
    let r = Resolver::new(
        Arc::new(realm(&[&corp], OnUnavailable::Next)),
        vec![racing],
        repo.clone(),
    )
    .unwrap();

    let result = login(&r, "newbie", "pw").await;
    assert!(result.is_success(), "{:?}", result.decision);
    assert_eq!(result.account.unwrap().username, "newbie");
    assert_eq!(repo.accounts.lock().unwrap().len(), 1);
    assert!(repo.last_record().success);
}
