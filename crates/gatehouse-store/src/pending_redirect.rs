//! Redirect logins between their start and their callback ([`PendingRedirectRepository`]),
//! shared by every instance; consumed by one `DELETE` whose `rows_affected` decides who won.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use gatehouse_core::{PendingRedirect, PendingRedirectRepository, RepoError};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};

use crate::entities::pending_redirect::{self, Column as C};
use crate::error::StoreError;
use crate::oidc::{from_json, insert_error, short, to_json};
use crate::store::{Store, stamp};

fn from_model(m: pending_redirect::Model) -> Result<PendingRedirect, StoreError> {
    Ok(PendingRedirect {
        connector_state: from_json(
            &m.connector_state,
            "connector_state",
            format_args!("pending redirect {}", short(&m.state_hash)),
        )?,
        realm: m.realm,
        provider: m.provider,
        login_hash: m.login_hash,
        csrf_hash: m.csrf_hash,
        created_at: m.created_at,
        expires_at: m.expires_at,
    })
}

impl Store {
    async fn insert_pending_redirect(
        &self,
        state_hash: &str,
        pending: &PendingRedirect,
    ) -> Result<(), StoreError> {
        pending_redirect::Entity::insert(pending_redirect::ActiveModel {
            state_hash: Set(state_hash.to_owned()),
            realm: Set(pending.realm.clone()),
            provider: Set(pending.provider.clone()),
            login_hash: Set(pending.login_hash.clone()),
            csrf_hash: Set(pending.csrf_hash.clone()),
            connector_state: Set(to_json(&pending.connector_state)?),
            created_at: Set(stamp(pending.created_at)),
            expires_at: Set(stamp(pending.expires_at)),
        })
        .exec_without_returning(&self.db)
        .await
        .map_err(|e| insert_error(e, "a pending redirect with this state"))?;
        Ok(())
    }

    async fn read_pending_redirect(
        &self,
        realm: &str,
        state_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<PendingRedirect>, StoreError> {
        pending_redirect::Entity::find_by_id(state_hash)
            .filter(C::Realm.eq(realm))
            .filter(C::ExpiresAt.gt(stamp(now)))
            .one(&self.db)
            .await?
            .map(from_model)
            .transpose()
    }

    async fn delete_pending_redirect(&self, state_hash: &str) -> Result<bool, StoreError> {
        let done = pending_redirect::Entity::delete_by_id(state_hash)
            .exec(&self.db)
            .await?;
        Ok(done.rows_affected > 0)
    }
}

#[async_trait]
impl PendingRedirectRepository for Store {
    async fn create_pending_redirect(
        &self,
        state_hash: &str,
        pending: &PendingRedirect,
    ) -> Result<(), RepoError> {
        Ok(self.insert_pending_redirect(state_hash, pending).await?)
    }

    async fn find_pending_redirect(
        &self,
        realm: &str,
        state_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<PendingRedirect>, RepoError> {
        Ok(self.read_pending_redirect(realm, state_hash, now).await?)
    }

    async fn take_pending_redirect(&self, state_hash: &str) -> Result<bool, RepoError> {
        Ok(self.delete_pending_redirect(state_hash).await?)
    }
}

#[cfg(all(test, feature = "testing"))]
mod tests {
    use chrono::{Duration, Utc};
    use gatehouse_core::{PendingRedirect, PendingRedirectRepository, RepoError};
    use serde_json::json;

    fn pending(realm: &str, expires_in: Duration) -> PendingRedirect {
        let now = Utc::now();
        PendingRedirect {
            realm: realm.to_owned(),
            provider: "corp".to_owned(),
            login_hash: "login-hash".to_owned(),
            csrf_hash: "csrf-hash".to_owned(),
            connector_state: json!({ "pkce_verifier": "v", "nonce": "n" }),
            created_at: now,
            expires_at: now + expires_in,
        }
    }

    crate::store_test!(
        a_pending_redirect_is_found_in_its_realm_and_taken_once,
        |store| async move {
            let kept = pending("main", Duration::minutes(10));
            store.create_pending_redirect("s1", &kept).await.unwrap();
            // The same state twice is a conflict, not a second row.
            assert!(matches!(
                store.create_pending_redirect("s1", &kept).await,
                Err(RepoError::Conflict(_))
            ));
            let found = store
                .find_pending_redirect("main", "s1", Utc::now())
                .await
                .unwrap()
                .expect("stored");
            assert_eq!(found.provider, "corp");
            assert_eq!(found.login_hash, "login-hash");
            assert_eq!(found.connector_state, kept.connector_state);
            assert!(
                store
                    .find_pending_redirect("other", "s1", Utc::now())
                    .await
                    .unwrap()
                    .is_none(),
                "another realm's state finds nothing"
            );
            assert!(store.take_pending_redirect("s1").await.unwrap());
            assert!(
                !store.take_pending_redirect("s1").await.unwrap(),
                "single use"
            );
            assert!(
                store
                    .find_pending_redirect("main", "s1", Utc::now())
                    .await
                    .unwrap()
                    .is_none()
            );
        }
    );

    crate::store_test!(
        an_expired_pending_redirect_is_refused_and_purged,
        |store| async move {
            store
                .create_pending_redirect("old", &pending("main", Duration::seconds(-1)))
                .await
                .unwrap();
            assert!(
                store
                    .find_pending_redirect("main", "old", Utc::now())
                    .await
                    .unwrap()
                    .is_none()
            );
            assert!(store.purge_expired(Utc::now()).await.unwrap() >= 1);
            assert!(!store.take_pending_redirect("old").await.unwrap(), "purged");
        }
    );
}
