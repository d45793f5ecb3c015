//! Roles a directory grants through group membership: on the account with the administrator's,
//! replaced at each login, and never mixed up with the administrator's.

mod common;

use common::{REALM, new_account};
use gatehouse_core::{AccountRepository, NewLink, Profile};
use gatehouse_store::store_test;

fn granted(roles: &[&str]) -> Profile {
    Profile {
        email: None,
        name: None,
        groups: vec!["engineering".into()],
        roles: roles.iter().map(|r| r.to_string()).collect(),
    }
}

store_test!(
    granted_roles_come_and_go_with_membership_and_admin_roles_stay,
    |store| async move {
        let made = store
            .provision(
                REALM,
                "carol",
                "carol",
                &granted(&["engineer"]),
                NewLink {
                    provider_id: "corp".into(),
                    external_id: Some("uid=carol".into()),
                    secret: None,
                    protected: false,
                },
            )
            .await
            .unwrap();
        assert_eq!(made.account.roles, vec!["engineer"]);

        // An administrator adds a role the way `admin bootstrap` does: read, add, write.
        let mut roles = made.account.roles.clone();
        roles.push("admin".into());
        store.set_roles(made.account.id, roles).await.unwrap();
        let now = store.get_account(made.account.id).await.unwrap().unwrap();
        assert_eq!(now.account.roles, vec!["admin", "engineer"]);

        // The membership ends: the granted role goes, the assigned one stays.
        let after = store
            .update_profile(made.account.id, &granted(&[]))
            .await
            .unwrap();
        assert_eq!(after.roles, vec!["admin"]);
        assert_eq!(after.groups, vec!["engineering"]);
        let stored = store.get_account(made.account.id).await.unwrap().unwrap();
        assert_eq!(stored.account, after);

        // Granted again: both, the administrator's first, no repeats.
        let again = store
            .update_profile(made.account.id, &granted(&["engineer", "admin"]))
            .await
            .unwrap();
        assert_eq!(again.roles, vec!["admin", "engineer"]);
    }
);

store_test!(
    accounts_made_by_an_administrator_start_with_no_granted_roles,
    |store| async move {
        let a = store
            .create_account(new_account("dave", None))
            .await
            .unwrap();
        assert_eq!(a.roles, vec!["user"]);
        let after = store
            .update_profile(a.id, &granted(&["viewer"]))
            .await
            .unwrap();
        assert_eq!(after.roles, vec!["user", "viewer"]);
    }
);
