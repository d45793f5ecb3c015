//! Construction (settings, IdP metadata from a file or a URL), the AuthnRequest in both
//! bindings, signed or not, and the SP metadata.

mod common;

use std::io::Read;
use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::*;
use gatehouse_connector_saml::{SamlError, SamlProvider};
use gatehouse_core::{CallbackError, RedirectProvider};
use samael::crypto::{CertificateDer, Crypto, CryptoProvider};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn inflate(b64: &str) -> String {
    let raw = STANDARD.decode(b64).unwrap();
    let mut out = String::new();
    flate2::read::DeflateDecoder::new(raw.as_slice())
        .read_to_string(&mut out)
        .unwrap();
    out
}

fn query_param(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn sp_cert_der() -> Vec<u8> {
    let pem = std::fs::read(fixture("sp-cert.pem")).unwrap();
    openssl::x509::X509::from_pem(&pem)
        .unwrap()
        .to_der()
        .unwrap()
}

fn metadata_error(r: Result<TestSp, SamlError>) -> String {
    match r {
        Err(SamlError::Metadata(m)) => m,
        Err(other) => panic!("expected a metadata error, got {other}"),
        Ok(_) => panic!("metadata accepted"),
    }
}

#[tokio::test]
async fn metadata_without_a_signing_certificate_is_refused() {
    let m = metadata_error(try_sp(&idp_metadata(&[], None), "").await);
    assert!(m.contains("no signing certificate"), "{m}");
    // An encryption-only key is no signing key either.
    let m = metadata_error(
        try_sp(
            &idp_metadata(&[cert_b64("idp-cert.pem")], Some("encryption")),
            "",
        )
        .await,
    );
    assert!(m.contains("no signing certificate"), "{m}");
    // A key without `use` serves both purposes.
    assert!(
        try_sp(&idp_metadata(&[cert_b64("idp-cert.pem")], None), "")
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn unusable_metadata_is_refused_with_the_reason() {
    let md = idp_metadata(&[cert_b64("idp-cert.pem")], Some("signing"));
    let no_post = md.replace(
        "<md:SingleSignOnService Binding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST\"",
        "<md:ArtifactResolutionService index=\"0\" Binding=\"x\"",
    );
    let m = metadata_error(try_sp(&no_post, "binding = \"post\"").await);
    assert!(m.contains("SingleSignOnService"), "{m}");
    let m = metadata_error(try_sp(&md.replace("MII", "!!!"), "").await);
    assert!(m.contains("X509Certificate"), "{m}");
    let m = metadata_error(try_sp("<html/>", "").await);
    assert!(m.contains("not SAML metadata"), "{m}");
    let m = metadata_error(try_sp(&format!("<!DOCTYPE x>{md}"), "").await);
    assert!(m.contains("DOCTYPE"), "{m}");
}

#[tokio::test]
async fn settings_errors_name_the_key() {
    let md = idp_metadata(&[cert_b64("idp-cert.pem")], Some("signing"));
    let bad = |r: Result<TestSp, SamlError>, key: &str| match r {
        Err(SamlError::InvalidSettings(m)) => assert!(m.starts_with(key), "{m}"),
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("accepted"),
    };
    bad(try_sp(&md, "sign_requests = true").await, "sp_key_file");
    let mismatched = format!(
        "sign_requests = true\nsp_key_file = {:?}\nsp_cert_file = {:?}",
        fixture("sp-key.pem").display().to_string(),
        fixture("idp-cert.pem").display().to_string()
    );
    bad(try_sp(&md, &mismatched).await, "sp_cert_file");
    let not_a_key = format!(
        "sign_requests = true\nsp_key_file = {:?}\nsp_cert_file = {:?}",
        fixture("sp-cert.pem").display().to_string(),
        fixture("sp-cert.pem").display().to_string()
    );
    bad(try_sp(&md, &not_a_key).await, "sp_key_file");
}

#[tokio::test]
async fn redirect_binding_authn_request() {
    let sp = sp("").await;
    let start = sp.provider.begin(ACS_URL).await.unwrap();
    assert!(start.form.is_none());
    assert!(
        start
            .location
            .starts_with(&format!("{SSO_URL}?SAMLRequest="))
    );
    assert_eq!(
        query_param(&start.location, "RelayState").unwrap(),
        start.state
    );
    assert!(start.state.len() >= 33, "RelayState carries 128 bits");
    assert!(query_param(&start.location, "Signature").is_none());
    let xml = inflate(&query_param(&start.location, "SAMLRequest").unwrap());
    let id = start.pending["request_id"].as_str().unwrap();
    assert!(xml.contains(&format!("ID=\"{id}\"")), "{xml}");
    assert!(xml.contains(&format!("Destination=\"{SSO_URL}\"")), "{xml}");
    assert!(
        xml.contains(&format!("AssertionConsumerServiceURL=\"{ACS_URL}\"")),
        "{xml}"
    );
    assert!(
        xml.contains(&format!("<saml:Issuer>{SP_ENTITY}</saml:Issuer>")),
        "{xml}"
    );
    let request: samael::schema::AuthnRequest = xml.parse().unwrap();
    assert_eq!(request.id, id);
    // Each login gets its own id and RelayState.
    let again = sp.provider.begin(ACS_URL).await.unwrap();
    assert_ne!(again.state, start.state);
    assert_ne!(again.pending["request_id"], start.pending["request_id"]);
}

fn signing(key: &str) -> String {
    format!(
        "sign_requests = true\nsp_key_file = {:?}\nsp_cert_file = {:?}",
        fixture(key).display().to_string(),
        fixture("sp-cert.pem").display().to_string()
    )
}

#[tokio::test]
async fn signed_redirect_binding_with_pkcs1_and_pkcs8_keys() {
    for key in ["sp-key.pem", "sp-key-pkcs1.pem"] {
        let sp = sp(&signing(key)).await;
        let start = sp.provider.begin(ACS_URL).await.unwrap();
        let query = start.location.split_once('?').unwrap().1;
        let (signed, sig) = query.split_once("&Signature=").unwrap();
        assert!(
            signed.ends_with(
                "&SigAlg=http%3A%2F%2Fwww.w3.org%2F2001%2F04%2Fxmldsig-more%23rsa-sha256"
            )
        );
        let sig = STANDARD
            .decode(
                url::form_urlencoded::parse(format!("s={sig}").as_bytes())
                    .next()
                    .unwrap()
                    .1
                    .as_bytes(),
            )
            .unwrap();
        let cert = openssl::x509::X509::from_der(&sp_cert_der()).unwrap();
        let public = cert.public_key().unwrap();
        let mut v =
            openssl::sign::Verifier::new(openssl::hash::MessageDigest::sha256(), &public).unwrap();
        v.update(signed.as_bytes()).unwrap();
        assert!(
            v.verify(&sig).unwrap(),
            "{key}: the query signature verifies"
        );
    }
}

#[tokio::test]
async fn post_binding_authn_request_signed_and_not() {
    let sp = sp("binding = \"post\"").await;
    let start = sp.provider.begin(ACS_URL).await.unwrap();
    assert_eq!(start.location, SSO_URL);
    let form = start.form.unwrap();
    assert_eq!(form[0].0, "SAMLRequest");
    assert_eq!(form[1], ("RelayState".to_owned(), start.state.clone()));
    let xml = String::from_utf8(STANDARD.decode(&form[0].1).unwrap()).unwrap();
    assert!(!xml.contains("Signature"), "{xml}");

    let sp = common::sp(&format!("binding = \"post\"\n{}", signing("sp-key.pem"))).await;
    let start = sp.provider.begin(ACS_URL).await.unwrap();
    let form = start.form.unwrap();
    let xml = String::from_utf8(STANDARD.decode(&form[0].1).unwrap()).unwrap();
    assert!(xml.contains("<ds:SignatureValue>"), "{xml}");
    Crypto::verify_signed_xml(&xml, &CertificateDer::from(sp_cert_der()), Some("ID"))
        .expect("the enveloped signature verifies with the SP certificate");
    let tampered = xml.replace(ACS_URL, "https://evil.test/acs");
    assert!(
        Crypto::verify_signed_xml(&tampered, &CertificateDer::from(sp_cert_der()), Some("ID"))
            .is_err()
    );
}

#[tokio::test]
async fn sp_metadata_names_entity_acs_slo_and_certificate() {
    let plain = sp("").await.provider.sp_metadata_xml();
    let signed = sp(&signing("sp-key.pem")).await.provider.sp_metadata_xml();
    for (xml, with_cert) in [(plain, false), (signed, true)] {
        let md: samael::metadata::EntityDescriptor = xml.parse().unwrap();
        assert_eq!(md.entity_id.as_deref(), Some(SP_ENTITY));
        let d = &md.sp_sso_descriptors.as_ref().unwrap()[0];
        assert_eq!(d.assertion_consumer_services[0].location, ACS_URL);
        assert_eq!(
            d.assertion_consumer_services[0].binding,
            "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
        );
        assert_eq!(
            d.single_logout_services.as_ref().unwrap()[0].location,
            SLO_URL
        );
        assert_eq!(d.authn_requests_signed, Some(with_cert));
        let keys = d.key_descriptors.as_deref().unwrap_or_default();
        assert_eq!(keys.len(), usize::from(with_cert));
        if with_cert {
            let c = &keys[0].key_info.x509_data.as_ref().unwrap().certificates[0];
            assert_eq!(STANDARD.decode(c).unwrap(), sp_cert_der());
        }
    }
}

#[tokio::test]
async fn settings_overrides_win_over_the_derived_urls() {
    let sp = sp("sp_entity_id = \"urn:gatehouse:corp\"\nacs_url = \"https://login.corp.test/acs\"")
        .await;
    assert_eq!(sp.provider.sp_urls().entity_id, "urn:gatehouse:corp");
    assert_eq!(sp.provider.sp_urls().acs_url, "https://login.corp.test/acs");
    assert!(
        sp.provider
            .sp_metadata_xml()
            .contains("entityID=\"urn:gatehouse:corp\"")
    );
}

/// A one-route HTTP server for the metadata URL; `None` answers 500.
async fn metadata_server(body: Arc<Mutex<Option<String>>>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let body = body.lock().unwrap().clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = sock.read(&mut buf).await;
                let resp = match body {
                    Some(b) => format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/samlmetadata+xml\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{b}",
                        b.len()
                    ),
                    None => "HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".into(),
                };
                let _ = sock.write_all(resp.as_bytes()).await;
            });
        }
    });
    format!("http://{addr}/metadata")
}

#[tokio::test]
async fn metadata_by_url_is_fetched_refreshed_and_kept_on_failure() {
    let body = Arc::new(Mutex::new(None));
    let url = metadata_server(body.clone()).await;
    let settings = |url: &str| -> gatehouse_connector_saml::SamlSettings {
        toml::from_str(&format!(
            "idp_metadata_url = {url:?}\nmetadata_refresh_s = 60"
        ))
        .unwrap()
    };
    // Unreachable (500) at start: refused, with the URL in the message.
    let err = SamlProvider::new(
        descriptor(),
        settings(&url),
        sp_urls(),
        reqwest::Client::new(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&err, SamlError::Metadata(m) if m.contains(&url)),
        "{err}"
    );

    *body.lock().unwrap() = Some(idp_metadata(
        &[cert_b64("unknown-cert.pem")],
        Some("signing"),
    ));
    let sp = SamlProvider::new(
        descriptor(),
        settings(&url),
        sp_urls(),
        reqwest::Client::new(),
    )
    .await
    .unwrap();
    let start = sp.begin(ACS_URL).await.unwrap();
    let answer = |start: &gatehouse_core::RedirectStart| {
        let r = Resp::valid(start.pending["request_id"].as_str().unwrap());
        form(&r.xml(), &start.state)
    };
    // The IdP key is not in this metadata yet.
    let got = sp.complete(&start.pending, ACS_URL, &answer(&start)).await;
    assert!(matches!(got, Err(CallbackError::Invalid(m)) if m.starts_with("signature")));

    // The IdP rolls its key over: the refresh picks the new metadata up.
    *body.lock().unwrap() = Some(idp_metadata(&[cert_b64("idp-cert.pem")], Some("signing")));
    sp.expire_metadata().await;
    let start = sp.begin(ACS_URL).await.unwrap();
    assert!(
        sp.complete(&start.pending, ACS_URL, &answer(&start))
            .await
            .is_ok()
    );

    // A failed refresh — and metadata that would now be refused — keep the last good copy.
    for broken in [None, Some(idp_metadata(&[], None))] {
        *body.lock().unwrap() = broken;
        sp.expire_metadata().await;
        let start = sp.begin(ACS_URL).await.unwrap();
        assert!(
            sp.complete(&start.pending, ACS_URL, &answer(&start))
                .await
                .is_ok()
        );
    }
}
