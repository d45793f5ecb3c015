//! The ACS decode-and-verify path on arbitrary input: the first byte picks whether the rest is
//! the posted `SAMLResponse` field (base64 and all) or the decoded XML document; both run the
//! whole `complete` check chain against the test IdP's metadata. Any panic is a finding.
#![no_main]

use std::sync::OnceLock;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use gatehouse_connector_saml::{SamlProvider, SamlSettings, SpUrls};
use gatehouse_core::{ProviderDescriptor, ProviderKind, RedirectProvider};
use libfuzzer_sys::fuzz_target;

const CERT: &str = include_str!("../../../../fixtures/saml/idp-cert.pem");
/// The InResponseTo of the seed corpus.
const REQUEST_ID: &str = "_fuzz-request";

struct Target {
    rt: tokio::runtime::Runtime,
    sp: SamlProvider,
}

fn target() -> &'static Target {
    static T: OnceLock<Target> = OnceLock::new();
    T.get_or_init(|| {
        let cert: String = CERT.lines().filter(|l| !l.starts_with("-----")).collect();
        let md = format!(
            r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://idp.test/saml/metadata"><md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>{cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor><md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.test/saml/sso"/></md:IDPSSODescriptor></md:EntityDescriptor>"#
        );
        let path = std::env::temp_dir().join(format!("gatehouse-saml-fuzz-{}.xml", std::process::id()));
        std::fs::write(&path, md).expect("write metadata");
        let settings: SamlSettings = toml::from_str(&format!(
            "idp_metadata_file = {:?}\nallow_idp_initiated = true",
            path.display().to_string()
        ))
        .expect("settings");
        let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
        let sp = rt
            .block_on(SamlProvider::new(
                ProviderDescriptor {
                    id: "fuzz".into(),
                    kind: ProviderKind::Saml,
                    enabled: true,
                    supersedes: Vec::new(),
                    jit: true,
                },
                settings,
                SpUrls {
                    entity_id: "https://sp.test/realms/main/broker/corp".into(),
                    acs_url: "https://sp.test/realms/main/broker/corp/callback".into(),
                    slo_url: "https://sp.test/realms/main/broker/corp/slo".into(),
                },
                reqwest::Client::new(),
            ))
            .expect("provider");
        Target { rt, sp }
    })
}

fuzz_target!(|data: &[u8]| {
    let t = target();
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let pending = serde_json::json!({"request_id": REQUEST_ID, "relay_state": "rs"});
    match mode % 4 {
        // The posted field as is.
        0 => {
            let field = String::from_utf8_lossy(rest).into_owned();
            let params = vec![
                ("SAMLResponse".to_owned(), field),
                ("RelayState".to_owned(), "rs".to_owned()),
            ];
            let _ = t.rt.block_on(t.sp.complete(&pending, "", &params));
        }
        // The document, base64-encoded as a browser would post it.
        1 => {
            let params = vec![
                ("SAMLResponse".to_owned(), STANDARD.encode(rest)),
                ("RelayState".to_owned(), "rs".to_owned()),
            ];
            let _ = t.rt.block_on(t.sp.complete(&pending, "", &params));
        }
        // The document, SP-initiated and unsolicited.
        2 | 3 => {
            if let Ok(xml) = std::str::from_utf8(rest) {
                let request = (mode % 4 == 2).then_some(REQUEST_ID);
                let _ = t.rt.block_on(t.sp.complete_xml(request, xml));
            }
        }
        _ => unreachable!(),
    }
    // The IdP-initiated LogoutRequest parser, on the same bytes as a raw query string.
    if let Ok(q) = std::str::from_utf8(rest) {
        let _ = t.sp.parse_logout_request_query(q);
    }
});
