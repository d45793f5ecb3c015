//! The upstream's endpoints: from the settings, or discovered from
//! `{issuer}/.well-known/openid-configuration` and kept in a moka cache (rebuildable state, so an
//! in-process cache is allowed: DESIGN.md "Rules of the house").

use std::sync::{Arc, RwLock};
use std::time::Duration;

use gatehouse_connector_oauth2::{endpoint_url, http};
use gatehouse_core::CallbackError;
use moka::future::Cache;
use openidconnect::{AuthUrl, TokenUrl};
use serde::Deserialize;

use crate::settings::OidcSettings;

/// How long a discovery document is trusted before it is read again.
pub const METADATA_TTL: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone)]
pub(crate) struct Endpoints {
    pub authorization: AuthUrl,
    pub token: TokenUrl,
    pub userinfo: Option<String>,
    pub jwks_uri: String,
    pub end_session: Option<String>,
    /// `authorization_response_iss_parameter_supported`: the callback must then carry `iss`.
    pub iss_parameter: bool,
}

/// The fields of a discovery document the connector uses.
#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    authorization_endpoint: Option<String>,
    token_endpoint: Option<String>,
    userinfo_endpoint: Option<String>,
    jwks_uri: Option<String>,
    end_session_endpoint: Option<String>,
    #[serde(default)]
    authorization_response_iss_parameter_supported: bool,
}

pub(crate) struct Metadata {
    settings: OidcSettings,
    http: reqwest::Client,
    /// `None` without discovery: the endpoints are all in the settings.
    cache: Option<Cache<(), Arc<Endpoints>>>,
    fixed: Option<Arc<Endpoints>>,
    /// The last `end_session_endpoint` known, for `logout_location`, which cannot wait for I/O.
    end_session: RwLock<Option<String>>,
}

impl Metadata {
    pub fn new(settings: &OidcSettings, http: reqwest::Client) -> Result<Self, String> {
        let (cache, fixed) = if settings.discovery {
            let cache = Cache::builder()
                .max_capacity(1)
                .time_to_live(METADATA_TTL)
                .build();
            (Some(cache), None)
        } else {
            // validate() made sure these are present.
            let need = |v: &Option<String>, key: &str| {
                v.clone()
                    .ok_or_else(|| format!("{key} is required when discovery = false"))
            };
            let endpoints = endpoints(
                settings,
                Discovery {
                    issuer: settings.issuer.clone(),
                    authorization_endpoint: Some(need(
                        &settings.authorization_endpoint,
                        "authorization_endpoint",
                    )?),
                    token_endpoint: Some(need(&settings.token_endpoint, "token_endpoint")?),
                    userinfo_endpoint: settings.userinfo_endpoint.clone(),
                    jwks_uri: Some(need(&settings.jwks_uri, "jwks_uri")?),
                    end_session_endpoint: None,
                    authorization_response_iss_parameter_supported: false,
                },
            )?;
            (None, Some(Arc::new(endpoints)))
        };
        Ok(Self {
            settings: settings.clone(),
            http,
            cache,
            fixed,
            end_session: RwLock::new(None),
        })
    }

    pub async fn endpoints(&self) -> Result<Arc<Endpoints>, CallbackError> {
        let (Some(cache), None) = (&self.cache, &self.fixed) else {
            return self
                .fixed
                .clone()
                .ok_or_else(|| CallbackError::Invalid("no endpoints configured".into()));
        };
        // One discovery at a time, however many logins wait for it.
        let endpoints = cache
            .try_get_with((), self.discover())
            .await
            .map_err(|e| (*e).clone())?;
        if let Ok(mut last) = self.end_session.write() {
            last.clone_from(&endpoints.end_session);
        }
        Ok(endpoints)
    }

    pub fn last_end_session(&self) -> Option<String> {
        self.end_session.read().ok().and_then(|e| e.clone())
    }

    async fn discover(&self) -> Result<Arc<Endpoints>, CallbackError> {
        let url = format!(
            "{}/.well-known/openid-configuration",
            self.settings.issuer.trim_end_matches('/')
        );
        let document = http::get_json_object(&self.http, &url, None, "discovery").await?;
        let discovery: Discovery = serde_json::from_value(serde_json::Value::Object(document))
            .map_err(|e| CallbackError::Invalid(format!("discovery document: {e}")))?;
        // OpenID Connect Discovery §4.3: the document must be the configured issuer's own.
        if discovery.issuer != self.settings.issuer {
            return Err(CallbackError::Invalid(format!(
                "the discovery document names issuer `{}`, not the configured `{}`",
                discovery.issuer, self.settings.issuer
            )));
        }
        let endpoints = endpoints(&self.settings, discovery)
            .map_err(|e| CallbackError::Invalid(format!("discovery document: {e}")))?;
        tracing::debug!(issuer = %self.settings.issuer, "discovered the upstream's endpoints");
        crate::fetched(&self.settings.issuer, "oidc_metadata");
        Ok(Arc::new(endpoints))
    }
}

/// Settings override discovered values; every URL must pass the settings' URL rule (https, or
/// http on loopback), whichever side it came from.
fn endpoints(settings: &OidcSettings, d: Discovery) -> Result<Endpoints, String> {
    let pick = |own: &Option<String>, found: Option<String>, key: &str| -> Result<String, String> {
        let v = own
            .clone()
            .or(found)
            .ok_or_else(|| format!("no {key} (neither configured nor discovered)"))?;
        endpoint_url(key, &v)?;
        Ok(v)
    };
    let authorization = pick(
        &settings.authorization_endpoint,
        d.authorization_endpoint,
        "authorization_endpoint",
    )?;
    let token = pick(&settings.token_endpoint, d.token_endpoint, "token_endpoint")?;
    let jwks_uri = pick(&settings.jwks_uri, d.jwks_uri, "jwks_uri")?;
    let userinfo = settings.userinfo_endpoint.clone().or(d.userinfo_endpoint);
    if let Some(u) = &userinfo {
        endpoint_url("userinfo_endpoint", u)?;
    }
    let end_session = d.end_session_endpoint;
    if let Some(u) = &end_session {
        endpoint_url("end_session_endpoint", u)?;
    }
    Ok(Endpoints {
        authorization: AuthUrl::new(authorization)
            .map_err(|e| format!("authorization_endpoint: {e}"))?,
        token: TokenUrl::new(token).map_err(|e| format!("token_endpoint: {e}"))?,
        userinfo,
        jwks_uri,
        end_session,
        iss_parameter: d.authorization_response_iss_parameter_supported,
    })
}
