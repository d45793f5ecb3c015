use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use gatehouse_store::{SigningKeyRecord, Store};
use openidconnect::core::CoreJsonWebKeySet;
use tokio::sync::{Mutex, RwLock};

use super::{KeyVault, SigningAlg, SigningKey};
use crate::crypto::random_token;
use crate::error::OidcError;

/// How long a process trusts its copy of the key list before asking the store again, so a
/// rotation by another instance (or `gatehouse keys rotate`) is picked up.
const RELOAD_AFTER: Duration = Duration::from_secs(30);

struct Loaded {
    /// Every key still in the JWKS, newest first.
    keys: Vec<Arc<SigningKey>>,
    /// The newest key not retired: the one that signs.
    signer: Arc<SigningKey>,
    at: Instant,
}

/// The signing keys of one realm.
pub struct KeyRing {
    realm: String,
    alg: SigningAlg,
    store: Store,
    vault: Arc<KeyVault>,
    /// Keys already decrypted and parsed, by kid (parsing RSA keys is slow).
    parsed: Mutex<HashMap<String, Arc<SigningKey>>>,
    loaded: RwLock<Arc<Loaded>>,
    /// How long a retired key must stay in the JWKS: the longest lifetime of a token it signed.
    retire_for: chrono::Duration,
}

impl KeyRing {
    /// Load the realm's keys; generate the first one (or one of a newly configured algorithm).
    pub async fn open(
        realm: &str,
        alg: SigningAlg,
        store: Store,
        vault: Arc<KeyVault>,
        retire_for: chrono::Duration,
    ) -> Result<Self, OidcError> {
        let parsed = Mutex::new(HashMap::new());
        let mut loaded = load(realm, &store, &vault, &parsed).await?;
        if loaded.as_ref().is_none_or(|l| l.signer.alg != alg) {
            insert_new_key(realm, alg, &store, &vault, retire_for).await?;
            loaded = load(realm, &store, &vault, &parsed).await?;
        }
        let loaded =
            loaded.ok_or_else(|| OidcError::Crypto("no signing key after creating one".into()))?;
        Ok(Self {
            realm: realm.to_owned(),
            alg,
            store,
            vault,
            parsed,
            loaded: RwLock::new(Arc::new(loaded)),
            retire_for,
        })
    }

    pub async fn signer(&self) -> Result<Arc<SigningKey>, OidcError> {
        Ok(self.current().await?.signer.clone())
    }

    /// The key with this `kid`, reloading once when it is unknown (another instance may have
    /// rotated moments ago).
    pub async fn verification_key(&self, kid: &str) -> Result<Option<Arc<SigningKey>>, OidcError> {
        let find = |l: &Arc<Loaded>| l.keys.iter().find(|k| k.kid == kid).cloned();
        if let Some(k) = find(&self.current().await?) {
            return Ok(Some(k));
        }
        Ok(find(&self.reload().await?))
    }

    pub async fn jwks(&self) -> Result<CoreJsonWebKeySet, OidcError> {
        let loaded = self.current().await?;
        Ok(CoreJsonWebKeySet::new(
            loaded.keys.iter().map(|k| k.jwk().clone()).collect(),
        ))
    }

    /// Add a new signing key; the others stop signing and leave the JWKS once their tokens expire.
    pub async fn rotate(&self) -> Result<String, OidcError> {
        let kid = insert_new_key(
            &self.realm,
            self.alg,
            &self.store,
            &self.vault,
            self.retire_for,
        )
        .await?;
        self.reload().await?;
        Ok(kid)
    }

    async fn current(&self) -> Result<Arc<Loaded>, OidcError> {
        let loaded = self.loaded.read().await.clone();
        // While the store is known to be away, the keys held serve (JWKS, signing) at once
        // instead of each request waiting the pool's acquire timeout to learn it again.
        if loaded.at.elapsed() < RELOAD_AFTER || !self.store.availability().is_up() {
            return Ok(loaded);
        }
        match self.reload().await {
            Ok(l) => Ok(l),
            // A store hiccup must not stop token issuance with keys we already hold.
            Err(e) if e.is_unavailable() => Ok(loaded),
            Err(e) => {
                tracing::warn!(realm = %self.realm, error = %e, "cannot reload signing keys; using the loaded ones");
                Ok(loaded)
            }
        }
    }

    async fn reload(&self) -> Result<Arc<Loaded>, OidcError> {
        let fresh = load(&self.realm, &self.store, &self.vault, &self.parsed)
            .await?
            .ok_or_else(|| {
                OidcError::Crypto(format!("realm `{}` has no signing key", self.realm))
            })?;
        let fresh = Arc::new(fresh);
        *self.loaded.write().await = fresh.clone();
        Ok(fresh)
    }
}

async fn insert_new_key(
    realm: &str,
    alg: SigningAlg,
    store: &Store,
    vault: &KeyVault,
    retire_for: chrono::Duration,
) -> Result<String, OidcError> {
    let kid = random_token()[..16].to_owned();
    let (key, pkcs8) = SigningKey::generate(kid.clone(), alg)?;
    let now = Utc::now();
    let record = SigningKeyRecord {
        kid: kid.clone(),
        realm: realm.to_owned(),
        alg: alg.as_str().to_owned(),
        private_key: vault.seal(&kid, &pkcs8)?,
        public_jwk: serde_json::to_value(key.jwk())
            .map_err(|e| OidcError::Crypto(e.to_string()))?,
        created_at: now,
        retired_at: None,
        expires_at: None,
    };
    store.insert_signing_key(&record).await?;
    store
        .retire_signing_keys(realm, &kid, now, now + retire_for)
        .await?;
    tracing::info!(realm, kid = %kid, alg = alg.as_str(), "new signing key");
    Ok(kid)
}

async fn load(
    realm: &str,
    store: &Store,
    vault: &KeyVault,
    parsed: &Mutex<HashMap<String, Arc<SigningKey>>>,
) -> Result<Option<Loaded>, OidcError> {
    let now: DateTime<Utc> = Utc::now();
    let records = store.signing_keys(realm, now).await?;
    let mut cache = parsed.lock().await;
    let mut keys = Vec::with_capacity(records.len());
    let mut signer = None;
    for record in records {
        let key = match cache.get(&record.kid) {
            Some(k) => k.clone(),
            None => {
                let alg = SigningAlg::parse(&record.alg).ok_or_else(|| {
                    OidcError::Crypto(format!(
                        "signing key `{}` has unknown alg `{}`",
                        record.kid, record.alg
                    ))
                })?;
                let pkcs8 = vault.open(&record.kid, &record.private_key)?;
                let key = Arc::new(SigningKey::from_pkcs8(record.kid.clone(), alg, &pkcs8)?);
                cache.insert(record.kid.clone(), key.clone());
                key
            }
        };
        if signer.is_none() && record.retired_at.is_none() {
            signer = Some(key.clone());
        }
        keys.push(key);
    }
    // Two instances creating their first key at the same moment can retire each other's; the
    // newest key then signs, and every instance agrees on it.
    let signer = signer.or_else(|| keys.first().cloned());
    Ok(signer.map(|signer| Loaded {
        keys,
        signer,
        at: Instant::now(),
    }))
}
