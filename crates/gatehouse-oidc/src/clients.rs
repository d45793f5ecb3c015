//! Registered clients and client authentication (client_secret_basic, client_secret_post, none).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use gatehouse_core::Secret;

use crate::crypto::{ct_eq, token_hash};
use crate::error::OAuthError;
use crate::settings::{ClientSettings, GrantType};

/// Checks a presented secret against a PHC hash (`$argon2id$…`). The server implements it with the
/// process-wide bounded hashing pool.
#[async_trait]
pub trait PhcVerifier: Send + Sync {
    async fn verify(&self, secret: &Secret, phc: &str) -> bool;
}

pub struct Client {
    pub settings: ClientSettings,
}

impl Client {
    pub fn id(&self) -> &str {
        &self.settings.client_id
    }

    pub fn is_public(&self) -> bool {
        self.settings.is_public()
    }

    pub fn allows(&self, grant: GrantType) -> bool {
        self.settings.grant_types.contains(&grant)
    }

    /// Exact string comparison: no prefix, wildcard or normalisation.
    pub fn has_redirect_uri(&self, uri: &str) -> bool {
        self.settings.redirect_uris.iter().any(|u| u == uri)
    }

    pub fn has_post_logout_redirect_uri(&self, uri: &str) -> bool {
        self.settings
            .post_logout_redirect_uris
            .iter()
            .any(|u| u == uri)
    }

    pub fn allows_scope(&self, scope: &str) -> bool {
        self.settings.scopes.iter().any(|s| s == scope)
    }
}

/// Credentials as presented at the token, introspection and revocation endpoints.
#[derive(Debug)]
pub enum ClientCredentials {
    Secret {
        client_id: String,
        secret: Secret,
    },
    /// A public client identifying itself (PKCE protects its codes).
    None {
        client_id: String,
    },
}

impl ClientCredentials {
    /// From the `Authorization` header and the form. Using two methods at once is refused
    /// (RFC 6749 §2.3).
    pub fn from_request(
        authorization: Option<&str>,
        form: &HashMap<String, String>,
    ) -> Result<Self, OAuthError> {
        let form_id = form.get("client_id").filter(|s| !s.is_empty());
        let form_secret = form.get("client_secret").filter(|s| !s.is_empty());
        if let Some(header) = authorization {
            let Some(encoded) = header
                .strip_prefix("Basic ")
                .or_else(|| header.strip_prefix("basic "))
            else {
                return Err(OAuthError::invalid_client());
            };
            if form_secret.is_some() {
                return Err(OAuthError::invalid_request(
                    "use one client authentication method, not two",
                ));
            }
            let decoded = STANDARD
                .decode(encoded.trim())
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(OAuthError::invalid_client)?;
            let (id, secret) = decoded
                .split_once(':')
                .ok_or_else(OAuthError::invalid_client)?;
            // RFC 6749 §2.3.1: both parts are form-urlencoded inside the header.
            let id = form_urldecode(id).ok_or_else(OAuthError::invalid_client)?;
            let secret = form_urldecode(secret).ok_or_else(OAuthError::invalid_client)?;
            if form_id.is_some_and(|f| *f != id) {
                return Err(OAuthError::invalid_client());
            }
            return Ok(ClientCredentials::Secret {
                client_id: id,
                secret: Secret::new(secret),
            });
        }
        let client_id = form_id
            .cloned()
            .ok_or_else(|| OAuthError::invalid_request("client_id is missing"))?;
        Ok(match form_secret {
            Some(secret) => ClientCredentials::Secret {
                client_id,
                secret: Secret::new(secret.clone()),
            },
            None => ClientCredentials::None { client_id },
        })
    }

    pub fn client_id(&self) -> &str {
        match self {
            ClientCredentials::Secret { client_id, .. } | ClientCredentials::None { client_id } => {
                client_id
            }
        }
    }
}

fn form_urldecode(s: &str) -> Option<String> {
    url::form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
}

pub struct ClientRegistry {
    clients: HashMap<String, Client>,
    phc: Arc<dyn PhcVerifier>,
    /// SHA-256 of secrets that matched a PHC hash, so a confidential client does not pay an
    /// argon2 verification on every token request.
    verified: Mutex<HashMap<String, String>>,
}

impl ClientRegistry {
    pub fn new(settings: Vec<ClientSettings>, phc: Arc<dyn PhcVerifier>) -> Self {
        Self {
            clients: settings
                .into_iter()
                .map(|s| (s.client_id.clone(), Client { settings: s }))
                .collect(),
            phc,
            verified: Mutex::new(HashMap::new()),
        }
    }

    pub fn get(&self, client_id: &str) -> Option<&Client> {
        self.clients.get(client_id)
    }

    /// The client, when the credentials are right for it: a confidential client must present its
    /// secret, a public client must not present one.
    pub async fn authenticate(
        &self,
        credentials: &ClientCredentials,
    ) -> Result<&Client, OAuthError> {
        let client = self
            .get(credentials.client_id())
            .ok_or_else(OAuthError::invalid_client)?;
        match (credentials, &client.settings.client_secret) {
            (ClientCredentials::None { .. }, None) => Ok(client),
            (ClientCredentials::Secret { secret, .. }, Some(expected)) => {
                if self
                    .secret_matches(client.id(), secret, expected.expose())
                    .await
                {
                    Ok(client)
                } else {
                    Err(OAuthError::invalid_client())
                }
            }
            _ => Err(OAuthError::invalid_client()),
        }
    }

    async fn secret_matches(&self, client_id: &str, presented: &Secret, expected: &str) -> bool {
        if !expected.starts_with("$argon2") {
            return ct_eq(presented.expose(), expected);
        }
        let presented_hash = token_hash(presented.expose());
        let known = self
            .verified
            .lock()
            .ok()
            .and_then(|m| m.get(client_id).cloned());
        if known.is_some_and(|k| ct_eq(&k, &presented_hash)) {
            return true;
        }
        let ok = self.phc.verify(presented, expected).await;
        if ok && let Ok(mut m) = self.verified.lock() {
            m.insert(client_id.to_owned(), presented_hash);
        }
        ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse_core::SecretValue;

    struct NoPhc;
    #[async_trait]
    impl PhcVerifier for NoPhc {
        async fn verify(&self, _: &Secret, _: &str) -> bool {
            false
        }
    }

    fn registry() -> ClientRegistry {
        let confidential: ClientSettings = serde_json::from_value(serde_json::json!({
            "client_id": "wiki", "client_secret": "s3cr:et",
            "redirect_uris": ["https://wiki.example.org/cb"]
        }))
        .unwrap();
        let mut public = confidential.clone();
        public.client_id = "spa".into();
        public.client_secret = None;
        let _ = SecretValue::literal("x");
        ClientRegistry::new(vec![confidential, public], Arc::new(NoPhc))
    }

    fn form(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[tokio::test]
    async fn basic_post_and_none_authenticate_the_right_clients() {
        let r = registry();
        // "wiki:s3cr%3Aet" — the secret's colon is form-encoded inside the header.
        let header = format!("Basic {}", STANDARD.encode("wiki:s3cr%3Aet"));
        let c = ClientCredentials::from_request(Some(&header), &form(&[])).unwrap();
        assert_eq!(r.authenticate(&c).await.unwrap().id(), "wiki");
        let c = ClientCredentials::from_request(
            None,
            &form(&[("client_id", "wiki"), ("client_secret", "s3cr:et")]),
        )
        .unwrap();
        assert!(r.authenticate(&c).await.is_ok());
        let c = ClientCredentials::from_request(
            None,
            &form(&[("client_id", "wiki"), ("client_secret", "nope")]),
        )
        .unwrap();
        assert_eq!(
            r.authenticate(&c).await.err().unwrap().code.as_str(),
            "invalid_client"
        );
        // A confidential client cannot skip its secret; a public one cannot present one.
        let c = ClientCredentials::from_request(None, &form(&[("client_id", "wiki")])).unwrap();
        assert!(r.authenticate(&c).await.is_err());
        let c = ClientCredentials::from_request(None, &form(&[("client_id", "spa")])).unwrap();
        assert!(r.authenticate(&c).await.is_ok());
        let c = ClientCredentials::from_request(
            None,
            &form(&[("client_id", "spa"), ("client_secret", "x")]),
        )
        .unwrap();
        assert!(r.authenticate(&c).await.is_err());
        let c = ClientCredentials::from_request(None, &form(&[("client_id", "ghost")])).unwrap();
        assert!(r.authenticate(&c).await.is_err());
        // Two methods at once.
        assert!(
            ClientCredentials::from_request(Some(&header), &form(&[("client_secret", "x")]))
                .is_err()
        );
    }
}
