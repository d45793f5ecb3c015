//! The IdP's SAML metadata: its entity id, signing certificates, SSO and SLO endpoints. From a
//! file (read once) or a URL (fetched at start, refreshed every `metadata_refresh_s`; a failed
//! refresh keeps the last good copy).
//!
//! Metadata without a signing certificate is refused: samael would then accept responses
//! without checking any signature.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use samael::crypto::CertificateDer;
use samael::metadata::{EntityDescriptor, KeyDescriptor};

use crate::settings::{Binding, HTTP_POST, HTTP_REDIRECT};

/// The largest metadata document fetched (federation aggregates are not supported anyway).
const MAX_METADATA_BYTES: usize = 1 << 20;

/// What the SP needs of the IdP's metadata.
#[derive(Debug, Clone)]
pub(crate) struct IdpMetadata {
    pub entity_id: String,
    /// DER certificates whose keys may sign Responses, Assertions and LogoutRequests.
    pub certs: Vec<CertificateDer>,
    /// The SSO endpoint of the configured binding.
    pub sso_url: String,
    /// The HTTP-Redirect SLO endpoint, if the IdP has one.
    pub slo_redirect: Option<Endpoint>,
    pub want_authn_requests_signed: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    pub location: String,
    /// Where LogoutResponses go; default `location`.
    pub response_location: String,
}

/// Parses `xml` (an `EntityDescriptor`, or an `EntitiesDescriptor` holding exactly one IdP).
/// `source` names the file or URL in messages.
pub(crate) fn parse(xml: &str, binding: Binding, source: &str) -> Result<IdpMetadata, String> {
    if has_doctype(xml) {
        return Err(format!("{source}: a DOCTYPE is not allowed in metadata"));
    }
    let entity = entity(xml).map_err(|e| format!("{source}: {e}"))?;
    let entity_id = entity
        .entity_id
        .clone()
        .filter(|id| !id.trim().is_empty())
        .ok_or_else(|| format!("{source}: the EntityDescriptor has no entityID"))?;
    let idps = entity.idp_sso_descriptors.as_deref().unwrap_or_default();
    let [idp] = idps else {
        return Err(format!(
            "{source}: expected exactly one IDPSSODescriptor, found {}",
            idps.len()
        ));
    };
    let mut certs = Vec::new();
    // Keys marked `use="signing"`, and keys without `use` (they serve both purposes).
    for kd in &idp.key_descriptors {
        if matches!(kd.key_use.as_deref(), None | Some("") | Some("signing")) {
            certs.extend(certificates(kd).map_err(|e| format!("{source}: {e}"))?);
        }
    }
    if certs.is_empty() {
        return Err(format!(
            "{source}: the IDPSSODescriptor has no signing certificate (a KeyDescriptor with \
             use=\"signing\" or no use, holding an X509Certificate); without one no response \
             signature could be checked, so this metadata is refused"
        ));
    }
    let sso_url = idp
        .single_sign_on_services
        .iter()
        .find(|s| s.binding == binding.urn())
        .map(|s| s.location.clone())
        .ok_or_else(|| {
            format!(
                "{source}: the IdP has no SingleSignOnService with binding {}; set binding = \"{}\"",
                binding.urn(),
                match binding {
                    Binding::Redirect => "post",
                    Binding::Post => "redirect",
                }
            )
        })?;
    let slo_redirect = idp
        .single_logout_services
        .iter()
        .find(|s| s.binding == HTTP_REDIRECT)
        .map(|s| Endpoint {
            location: s.location.clone(),
            response_location: s
                .response_location
                .clone()
                .unwrap_or_else(|| s.location.clone()),
        });
    let _ = HTTP_POST;
    Ok(IdpMetadata {
        entity_id,
        certs,
        sso_url,
        slo_redirect,
        want_authn_requests_signed: idp.want_authn_requests_signed.unwrap_or(false),
    })
}

/// A `<!DOCTYPE` could declare entities; SAML messages and metadata never need one.
pub(crate) fn has_doctype(xml: &str) -> bool {
    xml.contains("<!DOCTYPE") || xml.contains("<!doctype")
}

fn entity(xml: &str) -> Result<EntityDescriptor, String> {
    use samael::metadata::EntityDescriptorType;
    match xml.parse::<EntityDescriptorType>() {
        Ok(EntityDescriptorType::EntityDescriptor(e)) => Ok(e),
        Ok(EntityDescriptorType::EntitiesDescriptor(all)) => {
            let mut idps = all.descriptors.into_iter().filter_map(|d| match d {
                EntityDescriptorType::EntityDescriptor(e)
                    if e.idp_sso_descriptors
                        .as_ref()
                        .is_some_and(|v| !v.is_empty()) =>
                {
                    Some(e)
                }
                _ => None,
            });
            match (idps.next(), idps.next()) {
                (Some(e), None) => Ok(e),
                (None, _) => Err("the EntitiesDescriptor holds no IdP".into()),
                (Some(_), Some(_)) => Err(
                    "the EntitiesDescriptor holds several IdPs; give the metadata of one".into(),
                ),
            }
        }
        Err(e) => Err(format!("not SAML metadata: {e}")),
    }
}

fn certificates(kd: &KeyDescriptor) -> Result<Vec<CertificateDer>, String> {
    let Some(x509) = &kd.key_info.x509_data else {
        return Ok(Vec::new());
    };
    x509.certificates
        .iter()
        .map(|b64| {
            let compact: String = b64.chars().filter(|c| !c.is_ascii_whitespace()).collect();
            let der = STANDARD
                .decode(compact)
                .map_err(|e| format!("an X509Certificate is not base64: {e}"))?;
            openssl::x509::X509::from_der(&der)
                .map_err(|e| format!("an X509Certificate is not a DER certificate: {e}"))?;
            Ok(CertificateDer::from(der))
        })
        .collect()
}

/// Where the metadata comes from, and the copy in use.
pub(crate) struct MetadataSource {
    url: Option<String>,
    http: reqwest::Client,
    binding: Binding,
    refresh: Duration,
    current: RwLock<Arc<IdpMetadata>>,
    /// When the last fetch was tried; one refresh at a time.
    last_try: tokio::sync::Mutex<Instant>,
}

impl MetadataSource {
    pub(crate) fn from_file(path: &std::path::Path, binding: Binding) -> Result<Self, String> {
        let source = format!("idp_metadata_file {}", path.display());
        let xml = std::fs::read_to_string(path).map_err(|e| format!("{source}: {e}"))?;
        let md = parse(&xml, binding, &source)?;
        Ok(Self::fixed(md, binding))
    }

    pub(crate) fn fixed(md: IdpMetadata, binding: Binding) -> Self {
        Self {
            url: None,
            http: reqwest::Client::new(),
            binding,
            refresh: Duration::MAX,
            current: RwLock::new(Arc::new(md)),
            last_try: tokio::sync::Mutex::new(Instant::now()),
        }
    }

    pub(crate) async fn from_url(
        url: &str,
        http: reqwest::Client,
        binding: Binding,
        refresh: Duration,
    ) -> Result<Self, String> {
        let md = fetch(&http, url, binding).await?;
        Ok(Self {
            url: Some(url.to_owned()),
            http,
            binding,
            refresh,
            current: RwLock::new(Arc::new(md)),
            last_try: tokio::sync::Mutex::new(Instant::now()),
        })
    }

    /// The copy in use, without refreshing.
    pub(crate) fn snapshot(&self) -> Arc<IdpMetadata> {
        match self.current.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The copy in use, fetched again first when it is older than `metadata_refresh_s`. A
    /// failed fetch (or metadata that would now be refused) keeps the last good copy.
    pub(crate) async fn current(&self) -> Arc<IdpMetadata> {
        let Some(url) = &self.url else {
            return self.snapshot();
        };
        // Another request is refreshing: use the copy in hand rather than wait.
        let Ok(mut last) = self.last_try.try_lock() else {
            return self.snapshot();
        };
        if last.elapsed() < self.refresh {
            return self.snapshot();
        }
        *last = Instant::now();
        match fetch(&self.http, url, self.binding).await {
            Ok(md) => {
                let md = Arc::new(md);
                match self.current.write() {
                    Ok(mut g) => *g = md.clone(),
                    Err(poisoned) => *poisoned.into_inner() = md.clone(),
                }
                md
            }
            Err(e) => {
                tracing::warn!(error = %e, "IdP metadata refresh failed; keeping the last good copy");
                self.snapshot()
            }
        }
    }

    /// Forces the next [`MetadataSource::current`] to fetch (tests, an admin's reload).
    pub(crate) async fn expire(&self) {
        if let Some(past) =
            Instant::now().checked_sub(self.refresh.min(Duration::from_secs(1 << 30)))
        {
            *self.last_try.lock().await = past;
        }
    }
}

/// Prometheus gauge: when `idp_metadata_url` was last fetched, in Unix seconds (the age is
/// `time() - …` in PromQL), by the URL.
const FETCHED: &str = "gatehouse_upstream_fetched_timestamp_seconds";

async fn fetch(http: &reqwest::Client, url: &str, binding: Binding) -> Result<IdpMetadata, String> {
    let md = fetch_once(http, url, binding).await?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    metrics::gauge!(FETCHED, "upstream" => url.to_owned(), "document" => "saml_metadata").set(now);
    Ok(md)
}

async fn fetch_once(
    http: &reqwest::Client,
    url: &str,
    binding: Binding,
) -> Result<IdpMetadata, String> {
    let source = format!("idp_metadata_url {url}");
    let resp = http
        .get(url)
        .send()
        .await
        .map_err(|e| format!("{source}: {e}"))?;
    if !resp.status().is_success() {
        return Err(format!("{source}: HTTP {}", resp.status()));
    }
    if resp
        .content_length()
        .is_some_and(|l| l > MAX_METADATA_BYTES as u64)
    {
        return Err(format!("{source}: larger than {MAX_METADATA_BYTES} bytes"));
    }
    let body = resp.bytes().await.map_err(|e| format!("{source}: {e}"))?;
    if body.len() > MAX_METADATA_BYTES {
        return Err(format!("{source}: larger than {MAX_METADATA_BYTES} bytes"));
    }
    let xml = std::str::from_utf8(&body).map_err(|_| format!("{source}: not UTF-8"))?;
    parse(xml, binding, &source)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CERT: &str = include_str!("../../../fixtures/saml/idp-cert.pem");

    fn entity(id: &str, with_key: bool) -> String {
        let cert: String = CERT.lines().filter(|l| !l.starts_with("-----")).collect();
        let key = if with_key {
            format!(
                "<md:KeyDescriptor><ds:KeyInfo xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"><ds:X509Data><ds:X509Certificate>\n{cert}\n</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"
            )
        } else {
            String::new()
        };
        format!(
            "<md:EntityDescriptor xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\" entityID=\"{id}\"><md:IDPSSODescriptor protocolSupportEnumeration=\"urn:oasis:names:tc:SAML:2.0:protocol\" WantAuthnRequestsSigned=\"true\">{key}<md:SingleLogoutService Binding=\"{HTTP_REDIRECT}\" Location=\"https://idp/slo\" ResponseLocation=\"https://idp/slo-resp\"/><md:SingleSignOnService Binding=\"{HTTP_REDIRECT}\" Location=\"https://idp/sso\"/></md:IDPSSODescriptor></md:EntityDescriptor>"
        )
    }

    #[test]
    fn reads_entity_keys_and_endpoints() {
        let md = parse(&entity("https://idp", true), Binding::Redirect, "test").unwrap();
        assert_eq!(md.entity_id, "https://idp");
        assert_eq!(md.certs.len(), 1);
        assert_eq!(md.sso_url, "https://idp/sso");
        let slo = md.slo_redirect.unwrap();
        assert_eq!(
            (slo.location.as_str(), slo.response_location.as_str()),
            ("https://idp/slo", "https://idp/slo-resp")
        );
        assert!(md.want_authn_requests_signed);
        let err = parse(&entity("https://idp", true), Binding::Post, "test").unwrap_err();
        assert!(err.contains("binding = \"redirect\""), "{err}");
    }

    #[test]
    fn an_aggregate_must_hold_exactly_one_idp() {
        let wrap = |inner: String| {
            format!(
                "<md:EntitiesDescriptor xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\">{inner}</md:EntitiesDescriptor>"
            )
        };
        let one = wrap(entity("https://a", true));
        assert_eq!(
            parse(&one, Binding::Redirect, "t").unwrap().entity_id,
            "https://a"
        );
        let two = wrap(entity("https://a", true) + &entity("https://b", true));
        assert!(
            parse(&two, Binding::Redirect, "t")
                .unwrap_err()
                .contains("several IdPs")
        );
    }

    #[test]
    fn no_signing_key_names_the_source() {
        let err = parse(
            &entity("https://idp", false),
            Binding::Redirect,
            "idp_metadata_file x",
        )
        .unwrap_err();
        assert!(err.starts_with("idp_metadata_file x: "), "{err}");
        assert!(err.contains("no signing certificate"), "{err}");
    }
}
