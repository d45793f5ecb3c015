//! Single logout over the HTTP-Redirect binding: the SP's LogoutRequest to the IdP (broker
//! logout), and the IdP's LogoutRequest to the SP with the LogoutResponse back.

use std::io::Read;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use flate2::read::DeflateDecoder;
use gatehouse_core::CallbackError;
use samael::crypto::CertificateDer;

use crate::mapping::LogoutHint;
use crate::metadata::has_doctype;
use crate::signing::{escape, verify_query};

/// The largest inflated LogoutRequest accepted (a deflate bomb stops here).
const MAX_INFLATED: u64 = 64 * 1024;
/// A LogoutRequest older than this (plus the skew) is refused.
const MAX_AGE_S: i64 = 300;

/// An IdP's LogoutRequest that passed the checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdpLogoutRequest {
    /// Its ID, for the LogoutResponse's InResponseTo.
    pub id: String,
    /// The NameID whose sessions end.
    pub name_id: String,
    /// The IdP session to end; `None` = every session of `name_id`.
    pub session_index: Option<String>,
}

pub(crate) fn invalid(msg: impl Into<String>) -> CallbackError {
    CallbackError::Invalid(msg.into())
}

pub(crate) fn logout_request_xml(
    id: &str,
    now: DateTime<Utc>,
    destination: &str,
    sp_entity_id: &str,
    hint: &LogoutHint,
) -> String {
    let format = hint
        .name_id_format
        .as_deref()
        .map(|f| format!(" Format=\"{}\"", escape(f)))
        .unwrap_or_default();
    let session = hint
        .session_index
        .as_deref()
        .map(|s| format!("<samlp:SessionIndex>{}</samlp:SessionIndex>", escape(s)))
        .unwrap_or_default();
    format!(
        "<samlp:LogoutRequest xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" \
         xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" ID=\"{id}\" Version=\"2.0\" \
         IssueInstant=\"{now}\" Destination=\"{dest}\"><saml:Issuer>{issuer}</saml:Issuer>\
         <saml:NameID{format}>{name_id}</saml:NameID>{session}</samlp:LogoutRequest>",
        id = escape(id),
        now = now.to_rfc3339_opts(SecondsFormat::Secs, true),
        dest = escape(destination),
        issuer = escape(sp_entity_id),
        name_id = escape(&hint.name_id),
    )
}

pub(crate) fn logout_response_xml(
    id: &str,
    now: DateTime<Utc>,
    destination: &str,
    sp_entity_id: &str,
    in_response_to: &str,
) -> String {
    format!(
        "<samlp:LogoutResponse xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" \
         xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" ID=\"{id}\" Version=\"2.0\" \
         IssueInstant=\"{now}\" Destination=\"{dest}\" InResponseTo=\"{irt}\">\
         <saml:Issuer>{issuer}</saml:Issuer><samlp:Status><samlp:StatusCode \
         Value=\"urn:oasis:names:tc:SAML:2.0:status:Success\"/></samlp:Status>\
         </samlp:LogoutResponse>",
        id = escape(id),
        now = now.to_rfc3339_opts(SecondsFormat::Secs, true),
        dest = escape(destination),
        irt = escape(in_response_to),
        issuer = escape(sp_entity_id),
    )
}

/// What an IdP LogoutRequest must match.
pub(crate) struct LogoutExpected<'a> {
    pub idp_entity_id: &'a str,
    pub certs: &'a [CertificateDer],
    pub slo_url: &'a str,
    pub skew: Duration,
    pub now: DateTime<Utc>,
}

/// A SAML message received over HTTP-Redirect, split from its raw query string.
pub(crate) struct RedirectMessage {
    /// The `SAMLRequest` / `SAMLResponse` value, URL-decoded (still base64 + deflate).
    pub message: String,
    pub sig_alg: Option<String>,
    pub signature: Option<String>,
    /// The signed octets: `{param}=…[&RelayState=…]&SigAlg=…`, in that order, as received.
    pub signed_octets: String,
}

/// Splits an HTTP-Redirect query: `param` is `SAMLRequest` or `SAMLResponse`. A repeated
/// parameter is refused (which of two would the signature cover?).
pub(crate) fn split_query(raw_query: &str, param: &str) -> Result<RedirectMessage, CallbackError> {
    let mut message = None;
    let mut sig_alg = None;
    let mut signature = None;
    let mut raw_parts: [Option<&str>; 3] = [None; 3];
    for part in raw_query.split('&').filter(|p| !p.is_empty()) {
        // Keys are matched decoded, as every other reader of the query decodes them: a key spelt
        // `%53ignature` is the Signature, not an unknown parameter beside an unsigned message.
        let (key, value) = url::form_urlencoded::parse(part.as_bytes())
            .next()
            .ok_or_else(|| invalid("logout: bad query encoding"))?;
        let k = key.as_ref();
        let slot = match k {
            _ if k == param => Some(0),
            "RelayState" => Some(1),
            "SigAlg" => Some(2),
            _ => None,
        };
        if let Some(i) = slot {
            if raw_parts[i].is_some() {
                return Err(invalid(format!("logout: `{k}` appears more than once")));
            }
            raw_parts[i] = Some(part);
        }
        match k {
            _ if k == param => message = Some(value.to_string()),
            "SigAlg" => sig_alg = Some(value.to_string()),
            "Signature" => {
                if signature.is_some() {
                    return Err(invalid("logout: `Signature` appears more than once"));
                }
                signature = Some(value.to_string())
            }
            _ => {}
        }
    }
    let message = message.ok_or_else(|| invalid(format!("logout: no {param}")))?;
    let signed_octets = raw_parts
        .iter()
        .flatten()
        .copied()
        .collect::<Vec<_>>()
        .join("&");
    Ok(RedirectMessage {
        message,
        sig_alg,
        signature,
        signed_octets,
    })
}

/// Checks the query signature, which must be there (`what` names the message in errors).
pub(crate) fn verify_redirect_signature(
    msg: &RedirectMessage,
    certs: &[CertificateDer],
    what: &str,
) -> Result<(), CallbackError> {
    match (msg.sig_alg.as_deref(), msg.signature.as_deref()) {
        (Some(alg), Some(sig)) => {
            let sig = STANDARD
                .decode(sig.trim())
                .map_err(|_| invalid(format!("signature: the {what} Signature is not base64")))?;
            let ok = verify_query(&msg.signed_octets, alg, &sig, certs)
                .map_err(|e| invalid(format!("signature: {e}")))?;
            if !ok {
                return Err(invalid(format!(
                    "signature: the {what} signature does not verify against the IdP \
                     metadata's signing certificate(s)"
                )));
            }
            Ok(())
        }
        // SAML profiles §4.4.3.1 (and §4.4.4.2): logout messages over HTTP-Redirect are signed;
        // an unsigned LogoutRequest would let any page that knows a NameID log its user out.
        (None, None) => Err(invalid(format!("signature: the {what} is not signed"))),
        _ => Err(invalid("signature: SigAlg and Signature go together")),
    }
}

/// base64 + raw deflate, bounded, no DOCTYPE.
pub(crate) fn inflate(message: &str, param: &str) -> Result<String, CallbackError> {
    let compact: String = message
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    let deflated = STANDARD
        .decode(compact)
        .map_err(|_| invalid(format!("xml: {param} is not base64")))?;
    let mut xml = String::new();
    DeflateDecoder::new(deflated.as_slice())
        .take(MAX_INFLATED)
        .read_to_string(&mut xml)
        .map_err(|_| invalid(format!("xml: {param} is not deflated UTF-8")))?;
    if has_doctype(&xml) {
        return Err(invalid("xml: a DOCTYPE is not allowed"));
    }
    Ok(xml)
}

/// Parses and checks an HTTP-Redirect LogoutRequest from its raw query string (the signature
/// covers the parameters exactly as the IdP encoded them).
pub(crate) fn parse_query(
    raw_query: &str,
    exp: &LogoutExpected<'_>,
) -> Result<IdpLogoutRequest, CallbackError> {
    let msg = split_query(raw_query, "SAMLRequest")?;
    verify_redirect_signature(&msg, exp.certs, "LogoutRequest")?;
    check(&inflate(&msg.message, "SAMLRequest")?, exp)
}

/// As [`parse_query`], from decoded parameters: the signed octets are re-encoded with
/// `application/x-www-form-urlencoded` rules, which match what pysaml2, Shibboleth and ADFS
/// send; prefer the raw query when the server has it.
pub(crate) fn parse_params(
    params: &[(String, String)],
    exp: &LogoutExpected<'_>,
) -> Result<IdpLogoutRequest, CallbackError> {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for key in ["SAMLRequest", "RelayState", "SigAlg", "Signature"] {
        let mut values = params.iter().filter(|(k, _)| k == key);
        if let Some((_, v)) = values.next() {
            if values.next().is_some() {
                return Err(invalid(format!("logout: `{key}` appears more than once")));
            }
            query.append_pair(key, v);
        }
    }
    parse_query(&query.finish(), exp)
}

/// Checks the fresh IssueInstant of a logout message (`what` names it in errors).
pub(crate) fn check_instant(
    instant: Option<DateTime<Utc>>,
    exp: &LogoutExpected<'_>,
    what: &str,
) -> Result<(), CallbackError> {
    let instant = instant.ok_or_else(|| invalid(format!("xml: the {what} has no IssueInstant")))?;
    if instant > exp.now + exp.skew {
        return Err(invalid(format!(
            "not yet valid: the {what}'s IssueInstant is in the future"
        )));
    }
    if instant + Duration::seconds(MAX_AGE_S) + exp.skew < exp.now {
        return Err(invalid(format!(
            "expired: the {what} is older than 5 minutes"
        )));
    }
    Ok(())
}

fn check(xml: &str, exp: &LogoutExpected<'_>) -> Result<IdpLogoutRequest, CallbackError> {
    let req = read_logout_request(xml).map_err(invalid)?;
    let issuer = req.issuer.as_deref();
    if issuer != Some(exp.idp_entity_id) {
        return Err(invalid(format!(
            "issuer: the LogoutRequest is issued by `{}`, not `{}`",
            issuer.unwrap_or_default(),
            exp.idp_entity_id
        )));
    }
    if req.destination.as_deref() != Some(exp.slo_url) {
        return Err(invalid(format!(
            "destination: the LogoutRequest is addressed to `{}`, not this SLO URL `{}`",
            req.destination.as_deref().unwrap_or_default(),
            exp.slo_url
        )));
    }
    check_instant(req.issue_instant, exp, "LogoutRequest")?;
    let id = req
        .id
        .filter(|id| !id.is_empty())
        .ok_or_else(|| invalid("xml: the LogoutRequest has no ID"))?;
    let name_id = req
        .name_id
        .filter(|n| !n.is_empty())
        .ok_or_else(|| invalid("subject: the LogoutRequest has no NameID"))?;
    Ok(IdpLogoutRequest {
        id,
        name_id,
        session_index: req.session_index,
    })
}

#[derive(Debug, Default)]
struct RawLogoutRequest {
    id: Option<String>,
    destination: Option<String>,
    issue_instant: Option<DateTime<Utc>>,
    issuer: Option<String>,
    name_id: Option<String>,
    session_index: Option<String>,
}

/// Reads a `samlp:LogoutRequest` (samael's type reads SessionIndex as an attribute, which it is
/// not). Text is the concatenation of an element's text nodes, comments skipped.
fn read_logout_request(xml: &str) -> Result<RawLogoutRequest, String> {
    use quick_xml::events::Event;
    use quick_xml::name::{Namespace, ResolveResult};
    const ASSERTION_NS: &[u8] = b"urn:oasis:names:tc:SAML:2.0:assertion";
    let mut reader = quick_xml::NsReader::from_str(xml);
    let mut out = RawLogoutRequest::default();
    let mut depth = 0usize;
    let mut capture: Option<(&'static str, String)> = None;
    loop {
        let (ns, event) = reader
            .read_resolved_event()
            .map_err(|e| format!("xml: not well-formed: {e}"))?;
        let in_ns = |want: &[u8]| matches!(&ns, ResolveResult::Bound(Namespace(n)) if *n == want);
        match event {
            Event::DocType(_) => return Err("xml: a DOCTYPE is not allowed".into()),
            Event::Start(ref s) | Event::Empty(ref s) => {
                let empty = matches!(event, Event::Empty(_));
                let local = s.local_name();
                let local = local.as_ref();
                if depth == 0 {
                    if !(in_ns(crate::envelope::PROTOCOL_NS) && local == b"LogoutRequest") {
                        return Err("xml: SAMLRequest is not a samlp:LogoutRequest".into());
                    }
                    for a in s.attributes() {
                        let a = a.map_err(|e| format!("xml: bad attribute: {e}"))?;
                        let v = a
                            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                            .map_err(|e| format!("xml: bad attribute value: {e}"))?
                            .into_owned();
                        match a.key.as_ref() {
                            b"ID" => out.id = Some(v),
                            b"Destination" => out.destination = Some(v),
                            b"IssueInstant" => {
                                out.issue_instant = Some(
                                    DateTime::parse_from_rfc3339(&v)
                                        .map_err(|_| "xml: bad IssueInstant".to_string())?
                                        .with_timezone(&Utc),
                                )
                            }
                            _ => {}
                        }
                    }
                } else if depth == 1 && capture.is_none() {
                    let field = match local {
                        b"Issuer" if in_ns(ASSERTION_NS) => Some("issuer"),
                        b"NameID" if in_ns(ASSERTION_NS) => Some("name_id"),
                        b"SessionIndex" if in_ns(crate::envelope::PROTOCOL_NS) => {
                            Some("session_index")
                        }
                        _ => None,
                    };
                    if let Some(f) = field {
                        capture = Some((f, String::new()));
                        if empty {
                            store(&mut out, capture.take())?;
                        }
                    }
                } else if depth > 1 && capture.is_some() {
                    return Err("xml: unexpected element inside a LogoutRequest field".into());
                }
                if !empty {
                    depth += 1;
                }
            }
            Event::Text(t) => {
                if let Some((_, buf)) = capture.as_mut() {
                    let text = t
                        .xml_content(quick_xml::XmlVersion::Implicit1_0)
                        .map_err(|e| format!("xml: bad text: {e}"))?;
                    buf.push_str(&text);
                }
            }
            Event::GeneralRef(r) => {
                if let Some((_, buf)) = capture.as_mut() {
                    let name = r.decode().map_err(|e| format!("xml: bad reference: {e}"))?;
                    let c = match &*name {
                        "lt" => "<".to_owned(),
                        "gt" => ">".to_owned(),
                        "amp" => "&".to_owned(),
                        "quot" => "\"".to_owned(),
                        "apos" => "'".to_owned(),
                        _ => match r.resolve_char_ref() {
                            Ok(Some(c)) => c.to_string(),
                            _ => return Err("xml: unknown entity reference".into()),
                        },
                    };
                    buf.push_str(&c);
                }
            }
            Event::End(_) => {
                depth = depth.saturating_sub(1);
                if depth == 1 && capture.is_some() {
                    store(&mut out, capture.take())?;
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(out)
}

fn store(
    out: &mut RawLogoutRequest,
    captured: Option<(&'static str, String)>,
) -> Result<(), String> {
    let Some((field, value)) = captured else {
        return Ok(());
    };
    let slot = match field {
        "issuer" => &mut out.issuer,
        "name_id" => &mut out.name_id,
        _ => &mut out.session_index,
    };
    if slot.is_some() {
        return Err(format!("xml: the LogoutRequest has more than one {field}"));
    }
    *slot = Some(value.trim().to_owned());
    Ok(())
}
