//! Introspection (RFC 7662), revocation (RFC 7009) and userinfo (OIDC Core §5.3).

use chrono::Utc;
use gatehouse_store::AccessTokenRecord;
use serde_json::{Value, json};

use crate::clients::ClientCredentials;
use crate::crypto::token_hash;
use crate::error::{ErrorCode, OAuthError, OidcError};
use crate::jwt;
use crate::provider::OidcProvider;
use crate::token::form_map;
use crate::tokens::AccessClaims;

impl OidcProvider {
    /// An access token this realm signed, still valid and not revoked.
    pub async fn active_access_token(
        &self,
        token: &str,
    ) -> Result<Option<AccessClaims>, OidcError> {
        let Some(claims) = jwt::verify::<AccessClaims>(&self.keys, token, Some("at+jwt")).await?
        else {
            return Ok(None);
        };
        if claims.iss != self.issuer || claims.exp <= Utc::now().timestamp() {
            return Ok(None);
        }
        if self
            .store
            .is_access_token_revoked(&self.realm, &claims.jti)
            .await?
        {
            return Ok(None);
        }
        Ok(Some(claims))
    }

    /// The account `sub` names, while it exists and is neither disabled nor locked.
    async fn usable_account(
        &self,
        sub: &str,
    ) -> Result<Option<gatehouse_core::Account>, OidcError> {
        let Ok(id) = sub.parse() else {
            return Ok(None);
        };
        let now = Utc::now();
        Ok(self
            .store
            .get_account(gatehouse_core::AccountId(id))
            .await?
            .map(|found| found.account)
            .filter(|a| a.disabled_reason.is_none() && !a.is_locked_at(now)))
    }

    pub async fn introspect(
        &self,
        authorization: Option<&str>,
        form: Vec<(String, String)>,
    ) -> Result<Value, OAuthError> {
        let form = form_map(form)?;
        let credentials = ClientCredentials::from_request(authorization, &form)?;
        let client = self.clients.authenticate(&credentials).await?;
        // Introspection reveals token contents: only clients that can keep a secret may ask.
        if client.is_public() {
            return Err(OAuthError::invalid_client());
        }
        let token = form
            .get("token")
            .ok_or_else(|| OAuthError::invalid_request("token is missing"))?;
        if let Some(claims) = self.active_access_token(token).await?
            && (!claims.is_user_token() || self.usable_account(&claims.sub).await?.is_some())
        {
            let mut answer = json!({
                "active": true,
                "token_type": "Bearer",
                "scope": claims.scope,
                "client_id": claims.client_id,
                "sub": claims.sub,
                "aud": claims.aud,
                "iss": claims.iss,
                "exp": claims.exp,
                "iat": claims.iat,
                "jti": claims.jti,
            });
            if claims.is_user_token()
                && let Some(account) = self.usable_account(&claims.sub).await?
            {
                answer["username"] = json!(account.username);
                if let Some(acr) = &claims.acr {
                    answer["acr"] = json!(acr);
                }
                if let Some(amr) = &claims.amr {
                    answer["amr"] = json!(amr);
                }
                answer["auth_time"] = json!(claims.auth_time);
            }
            return Ok(answer);
        }
        let now = Utc::now();
        if let Some(t) = self
            .store
            .find_refresh_token(&self.realm, &token_hash(token))
            .await
            .map_err(OidcError::from)?
            && t.used_at.is_none()
            && t.revoked_at.is_none()
            && t.expires_at > now
            && self
                .usable_account(&t.account_id.to_string())
                .await?
                .is_some()
        {
            return Ok(json!({
                "active": true,
                "token_type": "refresh_token",
                "scope": t.scope,
                "client_id": t.client_id,
                "sub": t.account_id.to_string(),
                "iss": self.issuer,
                "exp": t.expires_at.timestamp(),
                "iat": t.created_at.timestamp(),
            }));
        }
        Ok(json!({ "active": false }))
    }

    /// RFC 7009: always "OK" for an unknown or foreign token, so nothing can be probed.
    pub async fn revoke(
        &self,
        authorization: Option<&str>,
        form: Vec<(String, String)>,
    ) -> Result<(), OAuthError> {
        let form = form_map(form)?;
        let credentials = ClientCredentials::from_request(authorization, &form)?;
        let client = self.clients.authenticate(&credentials).await?;
        let token = form
            .get("token")
            .ok_or_else(|| OAuthError::invalid_request("token is missing"))?;
        let now = Utc::now();
        if let Some(t) = self
            .store
            .find_refresh_token(&self.realm, &token_hash(token))
            .await
            .map_err(OidcError::from)?
        {
            if t.client_id == client.id() {
                // The grant behind the refresh token goes, with its access tokens.
                self.store
                    .revoke_family(&t.family_id, now)
                    .await
                    .map_err(OidcError::from)?;
            }
            return Ok(());
        }
        if let Some(claims) = self.active_access_token(token).await?
            && claims.client_id == client.id()
        {
            let expires_at = chrono::DateTime::from_timestamp(claims.exp, 0).unwrap_or(now);
            self.store
                .revoke_access_token(
                    &AccessTokenRecord {
                        jti: claims.jti,
                        realm: self.realm.clone(),
                        client_id: claims.client_id,
                        account_id: claims.sub.parse().ok().map(gatehouse_core::AccountId),
                        family_id: None,
                        code_hash: None,
                        session_id_hash: claims.sid,
                        expires_at,
                        revoked_at: Some(now),
                    },
                    now,
                )
                .await
                .map_err(OidcError::from)?;
        }
        Ok(())
    }

    /// The claims the access token's scopes allow.
    pub async fn userinfo(&self, bearer: Option<&str>) -> Result<Value, OAuthError> {
        let invalid = || {
            OAuthError::new(
                ErrorCode::InvalidToken,
                "the access token is invalid or expired",
            )
        };
        let token = bearer.ok_or_else(invalid)?;
        let claims = self.active_access_token(token).await?.ok_or_else(invalid)?;
        if !claims.is_user_token() || !claims.has_scope("openid") {
            return Err(OAuthError::new(
                ErrorCode::InvalidToken,
                "the access token is not for userinfo (scope openid)",
            ));
        }
        // Disabled or locked since the token was issued: it speaks for nobody any more.
        let account = self
            .usable_account(&claims.sub)
            .await?
            .ok_or_else(invalid)?;
        let mut info = json!({ "sub": claims.sub });
        if let Some(acr) = &claims.acr {
            info["acr"] = json!(acr);
        }
        if let Some(amr) = &claims.amr {
            info["amr"] = json!(amr);
        }
        info["auth_time"] = json!(claims.auth_time);
        if claims.has_scope("profile") {
            info["preferred_username"] = json!(account.username);
            if let Some(name) = &account.name {
                info["name"] = json!(name);
            }
        }
        if claims.has_scope("email")
            && let Some(email) = &account.email
        {
            info["email"] = json!(email);
        }
        if claims.has_scope("groups") {
            info["groups"] = json!(account.groups);
            info["roles"] = json!(account.roles);
        }
        Ok(info)
    }
}
