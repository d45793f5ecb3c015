//! The ACS attack matrix: each case is a Response signed for real (xmlsec) by the test IdP's
//! key — or deliberately unsigned, or signed by a key the metadata does not hold — with one
//! defect; each must be refused with the message of its own check, and the valid one accepted.

mod common;

use chrono::{Duration, Utc};
use common::*;
use gatehouse_core::{CallbackError, ExternalIdentity, RedirectProvider};

struct Login {
    sp: TestSp,
    pending: serde_json::Value,
    request_id: String,
    relay_state: String,
}

async fn login(extra: &str) -> Login {
    let sp = sp(extra).await;
    let start = sp.provider.begin(ACS_URL).await.unwrap();
    let request_id = start.pending["request_id"].as_str().unwrap().to_owned();
    Login {
        relay_state: start.state.clone(),
        pending: start.pending,
        request_id,
        sp,
    }
}

impl Login {
    async fn post(&self, xml: &str) -> Result<ExternalIdentity, CallbackError> {
        self.sp
            .provider
            .complete(&self.pending, ACS_URL, &form(xml, &self.relay_state))
            .await
    }

    async fn refused(&self, xml: &str, check: &str) {
        match self.post(xml).await {
            Err(CallbackError::Invalid(msg)) => {
                assert!(msg.starts_with(check), "expected `{check}`, got `{msg}`")
            }
            other => panic!("expected a refusal by `{check}`, got {other:?}"),
        }
    }

    fn resp(&self) -> Resp {
        Resp::valid(&self.request_id)
    }
}

#[tokio::test]
async fn valid_response_is_accepted_and_mapped() {
    for sign in [Sign::Assertion, Sign::Response, Sign::Both] {
        let l = login("username_attribute = \"uid\"").await;
        let mut r = l.resp();
        r.sign = sign;
        let id = l
            .post(&r.xml())
            .await
            .unwrap_or_else(|e| panic!("{sign:?}: {e}"));
        assert_eq!(id.external_id, "alice@corp.test");
        assert_eq!(id.username.as_deref(), Some("alice"));
        assert_eq!(id.profile.email.as_deref(), Some("alice@corp.test"));
        assert_eq!(id.profile.name.as_deref(), Some("Alice Liddell"));
        assert_eq!(id.profile.groups, ["staff", "admins"]);
        assert!(!id.email_verified);
        let guard = id.replay_guard.unwrap();
        assert_eq!(guard.id, r.assertion_id);
        // The earliest NotOnOrAfter plus the skew.
        assert_eq!(
            guard.not_after.timestamp(),
            (r.not_on_or_after + Duration::seconds(60)).timestamp()
        );
        let hint: serde_json::Value =
            serde_json::from_str(id.logout_hint.as_deref().unwrap()).unwrap();
        assert_eq!(hint["name_id"], "alice@corp.test");
        assert_eq!(hint["session_index"], "_session-1");
        assert_eq!(
            hint["name_id_format"],
            "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
        );
    }
}

#[tokio::test]
async fn username_regex_and_default_name_id() {
    let l = login(r#"username_regex = "^([^@]+)@corp\\.test$""#).await;
    let id = l.post(&l.resp().xml()).await.unwrap();
    assert_eq!(id.username.as_deref(), Some("alice"));
    let l = login(r#"username_regex = "^([^@]+)@other\\.test$""#).await;
    l.refused(&l.resp().xml(), "username_regex").await;
    let l = login("username_attribute = \"employeeNumber\"").await;
    l.refused(&l.resp().xml(), "username_attribute").await;
}

#[tokio::test]
async fn allowed_groups_filter() {
    let l = login("allowed_groups = [\"admins\", \"ops\"]").await;
    assert!(l.post(&l.resp().xml()).await.is_ok());
    let l = login("allowed_groups = [\"ops\"]").await;
    l.refused(&l.resp().xml(), "allowed_groups").await;
}

#[tokio::test]
async fn unsigned_response_is_refused() {
    let l = login("").await;
    let mut r = l.resp();
    r.sign = Sign::None;
    l.refused(&r.xml(), "signature: neither").await;
}

#[tokio::test]
async fn response_signed_by_an_unknown_certificate_is_refused() {
    let l = login("").await;
    for sign in [Sign::Assertion, Sign::Response] {
        let mut r = l.resp();
        r.sign = sign;
        r.key = "unknown-key.pem".into();
        l.refused(&r.xml(), "signature: a signature does not verify")
            .await;
    }
}

#[tokio::test]
async fn tampered_signed_content_is_refused() {
    let l = login("").await;
    let xml = l.resp().xml().replace(
        "alice@corp.test</saml:NameID>",
        "admin@corp.test</saml:NameID>",
    );
    l.refused(&xml, "signature: a signature does not verify")
        .await;
}

/// Only the Response is signed; an unsigned Assertion is added inside it: the digest breaks.
#[tokio::test]
async fn wrapping_unsigned_assertion_inserted_into_signed_response() {
    let l = login("").await;
    let mut r = l.resp();
    r.sign = Sign::Response;
    let mut evil = r.clone();
    evil.name_id = "admin@corp.test".into();
    evil.assertion_id = format!("_evil{}", rand_hex());
    let xml = r.xml().replace(
        "</samlp:Status>",
        &format!("</samlp:Status>{}", evil.assertion_xml(false)),
    );
    assert!(xml.contains("admin@corp.test"));
    l.refused(&xml, "signature: a signature does not verify")
        .await;
    // Appended next to a signed Assertion of an unsigned Response, it is refused as well.
    let r = l.resp();
    let xml = r.response_xml(
        &format!("{}{}", r.assertion_xml(true), evil.assertion_xml(false)),
        false,
    );
    l.refused(
        &xml,
        "assertion: the Response must hold exactly one Assertion",
    )
    .await;
}

/// The signed Response is moved into the Extensions of an unsigned Response that carries an
/// unsigned Assertion of the attacker's choosing (XSW).
#[tokio::test]
async fn wrapping_signed_response_inside_an_unsigned_one() {
    let l = login("").await;
    let mut r = l.resp();
    r.sign = Sign::Response;
    let signed = r.xml();
    let mut evil = r.clone();
    evil.id = format!("_evil{}", rand_hex());
    evil.assertion_id = format!("_evila{}", rand_hex());
    evil.name_id = "admin@corp.test".into();
    let inner = format!(
        "<samlp:Extensions>{signed}</samlp:Extensions>{}",
        evil.assertion_xml(false)
    );
    // Extensions go before Status in the schema; put them right after Issuer.
    let outer = evil
        .response_xml(&evil.assertion_xml(false), false)
        .replacen(
            "</saml:Issuer>",
            &format!("</saml:Issuer><samlp:Extensions>{signed}</samlp:Extensions>"),
            1,
        );
    let _ = inner;
    l.refused(
        &outer,
        "signature: the signed element is not the Response or its Assertion",
    )
    .await;
}

/// Only the Assertion is signed; it is moved under Extensions (and, second variant, under a
/// ds:Object of the signature) and an unsigned Assertion takes its place.
#[tokio::test]
async fn wrapping_signed_assertion_moved_away() {
    let l = login("").await;
    let r = l.resp();
    let signed_assertion = r.assertion_xml(true);
    let mut evil = r.clone();
    evil.assertion_id = format!("_evil{}", rand_hex());
    evil.name_id = "admin@corp.test".into();
    let in_extensions = r.response_xml(&evil.assertion_xml(false), false).replacen(
        "</saml:Issuer>",
        &format!("</saml:Issuer><samlp:Extensions>{signed_assertion}</samlp:Extensions>"),
        1,
    );
    l.refused(
        &in_extensions,
        "signature: the signed element is not the Response or its Assertion",
    )
    .await;
    // The evil Assertion carries a signature whose ds:Object holds the signed original.
    let evil_with_object = evil.assertion_xml(false).replacen(
        "</saml:Issuer>",
        &format!(
            "</saml:Issuer><ds:Signature xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"><ds:Object>{signed_assertion}</ds:Object></ds:Signature>"
        ),
        1,
    );
    let in_object = r.response_xml(&evil_with_object, false);
    match l.post(&in_object).await {
        Err(CallbackError::Invalid(msg)) => assert!(msg.starts_with("signature"), "{msg}"),
        other => panic!("accepted a wrapped assertion: {other:?}"),
    }
}

/// A comment inside the signed NameID does not break the XML signature (exclusive c14n drops
/// comments), so a reader of the document could take `al` (or `alice@corp.test` out of
/// `alice@corp.test<!---->.evil.test`). The connector reads the canonical signed octets
/// (xmlsec's pre-digest data), where the comment is gone: the value is the whole text.
#[tokio::test]
async fn comment_inside_name_id_does_not_truncate_it() {
    let l = login("").await;
    let mut r = l.resp();
    r.name_id = "alice".into();
    let xml = r
        .xml()
        .replace(">alice</saml:NameID>", ">al<!-- -->ice</saml:NameID>");
    assert!(xml.contains("al<!-- -->ice"));
    let id = l.post(&xml).await.unwrap();
    assert_eq!(id.external_id, "alice");
    assert_eq!(id.username.as_deref(), Some("alice"));
    // The classic form of the attack: a suffix hidden behind a comment.
    let mut r = l.resp();
    r.name_id = "alice@corp.test.evil.test".into();
    r.attributes.retain(|(n, _)| n != "uid");
    let xml = r.xml().replace(
        "alice@corp.test.evil.test</saml:NameID>",
        "alice@corp.test<!---->.evil.test</saml:NameID>",
    );
    let id = l.post(&xml).await.unwrap();
    assert_eq!(id.external_id, "alice@corp.test.evil.test");
    assert_eq!(id.username.as_deref(), Some("alice@corp.test.evil.test"));
    // Also when the Response, not the Assertion, is signed.
    let mut r = l.resp();
    r.sign = Sign::Response;
    r.name_id = "alice".into();
    let xml = r
        .xml()
        .replace(">alice</saml:NameID>", ">al<!-- -->ice</saml:NameID>");
    assert_eq!(l.post(&xml).await.unwrap().external_id, "alice");
}

#[tokio::test]
async fn wrong_audience_is_refused() {
    let l = login("").await;
    let mut r = l.resp();
    r.audience = "https://other-sp.test".into();
    l.refused(&r.xml(), "audience").await;
}

#[tokio::test]
async fn wrong_recipient_is_refused() {
    let l = login("").await;
    let mut r = l.resp();
    r.recipient = "https://other-sp.test/acs".into();
    l.refused(&r.xml(), "recipient").await;
}

#[tokio::test]
async fn wrong_destination_is_refused() {
    let l = login("").await;
    for sign in [Sign::Assertion, Sign::Response] {
        let mut r = l.resp();
        r.sign = sign;
        r.destination = Some("https://other-sp.test/acs".into());
        l.refused(&r.xml(), "destination").await;
    }
    // A signed Response must name its Destination.
    let mut r = l.resp();
    r.sign = Sign::Response;
    r.destination = None;
    l.refused(&r.xml(), "destination").await;
}

#[tokio::test]
async fn wrong_in_response_to_is_refused() {
    let l = login("").await;
    let r = Resp::valid("_someone-elses-request");
    l.refused(&r.xml(), "in_response_to").await;
}

/// The Response's own InResponseTo and the Assertion's (SubjectConfirmationData) are each
/// checked: a mismatch in either refuses.
#[tokio::test]
async fn in_response_to_of_response_and_assertion_each_checked() {
    let l = login("").await;
    // Only the (unsigned) Response's InResponseTo is wrong.
    let xml = l.resp().xml().replacen(
        &format!("InResponseTo=\"{}\"", l.request_id),
        "InResponseTo=\"_other\"",
        1,
    );
    l.refused(&xml, "in_response_to: the Response answers")
        .await;
    // Only the Assertion's is wrong.
    let mut r = l.resp();
    r.in_response_to = Some("_other".into());
    let xml = r.xml().replacen(
        "InResponseTo=\"_other\"",
        &format!("InResponseTo=\"{}\"", l.request_id),
        1,
    );
    l.refused(&xml, "in_response_to: the Assertion answers")
        .await;
}

#[tokio::test]
async fn missing_in_response_to_is_refused() {
    for extra in ["", "allow_idp_initiated = true"] {
        let l = login(extra).await;
        let mut r = l.resp();
        r.in_response_to = None;
        l.refused(&r.xml(), "in_response_to").await;
    }
}

#[tokio::test]
async fn idp_initiated_needs_allow_idp_initiated() {
    let mut r = Resp::valid("unused");
    r.in_response_to = None;
    let xml = r.xml();
    let params = form(&xml, "whatever");
    let sp = sp("").await;
    match sp
        .provider
        .complete(&serde_json::Value::Null, ACS_URL, &params)
        .await
    {
        Err(CallbackError::Invalid(m)) => assert!(m.starts_with("in_response_to"), "{m}"),
        other => panic!("{other:?}"),
    }
    let sp = common::sp("allow_idp_initiated = true").await;
    let id = sp
        .provider
        .complete(&serde_json::Value::Null, ACS_URL, &params)
        .await
        .unwrap();
    assert_eq!(id.external_id, "alice@corp.test");
    // An answer to some request, arriving without a pending one, is not IdP-initiated.
    let answer = Resp::valid("_req").xml();
    match sp
        .provider
        .complete(&serde_json::Value::Null, ACS_URL, &form(&answer, "x"))
        .await
    {
        Err(CallbackError::Invalid(m)) => assert!(m.starts_with("in_response_to"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn expired_response_is_refused() {
    let l = login("").await;
    let mut r = l.resp();
    r.issue_instant = Utc::now() - Duration::minutes(20);
    r.not_before = r.issue_instant;
    r.not_on_or_after = Utc::now() - Duration::seconds(61);
    l.refused(&r.xml(), "expired").await;
    // Each window on its own: Conditions, then SubjectConfirmationData.
    let mut r = l.resp();
    r.not_on_or_after = Utc::now() - Duration::seconds(61);
    r.confirmation_not_on_or_after = Some(Utc::now() + Duration::minutes(5));
    l.refused(&r.xml(), "expired: Conditions").await;
    let mut r = l.resp();
    r.confirmation_not_on_or_after = Some(Utc::now() - Duration::seconds(61));
    l.refused(&r.xml(), "expired: SubjectConfirmationData")
        .await;
    // Within the skew it still passes.
    let mut r = l.resp();
    r.not_on_or_after = Utc::now() - Duration::seconds(30);
    assert!(l.post(&r.xml()).await.is_ok());
}

#[tokio::test]
async fn not_yet_valid_response_is_refused() {
    let l = login("clock_skew_s = 10").await;
    let mut r = l.resp();
    r.not_before = Utc::now() + Duration::seconds(30);
    l.refused(&r.xml(), "not yet valid: Conditions").await;
    let mut r = l.resp();
    r.confirmation_not_before = Some(Utc::now() + Duration::seconds(30));
    l.refused(&r.xml(), "not yet valid: SubjectConfirmationData")
        .await;
    // Within the skew it passes.
    let mut r = l.resp();
    r.not_before = Utc::now() + Duration::seconds(5);
    assert!(l.post(&r.xml()).await.is_ok());
}

#[tokio::test]
async fn non_success_status_is_refused() {
    let l = login("").await;
    for sign in [Sign::Assertion, Sign::Response] {
        let mut r = l.resp();
        r.sign = sign;
        r.status = "urn:oasis:names:tc:SAML:2.0:status:Requester".into();
        l.refused(&r.xml(), "status").await;
    }
}

#[tokio::test]
async fn wrong_issuer_is_refused() {
    let l = login("").await;
    let mut r = l.resp();
    r.issuer = "https://other-idp.test".into();
    l.refused(&r.xml(), "issuer").await;
}

#[tokio::test]
async fn relay_state_must_match_the_pending_login() {
    let l = login("").await;
    let params = form(&l.resp().xml(), "another-relay-state");
    let got = l.sp.provider.complete(&l.pending, ACS_URL, &params).await;
    assert_eq!(got.unwrap_err(), CallbackError::State);
}

#[tokio::test]
async fn garbage_is_refused_without_panic() {
    let l = login("").await;
    for body in [
        "",
        "not xml",
        "<samlp:Response/>",
        "<!DOCTYPE r [<!ENTITY x \"y\">]><r/>",
    ] {
        assert!(l.post(body).await.is_err(), "{body}");
    }
    let params = vec![
        ("SAMLResponse".to_owned(), "%%%".to_owned()),
        ("RelayState".into(), l.relay_state.clone()),
    ];
    assert!(
        l.sp.provider
            .complete(&l.pending, ACS_URL, &params)
            .await
            .is_err()
    );
}

/// xmlsec would dereference a Reference's URI (and run its transforms) before it checks the
/// signature value: a forged Response naming `http://…` or `file:///dev/zero` must be refused
/// before that, and the named server must hear nothing.
#[tokio::test]
async fn references_outside_the_document_are_refused_unfetched() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let l = login("").await;
    let signed = l.resp().xml();
    assert!(signed.contains("URI=\"#"), "the fixture signs by #ID");
    for uri in [
        format!("http://127.0.0.1:{port}/ssrf"),
        "file:///dev/zero".to_owned(),
    ] {
        let forged = signed.replacen("URI=\"#", &format!("URI=\"{uri}#"), 1);
        l.refused(&forged, "signature: a Reference").await;
    }
    let xpath = signed.replacen(
        "http://www.w3.org/2000/09/xmldsig#enveloped-signature",
        "http://www.w3.org/TR/1999/REC-xpath-19991116",
        1,
    );
    l.refused(&xpath, "signature: a transform").await;
    assert!(
        listener.accept().is_err(),
        "the forged Reference was fetched"
    );
}
