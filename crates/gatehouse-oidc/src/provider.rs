//! One realm's OpenID provider: what every endpoint needs, and discovery.

use std::sync::Arc;

use gatehouse_core::auth::{DEFAULT_ACR, DEFAULT_POLICY, MechanismRef, Policy, Step, StepKind};
use gatehouse_store::Store;
use openidconnect::core::{
    CoreAuthDisplay, CoreClaimName, CoreClaimType, CoreClientAuthMethod, CoreGrantType,
    CoreJsonWebKey, CoreJsonWebKeySet, CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm, CoreResponseMode, CoreResponseType, CoreSubjectIdentifierType,
};
use openidconnect::{
    AdditionalProviderMetadata, AuthUrl, IssuerUrl, JsonWebKeySetUrl, ProviderMetadata,
    ResponseTypes, Scope, TokenUrl, UserInfoUrl,
};
use serde::{Deserialize, Serialize};

use crate::clients::{ClientRegistry, PhcVerifier};
use crate::error::OidcError;
use crate::keys::{KeyRing, KeyVault};
use crate::settings::{ClientSettings, GrantType, STANDARD_SCOPES, TokenSettings};

/// Discovery fields that openidconnect's core metadata does not carry.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExtraMetadata {
    pub introspection_endpoint: String,
    pub revocation_endpoint: String,
    pub end_session_endpoint: String,
    pub code_challenge_methods_supported: Vec<String>,
    pub introspection_endpoint_auth_methods_supported: Vec<String>,
    pub revocation_endpoint_auth_methods_supported: Vec<String>,
    pub prompt_values_supported: Vec<String>,
    pub authorization_response_iss_parameter_supported: bool,
}

impl AdditionalProviderMetadata for ExtraMetadata {}

pub type Metadata = ProviderMetadata<
    ExtraMetadata,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

pub struct OidcProvider {
    pub realm: String,
    /// `{public_url}/realms/{realm}`
    pub issuer: String,
    pub store: Store,
    pub keys: KeyRing,
    pub clients: ClientRegistry,
    pub tokens: TokenSettings,
    /// Cookies get `Secure` when the public URL is https.
    pub secure_cookies: bool,
    /// The realm's authentication policies, the implicit `default` included: which `acr`
    /// values exist, and how long each level holds (step-up).
    pub policies: Vec<Policy>,
    metadata: serde_json::Value,
    /// Also seals what a session keeps for the upstream logout (`logout.rs`).
    pub(crate) vault: Arc<KeyVault>,
}

impl OidcProvider {
    pub async fn open(
        realm: &str,
        public_url: &str,
        store: Store,
        vault: Arc<KeyVault>,
        tokens: TokenSettings,
        clients: Vec<ClientSettings>,
        phc: Arc<dyn PhcVerifier>,
    ) -> Result<Self, OidcError> {
        let issuer = format!("{}/realms/{realm}", public_url.trim_end_matches('/'));
        // A retired key stays published as long as the longest-lived token it signed.
        let longest = clients
            .iter()
            .flat_map(|c| [c.access_token_s, c.id_token_s])
            .flatten()
            .chain([tokens.access_token_s, tokens.id_token_s])
            .max()
            .unwrap_or(tokens.access_token_s);
        let keys = KeyRing::open(
            realm,
            tokens.signing_alg,
            store.clone(),
            vault.clone(),
            chrono::Duration::seconds(longest as i64 + 60),
        )
        .await?;
        let mut metadata = metadata(&issuer, &tokens)?;
        metadata["acr_values_supported"] = serde_json::json!([DEFAULT_ACR]);
        // The account page's own client; configuration validation keeps its id free.
        let mut clients = clients;
        clients.push(crate::account::account_client(&issuer));
        Ok(Self {
            realm: realm.to_owned(),
            secure_cookies: public_url.starts_with("https://"),
            issuer,
            store,
            keys,
            clients: ClientRegistry::new(clients, phc),
            tokens,
            metadata,
            vault,
            policies: vec![one_factor_default()],
        })
    }

    /// The realm's policies (the server passes the configured ones and the implicit
    /// `default`); discovery then lists their `acr` values.
    pub fn with_policies(mut self, policies: Vec<Policy>) -> Self {
        if !policies.is_empty() {
            self.policies = policies;
        }
        let mut acr: Vec<&str> = Vec::new();
        for p in &self.policies {
            if !acr.contains(&p.acr.as_str()) {
                acr.push(&p.acr);
            }
        }
        self.metadata["acr_values_supported"] = serde_json::json!(acr);
        self
    }

    pub fn endpoint(&self, path: &str) -> String {
        format!("{}/{path}", self.issuer)
    }

    /// The cookie path: this realm only.
    pub fn cookie_path(&self) -> String {
        format!("/realms/{}/", self.realm)
    }

    /// OpenID Connect Discovery 1.0 (also served as RFC 8414 metadata).
    pub fn discovery(&self) -> &serde_json::Value {
        &self.metadata
    }

    pub async fn jwks(&self) -> Result<CoreJsonWebKeySet, OidcError> {
        self.keys.jwks().await
    }
}

/// Until the server names the realm's policies: one factor, as logins were before policies.
fn one_factor_default() -> Policy {
    Policy {
        id: DEFAULT_POLICY.to_owned(),
        acr: DEFAULT_ACR.to_owned(),
        max_age: None,
        steps: vec![Step {
            id: "login".to_owned(),
            kind: StepKind::Mechanism(MechanismRef::new("password")),
        }],
    }
}

fn metadata(issuer: &str, tokens: &TokenSettings) -> Result<serde_json::Value, OidcError> {
    let url = |path: &str| format!("{issuer}/{path}");
    let bad = |e: url::ParseError| OidcError::Config(format!("public URL: {e}"));
    let extra = ExtraMetadata {
        introspection_endpoint: url("introspect"),
        revocation_endpoint: url("revoke"),
        end_session_endpoint: url("logout"),
        code_challenge_methods_supported: vec!["S256".into()],
        introspection_endpoint_auth_methods_supported: vec![
            "client_secret_basic".into(),
            "client_secret_post".into(),
        ],
        revocation_endpoint_auth_methods_supported: vec![
            "client_secret_basic".into(),
            "client_secret_post".into(),
            "none".into(),
        ],
        prompt_values_supported: vec!["none".into(), "login".into()],
        authorization_response_iss_parameter_supported: false,
    };
    let metadata = Metadata::new(
        IssuerUrl::new(issuer.to_owned()).map_err(bad)?,
        AuthUrl::new(url("authorize")).map_err(bad)?,
        JsonWebKeySetUrl::new(url("jwks")).map_err(bad)?,
        vec![ResponseTypes::new(vec![CoreResponseType::Code])],
        vec![CoreSubjectIdentifierType::Public],
        vec![tokens.signing_alg.jws()],
        extra,
    )
    .set_token_endpoint(Some(TokenUrl::new(url("token")).map_err(bad)?))
    .set_userinfo_endpoint(Some(UserInfoUrl::new(url("userinfo")).map_err(bad)?))
    .set_response_modes_supported(Some(vec![CoreResponseMode::Query]))
    .set_grant_types_supported(Some(
        GrantType::ALL
            .iter()
            .map(|g| match g {
                GrantType::AuthorizationCode => CoreGrantType::AuthorizationCode,
                GrantType::RefreshToken => CoreGrantType::RefreshToken,
                GrantType::ClientCredentials => CoreGrantType::ClientCredentials,
                GrantType::Password => CoreGrantType::Password,
            })
            .collect(),
    ))
    .set_scopes_supported(Some(
        STANDARD_SCOPES
            .iter()
            .map(|s| Scope::new(s.to_string()))
            .collect(),
    ))
    .set_token_endpoint_auth_methods_supported(Some(vec![
        CoreClientAuthMethod::ClientSecretBasic,
        CoreClientAuthMethod::ClientSecretPost,
        CoreClientAuthMethod::None,
    ]))
    .set_claims_supported(Some(
        [
            "sub",
            "iss",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "acr",
            "amr",
            "sid",
            "preferred_username",
            "name",
            "email",
            "groups",
            "roles",
        ]
        .iter()
        .map(|c| CoreClaimName::new(c.to_string()))
        .collect(),
    ))
    // Only `acr` is acted on (OIDC Core §5.5.1.1); other requested claims follow the scopes.
    .set_claims_parameter_supported(Some(true))
    .set_request_parameter_supported(Some(false))
    .set_request_uri_parameter_supported(Some(false));
    serde_json::to_value(&metadata).map_err(|e| OidcError::Config(e.to_string()))
}
