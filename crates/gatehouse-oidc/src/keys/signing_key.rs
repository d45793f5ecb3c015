//! One signing key in memory: parsed once, signing with aws-lc-rs (token issuance is
//! signing-bound: re-parsing a key per token would cost more than the signature itself).

use std::fmt;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::{
    self, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RSA_PKCS1_SHA256,
    UnparsedPublicKey,
};
use openidconnect::core::{CoreJsonCurveType, CoreJsonWebKey, CoreJwsSigningAlgorithm};
use openidconnect::{JsonWebKeyId, PrivateSigningKey, SigningError};
use serde::{Deserialize, Serialize};

use crate::error::OidcError;

/// The signature algorithms a realm can sign with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum SigningAlg {
    #[default]
    RS256,
    ES256,
    EdDSA,
}

impl SigningAlg {
    pub fn as_str(self) -> &'static str {
        match self {
            SigningAlg::RS256 => "RS256",
            SigningAlg::ES256 => "ES256",
            SigningAlg::EdDSA => "EdDSA",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [SigningAlg::RS256, SigningAlg::ES256, SigningAlg::EdDSA]
            .into_iter()
            .find(|a| a.as_str() == s)
    }

    pub fn jws(self) -> CoreJwsSigningAlgorithm {
        match self {
            SigningAlg::RS256 => CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
            SigningAlg::ES256 => CoreJwsSigningAlgorithm::EcdsaP256Sha256,
            SigningAlg::EdDSA => CoreJwsSigningAlgorithm::EdDsa,
        }
    }
}

enum Pair {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

pub struct SigningKey {
    pub kid: String,
    pub alg: SigningAlg,
    pair: Pair,
    /// The public key as the verifier needs it (SPKI-less raw form for aws-lc-rs).
    public: Vec<u8>,
    jwk: CoreJsonWebKey,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey({} {})", self.kid, self.alg.as_str())
    }
}

impl SigningKey {
    /// A new key pair and its PKCS#8 encoding (to be encrypted and stored).
    pub fn generate(kid: String, alg: SigningAlg) -> Result<(Self, Vec<u8>), OidcError> {
        let fail = |what: &str| OidcError::Crypto(format!("cannot generate a {what} key"));
        let pkcs8 = match alg {
            SigningAlg::RS256 => RsaKeyPair::generate(KeySize::Rsa2048)
                .and_then(|k| k.as_der().map(|d| d.as_ref().to_vec()))
                .map_err(|_| fail("RSA"))?,
            SigningAlg::ES256 => {
                EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                    .map(|d| d.as_ref().to_vec())
                    .map_err(|_| fail("P-256"))?
            }
            SigningAlg::EdDSA => Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
                .map(|d| d.as_ref().to_vec())
                .map_err(|_| fail("Ed25519"))?,
        };
        let key = Self::from_pkcs8(kid, alg, &pkcs8)?;
        Ok((key, pkcs8))
    }

    pub fn from_pkcs8(kid: String, alg: SigningAlg, pkcs8: &[u8]) -> Result<Self, OidcError> {
        let bad = || {
            OidcError::Crypto(format!(
                "signing key `{kid}` is not a valid {} key",
                alg.as_str()
            ))
        };
        let key_id = Some(JsonWebKeyId::new(kid.clone()));
        let (pair, public, jwk) = match alg {
            SigningAlg::RS256 => {
                let pair = RsaKeyPair::from_pkcs8(pkcs8).map_err(|_| bad())?;
                let public = pair.public_key();
                let n = public.modulus().big_endian_without_leading_zero().to_vec();
                let e = public.exponent().big_endian_without_leading_zero().to_vec();
                let raw = public.as_ref().to_vec();
                (Pair::Rsa(pair), raw, CoreJsonWebKey::new_rsa(n, e, key_id))
            }
            SigningAlg::ES256 => {
                let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8)
                    .map_err(|_| bad())?;
                // Uncompressed point: 0x04 || x || y.
                let point = pair.public_key().as_ref().to_vec();
                if point.len() != 65 {
                    return Err(bad());
                }
                let jwk = CoreJsonWebKey::new_ec(
                    point[1..33].to_vec(),
                    point[33..].to_vec(),
                    CoreJsonCurveType::P256,
                    key_id,
                );
                (Pair::Ec(pair), point, jwk)
            }
            SigningAlg::EdDSA => {
                let pair = Ed25519KeyPair::from_pkcs8(pkcs8).map_err(|_| bad())?;
                let raw = pair.public_key().as_ref().to_vec();
                let jwk = CoreJsonWebKey::new_okp(raw.clone(), CoreJsonCurveType::Ed25519, key_id);
                (Pair::Ed(pair), raw, jwk)
            }
        };
        Ok(Self {
            kid,
            alg,
            pair,
            public,
            jwk,
        })
    }

    pub fn jwk(&self) -> &CoreJsonWebKey {
        &self.jwk
    }

    pub fn sign_bytes(&self, message: &[u8]) -> Result<Vec<u8>, OidcError> {
        let fail = || OidcError::Crypto("signing failed".into());
        match &self.pair {
            Pair::Rsa(pair) => {
                let mut sig = vec![0u8; pair.public_modulus_len()];
                pair.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), message, &mut sig)
                    .map_err(|_| fail())?;
                Ok(sig)
            }
            Pair::Ec(pair) => pair
                .sign(&SystemRandom::new(), message)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| fail()),
            Pair::Ed(pair) => Ok(pair.sign(message).as_ref().to_vec()),
        }
    }

    pub fn verify_bytes(&self, message: &[u8], sig: &[u8]) -> bool {
        let alg: &dyn signature::VerificationAlgorithm = match self.alg {
            SigningAlg::RS256 => &signature::RSA_PKCS1_2048_8192_SHA256,
            SigningAlg::ES256 => &signature::ECDSA_P256_SHA256_FIXED,
            SigningAlg::EdDSA => &signature::ED25519,
        };
        UnparsedPublicKey::new(alg, &self.public)
            .verify(message, sig)
            .is_ok()
    }
}

/// openidconnect builds ID tokens (and their `at_hash`) through this trait.
impl PrivateSigningKey for SigningKey {
    type VerificationKey = CoreJsonWebKey;

    fn sign(
        &self,
        signature_alg: &CoreJwsSigningAlgorithm,
        message: &[u8],
    ) -> Result<Vec<u8>, SigningError> {
        if *signature_alg != self.alg.jws() {
            return Err(SigningError::UnsupportedAlg(format!("{signature_alg:?}")));
        }
        self.sign_bytes(message)
            .map_err(|e| SigningError::Other(e.to_string()))
    }

    fn as_verification_key(&self) -> CoreJsonWebKey {
        self.jwk.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_algorithm_signs_verifies_and_reloads() {
        for alg in [SigningAlg::RS256, SigningAlg::ES256, SigningAlg::EdDSA] {
            let (key, pkcs8) = SigningKey::generate(format!("k-{}", alg.as_str()), alg).unwrap();
            let sig = key.sign_bytes(b"message").unwrap();
            assert!(key.verify_bytes(b"message", &sig), "{alg:?}");
            assert!(!key.verify_bytes(b"other", &sig), "{alg:?}");
            let again = SigningKey::from_pkcs8(key.kid.clone(), alg, &pkcs8).unwrap();
            assert!(again.verify_bytes(b"message", &sig));
            assert_eq!(again.jwk(), key.jwk());
        }
    }
}
