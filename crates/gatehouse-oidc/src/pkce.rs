//! RFC 7636 with S256 only: `plain` offers no protection against an intercepted code.

use aws_lc_rs::digest::{SHA256, digest};

use crate::crypto::b64;

/// A verifier or challenge: 43 to 128 characters of the unreserved set.
pub fn well_formed(value: &str) -> bool {
    (43..=128).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

pub fn s256_challenge(verifier: &str) -> String {
    b64(digest(&SHA256, verifier.as_bytes()).as_ref())
}

pub fn verify_s256(verifier: &str, challenge: &str) -> bool {
    well_formed(verifier) && crate::crypto::ct_eq(&s256_challenge(verifier), challenge)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7636_appendix_b() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert_eq!(
            s256_challenge(verifier),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        assert!(verify_s256(
            verifier,
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
        assert!(!verify_s256(
            "short",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
        assert!(!well_formed(&"a".repeat(129)));
    }
}
