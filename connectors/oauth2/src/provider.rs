use async_trait::async_trait;
use gatehouse_core::{
    CallbackError, ExternalIdentity, ProviderDescriptor, ProviderKind, RedirectProvider,
    RedirectStart,
};
use oauth2::basic::BasicClient;
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope, TokenResponse, TokenUrl,
};

use crate::callback::{IssCheck, Pending, authorization_code, token_error};
use crate::claims::ClaimMapping;
use crate::error::Oauth2Error;
use crate::http;
use crate::settings::Oauth2Settings;

/// An `oauth2` provider: code flow with PKCE against `auth_url`/`token_url`, the user read from
/// `profile_url`.
pub struct Oauth2Provider {
    descriptor: ProviderDescriptor,
    settings: Oauth2Settings,
    mapping: ClaimMapping,
    auth_url: AuthUrl,
    token_url: TokenUrl,
    http: reqwest::Client,
    auto_redirect: bool,
}

impl std::fmt::Debug for Oauth2Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Oauth2Provider")
            .field("id", &self.descriptor.id)
            .field("auth_url", &self.settings.auth_url)
            .finish_non_exhaustive()
    }
}

impl Oauth2Provider {
    /// Checks the settings; `http` is the broker's shared client (see [`crate::http_client`]).
    /// Nothing is fetched until the first login.
    pub fn new(
        descriptor: ProviderDescriptor,
        settings: Oauth2Settings,
        http: reqwest::Client,
    ) -> Result<Self, Oauth2Error> {
        if descriptor.kind != ProviderKind::Oauth2 {
            return Err(Oauth2Error::WrongKind {
                id: descriptor.id,
                kind: descriptor.kind.to_string(),
            });
        }
        settings.validate().map_err(Oauth2Error::InvalidSettings)?;
        let mapping = settings.mapping().map_err(Oauth2Error::InvalidSettings)?;
        let invalid = |key: &str, e: url::ParseError| {
            Oauth2Error::InvalidSettings(format!("{key} is not a URL: {e}"))
        };
        let auth_url =
            AuthUrl::new(settings.auth_url.clone()).map_err(|e| invalid("auth_url", e))?;
        let token_url =
            TokenUrl::new(settings.token_url.clone()).map_err(|e| invalid("token_url", e))?;
        Ok(Self {
            descriptor,
            settings,
            mapping,
            auth_url,
            token_url,
            http,
            auto_redirect: false,
        })
    }

    /// The common `auto_redirect` key of the provider entry, which the server parses.
    pub fn with_auto_redirect(mut self, auto_redirect: bool) -> Self {
        self.auto_redirect = auto_redirect;
        self
    }

    pub fn settings(&self) -> &Oauth2Settings {
        &self.settings
    }

    /// `redirect_url` when configured, else the broker's callback URL.
    fn redirect_url(&self, callback_url: &str) -> Result<RedirectUrl, CallbackError> {
        let url = self
            .settings
            .redirect_url
            .as_deref()
            .unwrap_or(callback_url);
        RedirectUrl::new(url.to_owned())
            .map_err(|e| CallbackError::Invalid(format!("the callback URL is not a URL: {e}")))
    }
}

#[async_trait]
impl RedirectProvider for Oauth2Provider {
    fn descriptor(&self) -> &ProviderDescriptor {
        &self.descriptor
    }

    fn auto_redirect(&self) -> bool {
        self.auto_redirect
    }

    async fn begin(&self, callback_url: &str) -> Result<RedirectStart, CallbackError> {
        let client = BasicClient::new(ClientId::new(self.settings.client_id.clone()))
            .set_auth_uri(self.auth_url.clone())
            .set_redirect_uri(self.redirect_url(callback_url)?);
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (location, state) = client
            .authorize_url(CsrfToken::new_random)
            .add_scopes(self.settings.scopes.iter().cloned().map(Scope::new))
            .set_pkce_challenge(challenge)
            .url();
        let pending = Pending {
            state: state.secret().clone(),
            code_verifier: verifier.secret().clone(),
            nonce: None,
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
        let code = authorization_code(params, &pending.state, IssCheck::None)?;
        let client = BasicClient::new(ClientId::new(self.settings.client_id.clone()))
            .set_token_uri(self.token_url.clone())
            .set_redirect_uri(self.redirect_url(callback_url)?);
        let client = match &self.settings.client_secret {
            Some(secret) => client.set_client_secret(ClientSecret::new(secret.expose().to_owned())),
            None => client,
        };
        let send = http::adapter(&self.http);
        let token = client
            .exchange_code(AuthorizationCode::new(code))
            .set_pkce_verifier(PkceCodeVerifier::new(pending.code_verifier))
            .request_async(&send)
            .await
            .map_err(token_error)?;
        let profile = http::get_json_object(
            &self.http,
            &self.settings.profile_url,
            Some(token.access_token().secret()),
            "profile_url",
        )
        .await?;
        let identity = self.mapping.identity(&profile)?;
        tracing::debug!(provider = %self.descriptor.id, external_id = %identity.external_id,
            "oauth2 callback accepted");
        Ok(identity)
    }

    /// `logout_url`, when configured, with `{return_to}` filled in. Plain OAuth 2.0 has no logout
    /// protocol, so its presence is the opt-in.
    fn logout_location(&self, _logout_hint: Option<&str>, return_to: &str) -> Option<String> {
        let encoded: String = url::form_urlencoded::byte_serialize(return_to.as_bytes()).collect();
        self.settings
            .logout_url
            .as_ref()
            .map(|u| u.replace("{return_to}", &encoded))
    }
}
