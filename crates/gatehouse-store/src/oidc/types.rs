//! Records of the OpenID Provider's state. Every `*_hash` field is the SHA-256 hex digest of a
//! secret the caller handed out (cookie, code, refresh token): the store never sees the secret.
//!
//! Timestamps are stored to the microsecond, so what is read back is the given time truncated to
//! microseconds.

use std::fmt;

use chrono::{DateTime, Utc};
use gatehouse_core::AccountId;
use gatehouse_core::auth::{AchievedLevel, PassedMechanism};

/// A realm's signing key. `Debug` leaves out the private key, encrypted as it is.
#[derive(Clone, PartialEq)]
pub struct SigningKeyRecord {
    pub kid: String,
    pub realm: String,
    /// `RS256`, `ES256` or `EdDSA`.
    pub alg: String,
    /// Encrypted by the caller; stored and returned as given.
    pub private_key: Vec<u8>,
    pub public_jwk: serde_json::Value,
    pub created_at: DateTime<Utc>,
    /// When it stopped being the signing key.
    pub retired_at: Option<DateTime<Utc>>,
    /// After this it leaves the JWKS (and the store).
    pub expires_at: Option<DateTime<Utc>>,
}

impl fmt::Debug for SigningKeyRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKeyRecord")
            .field("kid", &self.kid)
            .field("realm", &self.realm)
            .field("alg", &self.alg)
            .field("private_key", &"[redacted]")
            .field("public_jwk", &self.public_jwk)
            .field("created_at", &self.created_at)
            .field("retired_at", &self.retired_at)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// A signed-in browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrowserSession {
    pub id_hash: String,
    pub realm: String,
    pub account_id: AccountId,
    pub auth_time: DateTime<Utc>,
    pub amr: Vec<String>,
    pub acr: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    /// Set when the session was created through a redirect provider.
    pub upstream: Option<SessionUpstream>,
    /// Each mechanism the session passed, with its time (step-up skips those still valid).
    pub passed: Vec<PassedMechanism>,
    /// Each level a flow reached; a level expires with its policy's `max_age`.
    pub levels: Vec<AchievedLevel>,
}

/// The redirect provider a session came through, and what it needs to end the upstream session
/// at logout (`RedirectProvider::logout_location`).
#[derive(Clone, PartialEq, Eq)]
pub struct SessionUpstream {
    /// The provider id in the realm.
    pub provider: String,
    /// The connector's `logout_hint` (an ID token, a SAML NameID + SessionIndex), encrypted by
    /// the caller; stored and returned as given.
    pub logout_hint: Option<Vec<u8>>,
}

impl fmt::Debug for SessionUpstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionUpstream")
            .field("provider", &self.provider)
            .field(
                "logout_hint",
                &self.logout_hint.as_ref().map(|_| "[redacted]"),
            )
            .finish()
    }
}

/// An authorization request waiting while the user is on the login page.
#[derive(Debug, Clone, PartialEq)]
pub struct LoginTransaction {
    pub id_hash: String,
    pub realm: String,
    /// The pending request, opaque to the store.
    pub request: serde_json::Value,
    pub csrf_hash: String,
    /// Set once identifier-first login knows who is signing in.
    pub username: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// An authorization code and what it grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationCode {
    pub code_hash: String,
    pub realm: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub account_id: AccountId,
    pub session_id_hash: Option<String>,
    pub scope: String,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub auth_time: DateTime<Utc>,
    pub amr: Vec<String>,
    pub acr: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// Set by the redemption that won.
    pub used_at: Option<DateTime<Utc>>,
    /// The refresh-token family issued from it.
    pub family_id: Option<String>,
}

/// What [`Store::consume_code`](crate::Store::consume_code) found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeUse {
    /// This caller redeemed it: issue tokens. The record carries the `used_at` just set.
    Fresh(AuthorizationCode),
    /// Redeemed before (by anyone): refuse. What it issued was revoked in the same transaction
    /// that saw the replay.
    Replayed(AuthorizationCode),
    /// Never redeemed, now past `expires_at`.
    Expired(AuthorizationCode),
    /// No such code in this realm.
    Missing,
}

/// A refresh token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshTokenRecord {
    pub token_hash: String,
    pub family_id: String,
    pub realm: String,
    pub client_id: String,
    pub account_id: AccountId,
    pub session_id_hash: Option<String>,
    /// Space-separated.
    pub scope: String,
    pub auth_time: DateTime<Utc>,
    pub amr: Vec<String>,
    pub acr: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// Set when it was rotated.
    pub used_at: Option<DateTime<Utc>>,
    /// When it, or its family, was revoked. The store fills it in from the family on reads, so a
    /// token issued while its family was being revoked reads as revoked too.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// What [`Store::use_refresh_token`](crate::Store::use_refresh_token) found. The variants are
/// checked in this order: a revoked token is `Revoked` even if also used or expired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshUse {
    /// This caller rotated it: issue the next one in the same family.
    Fresh(RefreshTokenRecord),
    /// Rotated before: a stolen token is in play. The family was revoked in the same
    /// transaction that saw the reuse (`revoked_at` is that time).
    Reused(RefreshTokenRecord),
    /// It or its family was revoked.
    Revoked(RefreshTokenRecord),
    /// Past `expires_at`, never used.
    Expired(RefreshTokenRecord),
    /// No such token in this realm.
    Missing,
}

/// An access token that may need revoking later (user tokens), or one revoked by `/revoke`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessTokenRecord {
    pub jti: String,
    pub realm: String,
    pub client_id: String,
    /// `None` for client-credentials tokens.
    pub account_id: Option<AccountId>,
    pub family_id: Option<String>,
    pub code_hash: Option<String>,
    pub session_id_hash: Option<String>,
    /// The token's `exp`; the row is purged after it.
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}
