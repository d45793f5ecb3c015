//! The Gatehouse domain: accounts, links, provider kinds and traits, and the resolver that walks a
//! realm's provider chain as DESIGN.md "How a password login is resolved" prescribes.
//!
//! Pure logic: storage and connectors are reached only through the traits defined here.

pub mod account;
pub mod auth;
pub mod error;
pub mod federation;
pub mod password_policy;
pub mod pending_redirect;
pub mod plan;
pub mod protection;
pub mod provider;
pub mod realm;
pub mod redirect;
pub mod redirect_plan;
pub mod repository;
pub mod resolver;
pub mod second_factor;
pub mod secret;
pub mod secret_value;
pub mod supersession;

pub use account::{Account, AccountId, AccountWithLinks, Link, Profile};
pub use error::CoreError;
pub use federation::{Federation, FederationRefusal, LinkExisting, MatchRules};
pub use password_policy::{PasswordPolicy, PasswordPolicySettings, PolicyViolation};
pub use pending_redirect::{PendingRedirect, PendingRedirectRepository};
pub use plan::{LinkState, LoginPlan, PlanStep, StepDecision};
pub use protection::{BruteForceSettings, Protection, ProtectionRepository};
pub use provider::{
    PasswordCheck, PasswordOutcome, PasswordProvider, ProviderDescriptor, ProviderKind,
    VerifiedIdentity,
};
pub use realm::{OnUnavailable, RealmPolicy};
pub use redirect::{CallbackError, ExternalIdentity, RedirectProvider, RedirectStart, ReplayGuard};
pub use repository::{
    AccountRepository, Attempt, AttemptOutcome, FederationRepository, LoginOrigin, LoginRecord,
    NewLink, RepoError, RepoSource,
};
pub use resolver::{LoginDecision, LoginResult, Refusal, Resolver};
pub use secret::Secret;
pub use secret_value::SecretValue;
