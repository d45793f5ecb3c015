//! The AuthnRequest (SP-initiated SSO) and its two bindings.

use std::io::Write;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, SecondsFormat, Utc};
use flate2::Compression;
use flate2::write::DeflateEncoder;

use crate::signing::{SpKey, escape, signature_template};

/// A fresh SAML ID: an NCName (starts with `_`) carrying 128 random bits.
pub(crate) fn new_id() -> String {
    let bits: u128 = rand::random();
    format!("_{bits:032x}")
}

pub(crate) struct AuthnRequest<'a> {
    pub id: &'a str,
    pub issue_instant: DateTime<Utc>,
    pub destination: &'a str,
    pub acs_url: &'a str,
    pub sp_entity_id: &'a str,
}

impl AuthnRequest<'_> {
    /// The request XML; with `signer`, an enveloped signature is included (HTTP-POST binding).
    pub(crate) fn xml(&self, signer: Option<&SpKey>) -> Result<String, String> {
        let signature = signer
            .map(|k| signature_template(self.id, k.sig_alg(), Some(&k.cert_b64())))
            .unwrap_or_default();
        let xml = format!(
            "<samlp:AuthnRequest xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" \
             xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" ID=\"{id}\" Version=\"2.0\" \
             IssueInstant=\"{instant}\" Destination=\"{dest}\" \
             AssertionConsumerServiceURL=\"{acs}\" \
             ProtocolBinding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST\">\
             <saml:Issuer>{issuer}</saml:Issuer>{signature}\
             <samlp:NameIDPolicy AllowCreate=\"true\"/></samlp:AuthnRequest>",
            id = escape(self.id),
            instant = self
                .issue_instant
                .to_rfc3339_opts(SecondsFormat::Secs, true),
            dest = escape(self.destination),
            acs = escape(self.acs_url),
            issuer = escape(self.sp_entity_id),
        );
        match signer {
            Some(k) => k.sign_xml(&xml),
            None => Ok(xml),
        }
    }
}

/// The HTTP-Redirect binding: `message` deflated, base64, as `param` (`SAMLRequest` or
/// `SAMLResponse`) with `RelayState`, signed with `signer` when given, appended to `endpoint`.
pub(crate) fn redirect_url(
    endpoint: &str,
    param: &str,
    message: &str,
    relay_state: Option<&str>,
    signer: Option<&SpKey>,
) -> Result<String, String> {
    let mut deflater = DeflateEncoder::new(Vec::new(), Compression::default());
    deflater
        .write_all(message.as_bytes())
        .map_err(|e| e.to_string())?;
    let deflated = deflater.finish().map_err(|e| e.to_string())?;
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.append_pair(param, &STANDARD.encode(deflated));
    if let Some(rs) = relay_state {
        query.append_pair("RelayState", rs);
    }
    let mut query = query.finish();
    if let Some(k) = signer {
        query = k.sign_query(&query)?;
    }
    let sep = if endpoint.contains('?') { '&' } else { '?' };
    Ok(format!("{endpoint}{sep}{query}"))
}
