//! Every answer is in the API's error shape, whichever layer refuses the
//! request: hyper's HTTP/1 parser (a malformed `Content-Length`, a control
//! character, a target or head too long, sent over raw TCP since a client
//! library would not send them), axum's extractors (a path segment that is
//! not UTF-8), and the serde step after a schema has passed (a number the
//! schema takes but the field's type does not), with the field's pointer.

use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::input::send;
use crate::support::{self, fixture, Gateway};

/// How long any single exchange may take before the test fails rather than hangs.
const GUARD: Duration = Duration::from_secs(30);

/// One answer: its status and JSON body.
struct Answer {
    status: u16,
    body: Value,
}

impl From<(u16, Value)> for Answer {
    fn from((status, body): (u16, Value)) -> Self {
        Self { status, body }
    }
}

impl Answer {
    /// Asserts the error shape with `status` and `code`, and answers the
    /// path of the first detail, if any.
    fn error(&self, status: u16, code: &str) -> Option<String> {
        assert_eq!(self.status, status, "{}", self.body);
        let error = &self.body["error"];
        assert_eq!(error["code"], code, "{}", self.body);
        assert!(error["message"].is_string(), "{}", self.body);
        let details = error["details"].as_array().expect("details");
        for detail in details {
            assert!(detail["path"].is_string() && detail["message"].is_string());
        }
        details
            .first()
            .map(|d| d["path"].as_str().unwrap().to_owned())
    }
}

fn parse_answer(raw: &[u8]) -> Answer {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete head");
    let head = String::from_utf8(raw[..end].to_vec()).expect("an ASCII head");
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next().unwrap()[9..12].parse().expect("a status");
    let header = |name: &str| {
        head.split("\r\n")
            .skip(1)
            .filter_map(|l| l.split_once(':'))
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_owned())
    };
    if status >= 400 {
        let content_type = header("content-type").unwrap_or_default();
        assert!(content_type.starts_with("application/json"), "{head}");
    }
    let length: usize = header("content-length")
        .expect("a content-length")
        .parse()
        .unwrap();
    let body = &raw[end + 4..];
    assert_eq!(body.len(), length, "one answer, whole");
    Answer {
        status,
        body: serde_json::from_slice(body).unwrap_or_default(),
    }
}

/// Reads one answer of a kept-alive connection.
async fn read_answer(stream: &mut TcpStream) -> Answer {
    let mut raw = Vec::new();
    tokio::time::timeout(GUARD, async {
        let mut byte = [0u8; 1];
        while !raw.ends_with(b"\r\n\r\n") {
            assert_eq!(stream.read(&mut byte).await.expect("no reset"), 1);
            raw.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&raw).to_ascii_lowercase();
        let length: usize = head
            .split("\r\n")
            .find_map(|l| l.strip_prefix("content-length:"))
            .map_or(0, |v| v.trim().parse().unwrap());
        let mut body = vec![0u8; length];
        stream.read_exact(&mut body).await.expect("the body");
        raw.extend_from_slice(&body);
    })
    .await
    .expect("an answer in time");
    parse_answer(&raw)
}

/// Sends `request` on a new connection, then reads until the gateway closes
/// it. A reset fails: the answer must reach the client whole.
async fn refused(gateway: &Gateway, request: &[u8]) -> Answer {
    let address = gateway.base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(GUARD, async {
        stream.write_all(request).await.expect("the request sent");
        stream.read_to_end(&mut raw).await.expect("no reset");
    })
    .await
    .expect("closed in time");
    parse_answer(&raw)
}

#[tokio::test]
async fn heads_hyper_cannot_take_are_refused_in_the_error_shape() {
    let dir = crate::support::test_dir();
    let gateway = Gateway::start(dir.path()).await;
    let long_uri = format!("GET /v1/incidents?q={} HTTP/1.1", "a".repeat(100_000));
    // The megabyte is sent whole before the answer is read: the gateway reads
    // and drops it rather than reset the connection under its answer.
    let big_header = format!("GET /healthz HTTP/1.1\r\nX-Big: {}", "a".repeat(1_000_000));
    let cases = [
        (
            "POST /v1/reports HTTP/1.1\r\nContent-Length: -1",
            400,
            "malformed_request",
            Some("Content-Length"),
        ),
        (
            "GET /healthz HTTP/1.1\r\nX-Probe: a\x01b",
            400,
            "malformed_request",
            Some("X-Probe"),
        ),
        (&long_uri, 414, "uri_too_long", None),
        (&big_header, 431, "headers_too_large", None),
    ];
    for (head, status, code, field) in cases {
        let request = format!("{head}\r\nHost: x\r\n\r\n");
        let answer = refused(&gateway, request.as_bytes()).await;
        assert_eq!(answer.error(status, code).as_deref(), field, "{code}");
    }
    gateway.stop().await;
}

#[tokio::test]
async fn a_kept_alive_connection_has_each_head_checked_after_the_bodies_before_it() {
    let dir = crate::support::test_dir();
    let gateway = Gateway::start(dir.path()).await;
    let address = gateway.base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).await.unwrap();

    // A body is skipped by its length, whatever it holds, even when it is
    // answered before it is read.
    let body = b"\x01\r\nX-Probe: \x01\r\n\r\n";
    let post = format!(
        "POST /v1/reports HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream
        .write_all(&[post.as_bytes(), body].concat())
        .await
        .unwrap();
    read_answer(&mut stream).await.error(401, "unauthorized");

    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(read_answer(&mut stream).await.status, 200);

    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 1.5\r\n\r\n")
        .await
        .unwrap();
    let answer = read_answer(&mut stream).await;
    assert_eq!(
        answer.error(400, "malformed_request").as_deref(),
        Some("Content-Length")
    );
    let mut rest = Vec::new();
    tokio::time::timeout(GUARD, stream.read_to_end(&mut rest))
        .await
        .expect("closed in time")
        .expect("no reset");
    assert!(rest.is_empty(), "nothing after the refusal");

    gateway.stop().await;
}

#[tokio::test]
async fn extractor_rejections_are_in_the_error_shape() {
    let dir = crate::support::test_dir();
    let gateway = Gateway::start(dir.path()).await;
    for (token, path) in [
        (&gateway.staff, "/v1/incidents/%ff"),
        (&gateway.staff, "/v1/incidents/%ff/notices/%fe"),
        (&gateway.admin, "/v1/admin/clients/%ff"),
    ] {
        Answer::from(send(&gateway, "GET", path, token, "").await).error(400, "bad_request");
    }
    gateway.stop().await;
}

/// A report body with `dpc_adjustment` written as `number`, verbatim.
fn report_with_dpc_adjustment(number: &str) -> String {
    let mut report = fixture("report-lms.json");
    report["severity_inputs"] = json!({"dpc_adjustment": "NUMBER"});
    report.to_string().replace("\"NUMBER\"", number)
}

async fn post_raw(gateway: &Gateway, path: &str, token: &str, body: String) -> Answer {
    Answer::from(send(gateway, "POST", path, token, body).await)
}

#[tokio::test]
async fn numbers_the_schema_takes_but_the_field_does_not_are_named_by_pointer() {
    let dir = crate::support::test_dir();
    let gateway = Gateway::start(dir.path()).await;
    let pointer = Some("/severity_inputs/dpc_adjustment".to_owned());
    for number in ["1.0", "-0", "-1e0"] {
        let body = report_with_dpc_adjustment(number);
        let answer = post_raw(&gateway, "/v1/reports", &gateway.staff, body).await;
        assert_eq!(answer.error(422, "invalid_report"), pointer, "{number}");
    }

    // The same through a follow-up, and the acknowledgement's note.
    let (status, filed) = gateway
        .post_report(&gateway.staff, &fixture("report-lms.json"))
        .await;
    assert_eq!(status, 201, "{filed}");
    let incident_id = filed["incident_id"].as_str().unwrap();
    let update = r#"{"severity_inputs": {"dpc_adjustment": 1.0}}"#.to_owned();
    let path = format!("/v1/incidents/{incident_id}/updates");
    let answer = post_raw(&gateway, &path, &gateway.staff, update).await;
    assert_eq!(answer.error(422, "invalid_report"), pointer);

    let notice_id = support::client_outcome(&filed, "formavenir")["notice_id"]
        .as_str()
        .unwrap();
    let client = gateway.client_token("formavenir").await;
    let path = format!("/v1/client/notices/{notice_id}/ack");
    let answer = post_raw(&gateway, &path, &client, r#"{"note": 5}"#.to_owned()).await;
    assert_eq!(
        answer.error(422, "invalid_acknowledgement").as_deref(),
        Some("/note")
    );
    gateway.stop().await;
}
