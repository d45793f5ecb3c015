//! A first look at the raw (unverified) document: its root must be a `samlp:Response`; its
//! `Destination`, `InResponseTo`, top-level `Status` and the number of `ds:Signature`s are read
//! for checks that can only refuse. Nothing read here is ever trusted to accept a login or to
//! name a user: that comes only from the signature-verified part (see [`crate::response`]).

use quick_xml::NsReader;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::{Namespace, ResolveResult};

pub(crate) const PROTOCOL_NS: &[u8] = b"urn:oasis:names:tc:SAML:2.0:protocol";
pub(crate) const ASSERTION_NS: &[u8] = b"urn:oasis:names:tc:SAML:2.0:assertion";
pub(crate) const DSIG_NS: &[u8] = b"http://www.w3.org/2000/09/xmldsig#";
pub(crate) const STATUS_SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";

#[derive(Debug, Default)]
pub(crate) struct Envelope {
    /// The Response's `ID`.
    pub id: Option<String>,
    /// The `ID`s of the Response's direct `saml:Assertion` children (and `EncryptedAssertion`s,
    /// as `None`), in order: the signed Assertion must be the one and only of them.
    pub assertion_ids: Vec<Option<String>>,
    pub destination: Option<String>,
    pub in_response_to: Option<String>,
    /// The top-level StatusCode's Value.
    pub status: Option<String>,
    /// `ds:Signature` elements anywhere in the document.
    pub signatures: usize,
}

fn is(ns: &ResolveResult<'_>, want: &[u8], local: &[u8], name: &[u8]) -> bool {
    matches!(ns, ResolveResult::Bound(Namespace(n)) if *n == want) && local == name
}

fn attr(e: &BytesStart<'_>, name: &[u8]) -> Result<Option<String>, String> {
    for a in e.attributes() {
        let a = a.map_err(|e| format!("xml: bad attribute: {e}"))?;
        // Unprefixed attributes only: SAML's are in no namespace.
        if a.key.as_ref() == name {
            let v = a
                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .map_err(|e| format!("xml: bad attribute value: {e}"))?;
            return Ok(Some(v.into_owned()));
        }
    }
    Ok(None)
}

/// Transforms and canonicalisations a SAML signature needs (SAML core §5.4.3-4).
const ALLOWED_TRANSFORMS: [&[u8]; 5] = [
    b"http://www.w3.org/2000/09/xmldsig#enveloped-signature",
    b"http://www.w3.org/2001/10/xml-exc-c14n#",
    b"http://www.w3.org/2001/10/xml-exc-c14n#WithComments",
    b"http://www.w3.org/TR/2001/REC-xml-c14n-20010315",
    b"http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments",
];
/// SHA-1 is refused, as it is for the signature algorithm.
const ALLOWED_DIGESTS: [&[u8]; 3] = [
    b"http://www.w3.org/2001/04/xmlenc#sha256",
    b"http://www.w3.org/2001/04/xmldsig-more#sha384",
    b"http://www.w3.org/2001/04/xmlenc#sha512",
];

/// xmlsec dereferences every `ds:Reference` and runs its transforms before it checks the
/// signature value, and by default it accepts any URI (`http:`, `file:`) and any transform
/// (XPath, XSLT): an unauthenticated sender could make the broker fetch URLs, read files or spin
/// on `/dev/zero`. So a signature may reference only an element of this document (`""` or
/// `#id`), with the SAML transforms, and no Manifest, Object or RetrievalMethod — checked here,
/// before xmlsec sees the document.
fn check_signature_part(local: &[u8], e: &BytesStart<'_>) -> Result<(), String> {
    let algorithm = || -> Result<Vec<u8>, String> {
        Ok(attr(e, b"Algorithm")?.unwrap_or_default().into_bytes())
    };
    let refusal = match local {
        b"Reference" => {
            let uri = attr(e, b"URI")?.unwrap_or_default();
            let same_document = uri.is_empty()
                || uri.strip_prefix('#').is_some_and(|id| {
                    !id.is_empty()
                        && id
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
                });
            (!same_document)
                .then(|| "a Reference must name an element of this document (`#ID`)".to_owned())
        }
        b"Transform" | b"CanonicalizationMethod" => (!ALLOWED_TRANSFORMS
            .contains(&algorithm()?.as_slice()))
        .then(|| "a transform or canonicalisation is not accepted".to_owned()),
        b"DigestMethod" => (!ALLOWED_DIGESTS.contains(&algorithm()?.as_slice()))
            .then(|| "the digest algorithm is not accepted".to_owned()),
        b"Manifest" | b"Object" | b"RetrievalMethod" => Some(format!(
            "a ds:{} is not accepted",
            String::from_utf8_lossy(local)
        )),
        _ => None,
    };
    match refusal {
        Some(why) => Err(format!("signature: {why}")),
        None => Ok(()),
    }
}

pub(crate) fn read(xml: &str) -> Result<Envelope, String> {
    let mut reader = NsReader::from_str(xml);
    let mut env = Envelope::default();
    let mut depth = 0usize;
    let mut root_seen = false;
    // Depth of the top-level Status while inside it.
    let mut in_status = false;
    loop {
        let (ns, event) = reader
            .read_resolved_event()
            .map_err(|e| format!("xml: not well-formed: {e}"))?;
        let (start, empty) = match &event {
            Event::Start(s) => (Some(s), false),
            Event::Empty(s) => (Some(s), true),
            Event::DocType(_) => return Err("xml: a DOCTYPE is not allowed".into()),
            // This reader and libxml2 (xmlsec's) must see the same characters: UTF-8 only.
            Event::Decl(d) => {
                if let Some(enc) = d.encoding() {
                    let enc = enc.map_err(|e| format!("xml: bad declaration: {e}"))?;
                    if !enc.eq_ignore_ascii_case(b"utf-8") {
                        return Err("xml: only UTF-8 documents are accepted".into());
                    }
                }
                (None, false)
            }
            Event::End(_) => {
                depth = depth.saturating_sub(1);
                if depth == 1 {
                    in_status = false;
                }
                (None, false)
            }
            Event::Eof => break,
            _ => (None, false),
        };
        let Some(s) = start else { continue };
        let local = s.local_name();
        let local = local.as_ref();
        if is(&ns, DSIG_NS, local, b"Signature") {
            env.signatures += 1;
        }
        if matches!(&ns, ResolveResult::Bound(Namespace(n)) if *n == DSIG_NS) {
            check_signature_part(local, s)?;
        }
        if !root_seen {
            if !is(&ns, PROTOCOL_NS, local, b"Response") {
                return Err("xml: the document is not a samlp:Response".into());
            }
            root_seen = true;
            env.destination = attr(s, b"Destination")?;
            env.in_response_to = attr(s, b"InResponseTo")?;
            env.id = attr(s, b"ID")?;
        } else if depth == 1 && is(&ns, ASSERTION_NS, local, b"Assertion") {
            env.assertion_ids.push(attr(s, b"ID")?);
        } else if depth == 1 && is(&ns, ASSERTION_NS, local, b"EncryptedAssertion") {
            env.assertion_ids.push(None);
        } else if depth == 1 && is(&ns, PROTOCOL_NS, local, b"Status") {
            if env.status.is_some() || in_status {
                return Err("xml: the Response has more than one Status".into());
            }
            in_status = !empty;
        } else if depth == 2
            && in_status
            && env.status.is_none()
            && is(&ns, PROTOCOL_NS, local, b"StatusCode")
        {
            env.status = Some(attr(s, b"Value")?.unwrap_or_default());
        }
        if !empty {
            depth += 1;
        }
    }
    if !root_seen {
        return Err("xml: empty document".into());
    }
    Ok(env)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_root_and_status() {
        let env = read(
            r#"<?xml version="1.0"?><samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" Destination="https://sp/acs" InResponseTo="_1"><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Requester"><samlp:StatusCode Value="x"/></samlp:StatusCode></samlp:Status><ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"/></samlp:Response>"#,
        )
        .unwrap();
        assert_eq!(env.destination.as_deref(), Some("https://sp/acs"));
        assert_eq!(env.in_response_to.as_deref(), Some("_1"));
        assert_eq!(
            env.status.as_deref(),
            Some("urn:oasis:names:tc:SAML:2.0:status:Requester")
        );
        assert_eq!(env.signatures, 1);
    }

    fn with_signature(signature: &str) -> Result<Envelope, String> {
        read(&format!(
            r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:ds="http://www.w3.org/2000/09/xmldsig#">{signature}</samlp:Response>"#
        ))
    }

    #[test]
    fn signatures_reference_only_this_document_with_saml_transforms() {
        let sig = |uri: &str, transform: &str, digest: &str| {
            format!(
                r#"<ds:Signature><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><ds:Reference URI="{uri}"><ds:Transforms><ds:Transform Algorithm="{transform}"/></ds:Transforms><ds:DigestMethod Algorithm="{digest}"/></ds:Reference></ds:SignedInfo></ds:Signature>"#
            )
        };
        const ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
        const SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";
        assert!(with_signature(&sig("#_abc-1.2", ENVELOPED, SHA256)).is_ok());
        assert!(with_signature(&sig("", ENVELOPED, SHA256)).is_ok());
        for uri in [
            "http://127.0.0.1:1/ssrf",
            "file:///dev/zero",
            "#",
            "#a b",
            "other.xml#x",
        ] {
            let e = with_signature(&sig(uri, ENVELOPED, SHA256)).unwrap_err();
            assert!(e.starts_with("signature: a Reference"), "{uri}: {e}");
        }
        for transform in [
            "http://www.w3.org/TR/1999/REC-xpath-19991116",
            "http://www.w3.org/TR/1999/REC-xslt-19991116",
            "http://www.w3.org/2000/09/xmldsig#base64",
        ] {
            let e = with_signature(&sig("#x", transform, SHA256)).unwrap_err();
            assert!(e.starts_with("signature: a transform"), "{transform}: {e}");
        }
        let sha1 = "http://www.w3.org/2000/09/xmldsig#sha1";
        let e = with_signature(&sig("#x", ENVELOPED, sha1)).unwrap_err();
        assert!(e.starts_with("signature: the digest"), "{e}");
        for part in ["Object", "Manifest", "RetrievalMethod"] {
            let e =
                with_signature(&format!("<ds:Signature><ds:{part}/></ds:Signature>")).unwrap_err();
            assert!(e.contains(part), "{e}");
        }
    }

    #[test]
    fn refuses_other_roots_doctype_and_garbage() {
        assert!(read(r#"<Response/>"#).is_err());
        assert!(
            read(r#"<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion"/>"#)
                .is_err()
        );
        assert!(read("<!DOCTYPE x [<!ENTITY a \"b\">]><x/>").is_err());
        assert!(read("").is_err());
        assert!(read("<a><b></a>").is_err());
        let ok = r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"/>"#;
        assert!(read(&format!(r#"<?xml version="1.0" encoding="UTF-8"?>{ok}"#)).is_ok());
        let e = read(&format!(r#"<?xml version="1.0" encoding="UTF-16"?>{ok}"#)).unwrap_err();
        assert!(e.contains("UTF-8"), "{e}");
    }
}
