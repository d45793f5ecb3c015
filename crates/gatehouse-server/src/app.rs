//! The running broker: the store, and per realm its policy, providers, resolver and OpenID
//! provider.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use gatehouse_connector_database::{Argon2Settings, DatabaseProvider, HashPool};
use gatehouse_connector_ldap::LdapProvider;
use gatehouse_connector_oauth2::Oauth2Provider;
use gatehouse_connector_oidc::OidcProvider as UpstreamOidc;
use gatehouse_connector_saml::{SamlProvider, SpUrls};
use gatehouse_core::{
    AccountRepository, PasswordProvider, Protection, ProtectionRepository, RealmPolicy,
    RedirectProvider, Resolver, Secret,
};
use gatehouse_oidc::{KeyVault, OidcProvider, PhcVerifier};
use gatehouse_store::Store;

use crate::config::{Config, ProviderSettings, RealmConfig};
use crate::error::ServerError;
use crate::metrics::{MeteredRepo, Metrics};
use crate::pages::{Brand, Pages};

pub struct RealmRuntime {
    pub name: String,
    pub policy: Arc<RealmPolicy>,
    pub resolver: Arc<Resolver>,
    /// Database providers by id, for setting passwords.
    pub database_providers: BTreeMap<String, Arc<DatabaseProvider>>,
    /// Redirect providers (`oidc`, `oauth2`, `saml`) by id, enabled or not: the chain and
    /// `enabled` decide whether the login page offers them.
    pub redirect_providers: BTreeMap<String, Arc<dyn RedirectProvider>>,
    /// The `saml` ones again, for what only they have: SP metadata, IdP-initiated logout.
    pub saml_providers: BTreeMap<String, Arc<SamlProvider>>,
    pub oidc: OidcProvider,
    /// Second factors: the engine's mechanisms and the account page's enrolment.
    pub mfa: crate::second_factors::RealmMfa,
}

pub struct Gatehouse {
    pub config: Config,
    pub store: Store,
    pub pages: Pages,
    pub metrics: Arc<Metrics>,
    /// Each realm's policy engine (the web and REST flows).
    pub flows: crate::flows::Flows,
    realms: BTreeMap<String, RealmRuntime>,
}

impl Gatehouse {
    /// Connect to the store, apply pending migrations (idempotent) and build every realm, with
    /// its signing keys (created on first start).
    pub async fn open(config: Config) -> Result<Self, ServerError> {
        crate::files::prepare_sqlite_file(config.store.url.expose());
        let store =
            Store::connect_with(config.store.url.expose(), &config.store.pool_settings()).await?;
        store.migrate().await?;
        Self::with_store(config, store).await
    }

    /// `store` must be migrated.
    pub async fn with_store(config: Config, store: Store) -> Result<Self, ServerError> {
        // One pool for the whole process: argon2 work is bounded to about one hash per core,
        // however many realms and providers share it.
        let pool = HashPool::default();
        let metrics = Arc::new(Metrics::new(&config));
        let repo: Arc<dyn AccountRepository> =
            Arc::new(MeteredRepo::new(Arc::new(store.clone()), metrics.clone()));
        let vault = Arc::new(key_vault(&config)?);
        let phc: Arc<dyn PhcVerifier> = Arc::new(PoolPhc(pool.clone()));
        // One outbound HTTP client (connection pool, timeouts, no redirects) for every redirect
        // provider of every realm.
        let http = gatehouse_connector_oauth2::http_client().map_err(ServerError::Http)?;
        // Brute-force counters and password ages: in the store, shared by every instance.
        let counters: Arc<dyn ProtectionRepository> = Arc::new(store.clone());
        let mut realms = BTreeMap::new();
        for (name, realm) in &config.realms {
            let RealmParts {
                policy,
                resolver,
                database_providers,
                redirect_providers,
                saml_providers,
            } = build_realm(
                name,
                realm,
                &config.server.public_url,
                &pool,
                &http,
                repo.clone(),
            )
            .await?;
            let resolver = Arc::new(resolver.with_protection(Protection {
                settings: realm.brute_force.clone(),
                repo: counters.clone(),
            }));
            let oidc = OidcProvider::open(
                name,
                &config.server.public_url,
                store.clone(),
                vault.clone(),
                realm.tokens.clone(),
                realm.clients.clone(),
                phc.clone(),
            )
            .await
            .map_err(|e| ServerError::Oidc {
                realm: name.clone(),
                message: e.to_string(),
            })?
            .with_policies(realm.oidc_policies(name));
            let mfa = crate::second_factors::build(
                name,
                realm,
                &store,
                vault.clone(),
                config.server.theme_dir.as_deref(),
            )?;
            realms.insert(
                name.clone(),
                RealmRuntime {
                    name: name.clone(),
                    policy,
                    resolver,
                    database_providers,
                    redirect_providers,
                    saml_providers,
                    oidc,
                    mfa,
                },
            );
        }
        let brands = config
            .realms
            .iter()
            .map(|(name, realm)| {
                (
                    name.clone(),
                    Brand::of(name, realm, &config.server.public_url),
                )
            })
            .collect();
        let pages = Pages::branded(config.server.theme_dir.as_deref(), brands)?;
        let flows =
            crate::flows::Flows::build(&config.realms, &realms, &store, &config.server.public_url)?;
        Ok(Self {
            pages,
            flows,
            metrics,
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

/// The broker's URLs of SAML provider `id` in realm `realm`; `sp_entity_id` and `acs_url` in the
/// provider's settings override the first two.
pub fn sp_urls(public_url: &str, realm: &str, id: &str) -> SpUrls {
    let base = format!(
        "{}/realms/{realm}/broker/{id}",
        public_url.trim_end_matches('/')
    );
    SpUrls {
        entity_id: format!("{base}/metadata"),
        acs_url: format!("{base}/callback"),
        slo_url: format!("{base}/slo"),
    }
}

async fn build_realm(
    name: &str,
    realm: &RealmConfig,
    public_url: &str,
    pool: &HashPool,
    http: &reqwest::Client,
    repo: Arc<dyn AccountRepository>,
) -> Result<RealmParts, ServerError> {
    let mut providers: Vec<Arc<dyn PasswordProvider>> = Vec::new();
    let mut database_providers = BTreeMap::new();
    let mut redirect_providers: BTreeMap<String, Arc<dyn RedirectProvider>> = BTreeMap::new();
    let mut saml_providers = BTreeMap::new();
    for provider in &realm.providers {
        let failed = |message: String| ServerError::Provider {
            provider: provider.id.clone(),
            message,
        };
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
            ProviderSettings::Ldap(settings) => {
                // Connects lazily: a directory that is down at start-up only makes logins
                // through it unavailable.
                let ldap = LdapProvider::new(provider.descriptor(), (**settings).clone()).map_err(
                    |e| ServerError::Provider {
                        provider: provider.id.clone(),
                        message: e.to_string(),
                    },
                )?;
                providers.push(Arc::new(ldap));
            }
            // Nothing is fetched here: an upstream that is down at start-up only makes logins
            // through it fail.
            ProviderSettings::Oidc(settings) => {
                let upstream =
                    UpstreamOidc::new(provider.descriptor(), (**settings).clone(), http.clone())
                        .map_err(|e| failed(e.to_string()))?
                        .with_auto_redirect(provider.redirect.auto_redirect);
                redirect_providers.insert(provider.id.clone(), Arc::new(upstream));
            }
            ProviderSettings::Oauth2(settings) => {
                let upstream =
                    Oauth2Provider::new(provider.descriptor(), (**settings).clone(), http.clone())
                        .map_err(|e| failed(e.to_string()))?
                        .with_auto_redirect(provider.redirect.auto_redirect);
                redirect_providers.insert(provider.id.clone(), Arc::new(upstream));
            }
            // Unlike the others, read (or fetched) at start: IdP metadata without a signing
            // certificate must stop the start, since responses could not be checked against it.
            ProviderSettings::Saml(settings) => {
                let upstream = SamlProvider::new(
                    provider.descriptor(),
                    (**settings).clone(),
                    sp_urls(public_url, name, &provider.id),
                    http.clone(),
                )
                .await
                .map_err(|e| failed(e.to_string()))?
                .with_auto_redirect(provider.redirect.auto_redirect);
                let upstream = Arc::new(upstream);
                saml_providers.insert(provider.id.clone(), upstream.clone());
                redirect_providers.insert(provider.id.clone(), upstream);
            }
        }
    }
    let policy = Arc::new(realm.policy(name));
    let resolver = Resolver::new(policy.clone(), providers, repo)?;
    Ok(RealmParts {
        policy,
        resolver,
        database_providers,
        redirect_providers,
        saml_providers,
    })
}

struct RealmParts {
    policy: Arc<RealmPolicy>,
    resolver: Resolver,
    database_providers: BTreeMap<String, Arc<DatabaseProvider>>,
    redirect_providers: BTreeMap<String, Arc<dyn RedirectProvider>>,
    saml_providers: BTreeMap<String, Arc<SamlProvider>>,
}

/// PHC client secrets are checked on the process-wide bounded hashing pool.
struct PoolPhc(HashPool);

#[async_trait]
impl PhcVerifier for PoolPhc {
    async fn verify(&self, secret: &Secret, phc: &str) -> bool {
        self.0
            .verify(&Argon2Settings::default(), secret, phc)
            .await
            .is_ok_and(|v| v.matched)
    }
}

/// The key-encryption secret: configured, or read from (or created in) the key file.
fn key_vault(config: &Config) -> Result<KeyVault, ServerError> {
    let fail = |message: String| ServerError::Keys(message);
    let secret = match &config.keys.encryption_key {
        Some(value) => value.expose().as_bytes().to_vec(),
        None => read_or_create_key_file(&config.keys.encryption_key_file).map_err(fail)?,
    };
    KeyVault::new(&secret).map_err(|e| fail(format!("keys.encryption_key: {e}")))
}

fn read_or_create_key_file(path: &str) -> Result<Vec<u8>, String> {
    use std::io::Write;
    match std::fs::read_to_string(path) {
        Ok(text) => return Ok(text.trim().as_bytes().to_vec()),
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(format!(
                "keys.encryption_key_file: cannot read `{path}`: {e}"
            ));
        }
        Err(_) => {}
    }
    let secret = gatehouse_oidc::crypto::random_token();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(mut file) => {
            file.write_all(format!("{secret}\n").as_bytes())
                .map_err(|e| format!("keys.encryption_key_file: cannot write `{path}`: {e}"))?;
            tracing::warn!(
                path,
                "created a new key-encryption secret; back it up, and give every instance on this store the same one (keys.encryption_key)"
            );
            Ok(secret.into_bytes())
        }
        // Another process created it between our read and our create: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => std::fs::read_to_string(path)
            .map(|t| t.trim().as_bytes().to_vec())
            .map_err(|e| format!("keys.encryption_key_file: cannot read `{path}`: {e}")),
        Err(e) => Err(format!(
            "keys.encryption_key_file: cannot create `{path}`: {e}"
        )),
    }
}
