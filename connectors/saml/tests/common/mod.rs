//! A test IdP: the committed key + certificate under fixtures/saml/, metadata written to a
//! temporary file, and Responses built here and signed for real by xmlsec (samael's
//! `Crypto::sign_xml`) — each field settable, so every attack case is one change away from a
//! valid Response.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use gatehouse_connector_saml::{SamlProvider, SamlSettings, SpUrls, signature_template};
use gatehouse_core::{ProviderDescriptor, ProviderKind};
use samael::crypto::{Crypto, CryptoProvider};

pub const IDP_ENTITY: &str = "https://idp.test/saml/metadata";
pub const SSO_URL: &str = "https://idp.test/saml/sso";
pub const IDP_SLO_URL: &str = "https://idp.test/saml/slo";
pub const SP_ENTITY: &str = "https://sp.test/realms/main/broker/corp";
pub const ACS_URL: &str = "https://sp.test/realms/main/broker/corp/callback";
pub const SLO_URL: &str = "https://sp.test/realms/main/broker/corp/slo";
pub const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/saml")
        .join(name)
}

/// A PEM certificate's base64 body.
pub fn cert_b64(name: &str) -> String {
    let pem = std::fs::read_to_string(fixture(name)).unwrap();
    pem.lines().filter(|l| !l.starts_with("-----")).collect()
}

/// A PEM key as the DER xmlsec signs with.
pub fn key_der(name: &str) -> Vec<u8> {
    let pem = std::fs::read(fixture(name)).unwrap();
    openssl::pkey::PKey::private_key_from_pem(&pem)
        .unwrap()
        .private_key_to_der()
        .unwrap()
}

/// IdP metadata; `certs` are base64 DER certificates (none: metadata without a signing key).
pub fn idp_metadata(certs: &[String], key_use: Option<&str>) -> String {
    let use_attr = key_use.map(|u| format!(" use=\"{u}\"")).unwrap_or_default();
    let keys: String = certs
        .iter()
        .map(|c| {
            format!(
                "<md:KeyDescriptor{use_attr}><ds:KeyInfo xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"><ds:X509Data><ds:X509Certificate>{c}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"
            )
        })
        .collect();
    format!(
        r#"<?xml version="1.0"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="{IDP_ENTITY}">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    {keys}
    <md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="{IDP_SLO_URL}"/>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="{SSO_URL}"/>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="{SSO_URL}"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>"#
    )
}

pub struct TestSp {
    pub provider: SamlProvider,
    _dir: tempfile::TempDir,
}

pub fn descriptor() -> ProviderDescriptor {
    ProviderDescriptor {
        id: "corp".into(),
        kind: ProviderKind::Saml,
        enabled: true,
        supersedes: Vec::new(),
        jit: true,
    }
}

pub fn sp_urls() -> SpUrls {
    SpUrls {
        entity_id: SP_ENTITY.into(),
        acs_url: ACS_URL.into(),
        slo_url: SLO_URL.into(),
    }
}

/// Settings parsed from TOML (`idp_metadata_file` is added), as the server would.
pub fn settings(metadata: &Path, extra: &str) -> SamlSettings {
    toml::from_str(&format!(
        "idp_metadata_file = {:?}\n{extra}",
        metadata.display().to_string()
    ))
    .unwrap()
}

pub async fn try_sp(
    metadata_xml: &str,
    extra: &str,
) -> Result<TestSp, gatehouse_connector_saml::SamlError> {
    let dir = tempfile::tempdir().unwrap();
    let md = dir.path().join("idp.xml");
    std::fs::write(&md, metadata_xml).unwrap();
    let provider = SamlProvider::new(
        descriptor(),
        settings(&md, extra),
        sp_urls(),
        reqwest::Client::new(),
    )
    .await?;
    Ok(TestSp {
        provider,
        _dir: dir,
    })
}

/// An SP trusting the test IdP's certificate.
pub async fn sp(extra: &str) -> TestSp {
    try_sp(
        &idp_metadata(&[cert_b64("idp-cert.pem")], Some("signing")),
        extra,
    )
    .await
    .unwrap()
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Sign {
    None,
    Response,
    Assertion,
    Both,
}

/// Every field of a Response that a check looks at.
#[derive(Clone, Debug)]
pub struct Resp {
    pub id: String,
    pub assertion_id: String,
    pub destination: Option<String>,
    pub in_response_to: Option<String>,
    pub status: String,
    pub issuer: String,
    pub audience: String,
    pub recipient: String,
    pub name_id: String,
    pub issue_instant: DateTime<Utc>,
    pub not_before: DateTime<Utc>,
    pub not_on_or_after: DateTime<Utc>,
    /// SubjectConfirmationData's window; default NotOnOrAfter = `not_on_or_after`, no NotBefore.
    pub confirmation_not_before: Option<DateTime<Utc>>,
    pub confirmation_not_on_or_after: Option<DateTime<Utc>>,
    pub attributes: Vec<(String, Vec<String>)>,
    pub session_index: String,
    pub sign: Sign,
    pub key: String,
}

impl Resp {
    /// A valid answer to the request `request_id`.
    pub fn valid(request_id: &str) -> Self {
        let now = Utc::now();
        Resp {
            id: format!("_r{}", rand_hex()),
            assertion_id: format!("_a{}", rand_hex()),
            destination: Some(ACS_URL.into()),
            in_response_to: Some(request_id.into()),
            status: "urn:oasis:names:tc:SAML:2.0:status:Success".into(),
            issuer: IDP_ENTITY.into(),
            audience: SP_ENTITY.into(),
            recipient: ACS_URL.into(),
            name_id: "alice@corp.test".into(),
            issue_instant: now,
            not_before: now - Duration::seconds(30),
            not_on_or_after: now + Duration::minutes(5),
            confirmation_not_before: None,
            confirmation_not_on_or_after: None,
            attributes: vec![
                ("uid".into(), vec!["alice".into()]),
                ("mail".into(), vec!["alice@corp.test".into()]),
                ("displayName".into(), vec!["Alice Liddell".into()]),
                ("groups".into(), vec!["staff".into(), "admins".into()]),
            ],
            session_index: "_session-1".into(),
            sign: Sign::Assertion,
            key: "idp-key.pem".into(),
        }
    }

    pub fn assertion_xml(&self, signed: bool) -> String {
        let t = |d: DateTime<Utc>| d.to_rfc3339_opts(SecondsFormat::Secs, true);
        let sig = if signed {
            signature_template(&self.assertion_id, RSA_SHA256, None)
        } else {
            String::new()
        };
        let irt = self
            .in_response_to
            .as_ref()
            .map(|i| format!(" InResponseTo=\"{i}\""))
            .unwrap_or_default();
        let attrs: String = self
            .attributes
            .iter()
            .map(|(n, vs)| {
                let values: String = vs
                    .iter()
                    .map(|v| format!("<saml:AttributeValue>{v}</saml:AttributeValue>"))
                    .collect();
                format!("<saml:Attribute Name=\"{n}\">{values}</saml:Attribute>")
            })
            .collect();
        let xml = format!(
            "<saml:Assertion xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" ID=\"{id}\" Version=\"2.0\" IssueInstant=\"{ii}\">\
             <saml:Issuer>{issuer}</saml:Issuer>{sig}\
             <saml:Subject><saml:NameID Format=\"urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress\">{name_id}</saml:NameID>\
             <saml:SubjectConfirmation Method=\"urn:oasis:names:tc:SAML:2.0:cm:bearer\">\
             <saml:SubjectConfirmationData{irt}{scd_nb} NotOnOrAfter=\"{scd_noa}\" Recipient=\"{recipient}\"/>\
             </saml:SubjectConfirmation></saml:Subject>\
             <saml:Conditions NotBefore=\"{nb}\" NotOnOrAfter=\"{noa}\"><saml:AudienceRestriction><saml:Audience>{aud}</saml:Audience></saml:AudienceRestriction></saml:Conditions>\
             <saml:AuthnStatement AuthnInstant=\"{ii}\" SessionIndex=\"{si}\"><saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:Password</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>\
             <saml:AttributeStatement>{attrs}</saml:AttributeStatement></saml:Assertion>",
            id = self.assertion_id,
            ii = t(self.issue_instant),
            issuer = self.issuer,
            name_id = self.name_id,
            noa = t(self.not_on_or_after),
            recipient = self.recipient,
            scd_nb = self
                .confirmation_not_before
                .map(|d| format!(" NotBefore=\"{}\"", t(d)))
                .unwrap_or_default(),
            scd_noa = t(self
                .confirmation_not_on_or_after
                .unwrap_or(self.not_on_or_after)),
            nb = t(self.not_before),
            aud = self.audience,
            si = self.session_index,
        );
        if signed { sign(&xml, &self.key) } else { xml }
    }

    /// The Response XML, signed as `self.sign` says.
    pub fn xml(&self) -> String {
        let assertion = self.assertion_xml(matches!(self.sign, Sign::Assertion | Sign::Both));
        self.response_xml(&assertion, matches!(self.sign, Sign::Response | Sign::Both))
    }

    /// A Response around `inner` (an Assertion, or anything), signed or not.
    pub fn response_xml(&self, inner: &str, signed: bool) -> String {
        let t = |d: DateTime<Utc>| d.to_rfc3339_opts(SecondsFormat::Secs, true);
        let sig = if signed {
            signature_template(&self.id, RSA_SHA256, None)
        } else {
            String::new()
        };
        let dest = self
            .destination
            .as_ref()
            .map(|d| format!(" Destination=\"{d}\""))
            .unwrap_or_default();
        let irt = self
            .in_response_to
            .as_ref()
            .map(|i| format!(" InResponseTo=\"{i}\""))
            .unwrap_or_default();
        let xml = format!(
            "<samlp:Response xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" ID=\"{id}\" Version=\"2.0\" IssueInstant=\"{ii}\"{dest}{irt}>\
             <saml:Issuer>{issuer}</saml:Issuer>{sig}\
             <samlp:Status><samlp:StatusCode Value=\"{status}\"/></samlp:Status>{inner}</samlp:Response>",
            id = self.id,
            ii = t(self.issue_instant),
            issuer = self.issuer,
            status = self.status,
        );
        if signed { sign(&xml, &self.key) } else { xml }
    }
}

/// Signs the first signature template of `xml` with the fixture key `key`; the XML
/// declaration xmlsec adds is dropped so the result can be embedded.
pub fn sign(xml: &str, key: &str) -> String {
    let signed = Crypto::sign_xml(xml, &key_der(key)).unwrap();
    strip_decl(&signed)
}

pub fn strip_decl(xml: &str) -> String {
    let xml = xml.trim();
    match xml.strip_prefix("<?xml") {
        Some(rest) => rest[rest.find("?>").unwrap() + 2..].trim().to_owned(),
        None => xml.to_owned(),
    }
}

pub fn rand_hex() -> String {
    format!("{:032x}", rand::random::<u128>())
}

pub fn form(xml: &str, relay_state: &str) -> Vec<(String, String)> {
    vec![
        ("SAMLResponse".into(), STANDARD.encode(xml)),
        ("RelayState".into(), relay_state.into()),
    ]
}
