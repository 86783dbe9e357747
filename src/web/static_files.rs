//! The files under `/static/`, embedded in the binary. They change only with
//! the binary, so browsers may keep them for a day.

use axum::extract::Path;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::PageError;

const FILES: &[(&str, &str, &str)] = &[
    (
        "style.css",
        "text/css; charset=utf-8",
        include_str!("static/style.css"),
    ),
    (
        "board.js",
        "text/javascript; charset=utf-8",
        include_str!("static/board.js"),
    ),
];

/// `GET /static/{file}`
pub async fn serve(Path(file): Path<String>) -> Result<Response, PageError> {
    let (_, content_type, body) = FILES
        .iter()
        .find(|(name, _, _)| *name == file)
        .ok_or(PageError::NotFound)?;
    Ok((
        [
            (header::CONTENT_TYPE, *content_type),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        *body,
    )
        .into_response())
}
