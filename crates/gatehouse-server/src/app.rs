//! The running broker: the store, and per realm its policy, providers and resolver.

use std::collections::BTreeMap;
use std::sync::Arc;

use gatehouse_connector_database::{DatabaseProvider, HashPool};
use gatehouse_core::{AccountRepository, PasswordProvider, RealmPolicy, Resolver};
use gatehouse_store::Store;

use crate::config::{Config, ProviderSettings, RealmConfig};
use crate::error::ServerError;

pub struct RealmRuntime {
    pub name: String,
    pub policy: Arc<RealmPolicy>,
    pub resolver: Resolver,
    /// Database providers by id, for setting passwords.
    pub database_providers: BTreeMap<String, Arc<DatabaseProvider>>,
}

pub struct Gatehouse {
    pub config: Config,
    pub store: Store,
    realms: BTreeMap<String, RealmRuntime>,
}

impl Gatehouse {
    /// Connect to the store and build every realm. Does not migrate: `serve` and `migrate` do.
    pub async fn open(config: Config) -> Result<Self, ServerError> {
        let store = Store::connect(config.store.url.expose()).await?;
        Self::with_store(config, store)
    }

    pub fn with_store(config: Config, store: Store) -> Result<Self, ServerError> {
        // One pool for the whole process: argon2 work is bounded to about one hash per core,
        // however many realms and providers share it.
        let pool = HashPool::default();
        let repo: Arc<dyn AccountRepository> = Arc::new(store.clone());
        let realms = config
            .realms
            .iter()
            .map(|(name, realm)| {
                build_realm(name, realm, &pool, repo.clone()).map(|r| (name.clone(), r))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            config,
            store,
            realms,
        })
    }

    pub fn realm(&self, name: &str) -> Result<&RealmRuntime, ServerError> {
        self.realms
            .get(name)
            .ok_or_else(|| ServerError::UnknownRealm {
                name: name.to_owned(),
                known: self.realms.keys().cloned().collect::<Vec<_>>().join(", "),
            })
    }

    pub fn realms(&self) -> impl Iterator<Item = &RealmRuntime> {
        self.realms.values()
    }

    pub fn realm_config(&self, name: &str) -> Result<&RealmConfig, ServerError> {
        self.realm(name)?;
        Ok(&self.config.realms[name])
    }
}

fn build_realm(
    name: &str,
    realm: &RealmConfig,
    pool: &HashPool,
    repo: Arc<dyn AccountRepository>,
) -> Result<RealmRuntime, ServerError> {
    let mut providers: Vec<Arc<dyn PasswordProvider>> = Vec::new();
    let mut database_providers = BTreeMap::new();
    for provider in &realm.providers {
        match &provider.settings {
            ProviderSettings::Database(settings) => {
                let db =
                    DatabaseProvider::new(provider.descriptor(), settings.clone(), pool.clone())
                        .map_err(|e| ServerError::Provider {
                            provider: provider.id.clone(),
                            message: e.to_string(),
                        })?;
                let db = Arc::new(db);
                database_providers.insert(provider.id.clone(), db.clone());
                providers.push(db);
            }
        }
    }
    let policy = Arc::new(realm.policy(name));
    let resolver = Resolver::new(policy.clone(), providers, repo)?;
    Ok(RealmRuntime {
        name: name.to_owned(),
        policy,
        resolver,
        database_providers,
    })
}
