//! Email codes over SMTP (`lettre`), for the `email_otp` mechanism: one transport per realm
//! (`[realms.R.mfa.smtp]`), the message rendered from `mfa-email-code.txt` — the built-in
//! template, or the theme folder's `R/mfa-email-code.txt` or `mfa-email-code.txt`. The
//! template's first line is `Subject: …`; the rest is the body.

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use gatehouse_core::second_factor::{CodeMessage, CodeSender, SendError};
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use minijinja::Environment;

use crate::config::{SmtpConfig, SmtpTls};
use crate::error::ServerError;

pub const TEMPLATE: &str = "mfa-email-code.txt";
const BUILT_IN: &str = include_str!("../templates/mfa-email-code.txt");

pub struct SmtpCodeSender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    display_name: String,
    env: Environment<'static>,
}

/// The realm's own template, else the theme's, else the built-in one.
fn template_source(theme_dir: Option<&str>, realm: &str) -> Result<String, ServerError> {
    if let Some(dir) = theme_dir {
        for path in [
            Path::new(dir).join(realm).join(TEMPLATE),
            Path::new(dir).join(TEMPLATE),
        ] {
            if path.exists() {
                return std::fs::read_to_string(&path).map_err(|e| {
                    ServerError::Theme(format!(
                        "server.theme_dir: cannot read {}: {e}",
                        path.display()
                    ))
                });
            }
        }
    }
    Ok(BUILT_IN.to_owned())
}

impl SmtpCodeSender {
    pub fn new(
        realm: &str,
        display_name: &str,
        smtp: &SmtpConfig,
        theme_dir: Option<&str>,
    ) -> Result<Self, ServerError> {
        let fail = |key: &str, e: String| {
            ServerError::SecondFactor(format!("realms.{realm}.mfa.smtp.{key}: {e}"))
        };
        let from: Mailbox = smtp
            .from
            .parse()
            .map_err(|e| fail("from", format!("{e}")))?;
        let builder = match smtp.tls {
            SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&smtp.host)
                .map_err(|e| fail("host", e.to_string()))?,
            SmtpTls::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&smtp.host)
                .map_err(|e| fail("host", e.to_string()))?,
            SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host),
        };
        let mut builder = builder
            .port(smtp.port())
            .timeout(Some(Duration::from_secs(smtp.timeout_seconds)));
        if let Some(username) = &smtp.username {
            let password = smtp
                .password
                .as_ref()
                .map(|p| p.expose().to_owned())
                .unwrap_or_default();
            builder = builder.credentials(Credentials::new(username.clone(), password));
        }
        let mut env = Environment::new();
        env.add_template_owned(TEMPLATE, template_source(theme_dir, realm)?)
            .map_err(|e| ServerError::Theme(format!("template {TEMPLATE}: {e}")))?;
        Ok(Self {
            transport: builder.build(),
            from,
            display_name: display_name.to_owned(),
            env,
        })
    }

    /// Subject and body of the message for `message`.
    pub fn render(&self, message: &CodeMessage) -> Result<(String, String), SendError> {
        let text = self
            .env
            .get_template(TEMPLATE)
            .and_then(|t| {
                t.render(minijinja::context! {
                    realm => &message.realm,
                    display_name => &self.display_name,
                    username => &message.username,
                    code => message.code.expose(),
                    validity_minutes => message.validity_minutes,
                    expires_at => message.expires_at.format("%Y-%m-%d %H:%M UTC").to_string(),
                })
            })
            .map_err(|e| SendError::Invalid(format!("template {TEMPLATE}: {e}")))?;
        let (first, rest) = text.split_once('\n').unwrap_or((&text, ""));
        match first.strip_prefix("Subject:") {
            Some(subject) => Ok((
                subject.trim().to_owned(),
                rest.trim_start_matches('\n').to_owned(),
            )),
            None => Ok((
                format!("Your {} login code", self.display_name),
                text.clone(),
            )),
        }
    }
}

#[async_trait]
impl CodeSender for SmtpCodeSender {
    async fn send_code(&self, message: &CodeMessage) -> Result<(), SendError> {
        let to: Mailbox = message
            .to
            .parse()
            .map_err(|_| SendError::Invalid("the account's email address is not valid".into()))?;
        let (subject, body) = self.render(message)?;
        let email = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(body)
            .map_err(|e| SendError::Invalid(e.to_string()))?;
        self.transport
            .send(email)
            .await
            .map_err(|e| SendError::Unavailable(e.to_string()))?;
        Ok(())
    }
}
