//! The IdP's LogoutResponse (HTTP-Redirect binding) to the LogoutRequest the broker sent on
//! logout (`global_logout`). The broker session has ended before the LogoutRequest left, so the
//! checks here decide what is logged, not whether the user is logged out.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::{Duration as StdDuration, Instant};

use gatehouse_core::CallbackError;

use crate::logout::{
    LogoutExpected, check_instant, inflate, invalid, split_query, verify_redirect_signature,
};

/// A LogoutRequest not answered within this is forgotten.
const PENDING_TTL: StdDuration = StdDuration::from_secs(600);
/// At most this many LogoutRequests await their answer (a flood of logouts forgets the oldest).
const MAX_PENDING: usize = 10_000;

/// The status URI of a successful logout.
pub const STATUS_SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";

/// A LogoutResponse that passed the checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdpLogoutResponse {
    /// The LogoutRequest it answers.
    pub in_response_to: String,
    /// The top-level StatusCode URI.
    pub status: String,
}

impl IdpLogoutResponse {
    pub fn is_success(&self) -> bool {
        self.status == STATUS_SUCCESS
    }
}

/// The IDs of the LogoutRequests this process sent and not yet seen answered. Kept in memory:
/// the answer comes back within a minute to the instance that sent the request, and an answer
/// this instance does not know only costs a warning (the session has ended already).
#[derive(Debug, Default)]
pub(crate) struct PendingLogouts(Mutex<HashMap<String, Instant>>);

impl PendingLogouts {
    pub fn insert(&self, id: &str) {
        let now = Instant::now();
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, at| now.duration_since(*at) < PENDING_TTL);
        if map.len() >= MAX_PENDING
            && let Some(oldest) = map
                .iter()
                .min_by_key(|(_, at)| **at)
                .map(|(k, _)| k.clone())
        {
            map.remove(&oldest);
        }
        map.insert(id.to_owned(), now);
    }

    /// Single use: a second answer to the same request is refused.
    pub fn take(&self, id: &str) -> bool {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(id).is_some_and(|at| at.elapsed() < PENDING_TTL)
    }
}

/// Parses and checks an HTTP-Redirect LogoutResponse from its raw query string: the query
/// signature (required: SAML profiles §4.4.4.2 — the IdP must authenticate its answer), Issuer =
/// the IdP, Destination (when present) = the SLO URL, IssueInstant fresh, InResponseTo = a
/// LogoutRequest this broker sent and that is not answered yet.
pub(crate) fn parse_query(
    raw_query: &str,
    exp: &LogoutExpected<'_>,
    pending: &PendingLogouts,
) -> Result<IdpLogoutResponse, CallbackError> {
    let msg = split_query(raw_query, "SAMLResponse")?;
    verify_redirect_signature(&msg, exp.certs, "LogoutResponse")?;
    let xml = inflate(&msg.message, "SAMLResponse")?;
    check_root(&xml)?;
    let resp = samael::schema::LogoutResponse::from_str(&xml)
        .map_err(|_| invalid("xml: the LogoutResponse cannot be read"))?;
    let issuer = resp.issuer.as_ref().and_then(|i| i.value.as_deref());
    let issuer = issuer.map(str::trim);
    if issuer != Some(exp.idp_entity_id) {
        return Err(invalid(format!(
            "issuer: the LogoutResponse is issued by `{}`, not `{}`",
            issuer.unwrap_or_default(),
            exp.idp_entity_id
        )));
    }
    // Destination is optional for a signed message; when present it must be this SLO URL.
    if let Some(d) = resp.destination.as_deref()
        && d != exp.slo_url
    {
        return Err(invalid(format!(
            "destination: the LogoutResponse is addressed to `{d}`, not this SLO URL `{}`",
            exp.slo_url
        )));
    }
    check_instant(resp.issue_instant, exp, "LogoutResponse")?;
    let in_response_to = resp
        .in_response_to
        .filter(|i| !i.is_empty())
        .ok_or_else(|| invalid("in_response_to: the LogoutResponse has no InResponseTo"))?;
    if !pending.take(&in_response_to) {
        return Err(invalid(
            "in_response_to: the LogoutResponse answers no LogoutRequest this broker instance \
             sent in the last 10 minutes (or it was answered already)",
        ));
    }
    let status = resp
        .status
        .as_ref()
        .and_then(|s| s.status_code.value.clone())
        .ok_or_else(|| invalid("xml: the LogoutResponse has no StatusCode"))?;
    Ok(IdpLogoutResponse {
        in_response_to,
        status,
    })
}

/// samael's reader does not look at namespaces: the root must be a `samlp:LogoutResponse`.
fn check_root(xml: &str) -> Result<(), CallbackError> {
    use quick_xml::events::Event;
    use quick_xml::name::{Namespace, ResolveResult};
    let mut reader = quick_xml::NsReader::from_str(xml);
    loop {
        let (ns, event) = reader
            .read_resolved_event()
            .map_err(|e| invalid(format!("xml: not well-formed: {e}")))?;
        match event {
            Event::DocType(_) => return Err(invalid("xml: a DOCTYPE is not allowed")),
            Event::Start(s) | Event::Empty(s) => {
                let ok = matches!(&ns, ResolveResult::Bound(Namespace(n)) if *n == crate::envelope::PROTOCOL_NS)
                    && s.local_name().as_ref() == b"LogoutResponse";
                return if ok {
                    Ok(())
                } else {
                    Err(invalid("xml: SAMLResponse is not a samlp:LogoutResponse"))
                };
            }
            Event::Eof => return Err(invalid("xml: SAMLResponse is empty")),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expected() -> LogoutExpected<'static> {
        LogoutExpected {
            idp_entity_id: "https://idp.example.org",
            certs: &[],
            slo_url: "https://gh.example.org/realms/main/broker/corp/slo",
            skew: chrono::Duration::seconds(60),
            now: chrono::Utc::now(),
        }
    }

    #[test]
    fn a_pending_logout_answers_once() {
        let pending = PendingLogouts::default();
        pending.insert("_a");
        assert!(!pending.take("_b"));
        assert!(pending.take("_a"));
        assert!(!pending.take("_a"), "an answered request is forgotten");
    }

    #[test]
    fn an_unsigned_or_doubled_response_is_refused_before_it_is_read() {
        let pending = PendingLogouts::default();
        let err = parse_query("SAMLResponse=abc&RelayState=x", &expected(), &pending)
            .unwrap_err()
            .to_string();
        assert!(err.contains("not signed"), "{err}");
        let err = parse_query(
            "SAMLResponse=abc&SAMLResponse=def&Signature=x",
            &expected(),
            &pending,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("more than once"), "{err}");
        let err = parse_query("SAMLRequest=abc&Signature=x", &expected(), &pending)
            .unwrap_err()
            .to_string();
        assert!(err.contains("no SAMLResponse"), "{err}");
    }

    #[test]
    fn only_a_protocol_logout_response_is_read() {
        let ok = r#"<samlp:LogoutResponse xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"/>"#;
        assert!(check_root(ok).is_ok());
        for bad in [
            r#"<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"/>"#,
            r#"<x:LogoutResponse xmlns:x="urn:example:other"/>"#,
            "<LogoutResponse/>",
            "",
        ] {
            assert!(check_root(bad).is_err(), "{bad}");
        }
    }
}
