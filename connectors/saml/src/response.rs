//! The ACS checks on a SAML Response (HTTP-POST binding). Each refusal is a distinct
//! [`CallbackError::Invalid`] whose message starts with the name of the check:
//! `xml`, `status`, `destination`, `signature`, `assertion`, `issuer`, `audience`,
//! `not yet valid`, `expired`, `subject`, `recipient`, `in_response_to`.
//!
//! Only signed content is trusted: samael's `reduce_xml_to_signed` (xmlsec) verifies every
//! `ds:Signature` against the IdP's certificates and, in `PreDigest` mode, returns the very
//! octets the signature's digest was computed over (the canonical form of the signed element:
//! the Response's when it is signed, else the Assertion's). The Assertion is read from those
//! octets, so an unsigned Assertion placed next to (or around) a signed one is never seen
//! (signature wrapping), and a comment slipped into signed text (`al<!-- -->ice`) is not in
//! them: the value read is the whole text. (`PreDigest` also avoids the libxml2 tree surgery of
//! the other modes, which leaks memory in samael 0.0.22 — found by the fuzz target.)

use chrono::{DateTime, Duration, Utc};
use samael::crypto::{
    AllowedSignatureAlgorithm, CertificateDer, Crypto, CryptoProvider, ReduceMode,
};
use samael::schema::{Assertion, Response};

use gatehouse_core::CallbackError;

use crate::envelope::{self, Envelope, STATUS_SUCCESS};
use crate::metadata::has_doctype;

const BEARER: &str = "urn:oasis:names:tc:SAML:2.0:cm:bearer";

/// SHA-1 and DSA are refused.
const ALGORITHMS: [AllowedSignatureAlgorithm; 6] = [
    AllowedSignatureAlgorithm::RsaSha256,
    AllowedSignatureAlgorithm::RsaSha384,
    AllowedSignatureAlgorithm::RsaSha512,
    AllowedSignatureAlgorithm::EcdsaSha256,
    AllowedSignatureAlgorithm::EcdsaSha384,
    AllowedSignatureAlgorithm::EcdsaSha512,
];

/// What the Response must match.
pub(crate) struct Expected<'a> {
    pub idp_entity_id: &'a str,
    pub certs: &'a [CertificateDer],
    pub sp_entity_id: &'a str,
    pub acs_url: &'a str,
    /// The pending AuthnRequest's ID; `None` for an unsolicited (IdP-initiated) Response.
    pub request_id: Option<&'a str>,
    pub allow_idp_initiated: bool,
    pub skew: Duration,
    pub now: DateTime<Utc>,
}

/// A Response that passed every check: its signed Assertion, and the time after which it
/// would be refused anyway (the replay cache keeps its ID until then).
#[derive(Debug)]
pub(crate) struct Checked {
    pub assertion: Assertion,
    pub not_after: DateTime<Utc>,
}

fn invalid(msg: impl Into<String>) -> CallbackError {
    CallbackError::Invalid(msg.into())
}

pub(crate) fn check(xml: &str, exp: &Expected<'_>) -> Result<Checked, CallbackError> {
    if has_doctype(xml) {
        return Err(invalid("xml: a DOCTYPE is not allowed"));
    }
    let env = envelope::read(xml).map_err(invalid)?;
    check_status(env.status.as_deref())?;
    if let Some(d) = &env.destination {
        check_destination(d, exp)?;
    }
    if env.signatures == 0 {
        return Err(invalid(
            "signature: neither the Response nor the Assertion is signed",
        ));
    }
    crate::xml_log::capture();
    let signed = Crypto::reduce_xml_to_signed_with_allowed_algorithms(
        xml,
        exp.certs,
        ReduceMode::PreDigest,
        Some(&ALGORITHMS),
    )
    .map_err(|_| {
        invalid(
            "signature: a signature does not verify against the IdP metadata's signing \
             certificate(s), uses a refused algorithm, or references no single element",
        )
    })?;
    // From here on, only `signed` is read.
    let (assertion, response_in_response_to) = signed_assertion(&signed, &env, exp)?;
    check_in_response_to(env.in_response_to.as_deref(), exp)?;
    check_in_response_to(response_in_response_to.as_deref(), exp)?;
    check_assertion(assertion, exp)
}

fn check_status(status: Option<&str>) -> Result<(), CallbackError> {
    match status {
        Some(STATUS_SUCCESS) => Ok(()),
        Some(other) => Err(invalid(format!("status: the IdP answered `{other}`"))),
        None => Err(invalid("status: the Response has no StatusCode")),
    }
}

fn check_destination(destination: &str, exp: &Expected<'_>) -> Result<(), CallbackError> {
    if destination != exp.acs_url {
        return Err(invalid(format!(
            "destination: the Response is addressed to `{destination}`, not this ACS URL `{}`",
            exp.acs_url
        )));
    }
    Ok(())
}

/// The Assertion inside the verified document, and the signed Response's InResponseTo.
///
/// The signed element must be the document's own Response, or the Response's one and only
/// Assertion: a signed element moved elsewhere (into `Extensions`, an `Object`, a wrapping
/// Response) while unsigned content takes its place is signature wrapping, and refused.
fn signed_assertion(
    signed: &str,
    env: &Envelope,
    exp: &Expected<'_>,
) -> Result<(Assertion, Option<String>), CallbackError> {
    if env.assertion_ids.len() != 1 {
        return Err(invalid(format!(
            "assertion: the Response must hold exactly one Assertion, it holds {}",
            env.assertion_ids.len()
        )));
    }
    let wrapped = || {
        invalid(
            "signature: the signed element is not the Response or its Assertion (signature wrapping)",
        )
    };
    let root = signed_root(signed)?;
    if root == "Response" {
        let response: Response = signed
            .parse()
            .map_err(|_| invalid("assertion: the signed Response cannot be read"))?;
        if env.id.as_deref() != Some(response.id.as_str()) {
            return Err(wrapped());
        }
        check_status(
            response
                .status
                .as_ref()
                .and_then(|s| s.status_code.value.as_deref()),
        )?;
        // SAML profiles §4.1.4.5: a signed Response must name its Destination.
        match &response.destination {
            Some(d) => check_destination(d, exp)?,
            None => {
                return Err(invalid(
                    "destination: the signed Response carries no Destination",
                ));
            }
        }
        if let Some(issuer) = response.issuer.as_ref().and_then(|i| i.value.as_deref())
            && issuer != exp.idp_entity_id
        {
            return Err(invalid(format!(
                "issuer: the Response is issued by `{issuer}`, not `{}`",
                exp.idp_entity_id
            )));
        }
        if response.encrypted_assertion.is_some() {
            return Err(invalid("assertion: encrypted assertions are not supported"));
        }
        let assertion = response
            .assertion
            .ok_or_else(|| invalid("assertion: the signed Response holds no Assertion"))?;
        Ok((assertion, response.in_response_to))
    } else if root == "Assertion" {
        let assertion: Assertion = signed
            .parse()
            .map_err(|_| invalid("assertion: the signed Assertion cannot be read"))?;
        if env.assertion_ids[0].as_deref() != Some(assertion.id.as_str()) {
            return Err(wrapped());
        }
        Ok((assertion, None))
    } else {
        Err(invalid(format!(
            "signature: the signed element is a `{root}`, neither a Response nor an Assertion"
        )))
    }
}

/// The local name of the verified document's root, in the SAML namespaces only.
fn signed_root(signed: &str) -> Result<String, CallbackError> {
    use quick_xml::events::Event;
    use quick_xml::name::{Namespace, ResolveResult};
    let mut reader = quick_xml::NsReader::from_str(signed);
    loop {
        match reader.read_resolved_event() {
            Ok((ns, Event::Start(s) | Event::Empty(s))) => {
                let local = String::from_utf8_lossy(s.local_name().as_ref()).into_owned();
                let ok = match &ns {
                    ResolveResult::Bound(Namespace(n)) => {
                        (*n == envelope::PROTOCOL_NS && local == "Response")
                            || (*n == envelope::ASSERTION_NS && local == "Assertion")
                    }
                    _ => false,
                };
                return Ok(if ok { local } else { format!("other:{local}") });
            }
            Ok((_, Event::Eof)) | Err(_) => {
                return Err(invalid("signature: the verified content is empty"));
            }
            Ok(_) => {}
        }
    }
}

/// `InResponseTo` must name the pending request; an unsolicited answer needs
/// `allow_idp_initiated` and must then answer no request at all.
fn check_in_response_to(value: Option<&str>, exp: &Expected<'_>) -> Result<(), CallbackError> {
    match (exp.request_id, value) {
        (Some(want), Some(got)) if want == got => Ok(()),
        (Some(_), Some(got)) => Err(invalid(format!(
            "in_response_to: the Response answers `{got}`, not the request this browser made"
        ))),
        (Some(_), None) => Ok(()),
        (None, Some(got)) => Err(invalid(format!(
            "in_response_to: the Response answers `{got}`, but this browser has no pending request"
        ))),
        (None, None) if exp.allow_idp_initiated => Ok(()),
        (None, None) => Err(invalid(
            "in_response_to: an unsolicited (IdP-initiated) Response and allow_idp_initiated = false",
        )),
    }
}

fn check_assertion(assertion: Assertion, exp: &Expected<'_>) -> Result<Checked, CallbackError> {
    let issuer = assertion.issuer.value.as_deref().unwrap_or_default();
    if issuer != exp.idp_entity_id {
        return Err(invalid(format!(
            "issuer: the Assertion is issued by `{issuer}`, not `{}`",
            exp.idp_entity_id
        )));
    }
    if assertion.issue_instant > exp.now + exp.skew {
        return Err(invalid(
            "not yet valid: the Assertion's IssueInstant is in the future",
        ));
    }
    let conditions = assertion
        .conditions
        .as_ref()
        .ok_or_else(|| invalid("audience: the Assertion has no Conditions/AudienceRestriction"))?;
    let restrictions = conditions
        .audience_restrictions
        .as_deref()
        .unwrap_or_default();
    if restrictions.is_empty() {
        return Err(invalid(
            "audience: the Assertion has no AudienceRestriction",
        ));
    }
    // Every AudienceRestriction must hold (SAML core §2.5.1.4).
    if !restrictions
        .iter()
        .all(|r| r.audience.iter().any(|a| a == exp.sp_entity_id))
    {
        return Err(invalid(format!(
            "audience: the Assertion is not meant for this SP (`{}`)",
            exp.sp_entity_id
        )));
    }
    if let Some(nb) = conditions.not_before
        && exp.now + exp.skew < nb
    {
        return Err(invalid(
            "not yet valid: Conditions NotBefore is in the future",
        ));
    }
    let mut not_after = None;
    if let Some(na) = conditions.not_on_or_after {
        if exp.now - exp.skew >= na {
            return Err(invalid("expired: Conditions NotOnOrAfter has passed"));
        }
        not_after = Some(na);
    }
    let subject = assertion
        .subject
        .as_ref()
        .ok_or_else(|| invalid("subject: the Assertion has no Subject"))?;
    if subject.name_id.as_ref().is_none_or(|n| n.value.is_empty()) {
        return Err(invalid("subject: the Assertion has no NameID"));
    }
    let confirmation_until = check_confirmations(&assertion, exp)?;
    let not_after = match not_after {
        Some(na) if na < confirmation_until => na,
        _ => confirmation_until,
    } + exp.skew;
    Ok(Checked {
        assertion,
        not_after,
    })
}

/// A bearer SubjectConfirmation whose data names this ACS, is in its validity window and
/// answers the pending request. Returns its NotOnOrAfter. With several, one must pass; the
/// first one's failure is reported.
fn check_confirmations(
    assertion: &Assertion,
    exp: &Expected<'_>,
) -> Result<DateTime<Utc>, CallbackError> {
    let confirmations = assertion
        .subject
        .as_ref()
        .and_then(|s| s.subject_confirmations.as_deref())
        .unwrap_or_default();
    let mut first_error = None;
    for c in confirmations
        .iter()
        .filter(|c| c.method.as_deref() == Some(BEARER))
    {
        let result = (|| {
            let data = c.subject_confirmation_data.as_ref().ok_or_else(|| {
                invalid("subject: the bearer SubjectConfirmation has no SubjectConfirmationData")
            })?;
            match data.recipient.as_deref() {
                Some(r) if r == exp.acs_url => {}
                Some(r) => {
                    return Err(invalid(format!(
                        "recipient: the Assertion is for `{r}`, not this ACS URL `{}`",
                        exp.acs_url
                    )));
                }
                None => {
                    return Err(invalid(
                        "recipient: SubjectConfirmationData has no Recipient",
                    ));
                }
            }
            if let Some(nb) = data.not_before
                && exp.now + exp.skew < nb
            {
                return Err(invalid(
                    "not yet valid: SubjectConfirmationData NotBefore is in the future",
                ));
            }
            let na = data
                .not_on_or_after
                .ok_or_else(|| invalid("expired: SubjectConfirmationData has no NotOnOrAfter"))?;
            if exp.now - exp.skew >= na {
                return Err(invalid(
                    "expired: SubjectConfirmationData NotOnOrAfter has passed",
                ));
            }
            match (exp.request_id, data.in_response_to.as_deref()) {
                (Some(want), Some(got)) if want == got => {}
                (Some(_), Some(got)) => {
                    return Err(invalid(format!(
                        "in_response_to: the Assertion answers `{got}`, not the request this \
                         browser made"
                    )));
                }
                (Some(_), None) => {
                    return Err(invalid(
                        "in_response_to: the Assertion answers no request, but this browser \
                         made one",
                    ));
                }
                (None, got) => check_in_response_to(got, exp)?,
            }
            Ok(na)
        })();
        match result {
            Ok(na) => return Ok(na),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    Err(first_error.unwrap_or_else(|| invalid("subject: no bearer SubjectConfirmation")))
}
