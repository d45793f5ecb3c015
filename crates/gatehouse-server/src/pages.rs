//! HTML pages: built-in templates, each replaceable by a file of the same name in
//! `server.theme_dir`. Templates are auto-escaped.

use std::path::Path;

use minijinja::{Environment, Value};

use crate::error::ServerError;

const BUILT_IN: [(&str, &str); 6] = [
    ("base.html", include_str!("../templates/base.html")),
    ("login.html", include_str!("../templates/login.html")),
    ("error.html", include_str!("../templates/error.html")),
    ("logout.html", include_str!("../templates/logout.html")),
    (
        "logged_out.html",
        include_str!("../templates/logged_out.html"),
    ),
    // An auto-submitting form: the SAML HTTP-POST binding, and the callback's same-site bounce.
    (
        "form_post.html",
        include_str!("../templates/form_post.html"),
    ),
];

pub struct Pages {
    env: Environment<'static>,
}

impl Pages {
    pub fn new(theme_dir: Option<&str>) -> Result<Self, ServerError> {
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
        Ok(Self { env })
    }

    pub fn render(&self, name: &str, context: Value) -> String {
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
