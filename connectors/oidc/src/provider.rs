use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gatehouse_connector_oauth2::callback::{IssCheck, Pending, authorization_code, token_error};
use gatehouse_connector_oauth2::claims::ClaimMapping;
use gatehouse_connector_oauth2::http;
use gatehouse_core::{
    CallbackError, ExternalIdentity, ProviderDescriptor, ProviderKind, RedirectProvider,
    RedirectStart,
};
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreJsonWebKeySet};
use openidconnect::{
    AuthType, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};
use serde_json::{Map, Value};

use crate::error::OidcError;
use crate::keys::Keys;
use crate::metadata::Metadata;
use crate::settings::{OidcSettings, TokenAuthMethod};

/// Claims about the token itself: userinfo may not override them (`sub` is checked equal).
const PROTOCOL_CLAIMS: [&str; 13] = [
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "nbf",
    "nonce",
    "azp",
    "at_hash",
    "c_hash",
    "auth_time",
    "acr",
    "sid",
];

/// An `oidc` provider: an upstream OpenID Provider reached by the code flow with PKCE, `state`
/// and `nonce`; the ID token checked against the upstream's JWKS; userinfo read.
pub struct OidcProvider {
    descriptor: ProviderDescriptor,
    settings: OidcSettings,
    issuer: IssuerUrl,
    mapping: ClaimMapping,
    http: reqwest::Client,
    metadata: Metadata,
    keys: Keys,
    auto_redirect: bool,
}

impl std::fmt::Debug for OidcProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcProvider")
            .field("id", &self.descriptor.id)
            .field("issuer", &self.settings.issuer)
            .finish_non_exhaustive()
    }
}

impl OidcProvider {
    /// Checks the settings; `http` is the broker's shared client
    /// ([`gatehouse_connector_oauth2::http_client`]). Discovery and the JWKS are fetched at the
    /// first login (or by [`OidcProvider::discover`]), so a broker starts while an upstream is down.
    pub fn new(
        descriptor: ProviderDescriptor,
        settings: OidcSettings,
        http: reqwest::Client,
    ) -> Result<Self, OidcError> {
        if descriptor.kind != ProviderKind::Oidc {
            return Err(OidcError::WrongKind {
                id: descriptor.id,
                kind: descriptor.kind.to_string(),
            });
        }
        settings.validate().map_err(OidcError::InvalidSettings)?;
        let mapping = settings.mapping().map_err(OidcError::InvalidSettings)?;
        let algs = settings
            .signing_algs()
            .map_err(OidcError::InvalidSettings)?;
        let issuer = IssuerUrl::new(settings.issuer.clone())
            .map_err(|e| OidcError::InvalidSettings(format!("issuer: {e}")))?;
        let metadata =
            Metadata::new(&settings, http.clone()).map_err(OidcError::InvalidSettings)?;
        let keys = Keys::new(
            http.clone(),
            ClientId::new(settings.client_id.clone()),
            issuer.clone(),
            algs,
        );
        Ok(Self {
            descriptor,
            settings,
            issuer,
            mapping,
            http,
            metadata,
            keys,
            auto_redirect: false,
        })
    }

    /// The common `auto_redirect` key of the provider entry, which the server parses.
    pub fn with_auto_redirect(mut self, auto_redirect: bool) -> Self {
        self.auto_redirect = auto_redirect;
        self
    }

    pub fn settings(&self) -> &OidcSettings {
        &self.settings
    }

    /// Reads the discovery document now (at start-up, say), so that `logout_location` knows the
    /// `end_session_endpoint` before this instance has seen a login.
    pub async fn discover(&self) -> Result<(), CallbackError> {
        self.metadata.endpoints().await.map(|_| ())
    }

    /// How many times the JWKS was fetched since start.
    pub fn jwks_fetches(&self) -> u64 {
        self.keys.fetches()
    }

    fn client(&self) -> CoreClient {
        let client = CoreClient::new(
            ClientId::new(self.settings.client_id.clone()),
            self.issuer.clone(),
            CoreJsonWebKeySet::new(Vec::new()),
        )
        .set_auth_type(match self.settings.token_endpoint_auth_method {
            TokenAuthMethod::ClientSecretBasic => AuthType::BasicAuth,
            TokenAuthMethod::ClientSecretPost => AuthType::RequestBody,
        });
        match &self.settings.client_secret {
            Some(secret) => client.set_client_secret(ClientSecret::new(secret.expose().to_owned())),
            None => client,
        }
    }
}

fn redirect_url(callback_url: &str) -> Result<RedirectUrl, CallbackError> {
    RedirectUrl::new(callback_url.to_owned())
        .map_err(|e| CallbackError::Invalid(format!("the callback URL is not a URL: {e}")))
}

/// The payload of a JWT that has been verified: every claim, including those openidconnect's
/// types do not model (groups, custom claims).
fn payload(jwt: &str) -> Result<Map<String, Value>, CallbackError> {
    let bad = || CallbackError::Invalid("id_token payload is not a JSON object".into());
    let part = jwt.split('.').nth(1).ok_or_else(bad)?;
    let bytes = URL_SAFE_NO_PAD.decode(part).map_err(|_| bad())?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(bad()),
    }
}

#[async_trait]
impl RedirectProvider for OidcProvider {
    fn descriptor(&self) -> &ProviderDescriptor {
        &self.descriptor
    }

    fn auto_redirect(&self) -> bool {
        self.auto_redirect
    }

    async fn begin(&self, callback_url: &str) -> Result<RedirectStart, CallbackError> {
        let endpoints = self.metadata.endpoints().await?;
        let client = self
            .client()
            .set_auth_uri(endpoints.authorization.clone())
            .set_redirect_uri(redirect_url(callback_url)?);
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (location, state, nonce) = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            // openidconnect always asks for `openid` itself.
            .add_scopes(
                self.settings
                    .scopes
                    .iter()
                    .filter(|s| *s != "openid")
                    .cloned()
                    .map(Scope::new),
            )
            .set_pkce_challenge(challenge)
            .url();
        let pending = Pending {
            state: state.secret().clone(),
            code_verifier: verifier.secret().clone(),
            nonce: Some(nonce.secret().clone()),
        };
        Ok(RedirectStart {
            location: location.to_string(),
            state: pending.state.clone(),
            pending: pending.to_value(),
            form: None,
        })
    }

    async fn complete(
        &self,
        pending: &serde_json::Value,
        callback_url: &str,
        params: &[(String, String)],
    ) -> Result<ExternalIdentity, CallbackError> {
        let pending = Pending::from_value(pending)?;
        let nonce = Nonce::new(pending.nonce.ok_or_else(|| {
            CallbackError::Invalid("the pending login record has no nonce".into())
        })?);
        let endpoints = self.metadata.endpoints().await?;
        let iss = if endpoints.iss_parameter {
            IssCheck::Required(&self.settings.issuer)
        } else {
            IssCheck::IfPresent(&self.settings.issuer)
        };
        let code = authorization_code(params, &pending.state, iss)?;

        let client = self
            .client()
            .set_token_uri(endpoints.token.clone())
            .set_redirect_uri(redirect_url(callback_url)?);
        let token = client
            .exchange_code(AuthorizationCode::new(code))
            .set_pkce_verifier(PkceCodeVerifier::new(pending.code_verifier))
            .request_async(&http::adapter(&self.http))
            .await
            .map_err(token_error)?;
        let id_token = token
            .id_token()
            .ok_or_else(|| CallbackError::Invalid("the token response has no id_token".into()))?;
        let verified = self
            .keys
            .verify(id_token, &nonce, token.access_token(), &endpoints.jwks_uri)
            .await?;
        let jwt = id_token.to_string();
        let mut claims = payload(&jwt)?;

        if let (true, Some(url)) = (self.settings.userinfo, &endpoints.userinfo) {
            let userinfo = http::get_json_object(
                &self.http,
                url,
                Some(token.access_token().secret()),
                "userinfo",
            )
            .await?;
            // Core §5.3.2: a userinfo answer for someone else must not be used.
            if userinfo.get("sub").and_then(Value::as_str) != Some(verified.subject().as_str()) {
                return Err(CallbackError::Invalid(
                    "userinfo `sub` differs from the ID token's".into(),
                ));
            }
            for (k, v) in userinfo {
                if !PROTOCOL_CLAIMS.contains(&k.as_str()) {
                    claims.insert(k, v);
                }
            }
        }

        let mut identity = self.mapping.identity(&claims)?;
        identity.logout_hint = Some(jwt);
        tracing::debug!(provider = %self.descriptor.id, external_id = %identity.external_id,
            "oidc callback accepted");
        Ok(identity)
    }

    async fn prepare_logout(&self) {
        if self.settings.global_logout
            && self.settings.logout_url.is_none()
            && let Err(e) = self.discover().await
        {
            tracing::warn!(provider = %self.descriptor.id, error = %e,
                "global_logout: the upstream's discovery document could not be read");
        }
    }

    /// With `global_logout`: `logout_url`, else the upstream's `end_session_endpoint`, as an
    /// RP-Initiated Logout request (`id_token_hint`, `client_id`, `post_logout_redirect_uri`).
    fn logout_location(&self, logout_hint: Option<&str>, return_to: &str) -> Option<String> {
        if !self.settings.global_logout {
            return None;
        }
        let base = self
            .settings
            .logout_url
            .clone()
            .or_else(|| self.metadata.last_end_session());
        let Some(mut url) = base.and_then(|b| url::Url::parse(&b).ok()) else {
            tracing::warn!(provider = %self.descriptor.id,
                "global_logout: no logout_url and no end_session_endpoint known yet");
            return None;
        };
        {
            let mut query = url.query_pairs_mut();
            if let Some(hint) = logout_hint {
                query.append_pair("id_token_hint", hint);
            }
            query.append_pair("client_id", &self.settings.client_id);
            query.append_pair("post_logout_redirect_uri", return_to);
        }
        Some(url.into())
    }
}
