//! Compact JWS for access tokens, and verification of the tokens this realm signed (access tokens
//! at userinfo and introspection, `id_token_hint` at logout). ID tokens are built by openidconnect.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::crypto::{b64, b64_decode};
use crate::error::OidcError;
use crate::keys::{KeyRing, SigningKey};

pub fn sign(key: &SigningKey, typ: &str, claims: &impl Serialize) -> Result<String, OidcError> {
    let header = json!({ "alg": key.alg.as_str(), "kid": key.kid, "typ": typ });
    let header = serde_json::to_vec(&header).map_err(|e| OidcError::Crypto(e.to_string()))?;
    let claims = serde_json::to_vec(claims).map_err(|e| OidcError::Crypto(e.to_string()))?;
    let mut token = b64(&header);
    token.push('.');
    token.push_str(&b64(&claims));
    let signature = key.sign_bytes(token.as_bytes())?;
    token.push('.');
    token.push_str(&b64(&signature));
    Ok(token)
}

/// The claims of a token signed by one of the realm's keys, with the header's `typ` when `typ` is
/// given; `None` for anything else (malformed, unknown key, bad signature, other algorithm).
/// Expiry and issuer are the caller's to check.
pub async fn verify<T: DeserializeOwned>(
    keys: &KeyRing,
    token: &str,
    typ: Option<&str>,
) -> Result<Option<T>, OidcError> {
    let mut parts = token.split('.');
    let (Some(h), Some(c), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Ok(None);
    };
    let Some(header) =
        b64_decode(h).and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
    else {
        return Ok(None);
    };
    let Some(kid) = header.get("kid").and_then(|k| k.as_str()) else {
        return Ok(None);
    };
    if typ.is_some_and(|t| header.get("typ").and_then(|v| v.as_str()) != Some(t)) {
        return Ok(None);
    }
    let Some(key) = keys.verification_key(kid).await? else {
        return Ok(None);
    };
    // The algorithm is the key's, never the header's choice.
    if header.get("alg").and_then(|a| a.as_str()) != Some(key.alg.as_str()) {
        return Ok(None);
    }
    let Some(signature) = b64_decode(s) else {
        return Ok(None);
    };
    let signed = &token[..h.len() + 1 + c.len()];
    if !key.verify_bytes(signed.as_bytes(), &signature) {
        return Ok(None);
    }
    Ok(b64_decode(c).and_then(|b| serde_json::from_slice(&b).ok()))
}
