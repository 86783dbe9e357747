//! Request bodies. Every handler that takes a body takes a [`JsonBody`], so
//! the size limit, the time limit, the nesting limit and JSON syntax are
//! enforced in one place and answered in the API's error shape. A body
//! declared larger than the limit is refused before anything reads it
//! ([`refuse_declared_oversize`]).

use std::time::Duration;

use axum::body::{Bytes, HttpBody};
use axum::extract::{FromRequest, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::ApiState;
use crate::validation::FieldError;

/// A body within `server.max_body_bytes`, nesting at most
/// `server.max_json_depth` arrays and objects, and either blank (handlers
/// decide whether a body is optional) or well-formed JSON in which no object
/// repeats a key.
pub struct JsonBody(pub Bytes);

impl JsonBody {
    pub fn is_blank(&self) -> bool {
        self.0.iter().all(u8::is_ascii_whitespace)
    }
}

impl FromRequest<ApiState> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &ApiState) -> Result<Self, Self::Rejection> {
        let server = &state.app.config.server;
        // Dropping the unfinished body on a timeout makes hyper close the
        // connection after the answer, rather than wait for the rest.
        let bytes = tokio::time::timeout(
            Duration::from_millis(server.body_timeout_ms),
            Bytes::from_request(request, state),
        )
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "body_timeout",
                format!(
                    "the body did not arrive within {} ms",
                    server.body_timeout_ms
                ),
            )
        })?
        .map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                body_too_large(server.max_body_bytes)
            } else {
                ApiError::new(e.status(), "bad_body", e.body_text())
            }
        })?;
        let body = JsonBody(bytes);
        if body.is_blank() {
            return Ok(body);
        }
        if nests_deeper_than(&body.0, server.max_json_depth) {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "too_deep",
                format!(
                    "the body nests arrays and objects deeper than {} levels",
                    server.max_json_depth
                ),
            )
            .with_details(vec![FieldError::new(
                "",
                format!("at most {} levels of nesting", server.max_json_depth),
            )]));
        }
        // The depth is bounded now, so this recursive parse cannot exhaust the stack.
        super::json::check_syntax(&body.0)?;
        Ok(body)
    }
}

/// Answers 413 at once to a request whose declared `Content-Length` is over
/// `server.max_body_bytes`, before anything reads its body: the caller does
/// not send it in vain, and hyper, which sends `100 Continue` only when a
/// body is first read, sends none.
pub async fn refuse_declared_oversize(
    State(state): State<ApiState>,
    request: Request,
    next: Next,
) -> Response {
    let max = state.app.config.server.max_body_bytes;
    // hyper makes a declared Content-Length the body's exact size hint.
    if request.body().size_hint().lower() > max as u64 {
        return body_too_large(max).into_response();
    }
    next.run(request).await
}

fn body_too_large(max: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
        format!("the body is larger than {max} bytes"),
    )
}

/// Whether `bytes` open more than `max` arrays or objects at once, counting
/// brackets outside strings in one pass without recursion, so hostile input
/// is judged before any parser sees it.
fn nests_deeper_than(bytes: &[u8], max: usize) -> bool {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &byte in bytes {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::nests_deeper_than;

    #[test]
    fn depth_counts_brackets_outside_strings_only() {
        assert!(!nests_deeper_than(br#"{"a": [1, {"b": []}]}"#, 4));
        assert!(nests_deeper_than(br#"{"a": [1, {"b": []}]}"#, 3));
        assert!(!nests_deeper_than(br#"{"a": "[[[[{{{{\"[[["}"#, 1));
        assert!(nests_deeper_than(&vec![b'['; 1_000_000], 32));
        assert!(!nests_deeper_than(&"[]".repeat(1000).into_bytes(), 1));
    }
}
