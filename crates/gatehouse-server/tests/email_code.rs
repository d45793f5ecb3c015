//! Email one-time codes (issue #23) through a real SMTP server (aiosmtpd, tests/peers/smtp.sh),
//! on SQLite and PostgreSQL: the code arrives by mail from the realm's template (or the theme's),
//! passes once with `amr` `otp` + `mca`; bad input is told apart and stores nothing; five wrong
//! codes kill the challenge; an expired code is refused with its own message.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, Utc};
use gatehouse_core::auth::{Begin, FlowContext, FlowView, Input, Mechanism, Verdict};
use gatehouse_core::second_factor::EmailCodeRepository;
use gatehouse_core::{Account, Secret};
use gatehouse_mfa::{EmailOtpMechanism, EmailOtpSettings};
use gatehouse_server::config::{SmtpConfig, SmtpTls};
use gatehouse_server::mailer::SmtpCodeSender;
use gatehouse_store::{NewAccount, Store, store_test};

/// The SMTP peer of this run (tests/run starts it), else one started here (reused if running).
fn smtp_peer() -> (u16, PathBuf) {
    if let (Ok(port), Ok(dir)) = (
        std::env::var("GATEHOUSE_TEST_SMTP_PORT"),
        std::env::var("GATEHOUSE_TEST_SMTP_MAILDIR"),
    ) {
        return (port.parse().expect("GATEHOUSE_TEST_SMTP_PORT"), dir.into());
    }
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/peers/smtp.sh");
    let out = Command::new(&script)
        .arg("start")
        .output()
        .expect("tests/peers/smtp.sh");
    assert!(
        out.status.success(),
        "smtp.sh start failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let var = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("export {name}=")))
            .unwrap_or_else(|| panic!("{name} not in {text}"))
            .to_owned()
    };
    (
        var("GATEHOUSE_TEST_SMTP_PORT").parse().unwrap(),
        var("GATEHOUSE_TEST_SMTP_MAILDIR").into(),
    )
}

/// Every message the server received for `to`, oldest first.
fn mail_for(maildir: &std::path::Path, to: &str, count: usize) -> Vec<String> {
    let deadline = Instant::now() + StdDuration::from_secs(15);
    loop {
        let mut found: Vec<(std::time::SystemTime, String)> =
            std::fs::read_dir(maildir.join("new"))
                .map(|d| {
                    d.filter_map(|e| e.ok())
                        .filter_map(|e| {
                            let text = std::fs::read_to_string(e.path()).ok()?;
                            let at = e.metadata().ok()?.modified().ok()?;
                            text.contains(to).then_some((at, text))
                        })
                        .collect()
                })
                .unwrap_or_default();
        found.sort_by_key(|(at, _)| *at);
        if found.len() >= count {
            return found.into_iter().map(|(_, t)| t).collect();
        }
        assert!(
            Instant::now() < deadline,
            "no mail for {to} in {}",
            maildir.display()
        );
        std::thread::sleep(StdDuration::from_millis(50));
    }
}

fn code_in(mail: &str) -> String {
    let subject = mail
        .lines()
        .find_map(|l| l.strip_prefix("Subject: "))
        .unwrap_or_else(|| panic!("no subject: {mail}"));
    subject.rsplit(' ').next().unwrap().trim().to_owned()
}

fn typed(field: &str, value: &str) -> Input {
    Input::Fields(BTreeMap::from([(field.to_owned(), Secret::new(value))]))
}

struct Setup {
    mechanism: EmailOtpMechanism,
    now: Arc<Mutex<DateTime<Utc>>>,
    account: Account,
    maildir: PathBuf,
}

async fn setup(store: &Store, theme_dir: Option<&str>) -> Setup {
    let (port, maildir) = smtp_peer();
    let username = format!("u{}", uuid::Uuid::new_v4().simple());
    let account = store
        .create_account(NewAccount {
            realm: "main".into(),
            username: username.clone(),
            username_key: username.clone(),
            email: Some(format!("{username}@example.com")),
            name: None,
            roles: vec![],
        })
        .await
        .unwrap();
    let smtp = SmtpConfig {
        host: "127.0.0.1".into(),
        port: Some(port),
        tls: SmtpTls::None,
        username: None,
        password: None,
        from: "Example Corp <no-reply@example.com>".into(),
        timeout_seconds: 10,
    };
    let sender = SmtpCodeSender::new("main", "Example Corp", &smtp, theme_dir).unwrap();
    let now = Arc::new(Mutex::new(Utc::now()));
    let clock = now.clone();
    let mechanism = EmailOtpMechanism::new(
        EmailOtpSettings::default(),
        Arc::new(store.clone()),
        Arc::new(sender),
        Arc::new(move || *clock.lock().unwrap()),
    );
    Setup {
        mechanism,
        now,
        account,
        maildir,
    }
}

impl Setup {
    async fn begin(&self) -> serde_json::Value {
        let ctx = FlowContext::default();
        let view = FlowView {
            realm: "main",
            account: Some(&self.account),
            passed: &[],
            context: &ctx,
        };
        match self.mechanism.begin(view).await.unwrap() {
            Begin::Challenge { data, .. } => data,
            Begin::Redirect { .. } => panic!("a challenge was expected"),
        }
    }

    async fn verify(&self, data: &serde_json::Value, input: Input) -> Verdict {
        let ctx = FlowContext::default();
        let view = FlowView {
            realm: "main",
            account: Some(&self.account),
            passed: &[],
            context: &ctx,
        };
        self.mechanism.verify(view, data, &input).await.unwrap()
    }

    fn to(&self) -> String {
        self.account.email.clone().unwrap()
    }
}

fn refusal(verdict: &Verdict) -> (String, String) {
    match verdict {
        Verdict::Rejected(f) => (f.code.clone(), f.public_message.clone()),
        Verdict::Passed(_) => ("passed".into(), String::new()),
    }
}

fn challenge(data: &serde_json::Value) -> uuid::Uuid {
    data["challenge"].as_str().unwrap().parse().unwrap()
}

store_test!(a_code_sent_through_smtp_passes_once, |store| async move {
    let s = setup(&store, None).await;
    let data = s.begin().await;
    let mail = mail_for(&s.maildir, &s.to(), 1).remove(0);
    let code = code_in(&mail);
    assert_eq!(code.len(), 6, "{mail}");
    assert!(mail.contains("Example Corp"), "the realm's name: {mail}");
    assert!(mail.contains("valid for 15 minutes"), "the expiry: {mail}");
    assert!(
        mail.contains(&format!("    {code}")),
        "the code in the body: {mail}"
    );
    let stored = store.email_code(challenge(&data)).await.unwrap().unwrap();
    assert!(!stored.digest.contains(&code), "stored hashed");

    // Bad input: each its own message, no try counted, nothing stored.
    for (input, message) in [
        ("1234567", "The code has 6 digits; you entered 7."),
        ("12ab56", "digits only"),
        ("", "Enter the 6-digit code."),
    ] {
        let (code, text) = refusal(&s.verify(&data, typed("code", input)).await);
        assert_eq!(code, "malformed_code");
        assert!(text.contains(message), "{input:?}: {text}");
    }
    assert_eq!(
        store
            .email_code(challenge(&data))
            .await
            .unwrap()
            .unwrap()
            .failures,
        0
    );

    match s.verify(&data, typed("code", &code)).await {
        Verdict::Passed(p) => assert_eq!(p.amr, ["otp", "mca"]),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        refusal(&s.verify(&data, typed("code", &code)).await).0,
        "code_dead"
    );
});

store_test!(
    five_wrong_codes_kill_it_and_an_expired_code_is_told,
    |store| async move {
        let s = setup(&store, None).await;
        let data = s.begin().await;
        let code = code_in(&mail_for(&s.maildir, &s.to(), 1)[0]);
        let wrong = if code == "000000" { "111111" } else { "000000" };
        for _ in 0..4 {
            assert_eq!(
                refusal(&s.verify(&data, typed("code", wrong)).await).0,
                "invalid_code"
            );
        }
        let (dead, message) = refusal(&s.verify(&data, typed("code", wrong)).await);
        assert_eq!(dead, "code_dead");
        assert!(message.contains("Too many wrong codes"), "{message}");
        assert_eq!(
            refusal(&s.verify(&data, typed("code", &code)).await).0,
            "code_dead"
        );
        // Resending does not revive it.
        *s.now.lock().unwrap() += Duration::minutes(2);
        assert_eq!(
            refusal(&s.verify(&data, typed("resend", "1")).await).0,
            "code_dead"
        );

        let data = s.begin().await;
        let code = code_in(&mail_for(&s.maildir, &s.to(), 2)[1]);
        assert_eq!(
            refusal(&s.verify(&data, typed("resend", "1")).await).0,
            "resend_too_soon"
        );
        *s.now.lock().unwrap() += Duration::minutes(16);
        let (expired, message) = refusal(&s.verify(&data, typed("code", &code)).await);
        assert_eq!(expired, "code_expired");
        assert!(message.contains("expired"), "{message}");
        // A resend then delivers a new code that works.
        assert_eq!(
            refusal(&s.verify(&data, typed("resend", "1")).await).0,
            "code_resent"
        );
        let fresh = code_in(&mail_for(&s.maildir, &s.to(), 3)[2]);
        assert!(matches!(
            s.verify(&data, typed("code", &fresh)).await,
            Verdict::Passed(_)
        ));
    }
);

store_test!(
    the_theme_folder_overrides_the_realms_template,
    |store| async move {
        let theme = tempfile::tempdir().unwrap();
        std::fs::create_dir(theme.path().join("main")).unwrap();
        std::fs::write(
        theme.path().join("main/mfa-email-code.txt"),
        "Subject: Sign-in code for {{ display_name }} {{ code }}\n\nCustom body, {{ validity_minutes }} min.\n",
    )
    .unwrap();
        let s = setup(&store, theme.path().to_str()).await;
        let data = s.begin().await;
        let mail = mail_for(&s.maildir, &s.to(), 1).remove(0);
        assert!(
            mail.contains("Subject: Sign-in code for Example Corp"),
            "{mail}"
        );
        assert!(mail.contains("Custom body, 15 min."), "{mail}");
        let code = code_in(&mail);
        assert!(matches!(
            s.verify(&data, typed("code", &code)).await,
            Verdict::Passed(_)
        ));
    }
);
