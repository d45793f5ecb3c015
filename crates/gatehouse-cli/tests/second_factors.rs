//! Second factors I (issue #23) through the real binary, on SQLite and PostgreSQL: the account
//! page sets up an authenticator app (the test plays the app, computing codes from the
//! `otpauth://` secret the page shows), refuses bad codes with a clear message and stores
//! nothing for them, shows eight recovery codes once, issues new ones, removes the app; an
//! administrator's `user mfa reset` clears it; every change is audited.

mod common;

use chrono::Utc;
use common::browser::{Browser, Page, unescape};
use common::{Env, Server};
use gatehouse_core::second_factor::{RecoveryCodeRepository, TotpRepository};
use gatehouse_store::{AuditQuery, store_test};
use url::Url;

const REALM: &str = r#"
[realms.main]
chain = ["local"]
display_name = "Example Corp"
[[realms.main.providers]]
id = "local"
kind = "database"
[realms.main.mfa]
mode = "totp"
"#;
const USER: &str = "alice";
const PASSWORD: &str = "Alice: correct horse battery 7";
const KEY: (&str, &str) = (
    "GATEHOUSE_KEYS__ENCRYPTION_KEY",
    "second-factor-test-key-encryption-secret-01",
);

/// Opens the account page, logging in on the way.
async fn account_page(browser: &Browser, base: &str) -> Page {
    let mut page = browser
        .get(&Url::parse(&format!("{base}/realms/main/account")).unwrap())
        .await;
    for _ in 0..10 {
        if let Some(next) = page.location.clone() {
            page = browser.get(&next).await;
            continue;
        }
        let Some(mut login) = page
            .form_with("username")
            .or_else(|| page.form_with("password"))
        else {
            return page;
        };
        for (name, value) in [("username", USER), ("password", PASSWORD)] {
            if login.get(name).is_some() {
                login.set(name, value);
            }
        }
        page = browser.post(&page.url, &login).await;
    }
    panic!("the account page did not open: {}", page.body);
}

/// Posts the page's form whose action ends with `suffix`, with `code` when given.
async fn submit(browser: &Browser, page: &Page, suffix: &str, code: Option<&str>) -> Page {
    let mut form = page
        .form_to(suffix)
        .unwrap_or_else(|| panic!("no form to {suffix}: {}", page.body));
    if let Some(code) = code {
        form.set("code", code);
    }
    browser.post(&page.url, &form).await
}

fn otpauth_uri(page: &Page) -> String {
    let at = page.body.find("href=\"otpauth:").expect("an otpauth link");
    let rest = &page.body[at + 6..];
    unescape(&rest[..rest.find('"').unwrap()])
}

fn recovery_codes(page: &Page) -> Vec<String> {
    let list = &page.body[page.body.find("id=\"recovery-codes\"").expect("the codes")..];
    let list = &list[..list.find("</ul>").unwrap()];
    list.split("<code>")
        .skip(1)
        .map(|c| c[..c.find("</code>").unwrap()].to_owned())
        .collect()
}

store_test!(
    the_account_page_sets_up_an_authenticator_app_and_removes_it,
    |store| async move {
        let env = Env::new(store, REALM);
        let vars = [KEY];
        env.ok_with(
            &[
                "user",
                "add",
                "--realm",
                "main",
                USER,
                "--email",
                "alice@example.com",
            ],
            "",
            &vars,
        );
        env.ok_with(
            &["user", "set-password", "--realm", "main", USER],
            &format!("{PASSWORD}\n"),
            &vars,
        );
        let port = common::free_port();
        let public_url = format!("http://127.0.0.1:{port}");
        let mut vars = vars.to_vec();
        vars.push(("GATEHOUSE_SERVER__PUBLIC_URL", &public_url));
        let server = Server::start_at(&env, port, &vars).await;
        let account = env
            .store
            .find_account("main", USER)
            .await
            .unwrap()
            .unwrap()
            .account;
        let browser = Browser::new();

        let home = account_page(&browser, &server.base).await;
        assert!(
            home.body.contains("Two-factor authentication"),
            "{}",
            home.body
        );
        let overview = browser
            .get(&Url::parse(&format!("{}/realms/main/account/two-factor", server.base)).unwrap())
            .await;
        assert_eq!(overview.status, 200, "{}", overview.body);
        assert!(overview.body.contains("Not set up"), "{}", overview.body);

        // A form without its CSRF token is refused.
        let mut forged = overview.form_to("/totp/start").unwrap();
        forged.set("csrf_token", "forged");
        assert_eq!(browser.post(&overview.url, &forged).await.status, 403);

        let setup = submit(&browser, &overview, "/totp/start", None).await;
        assert_eq!(setup.status, 200, "{}", setup.body);
        assert!(
            setup.body.contains("<svg"),
            "the QR code is drawn: {}",
            setup.body
        );
        let uri = otpauth_uri(&setup);
        assert!(uri.starts_with("otpauth://totp/Example"), "{uri}");
        assert!(uri.contains("alice"), "{uri}");
        let secret = uri
            .split("secret=")
            .nth(1)
            .unwrap()
            .split('&')
            .next()
            .unwrap()
            .to_owned();
        let grouped = secret
            .as_bytes()
            .chunks(4)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect::<Vec<_>>()
            .join(" ");
        assert!(
            setup.body.contains(&grouped),
            "the key in text: {}",
            setup.body
        );
        let stored = env.store.totp(account.id).await.unwrap().unwrap();
        assert!(!stored.confirmed);
        assert!(
            !String::from_utf8_lossy(&stored.sealed_secret).contains(&secret),
            "sealed"
        );

        // Bad input: a clear message each, the same set-up shown again, nothing stored.
        for (typed, message) in [
            ("1234567", "The code has 6 digits; you entered 7."),
            ("abcdef", "The code is made of digits only"),
            ("", "Enter the 6-digit code."),
        ] {
            let again = submit(&browser, &setup, "/totp/confirm", Some(typed)).await;
            assert_eq!(again.status, 400, "{typed:?}: {}", again.body);
            assert!(again.body.contains(message), "{typed:?}: {}", again.body);
            assert!(again.body.contains(&grouped), "the same secret again");
            let stored = env.store.totp(account.id).await.unwrap().unwrap();
            assert!(!stored.confirmed && stored.last_step.is_none());
            assert_eq!(
                env.store
                    .remaining_recovery_codes(account.id)
                    .await
                    .unwrap(),
                0
            );
        }

        let code = gatehouse_mfa::enrolment::code_for_uri(&uri, Utc::now()).unwrap();
        let done = submit(&browser, &setup, "/totp/confirm", Some(&code)).await;
        assert_eq!(done.status, 200, "{}", done.body);
        let codes = recovery_codes(&done);
        assert_eq!(codes.len(), 8, "{}", done.body);
        assert!(env.store.totp(account.id).await.unwrap().unwrap().confirmed);
        assert_eq!(
            env.store
                .remaining_recovery_codes(account.id)
                .await
                .unwrap(),
            8
        );

        let overview = browser.get(&overview.url).await;
        assert!(overview.body.contains("8 left"), "{}", overview.body);
        assert!(!overview.body.contains(&codes[0]), "codes are shown once");
        let fresh = submit(&browser, &overview, "/recovery-codes", None).await;
        let fresh_codes = recovery_codes(&fresh);
        assert_eq!(fresh_codes.len(), 8);
        assert!(fresh_codes.iter().all(|c| !codes.contains(c)));

        let removed = submit(&browser, &overview, "/totp/remove", None).await;
        assert_eq!(removed.status, 200, "{}", removed.body);
        assert!(removed.body.contains("were removed"), "{}", removed.body);
        assert!(env.store.totp(account.id).await.unwrap().is_none());
        assert_eq!(
            env.store
                .remaining_recovery_codes(account.id)
                .await
                .unwrap(),
            0
        );

        // A new device, then the administrator's reset.
        let setup = submit(&browser, &removed, "/totp/start", None).await;
        let uri = otpauth_uri(&setup);
        let code = gatehouse_mfa::enrolment::code_for_uri(&uri, Utc::now()).unwrap();
        let done = submit(&browser, &setup, "/totp/confirm", Some(&code)).await;
        assert_eq!(recovery_codes(&done).len(), 8);
        let out = env.ok_with(&["user", "mfa", "show", "--realm", "main", USER], "", &vars);
        assert!(out.contains("enrolled") && out.contains("8"), "{out}");
        let out = env.ok_with(
            &["user", "mfa", "reset", "--realm", "main", USER],
            "",
            &vars,
        );
        assert!(out.contains("removed the authenticator app"), "{out}");
        assert!(env.store.totp(account.id).await.unwrap().is_none());

        let events = env
            .store
            .audit_events(&AuditQuery::realm("main", 100))
            .await
            .unwrap();
        let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
        for kind in [
            "mfa_totp_enrolled",
            "mfa_recovery_codes_issued",
            "mfa_totp_removed",
            "mfa_reset",
        ] {
            assert!(kinds.contains(&kind), "{kind} not in {kinds:?}");
        }
        drop(server);
    }
);
