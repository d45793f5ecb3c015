//! The claims of issued tokens.

use chrono::{DateTime, Utc};
use gatehouse_core::Account;
use openidconnect::core::{
    CoreGenderClaim, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
};
use openidconnect::{
    AccessToken, AdditionalClaims, Audience, AuthenticationContextClass,
    AuthenticationMethodReference, EndUserEmail, EndUserName, EndUserUsername, IdToken,
    IdTokenClaims, IssuerUrl, LocalizedClaim, Nonce, StandardClaims, SubjectIdentifier,
};
use serde::{Deserialize, Serialize};

use crate::error::OidcError;
use crate::keys::SigningKey;

/// JWT access token claims (RFC 9068).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    pub client_id: String,
    pub scope: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// RFC 9068 §2.2.1: how the user authenticated, for userinfo and resource servers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amr: Option<Vec<String>>,
}

impl AccessClaims {
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scope.split(' ').any(|s| s == scope)
    }

    /// A user's token (as opposed to a client_credentials token, whose subject is the client).
    pub fn is_user_token(&self) -> bool {
        self.auth_time.is_some()
    }
}

/// Claims Gatehouse adds to ID tokens beyond the standard ones.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ExtraClaims {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<String>>,
}

impl AdditionalClaims for ExtraClaims {}

pub type GatehouseIdToken = IdToken<
    ExtraClaims,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;

/// Everything an ID token says.
pub struct IdTokenInput<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub account: &'a Account,
    pub scope: &'a str,
    pub now: DateTime<Utc>,
    pub lifetime_s: u64,
    pub auth_time: DateTime<Utc>,
    pub nonce: Option<&'a str>,
    pub sid: Option<&'a str>,
    pub amr: &'a [String],
    pub acr: &'a str,
    pub access_token: Option<&'a str>,
}

pub fn id_token(key: &SigningKey, input: IdTokenInput<'_>) -> Result<String, OidcError> {
    let has = |s: &str| input.scope.split(' ').any(|x| x == s);
    let account = input.account;
    let mut standard = StandardClaims::new(SubjectIdentifier::new(account.id.to_string()));
    if has("profile") {
        standard =
            standard.set_preferred_username(Some(EndUserUsername::new(account.username.clone())));
        if let Some(name) = &account.name {
            let mut claim = LocalizedClaim::new();
            claim.insert(None, EndUserName::new(name.clone()));
            standard = standard.set_name(Some(claim));
        }
    }
    if has("email") {
        standard = standard.set_email(account.email.clone().map(EndUserEmail::new));
    }
    let extra = ExtraClaims {
        sid: input.sid.map(str::to_owned),
        groups: has("groups").then(|| account.groups.clone()),
        roles: has("groups").then(|| account.roles.clone()),
    };
    let issuer =
        IssuerUrl::new(input.issuer.to_owned()).map_err(|e| OidcError::Config(e.to_string()))?;
    let claims = IdTokenClaims::new(
        issuer,
        vec![Audience::new(input.client_id.to_owned())],
        input.now + chrono::Duration::seconds(input.lifetime_s as i64),
        input.now,
        standard,
        extra,
    )
    .set_auth_time(Some(input.auth_time))
    .set_nonce(input.nonce.map(|n| Nonce::new(n.to_owned())))
    .set_auth_method_refs(Some(
        input
            .amr
            .iter()
            .map(|m| AuthenticationMethodReference::new(m.clone()))
            .collect(),
    ))
    .set_auth_context_ref(Some(AuthenticationContextClass::new(input.acr.to_owned())));
    let access = input.access_token.map(|t| AccessToken::new(t.to_owned()));
    let token = GatehouseIdToken::new(claims, key, key.alg.jws(), access.as_ref(), None)
        .map_err(|e| OidcError::Crypto(e.to_string()))?;
    Ok(token.to_string())
}
