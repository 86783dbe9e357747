//! A check of each request head as its bytes arrive, before hyper parses it.
//!
//! hyper answers a head it cannot take (a malformed `Content-Length`, a
//! control character, a target too long) with a bare status line and no
//! body, and resets the connection of a head that overflows its buffer. The
//! accept loop ([`super::server`]) runs this check over the bytes it hands
//! hyper; where it refuses a head, the loop writes the refusal in the API's
//! error shape and closes the connection before hyper sees the head. The
//! rules are hyper's own (httparse's and the `http` crate's), so a head
//! refused here would be refused by hyper too, bar the lower size limits.
//!
//! The check follows `Content-Length` framing to find where the next head of
//! a kept-alive connection starts. After a chunked body or a `CONNECT` it
//! stops, and hyper alone judges that connection's later heads.

use axum::http::{header, HeaderName, HeaderValue, Method, StatusCode, Uri};

use super::error::ApiError;
use crate::validation::FieldError;

/// The longest request line (method, target and version); 414 beyond.
pub const MAX_REQUEST_LINE: usize = 8 * 1024;
/// The longest head (request line and header fields); 431 beyond.
pub const MAX_HEAD: usize = 64 * 1024;
/// The most header fields in one head, hyper's own limit; 431 beyond.
pub const MAX_HEADERS: usize = 100;
/// The largest `Content-Length` hyper takes.
const MAX_CONTENT_LENGTH: u64 = u64::MAX - 2;

/// Where a connection's byte stream is, read so far.
pub(super) struct HeadCheck {
    state: State,
    /// The line being read, without its line end.
    line: Vec<u8>,
    head: Head,
    heads_seen: u64,
}

enum State {
    Head,
    Body {
        remaining: u64,
    },
    /// Framing this check does not follow, or a head refused already.
    Unchecked,
}

/// What the head being read has said so far.
#[derive(Default)]
struct Head {
    /// Bytes so far, line ends and empty lines before the request line included.
    bytes: usize,
    request_line: Option<RequestLine>,
    fields: usize,
    content_length: Option<u64>,
    /// Whether the last `Transfer-Encoding` field ends in `chunked`, if one was sent.
    chunked: Option<bool>,
}

struct RequestLine {
    method: Method,
    http_10: bool,
}

impl HeadCheck {
    pub(super) fn new() -> Self {
        Self {
            state: State::Head,
            line: Vec::new(),
            head: Head::default(),
            heads_seen: 0,
        }
    }

    /// How many heads have been read in full and passed.
    pub(super) fn heads_seen(&self) -> u64 {
        self.heads_seen
    }

    /// Follows `bytes`, the next read from the connection. A head that must
    /// not reach hyper is answered with the refusal, and the check stops.
    pub(super) fn feed(&mut self, bytes: &[u8]) -> Result<(), ApiError> {
        let followed = self.follow(bytes);
        if followed.is_err() {
            self.state = State::Unchecked;
            self.line = Vec::new();
        }
        followed
    }

    fn follow(&mut self, mut bytes: &[u8]) -> Result<(), ApiError> {
        while !bytes.is_empty() {
            match &mut self.state {
                State::Unchecked => break,
                State::Body { remaining } => {
                    let skipped = (*remaining).min(bytes.len() as u64);
                    *remaining -= skipped;
                    if *remaining == 0 {
                        self.state = State::Head;
                    }
                    // Within `bytes.len()`, so it fits.
                    bytes = &bytes[skipped as usize..];
                }
                State::Head => {
                    let end = bytes.iter().position(|&b| b == b'\n');
                    let text = &bytes[..end.unwrap_or(bytes.len())];
                    let taken = end.map_or(bytes.len(), |end| end + 1);
                    self.head.bytes += taken;
                    if self.head.request_line.is_none()
                        && self.line.len() + text.len() > MAX_REQUEST_LINE
                    {
                        return Err(ApiError::new(
                            StatusCode::URI_TOO_LONG,
                            "uri_too_long",
                            format!("the request line is longer than {MAX_REQUEST_LINE} bytes"),
                        ));
                    }
                    if self.head.bytes > MAX_HEAD {
                        return Err(head_too_large(format!(
                            "the request head is larger than {MAX_HEAD} bytes"
                        )));
                    }
                    self.line.extend_from_slice(text);
                    bytes = &bytes[taken..];
                    if end.is_some() {
                        let line = std::mem::take(&mut self.line);
                        self.line_ended(&line)?;
                        self.line = line;
                        self.line.clear();
                    }
                }
            }
        }
        Ok(())
    }

    fn line_ended(&mut self, line: &[u8]) -> Result<(), ApiError> {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        match self.head.request_line {
            // As httparse does, empty lines before a request are skipped.
            None if line.is_empty() => Ok(()),
            None => {
                self.head.request_line = Some(request_line(line)?);
                Ok(())
            }
            Some(_) if line.is_empty() => self.head_ended(),
            Some(_) => self.field(line),
        }
    }

    fn field(&mut self, line: &[u8]) -> Result<(), ApiError> {
        self.head.fields += 1;
        if self.head.fields > MAX_HEADERS {
            return Err(head_too_large(format!(
                "the request has more than {MAX_HEADERS} header fields"
            )));
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            return Err(malformed("a header line has no colon"));
        };
        // A name with spaces around it, or a line folded onto the one before,
        // is not a token either.
        let sent_name = &line[..colon];
        let name = HeaderName::from_bytes(sent_name)
            .map_err(|_| malformed("a header field's name is not a token"))?;
        // A token is ASCII.
        let sent_name = String::from_utf8_lossy(sent_name);
        let value = line[colon + 1..].trim_ascii();
        let value = HeaderValue::from_bytes(value)
            .map_err(|_| malformed_field(&sent_name, "holds a control character"))?;
        let http_10 = self.head.request_line.as_ref().is_some_and(|l| l.http_10);
        if name == header::TRANSFER_ENCODING {
            if http_10 {
                return Err(malformed_field(&sent_name, "is not allowed in HTTP/1.0"));
            }
            // hyper drops the length for the chunked framing, and ignores any
            // later `Content-Length`.
            self.head.content_length = None;
            let last = value.to_str().ok().and_then(|v| v.rsplit(',').next());
            self.head.chunked =
                Some(last.is_some_and(|c| c.trim().eq_ignore_ascii_case("chunked")));
        } else if name == header::CONTENT_LENGTH && self.head.chunked.is_none() {
            let length = content_length(&sent_name, value.as_bytes())?;
            if self
                .head
                .content_length
                .is_some_and(|earlier| earlier != length)
            {
                return Err(malformed_field(
                    &sent_name,
                    "is sent twice with different values",
                ));
            }
            self.head.content_length = Some(length);
        }
        Ok(())
    }

    fn head_ended(&mut self) -> Result<(), ApiError> {
        let head = std::mem::take(&mut self.head);
        let tunnel = head
            .request_line
            .is_some_and(|l| l.method == Method::CONNECT);
        self.state = match (head.chunked, head.content_length) {
            (Some(false), _) => {
                return Err(malformed_field(
                    "Transfer-Encoding",
                    "must end in chunked on a request",
                ))
            }
            // Chunked framing and tunnels are hyper's to follow.
            (Some(true), _) => State::Unchecked,
            _ if tunnel => State::Unchecked,
            (None, Some(remaining @ 1..)) => State::Body { remaining },
            (None, _) => State::Head,
        };
        self.heads_seen += 1;
        Ok(())
    }
}

/// `METHOD target HTTP/1.x`, one space apart.
fn request_line(line: &[u8]) -> Result<RequestLine, ApiError> {
    let mut parts = line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed(
            "the request line is not `METHOD target HTTP/1.1`, one space apart",
        ));
    };
    let method =
        Method::from_bytes(method).map_err(|_| malformed("the request method is not a token"))?;
    if !target.iter().all(|b| b.is_ascii_graphic()) {
        return Err(malformed(
            "the request target holds a control character or a byte beyond ASCII",
        ));
    }
    Uri::try_from(target).map_err(|_| malformed("the request target is not a valid URI"))?;
    let http_10 = match version {
        b"HTTP/1.1" => false,
        b"HTTP/1.0" => true,
        _ => return Err(malformed("the protocol is not HTTP/1.0 or HTTP/1.1")),
    };
    Ok(RequestLine { method, http_10 })
}

/// A `Content-Length` value: digits only, as hyper takes it.
fn content_length(name: &str, value: &[u8]) -> Result<u64, ApiError> {
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return Err(malformed_field(
            name,
            "must be a number of bytes, digits only",
        ));
    }
    value
        .iter()
        .try_fold(0u64, |n, &d| {
            n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
        })
        .filter(|&n| n <= MAX_CONTENT_LENGTH)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                "the declared body is larger than any this server takes",
            )
            .with_details(vec![FieldError::new(name, "too large")])
        })
}

fn malformed(message: &str) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "malformed_request", message)
}

/// A header field that hyper would refuse, named as the caller sent it.
fn malformed_field(name: &str, problem: &str) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "malformed_request",
        format!("the {name} header {problem}"),
    )
    .with_details(vec![FieldError::new(name, problem)])
}

fn head_too_large(message: String) -> ApiError {
    ApiError::new(
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        "headers_too_large",
        message,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `stream` split at `at`, and answers the check and its verdict.
    fn fed_split(stream: &[u8], at: usize) -> (HeadCheck, Result<(), ApiError>) {
        let mut check = HeadCheck::new();
        let (first, second) = stream.split_at(at);
        let verdict = check.feed(first).and_then(|()| check.feed(second));
        (check, verdict)
    }

    /// The status and details path of the refusal of `stream`, the same
    /// whether it arrives at once, split anywhere, or a byte at a time.
    fn refusal(stream: &[u8]) -> (u16, String) {
        let (_, whole) = fed_split(stream, 0);
        let whole = whole.expect_err("refused");
        for at in (1..stream.len()).step_by(stream.len() / 100 + 1) {
            let (_, split) = fed_split(stream, at);
            assert_eq!(split.expect_err("refused").status(), whole.status());
        }
        let mut check = HeadCheck::new();
        let bytewise = stream.chunks(1).try_for_each(|b| check.feed(b));
        assert_eq!(bytewise.expect_err("refused").status(), whole.status());
        let path = whole.details().first().map(|d| d.path.clone());
        (whole.status().as_u16(), path.unwrap_or_default())
    }

    #[test]
    fn bodies_are_skipped_by_their_length_and_heads_counted_at_any_split() {
        let body = b"\x01\r\n\r\nnot a head: \x7f\r\n\r\n";
        let stream = [
            b"\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n".as_slice(),
            format!(
                "POST /v1/reports HTTP/1.1\nContent-Length: {0}\r\ncontent-length:  {0} \r\n\r\n",
                body.len()
            )
            .as_bytes(),
            body,
            b"GET /readyz?x=%ff HTTP/1.0\r\nX-Obs: caf\xc3\xa9\t\r\n\r\n",
        ]
        .concat();
        for at in 0..=stream.len() {
            let (check, verdict) = fed_split(&stream, at);
            assert!(verdict.is_ok(), "split at {at}: {verdict:?}");
            assert_eq!(check.heads_seen(), 3, "split at {at}");
        }
    }

    #[test]
    fn content_length_must_be_digits_and_agree() {
        for value in ["-1", "+5", "1.5", "0x10", "5, 5", ""] {
            let stream = format!("POST / HTTP/1.1\r\nContent-Length: {value}\r\n\r\n");
            assert_eq!(refusal(stream.as_bytes()), (400, "Content-Length".into()));
        }
        let twice = b"POST / HTTP/1.1\r\ncontent-length: 5\r\nContent-Length: 6\r\n\r\n";
        assert_eq!(refusal(twice), (400, "Content-Length".into()));
        let huge = format!("POST / HTTP/1.1\r\nContent-Length: {}0\r\n\r\n", u64::MAX);
        assert_eq!(refusal(huge.as_bytes()), (413, "Content-Length".into()));
    }

    #[test]
    fn control_characters_and_malformed_lines_are_refused() {
        assert_eq!(
            refusal(b"GET / HTTP/1.1\r\nX-Probe: a\x01b\r\n\r\n"),
            (400, "X-Probe".into())
        );
        assert_eq!(
            refusal(b"GET / HTTP/1.1\r\nX-Probe: a\rb\r\n\r\n"),
            (400, "X-Probe".into())
        );
        for stream in [
            b"GET /\x00 HTTP/1.1\r\n\r\n".as_slice(),
            b"GET /\xff HTTP/1.1\r\n\r\n",
            b"GET  / HTTP/1.1\r\n\r\n",
            b"GET / HTTP/2.0\r\n\r\n",
            b"G(T / HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\nX-Probe : a\r\n\r\n",
            b"GET / HTTP/1.1\r\nX-Probe: a\r\n folded\r\n\r\n",
            b"GET / HTTP/1.1\r\nno colon\r\n\r\n",
        ] {
            assert_eq!(
                refusal(stream).0,
                400,
                "{}",
                String::from_utf8_lossy(stream)
            );
        }
    }

    #[test]
    fn sizes_are_refused_before_the_line_or_head_ends() {
        let target = format!("GET /{}", "a".repeat(MAX_REQUEST_LINE));
        assert_eq!(refusal(target.as_bytes()).0, 414);
        let field = format!("GET / HTTP/1.1\r\nX-Big: {}", "a".repeat(MAX_HEAD));
        assert_eq!(refusal(field.as_bytes()).0, 431);
        let many = format!(
            "GET / HTTP/1.1\r\n{}\r\n",
            "X-A: b\r\n".repeat(MAX_HEADERS + 1)
        );
        assert_eq!(refusal(many.as_bytes()).0, 431);
        let enough = format!("GET / HTTP/1.1\r\n{}\r\n", "X-A: b\r\n".repeat(MAX_HEADERS));
        assert!(HeadCheck::new().feed(enough.as_bytes()).is_ok());
    }

    #[test]
    fn transfer_encoding_must_end_in_chunked_and_stops_the_check() {
        assert_eq!(
            refusal(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"),
            (400, "Transfer-Encoding".into())
        );
        assert_eq!(
            refusal(b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n").0,
            400
        );
        // hyper ignores a length after the encoding, and so does the check;
        // what follows a chunked body is hyper's to judge.
        let mut check = HeadCheck::new();
        let chunked =
            b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\nContent-Length: -1\r\n\r\n";
        assert!(check.feed(chunked).is_ok());
        assert!(check
            .feed(b"5\r\nab\x01cd\r\n0\r\n\r\nGET /\x00 HTTP/1.1\r\n\r\n")
            .is_ok());
        assert_eq!(check.heads_seen(), 1);
    }

    #[test]
    fn a_refusal_stops_the_check() {
        let mut check = HeadCheck::new();
        assert!(check.feed(b"GET / HTTP/1.1\r\nX: \x01\r\n").is_err());
        assert!(check.feed(b"\r\nGET /\x00 HTTP/1.1\r\n\r\n").is_ok());
        assert_eq!(check.heads_seen(), 0);
    }
}
