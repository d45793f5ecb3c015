//! HTML pages: built-in templates, each replaceable by a file of the same name in
//! `server.theme_dir`. Templates are auto-escaped.

use std::collections::BTreeMap;
use std::path::Path;

use minijinja::{Environment, Value};

use crate::error::ServerError;

const BUILT_IN: [(&str, &str); 10] = [
    ("base.html", include_str!("../templates/base.html")),
    ("login.html", include_str!("../templates/login.html")),
    ("error.html", include_str!("../templates/error.html")),
    ("logout.html", include_str!("../templates/logout.html")),
    (
        "logged_out.html",
        include_str!("../templates/logged_out.html"),
    ),
    ("account.html", include_str!("../templates/account.html")),
    (
        "account_mfa.html",
        include_str!("../templates/account_mfa.html"),
    ),
    ("home.html", include_str!("../templates/home.html")),
    // Each step of a policy's web flow (`/realms/R/authsvc`).
    ("authsvc.html", include_str!("../templates/authsvc.html")),
    // An auto-submitting form: the SAML HTTP-POST binding, and the callback's same-site bounce.
    (
        "form_post.html",
        include_str!("../templates/form_post.html"),
    ),
];

/// What every page of a realm knows of it (docs/theming.md lists these variables).
#[derive(Debug, Clone)]
pub struct Brand {
    /// The realm id, as in URLs.
    pub realm: String,
    /// `display_name`, else the realm id.
    pub display_name: String,
    pub logo_url: Option<String>,
    pub primary_color: String,
    pub help_url: Option<String>,
    /// The realm's account page; `None` on pages of no realm.
    pub account_url: Option<String>,
}

/// Buttons and links when the realm sets no `primary_color`.
pub const DEFAULT_PRIMARY: &str = "#1d4ed8";

impl Brand {
    pub fn of(realm: &str, config: &crate::config::RealmConfig, public_url: &str) -> Brand {
        Brand {
            account_url: Some(format!(
                "{}/realms/{realm}/account",
                public_url.trim_end_matches('/')
            )),
            realm: realm.to_owned(),
            display_name: config
                .display_name
                .clone()
                .unwrap_or_else(|| realm.to_owned()),
            logo_url: config.logo_url.clone(),
            primary_color: config
                .primary_color
                .clone()
                .unwrap_or_else(|| DEFAULT_PRIMARY.into()),
            help_url: config.help_url.clone(),
        }
    }

    /// Pages that belong to no realm (an unknown realm's error, `/`).
    pub fn neutral() -> Brand {
        Brand {
            realm: String::new(),
            display_name: "Gatehouse".into(),
            logo_url: None,
            primary_color: DEFAULT_PRIMARY.into(),
            help_url: None,
            account_url: None,
        }
    }

    /// The page's own variables with the brand's beside them (the page's win).
    pub fn with(&self, page: Value) -> Value {
        minijinja::context! {
            ..page,
            ..minijinja::context! {
                realm => &self.realm,
                display_name => &self.display_name,
                logo_url => &self.logo_url,
                primary_color => &self.primary_color,
                help_url => &self.help_url,
                account_url => &self.account_url,
            }
        }
    }
}

tokio::task_local! {
    /// The realm of the URL being answered, for pages whose context does not name it (error
    /// pages): they still wear the realm's brand.
    static REALM: String;
}

/// Runs `answer` as the answer to a URL of `realm`.
pub async fn in_realm<F: Future>(realm: String, answer: F) -> F::Output {
    REALM.scope(realm, answer).await
}

pub struct Pages {
    env: Environment<'static>,
    /// By realm id: a page whose context names a `realm` gets that realm's brand.
    brands: BTreeMap<String, Brand>,
    neutral: Brand,
}

impl Pages {
    pub fn new(theme_dir: Option<&str>) -> Result<Self, ServerError> {
        Self::branded(theme_dir, BTreeMap::new())
    }

    pub fn branded(
        theme_dir: Option<&str>,
        brands: BTreeMap<String, Brand>,
    ) -> Result<Self, ServerError> {
        let mut env = Environment::new();
        for (name, built_in) in BUILT_IN {
            let source = match theme_dir.map(|d| Path::new(d).join(name)) {
                Some(path) if path.exists() => std::fs::read_to_string(&path).map_err(|e| {
                    ServerError::Theme(format!(
                        "server.theme_dir: cannot read {}: {e}",
                        path.display()
                    ))
                })?,
                _ => built_in.to_owned(),
            };
            env.add_template_owned(name, source)
                .map_err(|e| ServerError::Theme(format!("template {name}: {e}")))?;
        }
        Ok(Self {
            env,
            brands,
            neutral: Brand::neutral(),
        })
    }

    pub fn brand(&self, realm: Option<&str>) -> &Brand {
        realm
            .and_then(|r| self.brands.get(r))
            .unwrap_or(&self.neutral)
    }

    /// Renders `name` with `context` and the brand of the realm the context names (`realm`), or
    /// else of the realm whose URL is being answered ([`in_realm`]).
    pub fn render(&self, name: &str, context: Value) -> String {
        let named = context.get_attr("realm").ok();
        let scoped = REALM.try_with(Clone::clone).ok();
        let realm = named
            .as_ref()
            .and_then(|r| r.as_str())
            .filter(|r| !r.is_empty())
            .or(scoped.as_deref());
        let brand = self.brand(realm);
        let context = brand.with(context);
        match self.env.get_template(name).and_then(|t| t.render(context)) {
            Ok(html) => html,
            Err(e) => {
                tracing::error!(template = name, error = %e, "template failed");
                "<!doctype html><title>Error</title><p>Internal error.</p>".into()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn branded() -> Pages {
        let brand = Brand {
            realm: "corp".into(),
            display_name: "Example Corp".into(),
            logo_url: Some("https://example.org/logo.svg".into()),
            primary_color: "#0f766e".into(),
            help_url: Some("mailto:help@example.org".into()),
            account_url: Some("https://id.example.org/realms/corp/account".into()),
        };
        Pages::branded(None, [("corp".to_owned(), brand)].into()).unwrap()
    }

    #[tokio::test]
    async fn a_realms_pages_wear_its_brand_even_when_the_context_does_not_name_it() {
        let pages = branded();
        let html = pages.render("logged_out.html", minijinja::context! { realm => "corp" });
        for expected in [
            "Example Corp",
            "--primary: #0f766e",
            "https:&#x2f;&#x2f;example.org&#x2f;logo.svg",
            "mailto:help@example.org",
        ] {
            assert!(html.contains(expected), "{expected}: {html}");
        }
        // An error page names no realm: the URL's realm (set by the router) brands it.
        let html = in_realm("corp".into(), async {
            pages.render("error.html", minijinja::context! { message => "m" })
        })
        .await;
        assert!(html.contains("Example Corp"), "{html}");
        let html = pages.render("error.html", minijinja::context! { message => "m" });
        assert!(
            !html.contains("Example Corp") && html.contains("Gatehouse"),
            "{html}"
        );
    }

    #[test]
    fn escapes_and_can_be_overridden() {
        let pages = Pages::new(None).unwrap();
        let html = pages.render(
            "error.html",
            minijinja::context! { message => "<script>x</script>" },
        );
        assert!(html.contains("&lt;script&gt;"), "{html}");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("error.html"), "custom {{ message }}").unwrap();
        let pages = Pages::new(dir.path().to_str()).unwrap();
        assert_eq!(
            pages.render("error.html", minijinja::context! { message => "m" }),
            "custom m"
        );
    }
}
