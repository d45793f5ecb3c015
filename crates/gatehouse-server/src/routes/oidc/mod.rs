//! The routes of each realm's OpenID provider, under `/realms/{realm}/`.

mod authorize;
mod broker;
mod broker_saml;
mod discovery;
mod finish;
pub(crate) mod http;
mod login;
mod logout;
mod token;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use gatehouse_connector_saml::MAX_SAML_RESPONSE_BYTES;

use crate::app::Gatehouse;

/// The largest callback body: a SAMLResponse as large as the connector takes, and its RelayState.
const CALLBACK_BODY_BYTES: usize = MAX_SAML_RESPONSE_BYTES + 16 * 1024;

pub fn routes() -> Router<Arc<Gatehouse>> {
    Router::new()
        .route(
            "/realms/{realm}/.well-known/openid-configuration",
            get(discovery::configuration),
        )
        .route(
            "/realms/{realm}/.well-known/oauth-authorization-server",
            get(discovery::configuration),
        )
        .route("/realms/{realm}/jwks", get(discovery::jwks))
        .route(
            "/realms/{realm}/authorize",
            get(authorize::authorize_get).post(authorize::authorize_post),
        )
        .route(
            "/realms/{realm}/login",
            get(login::show).post(login::submit),
        )
        .route(
            "/realms/{realm}/broker/{provider}/start",
            post(broker::start),
        )
        .route(
            "/realms/{realm}/broker/{provider}/callback",
            get(broker::callback_get)
                .post(broker::callback_post)
                // A SAMLResponse (signed XML with every attribute) outgrows the other forms.
                .layer(DefaultBodyLimit::max(CALLBACK_BODY_BYTES)),
        )
        .route(
            "/realms/{realm}/broker/{provider}/metadata",
            get(broker_saml::metadata),
        )
        .route(
            "/realms/{realm}/broker/{provider}/slo",
            get(broker_saml::slo),
        )
        .route("/realms/{realm}/token", post(token::token))
        .route(
            "/realms/{realm}/userinfo",
            get(token::userinfo_get).post(token::userinfo_post),
        )
        .route("/realms/{realm}/introspect", post(token::introspect))
        .route("/realms/{realm}/revoke", post(token::revoke))
        .route(
            "/realms/{realm}/logout",
            get(logout::logout_get).post(logout::logout_post),
        )
        .route("/realms/{realm}/logged-out", get(logout::logged_out))
}
