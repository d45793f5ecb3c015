//! Single logout: the SP's LogoutRequest at broker logout, the IdP's LogoutRequest (signed by
//! the IdP's key over the HTTP-Redirect query, or not) and the LogoutResponse back.

mod common;

use std::io::{Read, Write};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{Duration, SecondsFormat, Utc};
use common::*;
use gatehouse_connector_saml::{IdpLogoutRequest, LogoutHint};
use gatehouse_core::{CallbackError, RedirectProvider};

fn inflate(b64: &str) -> String {
    let raw = STANDARD.decode(b64).unwrap();
    let mut out = String::new();
    flate2::read::DeflateDecoder::new(raw.as_slice())
        .read_to_string(&mut out)
        .unwrap();
    out
}

fn deflate(xml: &str) -> String {
    let mut d = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    d.write_all(xml.as_bytes()).unwrap();
    STANDARD.encode(d.finish().unwrap())
}

fn param(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn hint() -> String {
    serde_json::to_string(&LogoutHint {
        name_id: "alice@corp.test".into(),
        name_id_format: Some("urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress".into()),
        session_index: Some("_session-1".into()),
    })
    .unwrap()
}

#[tokio::test]
async fn broker_logout_sends_a_logout_request_when_global_logout() {
    let off = sp("").await;
    assert_eq!(
        off.provider
            .logout_location(Some(&hint()), "https://app.test/bye"),
        None
    );
    let on = sp("global_logout = true").await;
    assert_eq!(
        on.provider.logout_location(None, "https://app.test/bye"),
        None
    );
    let url = on
        .provider
        .logout_location(Some(&hint()), "https://app.test/bye")
        .unwrap();
    assert!(
        url.starts_with(&format!("{IDP_SLO_URL}?SAMLRequest=")),
        "{url}"
    );
    assert_eq!(
        param(&url, "RelayState").as_deref(),
        Some("https://app.test/bye")
    );
    let xml = inflate(&param(&url, "SAMLRequest").unwrap());
    assert!(xml.contains("<samlp:LogoutRequest"), "{xml}");
    assert!(
        xml.contains(&format!("Destination=\"{IDP_SLO_URL}\"")),
        "{xml}"
    );
    assert!(
        xml.contains(&format!("<saml:Issuer>{SP_ENTITY}</saml:Issuer>")),
        "{xml}"
    );
    assert!(xml.contains(">alice@corp.test</saml:NameID>"), "{xml}");
    assert!(
        xml.contains("Format=\"urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress\""),
        "{xml}"
    );
    assert!(
        xml.contains("<samlp:SessionIndex>_session-1</samlp:SessionIndex>"),
        "{xml}"
    );
}

#[tokio::test]
async fn the_logout_hint_of_a_login_drives_the_logout_request() {
    let sp = sp("global_logout = true").await;
    let start = sp.provider.begin(ACS_URL).await.unwrap();
    let r = Resp::valid(start.pending["request_id"].as_str().unwrap());
    let id = sp
        .provider
        .complete(&start.pending, ACS_URL, &form(&r.xml(), &start.state))
        .await
        .unwrap();
    let url = sp
        .provider
        .logout_location(id.logout_hint.as_deref(), "https://app.test/")
        .unwrap();
    let xml = inflate(&param(&url, "SAMLRequest").unwrap());
    assert!(
        xml.contains("<samlp:SessionIndex>_session-1</samlp:SessionIndex>"),
        "{xml}"
    );
}

struct IdpLogout {
    id: String,
    issuer: String,
    destination: String,
    instant: chrono::DateTime<Utc>,
}

impl IdpLogout {
    fn valid() -> Self {
        IdpLogout {
            id: format!("_lr{}", rand_hex()),
            issuer: IDP_ENTITY.into(),
            destination: SLO_URL.into(),
            instant: Utc::now(),
        }
    }

    fn xml(&self) -> String {
        format!(
            "<samlp:LogoutRequest xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" ID=\"{}\" Version=\"2.0\" IssueInstant=\"{}\" Destination=\"{}\"><saml:Issuer>{}</saml:Issuer><saml:NameID Format=\"urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress\">alice@corp.test</saml:NameID><samlp:SessionIndex>_session-1</samlp:SessionIndex></samlp:LogoutRequest>",
            self.id,
            self.instant.to_rfc3339_opts(SecondsFormat::Secs, true),
            self.destination,
            self.issuer
        )
    }

    /// The raw query, signed with the fixture key `key` when given (Python's urlencode style).
    fn query(&self, key: Option<&str>) -> String {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        q.append_pair("SAMLRequest", &deflate(&self.xml()));
        q.append_pair("RelayState", "idp relay/state");
        let mut q = q.finish();
        if let Some(key) = key {
            q.push_str("&SigAlg=");
            q.extend(url::form_urlencoded::byte_serialize(RSA_SHA256.as_bytes()));
            let pem = std::fs::read(fixture(key)).unwrap();
            let k = openssl::pkey::PKey::private_key_from_pem(&pem).unwrap();
            let mut s =
                openssl::sign::Signer::new(openssl::hash::MessageDigest::sha256(), &k).unwrap();
            s.update(q.as_bytes()).unwrap();
            let sig = STANDARD.encode(s.sign_to_vec().unwrap());
            q.push_str("&Signature=");
            q.extend(url::form_urlencoded::byte_serialize(sig.as_bytes()));
        }
        q
    }
}

fn params(query: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}

fn refused(r: Result<IdpLogoutRequest, CallbackError>, check: &str) {
    match r {
        Err(CallbackError::Invalid(m)) => assert!(m.starts_with(check), "expected {check}: {m}"),
        other => panic!("expected a refusal by {check}: {other:?}"),
    }
}

#[tokio::test]
async fn idp_logout_request_signed_and_unsigned() {
    let sp = sp("").await;
    let lr = IdpLogout::valid();
    let expected = IdpLogoutRequest {
        id: lr.id.clone(),
        name_id: "alice@corp.test".into(),
        session_index: Some("_session-1".into()),
    };
    let q = lr.query(Some("idp-key.pem"));
    assert_eq!(
        sp.provider.parse_logout_request_query(&q).unwrap(),
        expected
    );
    assert_eq!(
        sp.provider.parse_logout_request(&params(&q)).unwrap(),
        expected
    );
    // Unsigned: refused (SAML profiles §4.4.3.1), also when a key spelt with escapes
    // (`%53ignature`) pretends to be the Signature.
    let q = lr.query(None);
    refused(sp.provider.parse_logout_request_query(&q), "signature");
    refused(sp.provider.parse_logout_request(&params(&q)), "signature");
    refused(
        sp.provider
            .parse_logout_request_query(&format!("{q}&%53ignature=eA%3D%3D")),
        "signature",
    );
    // Signed by a key the metadata does not hold, or altered after signing.
    let q = lr.query(Some("unknown-key.pem"));
    refused(sp.provider.parse_logout_request_query(&q), "signature");
    refused(sp.provider.parse_logout_request(&params(&q)), "signature");
    let q = lr
        .query(Some("idp-key.pem"))
        .replace("RelayState=idp", "RelayState=evil");
    refused(sp.provider.parse_logout_request_query(&q), "signature");
    // A signature without its algorithm.
    let q = lr.query(Some("idp-key.pem"));
    let no_alg: String = q
        .split('&')
        .filter(|p| !p.starts_with("SigAlg="))
        .collect::<Vec<_>>()
        .join("&");
    refused(sp.provider.parse_logout_request_query(&no_alg), "signature");
}

#[tokio::test]
async fn idp_logout_request_checks_issuer_destination_and_age() {
    let sp = sp("").await;
    let mut lr = IdpLogout::valid();
    lr.issuer = "https://other-idp.test".into();
    refused(
        sp.provider
            .parse_logout_request_query(&lr.query(Some("idp-key.pem"))),
        "issuer",
    );
    let mut lr = IdpLogout::valid();
    lr.destination = "https://other-sp.test/slo".into();
    refused(
        sp.provider
            .parse_logout_request_query(&lr.query(Some("idp-key.pem"))),
        "destination",
    );
    let mut lr = IdpLogout::valid();
    lr.instant = Utc::now() - Duration::minutes(30);
    refused(
        sp.provider
            .parse_logout_request_query(&lr.query(Some("idp-key.pem"))),
        "expired",
    );
    // Unsigned garbage: the missing signature is what refuses it first.
    refused(
        sp.provider.parse_logout_request_query("SAMLRequest=%%%"),
        "signature",
    );
    refused(sp.provider.parse_logout_request_query(""), "logout");
}

#[tokio::test]
async fn logout_response_goes_back_to_the_idp() {
    let sp = sp("").await;
    let req = IdpLogoutRequest {
        id: "_lr1".into(),
        name_id: "alice@corp.test".into(),
        session_index: None,
    };
    let url = sp
        .provider
        .logout_response_location(&req, Some("rs-1"))
        .unwrap();
    assert!(
        url.starts_with(&format!("{IDP_SLO_URL}?SAMLResponse=")),
        "{url}"
    );
    assert_eq!(param(&url, "RelayState").as_deref(), Some("rs-1"));
    let xml = inflate(&param(&url, "SAMLResponse").unwrap());
    assert!(xml.contains("InResponseTo=\"_lr1\""), "{xml}");
    assert!(
        xml.contains("urn:oasis:names:tc:SAML:2.0:status:Success"),
        "{xml}"
    );
    assert!(
        xml.contains(&format!("<saml:Issuer>{SP_ENTITY}</saml:Issuer>")),
        "{xml}"
    );
}
