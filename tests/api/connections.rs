//! Connections are bounded in number and time: idle connections beyond the
//! file descriptor limit leave the gateway answering others, slow or silent
//! clients are closed after the configured timeouts, and a body declared
//! over the limit is refused before it is sent.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::support::receiver::Receiver;
use crate::support::{
    contracts_for, fixture, repo_path, spawn_serve_with_descriptor_limit, test_config, Gateway,
};

/// How long any single wait on the gateway may take before the test fails
/// rather than hangs; far above every timeout configured here.
const GUARD: Duration = Duration::from_secs(30);

fn address(base: &str) -> SocketAddr {
    base.trim_start_matches("http://").parse().unwrap()
}

/// Reads until the gateway closes the connection (or resets it); answers
/// what it sent.
async fn read_until_closed(stream: &mut TcpStream) -> String {
    let mut received = Vec::new();
    let closed = tokio::time::timeout(GUARD, async {
        let mut chunk = [0u8; 4096];
        while let Ok(n @ 1..) = stream.read(&mut chunk).await {
            received.extend_from_slice(&chunk[..n]);
        }
    })
    .await;
    assert!(closed.is_ok(), "the gateway closed the connection");
    String::from_utf8(received).unwrap()
}

/// Reads one answer head, up to its blank line.
async fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    tokio::time::timeout(GUARD, async {
        while !head.ends_with(b"\r\n\r\n") {
            head.push(stream.read_u8().await.expect("an answer"));
        }
    })
    .await
    .expect("an answer in time");
    String::from_utf8(head).unwrap()
}

/// The status and JSON body of one HTTP/1.1 answer.
fn status_and_body(answer: &str) -> (u16, Value) {
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("an HTTP answer: {answer:?}"));
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

/// Opens `count` connections to `server` from `source` (any port), sending nothing.
async fn idle_connections(source: &str, server: SocketAddr, count: usize) -> Vec<TcpStream> {
    let mut connections = Vec::with_capacity(count);
    for _ in 0..count {
        let socket = TcpSocket::new_v4().unwrap();
        socket.bind(format!("{source}:0").parse().unwrap()).unwrap();
        connections.push(socket.connect(server).await.expect("connects"));
    }
    connections
}

struct Connections {
    open: f64,
    max: f64,
    refused_per_address: f64,
    refused_in_total: f64,
}

/// Whether the gateway has closed (or reset) a connection that sent nothing.
fn is_closed(connection: &TcpStream) -> bool {
    match connection.try_read(&mut [0u8; 1]) {
        Ok(0) => true,
        Ok(_) => panic!("the gateway sent something unasked"),
        Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
    }
}

/// The value of one sample in a Prometheus text exposition.
fn sample(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

/// Retries `holds` until it does, failing the test after [`GUARD`].
async fn until<F, Fut>(what: &str, mut holds: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + GUARD;
    while !holds().await {
        assert!(Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_beyond_the_descriptor_limit_leave_the_gateway_answering() {
    const IDLE: usize = 1_200;
    let ours = breachgate::http::raise_descriptor_limit().unwrap_or(0);
    assert!(
        ours > 2 * IDLE as u64,
        "the test opens {IDLE} connections at a time; its own limit is {ours}"
    );
    let dir = crate::support::test_dir();
    let receiver = Receiver::start().await;
    // Timeouts far longer than the test: only the connection limits act.
    std::fs::write(
        dir.path().join("breachgate.toml"),
        format!(
            r#"[server]
listen = "127.0.0.1:0"
header_timeout_ms = 600000
idle_timeout_ms = 600000
[paths]
data_dir = "{data}"
contracts = "{contracts}"
schemas = "{schemas}"
[log]
filter = "breachgate=info"
[delivery]
allow_private = ["127.0.0.1/32"]
"#,
            data = dir.path().join("data").display(),
            contracts = contracts_for(dir.path(), &receiver.url("hooks")).display(),
            schemas = repo_path("schemas").display(),
        ),
    )
    .unwrap();
    let (mut gateway, base) = spawn_serve_with_descriptor_limit(
        1024,
        &dir.path().join("breachgate.toml"),
        &[],
        &dir.path().join("gateway.log"),
    );
    let server = address(&base);
    let tokens = std::fs::read_to_string(dir.path().join("data/initial-tokens.txt")).unwrap();
    let staff = tokens
        .lines()
        .find_map(|l| l.strip_prefix("staff "))
        .unwrap();
    // A new connection for every request, so no kept-alive one slips past a limit.
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(GUARD)
        .build()
        .unwrap();
    let ready = || async {
        let answer = http.get(format!("{base}/readyz")).send().await;
        answer.is_ok_and(|a| a.status() == 200)
    };
    // Open now, allowed at once, and refused per address and in total.
    let connections = || async {
        let text = http
            .get(format!("{base}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let refused = |limit: &str| {
            sample(
                &text,
                &format!("breachgate_connections_refused_total{{limit=\"{limit}\"}}"),
            )
        };
        Connections {
            open: sample(&text, "breachgate_connections_open"),
            max: sample(&text, "breachgate_connections_max"),
            refused_per_address: refused("per_address"),
            refused_in_total: refused("total"),
        }
    };

    // One client holds 1,200 silent connections: it keeps 256, the rest are
    // closed at once, and everyone else is still served.
    let held = idle_connections("127.0.0.2", server, IDLE).await;
    assert!(ready().await);
    let report = http
        .post(format!("{base}/v1/reports"))
        .bearer_auth(staff)
        .json(&fixture("report-lms.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(report.status(), 201);
    // Connections still in the listen queue are judged after that answer.
    until("all but 256 refused", || async {
        connections().await.refused_per_address == (IDLE - 256) as f64
    })
    .await;
    let after_one_client = connections().await;
    // A quarter of the 1,024 descriptors is kept for the store and deliveries.
    assert_eq!(after_one_client.max, 768.0);
    assert_eq!(after_one_client.refused_in_total, 0.0);
    drop(held);
    // Only the request asking is left open.
    until("the held connections closed", || async {
        connections().await.open == 1.0
    })
    .await;

    // Many clients together reach the total: the 432 beyond it are closed at
    // once (so all have been judged when 432 are), no descriptor runs out,
    // and the gateway answers again once they go.
    let mut crowd = Vec::new();
    for client in 1..=6 {
        crowd.extend(idle_connections(&format!("127.0.1.{client}"), server, IDLE / 6).await);
    }
    let beyond = IDLE - 768;
    until("the connections beyond the total closed", || {
        let closed = crowd.iter().filter(|c| is_closed(c)).count();
        assert!(closed <= beyond, "{closed} closed");
        std::future::ready(closed == beyond)
    })
    .await;
    drop(crowd);
    until("the gateway answers again", ready).await;
    assert_eq!(connections().await.refused_in_total, beyond as f64);

    let stopped = std::process::Command::new("kill")
        .args(["-TERM", &gateway.id().to_string()])
        .status()
        .unwrap();
    assert!(stopped.success());
    assert!(gateway.wait().unwrap().success(), "stops cleanly");
}

#[tokio::test]
async fn slow_silent_and_idle_connections_are_closed_after_their_timeouts() {
    let dir = crate::support::test_dir();
    let mut config = test_config(dir.path(), &repo_path("contracts"));
    config.server.header_timeout_ms = 300;
    config.server.idle_timeout_ms = 600;
    config.server.body_timeout_ms = 400;
    let gateway = Gateway::start_with(config).await;
    let server = address(&gateway.base);
    let at_least = |since: Instant, ms: u64| {
        let elapsed = since.elapsed();
        assert!(elapsed >= Duration::from_millis(ms), "{elapsed:?}");
    };

    // A connection that sends nothing.
    let mut silent = TcpStream::connect(server).await.unwrap();
    let opened = Instant::now();
    assert_eq!(read_until_closed(&mut silent).await, "");
    at_least(opened, 300);

    // Slow loris: a head one byte at a time is closed unanswered, before it
    // could be complete.
    let head = format!(
        "GET /readyz HTTP/1.1\r\nhost: gateway\r\nx-padding: {}\r\n\r\n",
        "a".repeat(200)
    );
    let (mut reading, mut writing) = TcpStream::connect(server).await.unwrap().into_split();
    let opened = Instant::now();
    let trickle = tokio::spawn(async move {
        for byte in head.bytes() {
            if writing.write_all(&[byte]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    let mut answer = Vec::new();
    let closed = tokio::time::timeout(GUARD, reading.read_to_end(&mut answer)).await;
    assert!(closed.is_ok(), "the slow connection is closed");
    assert!(answer.is_empty(), "{}", String::from_utf8_lossy(&answer));
    at_least(opened, 300);
    trickle.abort();

    // A kept-alive connection is answered, then closed when idle for 600 ms.
    let mut kept = TcpStream::connect(server).await.unwrap();
    kept.write_all(b"GET /readyz HTTP/1.1\r\nhost: gateway\r\n\r\n")
        .await
        .unwrap();
    let asked = Instant::now();
    let answer = read_until_closed(&mut kept).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("ready"), "{answer}");
    at_least(asked, 600);

    // A declared body that never arrives in full gets 408 in the error
    // shape, and the connection is closed.
    for sent in ["", "{\"title\": "] {
        let mut stream = TcpStream::connect(server).await.unwrap();
        let request = format!(
            "POST /v1/reports HTTP/1.1\r\nhost: gateway\r\nauthorization: Bearer {}\r\n\
             content-type: application/json\r\ncontent-length: 100\r\n\r\n{sent}",
            gateway.staff
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let asked = Instant::now();
        let answer = read_until_closed(&mut stream).await;
        let (status, body) = status_and_body(&answer);
        assert_eq!(status, 408, "{answer}");
        assert_eq!(body["error"]["code"], "body_timeout", "{answer}");
        at_least(asked, 400);
    }
    gateway.stop().await;
}

#[tokio::test]
async fn a_body_declared_over_the_limit_is_refused_before_it_is_sent() {
    let dir = crate::support::test_dir();
    let mut config = test_config(dir.path(), &repo_path("contracts"));
    // Only an answer that does not wait for the body can come in time.
    config.server.body_timeout_ms = 600_000;
    let gateway = Gateway::start_with(config).await;
    let server = address(&gateway.base);
    let incidents_before = gateway.incident_count().await;
    for length in ["2000000", "1000000000000"] {
        for expect in ["", "expect: 100-continue\r\n"] {
            for (method, path) in [("POST", "/v1/reports"), ("GET", "/readyz")] {
                let mut stream = TcpStream::connect(server).await.unwrap();
                let head = format!(
                    "{method} {path} HTTP/1.1\r\nhost: gateway\r\nauthorization: Bearer {}\r\n\
                     content-type: application/json\r\ncontent-length: {length}\r\n{expect}\r\n",
                    gateway.staff
                );
                stream.write_all(head.as_bytes()).await.unwrap();
                let answer = read_until_closed(&mut stream).await;
                let case = format!("{method} {path}, {length} bytes, {expect:?}");
                assert!(!answer.contains(" 100 Continue"), "{case}: {answer}");
                let (status, body) = status_and_body(&answer);
                assert_eq!(status, 413, "{case}: {answer}");
                assert_eq!(body["error"]["code"], "body_too_large", "{case}");
            }
        }
    }

    // A body within the limit still gets 100 Continue, then its answer.
    let body = serde_json::to_vec(&fixture("report-lms.json")).unwrap();
    let mut stream = TcpStream::connect(server).await.unwrap();
    let head = format!(
        "POST /v1/reports HTTP/1.1\r\nhost: gateway\r\nauthorization: Bearer {}\r\n\
         content-type: application/json\r\ncontent-length: {}\r\nexpect: 100-continue\r\n\
         connection: close\r\n\r\n",
        gateway.staff,
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let continued = read_head(&mut stream).await;
    assert!(
        continued.starts_with("HTTP/1.1 100 Continue"),
        "{continued}"
    );
    stream.write_all(&body).await.unwrap();
    let answer = read_until_closed(&mut stream).await;
    assert_eq!(status_and_body(&answer).0, 201, "{answer}");
    assert_eq!(gateway.incident_count().await, incidents_before + 1);
    gateway.stop().await;
}
