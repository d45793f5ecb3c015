use std::time::Duration as StdDuration;

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{Duration, Utc};
use gatehouse_core::{
    CallbackError, ExternalIdentity, ProviderDescriptor, ProviderKind, RedirectProvider,
    RedirectStart, Secret,
};
use serde::{Deserialize, Serialize};

use crate::authn_request::{AuthnRequest, new_id, redirect_url};
use crate::error::SamlError;
use crate::logout::{self, IdpLogoutRequest, LogoutExpected};
use crate::logout_response::{self, IdpLogoutResponse, PendingLogouts};
use crate::mapping::{LogoutHint, Mapping};
use crate::metadata::MetadataSource;
use crate::response::{self, Expected};
use crate::settings::{Binding, SamlSettings};
use crate::signing::SpKey;
use crate::sp_metadata::SpMetadata;

/// The largest `SAMLResponse` accepted, base64 as posted.
pub const MAX_SAML_RESPONSE_BYTES: usize = 512 * 1024;

/// The broker's URLs for this provider. The server derives them from its public URL
/// (`{public_url}/realms/{realm}/broker/{id}/…`); `sp_entity_id` / `acs_url` in the settings
/// override `entity_id` / `acs_url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpUrls {
    pub entity_id: String,
    /// The Assertion Consumer Service: the broker callback, HTTP-POST binding.
    pub acs_url: String,
    /// Where the IdP sends LogoutRequests (and LogoutResponses), HTTP-Redirect binding.
    pub slo_url: String,
}

/// Kept by the broker between `begin` and `complete`, never sent to the browser.
#[derive(Debug, Serialize, Deserialize)]
struct Pending {
    /// The AuthnRequest's ID: the Response's InResponseTo.
    request_id: String,
    relay_state: String,
}

/// A `saml` provider: an upstream SAML 2.0 IdP (ADFS, Shibboleth, Keycloak, pysaml2…).
pub struct SamlProvider {
    descriptor: ProviderDescriptor,
    settings: SamlSettings,
    sp: SpUrls,
    mapping: Mapping,
    key: Option<SpKey>,
    metadata: MetadataSource,
    auto_redirect: bool,
    /// The LogoutRequests sent on broker logout, until their LogoutResponse comes back.
    pending_logouts: PendingLogouts,
}

impl std::fmt::Debug for SamlProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SamlProvider")
            .field("id", &self.descriptor.id)
            .field("sp_entity_id", &self.sp.entity_id)
            .finish_non_exhaustive()
    }
}

impl SamlProvider {
    /// Checks the settings, reads the SP key, and reads the IdP metadata (fetching it when it
    /// is given by URL: an unreachable URL fails here). Metadata without a signing certificate,
    /// or without an SSO endpoint for `binding`, is refused.
    pub async fn new(
        descriptor: ProviderDescriptor,
        settings: SamlSettings,
        sp: SpUrls,
        http: reqwest::Client,
    ) -> Result<Self, SamlError> {
        if descriptor.kind != ProviderKind::Saml {
            return Err(SamlError::WrongKind {
                id: descriptor.id,
                kind: descriptor.kind.to_string(),
            });
        }
        settings.validate().map_err(SamlError::InvalidSettings)?;
        let mapping = Mapping::new(&settings).map_err(SamlError::InvalidSettings)?;
        let sp = SpUrls {
            entity_id: settings.sp_entity_id.clone().unwrap_or(sp.entity_id),
            acs_url: settings.acs_url.clone().unwrap_or(sp.acs_url),
            slo_url: sp.slo_url,
        };
        for (key, v) in [
            ("sp_entity_id", &sp.entity_id),
            ("acs_url", &sp.acs_url),
            ("slo_url", &sp.slo_url),
        ] {
            if v.trim().is_empty() {
                return Err(SamlError::InvalidSettings(format!(
                    "{key} must not be empty"
                )));
            }
        }
        let key = match (&settings.sp_key_file, &settings.sp_cert_file) {
            (Some(k), Some(c)) => Some(SpKey::load(k, c).map_err(SamlError::InvalidSettings)?),
            _ => None,
        };
        let metadata = match (&settings.idp_metadata_file, &settings.idp_metadata_url) {
            (Some(path), _) => MetadataSource::from_file(path, settings.binding),
            (None, Some(url)) => {
                MetadataSource::from_url(
                    url,
                    http,
                    settings.binding,
                    StdDuration::from_secs(settings.metadata_refresh_s),
                )
                .await
            }
            (None, None) => Err("idp_metadata_file or idp_metadata_url is required".into()),
        }
        .map_err(SamlError::Metadata)?;
        if metadata.snapshot().want_authn_requests_signed && !settings.sign_requests {
            tracing::warn!(
                provider = %descriptor.id,
                "the IdP metadata asks for signed AuthnRequests (WantAuthnRequestsSigned) but sign_requests = false"
            );
        }
        Ok(Self {
            descriptor,
            settings,
            sp,
            mapping,
            key,
            metadata,
            auto_redirect: false,
            pending_logouts: PendingLogouts::default(),
        })
    }

    /// The common `auto_redirect` key of the provider entry, which the server parses.
    pub fn with_auto_redirect(mut self, auto_redirect: bool) -> Self {
        self.auto_redirect = auto_redirect;
        self
    }

    pub fn settings(&self) -> &SamlSettings {
        &self.settings
    }

    /// The URLs in use (settings overrides applied).
    pub fn sp_urls(&self) -> &SpUrls {
        &self.sp
    }

    /// The IdP's entity id, from its metadata.
    pub fn idp_entity_id(&self) -> String {
        self.metadata.snapshot().entity_id.clone()
    }

    /// Makes the next login fetch `idp_metadata_url` again (an admin's reload, tests).
    pub async fn expire_metadata(&self) {
        self.metadata.expire().await;
    }

    fn signer(&self) -> Option<&SpKey> {
        if self.settings.sign_requests {
            self.key.as_ref()
        } else {
            None
        }
    }

    fn skew(&self) -> Duration {
        Duration::seconds(self.settings.clock_skew_s as i64)
    }

    /// The SP metadata: entity id, ACS (HTTP-POST), SLO (HTTP-Redirect), and the signing
    /// certificate when one is configured.
    pub fn sp_metadata_xml(&self) -> String {
        SpMetadata {
            entity_id: &self.sp.entity_id,
            acs_url: &self.sp.acs_url,
            slo_url: &self.sp.slo_url,
            sign_requests: self.settings.sign_requests,
            cert_b64: self.key.as_ref().map(SpKey::cert_b64),
        }
        .xml()
    }

    /// Checks an IdP-initiated LogoutRequest (HTTP-Redirect binding) from its decoded query
    /// parameters: Issuer = the IdP, Destination = the SLO URL, IssueInstant fresh, and the
    /// signature (`SigAlg` + `Signature`) when the IdP signs it. See
    /// [`SamlProvider::parse_logout_request_query`] for the exact-octets variant.
    pub fn parse_logout_request(
        &self,
        params: &[(String, String)],
    ) -> Result<IdpLogoutRequest, CallbackError> {
        let md = self.metadata.snapshot();
        logout::parse_params(params, &self.logout_expected(&md))
    }

    /// As [`SamlProvider::parse_logout_request`], from the raw query string (without `?`): the
    /// signature is checked over the parameters exactly as the IdP encoded them. Prefer this
    /// one when the raw query is at hand.
    pub fn parse_logout_request_query(
        &self,
        raw_query: &str,
    ) -> Result<IdpLogoutRequest, CallbackError> {
        let md = self.metadata.snapshot();
        logout::parse_query(raw_query, &self.logout_expected(&md))
    }

    /// Checks the IdP's LogoutResponse (HTTP-Redirect binding, raw query string without `?`) to
    /// a LogoutRequest sent by [`RedirectProvider::logout_location`]: signed by the IdP, Issuer,
    /// Destination, IssueInstant, InResponseTo (single use). A non-Success status is returned,
    /// not an error: the caller logs it.
    pub fn parse_logout_response_query(
        &self,
        raw_query: &str,
    ) -> Result<IdpLogoutResponse, CallbackError> {
        let md = self.metadata.snapshot();
        logout_response::parse_query(raw_query, &self.logout_expected(&md), &self.pending_logouts)
    }

    fn logout_expected<'a>(&'a self, md: &'a crate::metadata::IdpMetadata) -> LogoutExpected<'a> {
        LogoutExpected {
            idp_entity_id: &md.entity_id,
            certs: &md.certs,
            slo_url: &self.sp.slo_url,
            skew: self.skew(),
            now: Utc::now(),
        }
    }

    /// The LogoutResponse (Success) to `request`, as an HTTP-Redirect URL to the IdP's SLO
    /// endpoint (its ResponseLocation), `RelayState` passed back as received. `None` when the
    /// IdP metadata has no HTTP-Redirect SLO endpoint.
    pub fn logout_response_location(
        &self,
        request: &IdpLogoutRequest,
        relay_state: Option<&str>,
    ) -> Option<String> {
        let md = self.metadata.snapshot();
        let slo = md.slo_redirect.as_ref()?;
        let xml = logout::logout_response_xml(
            &new_id(),
            Utc::now(),
            &slo.response_location,
            &self.sp.entity_id,
            &request.id,
        );
        redirect_url(
            &slo.response_location,
            "SAMLResponse",
            &xml,
            relay_state,
            self.signer(),
        )
        .inspect_err(|e| tracing::warn!(error = %e, "cannot build the SAML LogoutResponse"))
        .ok()
    }

    fn callback_params<'p>(
        params: &'p [(String, String)],
        name: &str,
    ) -> Result<Option<&'p str>, CallbackError> {
        let mut values = params.iter().filter(|(k, _)| k == name);
        let first = values.next().map(|(_, v)| v.as_str());
        if values.next().is_some() {
            return Err(CallbackError::Invalid(format!(
                "xml: `{name}` appears more than once"
            )));
        }
        Ok(first)
    }
}

#[async_trait]
impl RedirectProvider for SamlProvider {
    fn descriptor(&self) -> &ProviderDescriptor {
        &self.descriptor
    }

    fn auto_redirect(&self) -> bool {
        self.auto_redirect
    }

    /// The AuthnRequest goes to the IdP's SSO endpoint; `state` is the RelayState (128 random
    /// bits). The ACS URL sent is [`SpUrls::acs_url`], not `callback_url`.
    async fn begin(&self, _callback_url: &str) -> Result<RedirectStart, CallbackError> {
        let md = self.metadata.current().await;
        let request_id = new_id();
        let relay_state = new_id();
        let request = AuthnRequest {
            id: &request_id,
            issue_instant: Utc::now(),
            destination: &md.sso_url,
            acs_url: &self.sp.acs_url,
            sp_entity_id: &self.sp.entity_id,
        };
        let failed = |e: String| CallbackError::Unavailable(format!("AuthnRequest: {e}"));
        let (location, form) = match self.settings.binding {
            Binding::Redirect => {
                let xml = request.xml(None).map_err(failed)?;
                let url = redirect_url(
                    &md.sso_url,
                    "SAMLRequest",
                    &xml,
                    Some(&relay_state),
                    self.signer(),
                )
                .map_err(failed)?;
                (url, None)
            }
            Binding::Post => {
                let xml = request.xml(self.signer()).map_err(failed)?;
                let form = vec![
                    ("SAMLRequest".to_owned(), STANDARD.encode(xml)),
                    ("RelayState".to_owned(), relay_state.clone()),
                ];
                (md.sso_url.clone(), Some(form))
            }
        };
        let pending = Pending {
            request_id,
            relay_state: relay_state.clone(),
        };
        Ok(RedirectStart {
            location,
            state: relay_state,
            pending: serde_json::to_value(&pending)
                .map_err(|e| CallbackError::Unavailable(e.to_string()))?,
            form,
        })
    }

    /// `params` are the POSTed form fields. `pending` is what `begin` returned, or JSON `null`
    /// for an unsolicited (IdP-initiated) Response, which needs `allow_idp_initiated`.
    async fn complete(
        &self,
        pending: &serde_json::Value,
        _callback_url: &str,
        params: &[(String, String)],
    ) -> Result<ExternalIdentity, CallbackError> {
        let pending: Option<Pending> =
            if pending.is_null() {
                None
            } else {
                Some(serde_json::from_value(pending.clone()).map_err(|_| {
                    CallbackError::Invalid("the pending login is unreadable".into())
                })?)
            };
        if let Some(p) = &pending {
            let relay_state = Self::callback_params(params, "RelayState")?.unwrap_or_default();
            if relay_state.is_empty() || !Secret::new(p.relay_state.as_str()).ct_eq(relay_state) {
                return Err(CallbackError::State);
            }
        }
        let encoded = Self::callback_params(params, "SAMLResponse")?
            .ok_or_else(|| CallbackError::Invalid("xml: no SAMLResponse".into()))?;
        if encoded.len() > MAX_SAML_RESPONSE_BYTES {
            return Err(CallbackError::Invalid(format!(
                "xml: SAMLResponse is larger than {MAX_SAML_RESPONSE_BYTES} bytes"
            )));
        }
        let compact: String = encoded
            .chars()
            .filter(|c| !c.is_ascii_whitespace())
            .collect();
        let bytes = STANDARD
            .decode(compact)
            .map_err(|_| CallbackError::Invalid("xml: SAMLResponse is not base64".into()))?;
        let xml = String::from_utf8(bytes)
            .map_err(|_| CallbackError::Invalid("xml: SAMLResponse is not UTF-8".into()))?;
        self.complete_xml(pending.as_ref().map(|p| p.request_id.as_str()), &xml)
            .await
    }

    /// With `global_logout` and an IdP SLO endpoint (HTTP-Redirect): a LogoutRequest for the
    /// NameID and SessionIndex in `logout_hint`, with `RelayState = return_to`. The IdP sends
    /// its LogoutResponse to the SLO URL with that RelayState, which the server does not follow
    /// (it goes to its own fixed logged-out URL); the request's ID is remembered for
    /// [`SamlProvider::parse_logout_response_query`].
    fn logout_location(&self, logout_hint: Option<&str>, return_to: &str) -> Option<String> {
        if !self.settings.global_logout {
            return None;
        }
        let hint: LogoutHint = serde_json::from_str(logout_hint?).ok()?;
        let md = self.metadata.snapshot();
        let slo = md.slo_redirect.as_ref()?;
        let id = new_id();
        let xml =
            logout::logout_request_xml(&id, Utc::now(), &slo.location, &self.sp.entity_id, &hint);
        let relay = (!return_to.is_empty()).then_some(return_to);
        let url = redirect_url(&slo.location, "SAMLRequest", &xml, relay, self.signer())
            .inspect_err(|e| tracing::warn!(error = %e, "cannot build the SAML LogoutRequest"))
            .ok()?;
        self.pending_logouts.insert(&id);
        Some(url)
    }
}

impl SamlProvider {
    /// The ACS checks and the mapping on a decoded Response document. `request_id` is the
    /// pending AuthnRequest's ID (`None`: unsolicited). Public for the fuzz target and tests.
    pub async fn complete_xml(
        &self,
        request_id: Option<&str>,
        xml: &str,
    ) -> Result<ExternalIdentity, CallbackError> {
        let md = self.metadata.current().await;
        let checked = response::check(
            xml,
            &Expected {
                idp_entity_id: &md.entity_id,
                certs: &md.certs,
                sp_entity_id: &self.sp.entity_id,
                acs_url: &self.sp.acs_url,
                request_id,
                allow_idp_initiated: self.settings.allow_idp_initiated,
                skew: self.skew(),
                now: Utc::now(),
            },
        )?;
        self.mapping.identity(&checked.assertion, checked.not_after)
    }
}
