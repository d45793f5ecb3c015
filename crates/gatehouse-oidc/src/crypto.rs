//! Small cryptographic helpers shared by the protocol code.

use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// A fresh random token: 32 bytes (256 bits), base64url without padding. Used for session ids,
/// codes, refresh tokens, CSRF tokens and `jti`s.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    // The system RNG failing means the process cannot do any cryptography safely.
    SystemRandom::new()
        .fill(&mut bytes)
        .expect("the system random number generator failed");
    b64(&bytes)
}

/// The store keeps only this hash of a bearer secret (session id, code, refresh token), so a
/// leaked database does not hand out live credentials.
pub fn token_hash(token: &str) -> String {
    let d = digest(&SHA256, token.as_bytes());
    d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn b64_decode(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text).ok()
}

/// Constant-time equality of two strings (their lengths are not secret).
pub fn ct_eq(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_hashes_stable() {
        let (a, b) = (random_token(), random_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_eq!(token_hash("abc"), token_hash("abc"));
        assert_eq!(token_hash("abc").len(), 64);
        assert!(ct_eq("x", "x") && !ct_eq("x", "y"));
    }
}
