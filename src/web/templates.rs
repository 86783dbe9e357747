//! The page templates, embedded in the binary and parsed once. Names ending
//! in `.html` are auto-escaped.

use std::sync::OnceLock;

use axum::response::Html;
use minijinja::{context, Environment, Value};

use super::session::CSRF_FIELD;
use super::PageError;
use crate::service::accounts::Session;

/// Every template, by name.
const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("templates/base.html")),
    ("macros.html", include_str!("templates/macros.html")),
    ("error.html", include_str!("templates/error.html")),
    ("sign_in.html", include_str!("templates/sign_in.html")),
    (
        "account_setup.html",
        include_str!("templates/account_setup.html"),
    ),
    ("board.html", include_str!("templates/board.html")),
    ("report.html", include_str!("templates/report.html")),
    ("field.html", include_str!("templates/field.html")),
    ("preview.html", include_str!("templates/preview.html")),
    ("sections.html", include_str!("templates/sections.html")),
    ("incident.html", include_str!("templates/incident.html")),
    (
        "incident_update.html",
        include_str!("templates/incident_update.html"),
    ),
    ("register.html", include_str!("templates/register.html")),
    ("admin.html", include_str!("templates/admin.html")),
    (
        "admin_client.html",
        include_str!("templates/admin_client.html"),
    ),
    (
        "admin_refused.html",
        include_str!("templates/admin_refused.html"),
    ),
    (
        "admin_accounts.html",
        include_str!("templates/admin_accounts.html"),
    ),
    ("portal.html", include_str!("templates/portal.html")),
    (
        "portal_notice.html",
        include_str!("templates/portal_notice.html"),
    ),
];

fn environment() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        for (name, source) in TEMPLATES {
            env.add_template(name, source)
                .unwrap_or_else(|e| panic!("template {name} does not parse: {e}"));
        }
        env.add_global("csrf_field", CSRF_FIELD);
        env
    })
}

/// Renders template `name` for a signed-in `session` (its caller and CSRF
/// token are there for the layout) with the page's own `page` values.
pub fn render(
    name: &str,
    session: Option<&Session>,
    page: Value,
) -> Result<Html<String>, PageError> {
    let user = session.map(|s| {
        context! {
            name => s.caller.name,
            role => s.caller.role.as_str(),
            csrf => s.csrf_token,
        }
    });
    let html = environment()
        .get_template(name)
        .and_then(|t| t.render(context! { user, page }))
        .map_err(|e| PageError::internal(anyhow::anyhow!("template {name}: {e:#}")))?;
    Ok(Html(html))
}

/// An error page, which must render whatever went wrong.
pub fn error_page(title: &str, message: &str) -> Html<String> {
    render("error.html", None, context! { title, message })
        .unwrap_or_else(|_| Html(format!("<!doctype html><title>{title}</title>")))
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_template_parses() {
        super::environment();
    }
}
