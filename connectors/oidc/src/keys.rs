//! ID token verification against the upstream's JWKS, cached in moka and fetched again once when a
//! token names a key the cached set does not hold (the upstream rotated its keys).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use gatehouse_connector_oauth2::http;
use gatehouse_core::CallbackError;
use moka::future::Cache;
use openidconnect::core::{
    CoreIdToken, CoreIdTokenClaims, CoreIdTokenVerifier, CoreJsonWebKeySet, CoreJwsSigningAlgorithm,
};
use openidconnect::{
    AccessToken, AccessTokenHash, ClaimsVerificationError, ClientId, IssuerUrl, Nonce,
    SignatureVerificationError,
};

/// How long a key set is used before it is read again, rotation or not.
pub const JWKS_TTL: Duration = Duration::from_secs(3600);

pub(crate) struct Keys {
    http: reqwest::Client,
    client_id: ClientId,
    issuer: IssuerUrl,
    algs: Vec<CoreJwsSigningAlgorithm>,
    /// By `jwks_uri`: discovery may move it.
    cache: Cache<String, Arc<CoreJsonWebKeySet>>,
    fetches: AtomicU64,
}

impl Keys {
    pub fn new(
        http: reqwest::Client,
        client_id: ClientId,
        issuer: IssuerUrl,
        algs: Vec<CoreJwsSigningAlgorithm>,
    ) -> Self {
        Self {
            http,
            client_id,
            issuer,
            algs,
            cache: Cache::builder()
                .max_capacity(4)
                .time_to_live(JWKS_TTL)
                .build(),
            fetches: AtomicU64::new(0),
        }
    }

    /// How many times a key set was fetched (for metrics and tests).
    pub fn fetches(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    async fn key_set(&self, jwks_uri: &str) -> Result<Arc<CoreJsonWebKeySet>, CallbackError> {
        self.cache
            .try_get_with(jwks_uri.to_owned(), self.fetch(jwks_uri))
            .await
            .map_err(|e| (*e).clone())
    }

    async fn fetch(&self, jwks_uri: &str) -> Result<Arc<CoreJsonWebKeySet>, CallbackError> {
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let document = http::get_json_object(&self.http, jwks_uri, None, "jwks_uri").await?;
        // Keys of kinds openidconnect does not know are skipped by its parser, not fatal.
        let set: CoreJsonWebKeySet = serde_json::from_value(serde_json::Value::Object(document))
            .map_err(|e| CallbackError::Invalid(format!("jwks_uri: not a JWK set: {e}")))?;
        tracing::debug!(
            jwks_uri,
            keys = set.keys().len(),
            "fetched the upstream's JWKS"
        );
        crate::fetched(self.issuer.as_str(), "jwks");
        Ok(Arc::new(set))
    }

    /// Verifies signature (against the JWKS), issuer, audience, expiry, nonce and — when the token
    /// has one — `at_hash`. On an unknown key the set is fetched again, once: a rotation is
    /// followed at once, yet a token naming keys that do not exist costs one fetch, not a loop.
    pub async fn verify(
        &self,
        token: &CoreIdToken,
        nonce: &Nonce,
        access_token: &AccessToken,
        jwks_uri: &str,
    ) -> Result<CoreIdTokenClaims, CallbackError> {
        let keys = self.key_set(jwks_uri).await?;
        let result = match self.check(token, nonce, access_token, &keys) {
            Err(ClaimsVerificationError::SignatureVerification(
                SignatureVerificationError::NoMatchingKey,
            )) => {
                tracing::info!(
                    jwks_uri,
                    "ID token signed with an unknown key: fetching the JWKS again"
                );
                self.cache.invalidate(jwks_uri).await;
                let keys = self.key_set(jwks_uri).await?;
                self.check(token, nonce, access_token, &keys)
            }
            other => other,
        };
        result.map_err(|e| {
            CallbackError::Invalid(match e {
                ClaimsVerificationError::SignatureVerification(s) => {
                    format!("id_token signature: {s}")
                }
                other => format!("id_token: {other}"),
            })
        })
    }

    fn check(
        &self,
        token: &CoreIdToken,
        nonce: &Nonce,
        access_token: &AccessToken,
        keys: &CoreJsonWebKeySet,
    ) -> Result<CoreIdTokenClaims, ClaimsVerificationError> {
        let verifier = CoreIdTokenVerifier::new_public_client(
            self.client_id.clone(),
            self.issuer.clone(),
            keys.clone(),
        )
        .set_allowed_algs(self.algs.iter().cloned());
        let claims = token.claims(&verifier, nonce)?;
        // Core §3.1.3.8: at_hash is optional in the code flow but must match when present.
        if let Some(expected) = claims.access_token_hash() {
            let sig = ClaimsVerificationError::SignatureVerification;
            let alg = token.signing_alg().map_err(sig)?;
            let key = token.signing_key(&verifier).map_err(sig)?;
            let actual = AccessTokenHash::from_token(access_token, alg, key)
                .map_err(|e| ClaimsVerificationError::Other(format!("at_hash: {e}")))?;
            if actual != *expected {
                return Err(ClaimsVerificationError::Other(
                    "at_hash does not match the access token".into(),
                ));
            }
        }
        Ok(claims.clone())
    }
}
