//! Encryption of signing keys at rest: AES-256-GCM under a key derived (HKDF-SHA256) from the
//! configured key-encryption secret. The key id is bound as associated data, so an encrypted key
//! cannot be swapped into another row.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::hkdf::{HKDF_SHA256, Salt};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};

use crate::error::OidcError;

pub struct KeyVault {
    key: LessSafeKey,
}

impl KeyVault {
    pub fn new(secret: &[u8]) -> Result<Self, OidcError> {
        if secret.len() < 16 {
            return Err(OidcError::Config(
                "the key-encryption secret must be at least 16 bytes".into(),
            ));
        }
        let prk = Salt::new(HKDF_SHA256, b"gatehouse signing keys").extract(secret);
        let okm = prk
            .expand(&[b"aes-256-gcm v1"], &AES_256_GCM)
            .map_err(|_| OidcError::Crypto("key derivation failed".into()))?;
        Ok(Self {
            key: LessSafeKey::new(UnboundKey::from(okm)),
        })
    }

    /// nonce || ciphertext || tag
    pub fn seal(&self, kid: &str, plaintext: &[u8]) -> Result<Vec<u8>, OidcError> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| OidcError::Crypto("no randomness".into()))?;
        let mut data = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(kid.as_bytes()),
                &mut data,
            )
            .map_err(|_| OidcError::Crypto("encryption failed".into()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&data);
        Ok(out)
    }

    pub fn open(&self, kid: &str, sealed: &[u8]) -> Result<Vec<u8>, OidcError> {
        let fail = || {
            OidcError::Crypto(format!(
                "cannot decrypt signing key `{kid}`: the key-encryption secret differs from the one that encrypted it"
            ))
        };
        if sealed.len() < NONCE_LEN {
            return Err(fail());
        }
        let (nonce, data) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| fail())?;
        let mut data = data.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(kid.as_bytes()), &mut data)
            .map_err(|_| fail())?;
        Ok(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_and_opens_only_with_the_same_secret_and_kid() {
        let vault = KeyVault::new(b"0123456789abcdef0123").unwrap();
        let sealed = vault.seal("k1", b"private").unwrap();
        assert_eq!(vault.open("k1", &sealed).unwrap(), b"private");
        assert!(vault.open("k2", &sealed).is_err());
        let other = KeyVault::new(b"another secret of some length").unwrap();
        let err = other.open("k1", &sealed).unwrap_err().to_string();
        assert!(err.contains("k1"), "{err}");
        assert!(KeyVault::new(b"short").is_err());
    }
}
