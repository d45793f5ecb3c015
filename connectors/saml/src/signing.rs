//! The SP's own key and certificate (for signed AuthnRequests / LogoutRequests and the SP
//! metadata), XML-signature templates, and HTTP-Redirect binding signatures (SAML bindings
//! §3.4.4.1: the signature covers `SAMLRequest=…&RelayState=…&SigAlg=…` exactly as sent).

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use openssl::hash::MessageDigest;
use openssl::pkey::{Id, PKey, Private, Public};
use openssl::sign::{Signer, Verifier};
use samael::crypto::{CertificateDer, Crypto, CryptoProvider};

pub(crate) const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
pub(crate) const RSA_SHA384: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384";
pub(crate) const RSA_SHA512: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512";
pub(crate) const ECDSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256";
pub(crate) const ECDSA_SHA384: &str = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384";
pub(crate) const ECDSA_SHA512: &str = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512";

/// The SP's signing key. Never printed.
pub(crate) struct SpKey {
    key: PKey<Private>,
    /// The key as DER, the form xmlsec loads.
    der: Vec<u8>,
    pub(crate) cert: CertificateDer,
}

impl std::fmt::Debug for SpKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SpKey([redacted])")
    }
}

impl SpKey {
    /// Reads a PEM key (PKCS#1 or PKCS#8, RSA or EC) and its PEM certificate; refuses a pair
    /// whose certificate is not that key's.
    pub(crate) fn load(key_file: &Path, cert_file: &Path) -> Result<Self, String> {
        let pem = std::fs::read(key_file)
            .map_err(|e| format!("sp_key_file {}: {e}", key_file.display()))?;
        let key = PKey::private_key_from_pem(&pem).map_err(|_| {
            format!(
                "sp_key_file {}: not a PEM private key (PKCS#1 `RSA PRIVATE KEY`, `EC PRIVATE \
                 KEY` or PKCS#8 `PRIVATE KEY`, unencrypted)",
                key_file.display()
            )
        })?;
        if !matches!(key.id(), Id::RSA | Id::EC) {
            return Err(format!(
                "sp_key_file {}: only RSA and EC keys sign SAML messages",
                key_file.display()
            ));
        }
        let cert_pem = std::fs::read(cert_file)
            .map_err(|e| format!("sp_cert_file {}: {e}", cert_file.display()))?;
        let cert = openssl::x509::X509::from_pem(&cert_pem).map_err(|_| {
            format!(
                "sp_cert_file {}: not a PEM certificate",
                cert_file.display()
            )
        })?;
        let matches = cert
            .public_key()
            .map(|public| public.public_eq(&key))
            .unwrap_or(false);
        if !matches {
            return Err(format!(
                "sp_cert_file {} is not the certificate of sp_key_file {}",
                cert_file.display(),
                key_file.display()
            ));
        }
        let der = key
            .private_key_to_der()
            .map_err(|e| format!("sp_key_file: {e}"))?;
        let cert_der = cert.to_der().map_err(|e| format!("sp_cert_file: {e}"))?;
        Ok(Self {
            key,
            der,
            cert: CertificateDer::from(cert_der),
        })
    }

    pub(crate) fn sig_alg(&self) -> &'static str {
        if self.key.id() == Id::EC {
            ECDSA_SHA256
        } else {
            RSA_SHA256
        }
    }

    /// Base64 of the DER certificate, for metadata and KeyInfo.
    pub(crate) fn cert_b64(&self) -> String {
        STANDARD.encode(self.cert.der_data())
    }

    /// Signs the HTTP-Redirect query `SAMLRequest=…[&RelayState=…]` and returns it with
    /// `&SigAlg=…&Signature=…` appended.
    pub(crate) fn sign_query(&self, query: &str) -> Result<String, String> {
        let mut signed = String::from(query);
        signed.push_str("&SigAlg=");
        signed.extend(url::form_urlencoded::byte_serialize(
            self.sig_alg().as_bytes(),
        ));
        let mut signer =
            Signer::new(MessageDigest::sha256(), &self.key).map_err(|e| e.to_string())?;
        signer
            .update(signed.as_bytes())
            .map_err(|e| e.to_string())?;
        let sig = signer.sign_to_vec().map_err(|e| e.to_string())?;
        signed.push_str("&Signature=");
        signed.extend(url::form_urlencoded::byte_serialize(
            STANDARD.encode(sig).as_bytes(),
        ));
        Ok(signed)
    }

    /// Fills the (first) signature template of `xml` (see [`signature_template`]).
    pub(crate) fn sign_xml(&self, xml: &str) -> Result<String, String> {
        crate::xml_log::capture();
        Crypto::sign_xml(xml, &self.der).map_err(|e| format!("signing failed: {e}"))
    }
}

/// An enveloped-signature template for the element whose `ID` is `id`: exclusive c14n,
/// `sig_alg`, SHA-256 digest. It goes right after the element's `Issuer`.
pub fn signature_template(id: &str, sig_alg: &str, cert_b64: Option<&str>) -> String {
    let key_info = cert_b64
        .map(|c| {
            format!("<ds:KeyInfo><ds:X509Data><ds:X509Certificate>{c}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>")
        })
        .unwrap_or_default();
    format!(
        "<ds:Signature xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"><ds:SignedInfo>\
         <ds:CanonicalizationMethod Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/>\
         <ds:SignatureMethod Algorithm=\"{sig_alg}\"/>\
         <ds:Reference URI=\"#{id}\"><ds:Transforms>\
         <ds:Transform Algorithm=\"http://www.w3.org/2000/09/xmldsig#enveloped-signature\"/>\
         <ds:Transform Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/></ds:Transforms>\
         <ds:DigestMethod Algorithm=\"http://www.w3.org/2001/04/xmlenc#sha256\"/>\
         <ds:DigestValue></ds:DigestValue></ds:Reference></ds:SignedInfo>\
         <ds:SignatureValue></ds:SignatureValue>{key_info}</ds:Signature>"
    )
}

/// Checks an HTTP-Redirect binding signature: `signed` is the raw query part
/// `SAMLRequest=…[&RelayState=…]&SigAlg=…` as received, `signature` the decoded `Signature`.
/// True when one of `certs` verifies it with `sig_alg` (SHA-1 is refused).
pub(crate) fn verify_query(
    signed: &str,
    sig_alg: &str,
    signature: &[u8],
    certs: &[CertificateDer],
) -> Result<bool, String> {
    let digest = match sig_alg {
        RSA_SHA256 | ECDSA_SHA256 => MessageDigest::sha256(),
        RSA_SHA384 | ECDSA_SHA384 => MessageDigest::sha384(),
        RSA_SHA512 | ECDSA_SHA512 => MessageDigest::sha512(),
        other => return Err(format!("SigAlg `{other}` is not accepted")),
    };
    for cert in certs {
        let Ok(x509) = openssl::x509::X509::from_der(cert.der_data()) else {
            continue;
        };
        let Ok(public): Result<PKey<Public>, _> = x509.public_key() else {
            continue;
        };
        let Ok(mut verifier) = Verifier::new(digest, &public) else {
            continue;
        };
        if verifier.update(signed.as_bytes()).is_ok() && verifier.verify(signature).unwrap_or(false)
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// XML-escapes an attribute value or text.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}
