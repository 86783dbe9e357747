//! The text and HTML layouts of the body (minijinja). HTML escaping is on for
//! the `.html` template and nothing in it is marked safe, so staff free text
//! and client names can never become markup.

use std::sync::LazyLock;

use minijinja::{AutoEscape, Environment, UndefinedBehavior};

use super::view::Body;
use super::EmailError;

const TEXT: &str = "body.txt";
const HTML: &str = "body.html";

/// Compiled once; like the translations, a broken template is a build defect
/// the tests catch, and at run time only fails the render.
static TEMPLATES: LazyLock<Result<Environment<'static>, String>> = LazyLock::new(|| {
    let mut env = Environment::new();
    // Said explicitly rather than left to minijinja's extension default,
    // because it is what keeps the HTML part safe.
    env.set_auto_escape_callback(|name| {
        if name.ends_with(".html") {
            AutoEscape::Html
        } else {
            AutoEscape::None
        }
    });
    // A misspelt field must fail the tests, not print an empty label.
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env.add_template(TEXT, include_str!("templates/body.txt"))
        .map_err(|e| e.to_string())?;
    env.add_template(HTML, include_str!("templates/body.html"))
        .map_err(|e| e.to_string())?;
    Ok(env)
});

/// The text/plain and text/html bodies.
pub(super) fn render(body: &Body) -> Result<(String, String), EmailError> {
    let env = TEMPLATES
        .as_ref()
        .map_err(|message| EmailError::Templates(message.clone()))?;
    let text = env.get_template(TEXT)?.render(body)?;
    let html = env.get_template(HTML)?.render(body)?;
    Ok((text, html))
}
