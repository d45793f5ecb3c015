//! Digests of codes the store keeps instead of the codes, constant-time comparison, and the
//! randomness codes are drawn from.

use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use subtle::ConstantTimeEq;

/// SHA-256 (hex) of the parts, each followed by a NUL so that no two splits collide.
pub fn sha256_hex(parts: &[&str]) -> String {
    let mut input = Vec::new();
    for part in parts {
        input.extend_from_slice(part.as_bytes());
        input.push(0);
    }
    digest(&SHA256, &input)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Equality whose time does not depend on where the inputs differ (only on their lengths, which
/// are public: a code's length is in the configuration).
pub fn ct_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut out = vec![0u8; n];
    // The system's generator failing is a broken host; there is no safe fallback.
    SystemRandom::new()
        .fill(&mut out)
        .expect("the system random generator failed");
    out
}

/// `len` characters drawn uniformly from `alphabet` (at most 256 symbols), by rejection
/// sampling so that no symbol is likelier than another.
pub fn random_string(alphabet: &[u8], len: usize) -> String {
    let n = alphabet.len();
    let limit = 256 - 256 % n;
    let mut out = String::with_capacity(len);
    while out.len() < len {
        for b in random_bytes(len * 2) {
            if (b as usize) < limit && out.len() < len {
                out.push(alphabet[b as usize % n] as char);
            }
        }
    }
    out
}

pub fn random_digits(len: usize) -> String {
    random_string(b"0123456789", len)
}

pub fn random_hex(bytes: usize) -> String {
    random_bytes(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_equality_is_equality() {
        assert!(ct_eq("123456", "123456"));
        assert!(!ct_eq("123456", "123457"));
        assert!(!ct_eq("023456", "123456"));
        assert!(!ct_eq("12345", "123456"));
        assert!(!ct_eq("", "1"));
        assert!(ct_eq("", ""));
    }

    #[test]
    fn digests_separate_their_parts() {
        assert_ne!(sha256_hex(&["ab", "c"]), sha256_hex(&["a", "bc"]));
        assert_eq!(sha256_hex(&["a"]).len(), 64);
    }

    #[test]
    fn random_codes_use_the_whole_alphabet_and_nothing_else() {
        let s = random_digits(2000);
        assert_eq!(s.len(), 2000);
        for d in '0'..='9' {
            assert!(s.contains(d), "digit {d} never drawn");
        }
        assert!(s.chars().all(|c| c.is_ascii_digit()));
        assert_ne!(random_digits(12), random_digits(12));
    }
}
