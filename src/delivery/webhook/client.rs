//! The HTTP side of a webhook delivery: one POST, classified into an
//! [`Outcome`] the retry policy can act on. Retries, logging and endpoint
//! state belong to the delivery worker, not here.

use std::error::Error as StdError;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{
    HeaderMap, HeaderName, HeaderValue, ACCEPT, CONTENT_TYPE, RETRY_AFTER, USER_AGENT,
};
use hyper::{Method, Request, Response, StatusCode, Uri};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tokio::time::timeout_at;
use url::{Host, Url};

use super::target::{IpNet, RefusedAddress, TargetPolicy, VettingResolver};

/// How much of a response body an attempt keeps for the delivery log.
const EXCERPT_LIMIT: usize = 1024;

/// Timeouts and the private networks a [`WebhookClient`] may reach.
#[derive(Debug, Clone)]
pub struct WebhookClientConfig {
    /// Time to resolve, connect and finish the TLS handshake.
    pub connect_timeout: Duration,
    /// Time for the whole exchange, from resolving to reading the response excerpt.
    pub total_timeout: Duration,
    /// Loopback, private or link-local networks that may be targeted anyway
    /// (a local test receiver, an internal relay).
    pub allowed_private: Vec<IpNet>,
}

/// One POST to an endpoint: what happened, how long it took, and the start of the reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub outcome: Outcome,
    pub duration: Duration,
    /// The first 1 KiB of the response body, lossy UTF-8; empty without a response.
    pub response_excerpt: String,
}

/// How an attempt ended, in the terms the retry policy needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A 2xx: the receiver has the notice.
    Delivered { status: u16 },
    /// Any other status, 3xx included (redirects are not followed);
    /// `Retry-After` is parsed whatever the status, the policy decides whether to honour it.
    Rejected {
        status: u16,
        retry_after: Option<Duration>,
    },
    /// 410: the receiver asks us to stop; the endpoint should be disabled.
    Gone,
    /// No response: DNS, connect, TLS or I/O error, or the total timeout.
    Failed { reason: String },
    /// Nothing was sent: the URL is unusable or its target is not allowed.
    Refused { reason: String },
}

#[derive(Debug, thiserror::Error)]
pub enum ClientBuildError {
    #[error("cannot build the webhook client's TLS configuration")]
    Tls(#[source] rustls::Error),
}

type Connector = ConnectTimeout<HttpsConnector<HttpConnector<VettingResolver>>>;

/// Posts notices to webhook endpoints; cheap to clone, connections are pooled.
#[derive(Debug, Clone)]
pub struct WebhookClient {
    http: Client<Connector, Full<Bytes>>,
    policy: Arc<TargetPolicy>,
    total_timeout: Duration,
}

impl WebhookClient {
    /// Builds the client: HTTP/1.1, rustls with webpki roots, no redirects, no proxy.
    pub fn new(config: WebhookClientConfig) -> Result<Self, ClientBuildError> {
        let policy = Arc::new(TargetPolicy::new(config.allowed_private));
        // hyper-util's pooled client follows no redirects (a 3xx is the
        // receiver's answer, and following it could lead past the target
        // check) and knows no proxies (a proxy would resolve the host itself,
        // out of the policy's reach). Each attempt is recorded and
        // rescheduled by the delivery worker, so nothing here retries.
        let mut http = HttpConnector::new_with_resolver(VettingResolver::new(Arc::clone(&policy)));
        http.enforce_http(false);
        http.set_nodelay(true);
        // The provider is named rather than left to the process default, which
        // panics if more than one is compiled in.
        let https = HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
            .map_err(ClientBuildError::Tls)?
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let http = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .build(ConnectTimeout {
                inner: https,
                timeout: config.connect_timeout,
            });
        Ok(Self {
            http,
            policy,
            total_timeout: config.total_timeout,
        })
    }

    /// POSTs `body` as `application/json` with `headers` to `url` and classifies the result.
    pub async fn post(
        &self,
        url: &str,
        headers: &[(&'static str, String)],
        body: Bytes,
    ) -> Attempt {
        let started = Instant::now();
        let deadline = tokio::time::Instant::from_std(started) + self.total_timeout;
        let (outcome, response_excerpt) = match self.send(url, headers, body, deadline).await {
            Ok(response) => {
                let outcome = classify(response.status(), response.headers());
                (outcome, read_excerpt(response, deadline).await)
            }
            Err(outcome) => (outcome, String::new()),
        };
        Attempt {
            outcome,
            duration: started.elapsed(),
            response_excerpt,
        }
    }

    /// Sends the request and waits for the response head, or says why there is none.
    async fn send(
        &self,
        url: &str,
        headers: &[(&'static str, String)],
        body: Bytes,
        deadline: tokio::time::Instant,
    ) -> Result<Response<Incoming>, Outcome> {
        let url = self
            .vet_url(url)
            .map_err(|reason| Outcome::Refused { reason })?;
        // The vetted URL's own serialisation, so hyper connects to exactly
        // the host the policy judged (`0x7f.1` is 127.0.0.1 by now).
        let uri: Uri = url.as_str().parse().map_err(|e| Outcome::Refused {
            reason: format!("not a valid URI: {e}"),
        })?;
        let mut request = Request::new(Full::new(body));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = uri;
        let map = request.headers_mut();
        for (name, value) in headers {
            let (Ok(name), Ok(value)) = (HeaderName::try_from(*name), HeaderValue::from_str(value))
            else {
                return Err(Outcome::Failed {
                    reason: format!("header {name:?} is not a valid HTTP header"),
                });
            };
            map.insert(name, value);
        }
        map.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        map.insert(ACCEPT, HeaderValue::from_static("*/*"));
        map.insert(
            USER_AGENT,
            HeaderValue::from_static(concat!("breachgate/", env!("CARGO_PKG_VERSION"))),
        );

        match timeout_at(deadline, self.http.request(request)).await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(error)) => Err(match find_source::<RefusedAddress>(&error) {
                Some(refused) => Outcome::Refused {
                    reason: format!(
                        "{} resolves to {refused}",
                        url.host_str().unwrap_or_default()
                    ),
                },
                None => Outcome::Failed {
                    reason: crate::errors::chain(&error),
                },
            }),
            Err(_) => Err(Outcome::Failed {
                reason: format!("no response within {:?}", self.total_timeout),
            }),
        }
    }

    /// Checks what can be checked before any traffic: the scheme, and an IP
    /// literal host (the connector skips the resolver for those, so the
    /// policy must see them here). Hostnames are vetted as they resolve.
    fn vet_url(&self, raw: &str) -> Result<Url, String> {
        let url = Url::parse(raw).map_err(|e| format!("not a valid URL: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("unsupported scheme {:?}", url.scheme()));
        }
        let literal = match url.host() {
            Some(Host::Ipv4(v4)) => IpAddr::V4(v4),
            Some(Host::Ipv6(v6)) => IpAddr::V6(v6),
            Some(Host::Domain(_)) => return Ok(url),
            None => return Err("URL has no host".into()),
        };
        self.policy
            .check(literal)
            .map_err(|refused| refused.to_string())?;
        Ok(url)
    }
}

/// Bounds resolving, connecting and the TLS handshake together; the inner
/// connectors' own timeouts cover only the TCP connect.
#[derive(Debug, Clone)]
struct ConnectTimeout<C> {
    inner: C,
    timeout: Duration,
}

type BoxError = Box<dyn StdError + Send + Sync>;

impl<C> tower_service::Service<Uri> for ConnectTimeout<C>
where
    C: tower_service::Service<Uri>,
    C::Error: Into<BoxError>,
    C::Future: Send + 'static,
{
    type Response = C::Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<C::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let (connecting, timeout) = (self.inner.call(uri), self.timeout);
        Box::pin(async move {
            match tokio::time::timeout(timeout, connecting).await {
                Ok(connected) => connected.map_err(Into::into),
                Err(_) => Err(format!("no connection within {timeout:?}").into()),
            }
        })
    }
}

fn classify(status: StatusCode, headers: &HeaderMap) -> Outcome {
    if status.is_success() {
        Outcome::Delivered {
            status: status.as_u16(),
        }
    } else if status == StatusCode::GONE {
        Outcome::Gone
    } else {
        let retry_after = headers
            .get(RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| parse_retry_after(value, Utc::now()));
        Outcome::Rejected {
            status: status.as_u16(),
            retry_after,
        }
    }
}

/// `Retry-After` as delay-seconds or an HTTP-date (IMF-fixdate); a date in the past means now.
fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = DateTime::parse_from_rfc2822(value).ok()?;
    Some(
        (date.with_timezone(&Utc) - now)
            .to_std()
            .unwrap_or(Duration::ZERO),
    )
}

/// Reads at most [`EXCERPT_LIMIT`] bytes of the body before the deadline.
/// The status already is the receiver's answer, so a body that fails or
/// stalls only shortens the excerpt.
async fn read_excerpt(response: Response<Incoming>, deadline: tokio::time::Instant) -> String {
    let mut body = response.into_body();
    let mut excerpt = Vec::new();
    while excerpt.len() < EXCERPT_LIMIT {
        let Ok(Some(Ok(frame))) = timeout_at(deadline, body.frame()).await else {
            break;
        };
        // Trailers carry no body bytes.
        let Ok(chunk) = frame.into_data() else {
            continue;
        };
        let room = EXCERPT_LIMIT - excerpt.len();
        excerpt.extend_from_slice(&chunk[..chunk.len().min(room)]);
    }
    String::from_utf8_lossy(&excerpt).into_owned()
}

fn find_source<'a, T: StdError + 'static>(error: &'a (dyn StdError + 'static)) -> Option<&'a T> {
    let mut current = Some(error);
    while let Some(error) = current {
        if let Some(found) = error.downcast_ref::<T>() {
            return Some(found);
        }
        current = error.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use axum::http::HeaderMap as ServerHeaders;
    use axum::routing::post;
    use axum::Router;
    use tokio::net::TcpListener;
    use tokio::sync::mpsc;

    use super::*;

    /// An in-process receiver; `hits` counts every request it sees.
    struct Receiver {
        base: String,
        port: u16,
        hits: Arc<AtomicUsize>,
        received: mpsc::UnboundedReceiver<(ServerHeaders, Bytes)>,
    }

    async fn receiver() -> Receiver {
        let hits = Arc::new(AtomicUsize::new(0));
        let (sender, received) = mpsc::unbounded_channel();
        let router = Router::new()
            .route("/ok", post(|| async { (StatusCode::OK, "thanks") }))
            .route("/big", post(|| async { "é".repeat(3000) }))
            .route(
                "/error",
                post(|| async { StatusCode::INTERNAL_SERVER_ERROR }),
            )
            .route(
                "/moved",
                post(|| async { (StatusCode::MOVED_PERMANENTLY, [("location", "/ok")]) }),
            )
            .route("/gone", post(|| async { StatusCode::GONE }))
            .route(
                "/busy",
                post(|| async { (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "7")]) }),
            )
            .route(
                "/echo",
                post(move |headers: ServerHeaders, body: Bytes| async move {
                    let _ = sender.send((headers, body));
                    StatusCode::NO_CONTENT
                }),
            )
            .layer(axum::middleware::from_fn({
                let hits = Arc::clone(&hits);
                move |request, next: axum::middleware::Next| {
                    hits.fetch_add(1, Ordering::SeqCst);
                    next.run(request)
                }
            }));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("address").port();
        tokio::spawn(async move { axum::serve(listener, router).await });
        Receiver {
            base: format!("http://127.0.0.1:{port}"),
            port,
            hits,
            received,
        }
    }

    fn client(allowed: &[&str]) -> WebhookClient {
        WebhookClient::new(WebhookClientConfig {
            connect_timeout: Duration::from_secs(2),
            total_timeout: Duration::from_secs(5),
            allowed_private: allowed
                .iter()
                .map(|n| n.parse().expect("network"))
                .collect(),
        })
        .expect("client")
    }

    fn local_client() -> WebhookClient {
        client(&["127.0.0.1"])
    }

    async fn post_to(client: &WebhookClient, url: &str) -> Attempt {
        client.post(url, &[], Bytes::from_static(b"{}")).await
    }

    #[tokio::test]
    async fn ok_is_delivered_with_an_excerpt() {
        let server = receiver().await;
        let attempt = post_to(&local_client(), &format!("{}/ok", server.base)).await;
        assert_eq!(attempt.outcome, Outcome::Delivered { status: 200 });
        assert_eq!(attempt.response_excerpt, "thanks");
    }

    #[tokio::test]
    async fn excerpt_stops_at_one_kib() {
        let server = receiver().await;
        let attempt = post_to(&local_client(), &format!("{}/big", server.base)).await;
        assert_eq!(attempt.outcome, Outcome::Delivered { status: 200 });
        // 512 two-byte characters fill the 1 KiB exactly.
        assert_eq!(attempt.response_excerpt, "é".repeat(512));
    }

    #[tokio::test]
    async fn statuses_are_classified() {
        let server = receiver().await;
        let client = local_client();
        let outcome = |path: &'static str| {
            let client = client.clone();
            let url = format!("{}{path}", server.base);
            async move { post_to(&client, &url).await.outcome }
        };
        assert_eq!(
            outcome("/error").await,
            Outcome::Rejected {
                status: 500,
                retry_after: None
            }
        );
        assert_eq!(outcome("/gone").await, Outcome::Gone);
        assert_eq!(
            outcome("/busy").await,
            Outcome::Rejected {
                status: 429,
                retry_after: Some(Duration::from_secs(7))
            }
        );
    }

    #[tokio::test]
    async fn redirects_are_rejected_not_followed() {
        let server = receiver().await;
        let attempt = post_to(&local_client(), &format!("{}/moved", server.base)).await;
        assert_eq!(
            attempt.outcome,
            Outcome::Rejected {
                status: 301,
                retry_after: None
            }
        );
        assert_eq!(server.hits.load(Ordering::SeqCst), 1, "/ok was not visited");
    }

    #[tokio::test]
    async fn headers_and_exact_body_arrive() {
        let mut server = receiver().await;
        let body = Bytes::from_static(b"{\"notice\": \"caf\xc3\xa9\",  \"n\": 1}\n");
        let headers = [
            ("webhook-id", "msg_01J9".to_owned()),
            ("webhook-timestamp", "1614265330".to_owned()),
            ("webhook-signature", "v1,abc= v1a,def=".to_owned()),
        ];
        let attempt = local_client()
            .post(&format!("{}/echo", server.base), &headers, body.clone())
            .await;
        assert_eq!(attempt.outcome, Outcome::Delivered { status: 204 });

        let (seen_headers, seen_body) = server.received.recv().await.expect("a request");
        assert_eq!(seen_body, body);
        assert_eq!(seen_headers["content-type"], "application/json");
        for (name, value) in headers {
            assert_eq!(seen_headers[name], value.as_str());
        }
    }

    #[tokio::test]
    async fn a_silent_server_fails_within_the_total_timeout() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("address").port();
        // Accept and hold connections without ever answering.
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        let client = WebhookClient::new(WebhookClientConfig {
            connect_timeout: Duration::from_secs(1),
            total_timeout: Duration::from_millis(200),
            allowed_private: vec!["127.0.0.1".parse().expect("network")],
        })
        .expect("client");

        let attempt = post_to(&client, &format!("http://127.0.0.1:{port}/")).await;
        assert!(
            matches!(attempt.outcome, Outcome::Failed { .. }),
            "{attempt:?}"
        );
        assert!(attempt.duration >= Duration::from_millis(200));
        assert!(attempt.duration < Duration::from_secs(2), "{attempt:?}");
    }

    #[tokio::test]
    async fn a_closed_port_fails() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("address").port();
        drop(listener);
        let attempt = post_to(&local_client(), &format!("http://127.0.0.1:{port}/")).await;
        assert!(
            matches!(attempt.outcome, Outcome::Failed { .. }),
            "{attempt:?}"
        );
    }

    #[tokio::test]
    async fn a_tls_handshake_failure_fails() {
        // The receiver speaks plain HTTP, so the TLS handshake cannot complete.
        let server = receiver().await;
        let url = format!("https://127.0.0.1:{}/ok", server.port);
        let attempt = post_to(&local_client(), &url).await;
        assert!(
            matches!(attempt.outcome, Outcome::Failed { .. }),
            "{attempt:?}"
        );
        assert_eq!(server.hits.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn loopback_is_refused_unless_allow_listed() {
        let server = receiver().await;
        let url = format!("{}/ok", server.base);

        let attempt = post_to(&client(&[]), &url).await;
        assert!(
            matches!(attempt.outcome, Outcome::Refused { .. }),
            "{attempt:?}"
        );
        assert_eq!(server.hits.load(Ordering::SeqCst), 0);

        let attempt = post_to(&client(&["127.0.0.0/8"]), &url).await;
        assert_eq!(attempt.outcome, Outcome::Delivered { status: 200 });
        assert_eq!(server.hits.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn hostnames_are_vetted_as_they_resolve() {
        let server = receiver().await;
        let url = format!("http://localhost:{}/ok", server.port);

        let attempt = post_to(&client(&[]), &url).await;
        let Outcome::Refused { reason } = attempt.outcome else {
            panic!("localhost must be refused: {attempt:?}");
        };
        assert!(reason.starts_with("localhost resolves to "), "{reason}");
        assert_eq!(server.hits.load(Ordering::SeqCst), 0);

        // localhost may also resolve to ::1, and any refused answer refuses the name.
        let attempt = post_to(&client(&["127.0.0.1", "::1"]), &url).await;
        assert_eq!(attempt.outcome, Outcome::Delivered { status: 200 });
    }

    #[tokio::test]
    async fn internal_literals_are_refused_before_any_traffic() {
        // Nothing listens on these; only a refusal made before connecting can
        // come back at once with Refused rather than Failed after a timeout.
        let client = client(&[]);
        for url in [
            "http://169.254.169.254/latest/meta-data/",
            "http://10.0.0.1/hook",
            "https://[::ffff:127.0.0.1]/hook",
            "http://[fd00:ec2::254]/",
            "http://0x7f.1/hook",
        ] {
            let attempt = post_to(&client, url).await;
            assert!(
                matches!(attempt.outcome, Outcome::Refused { .. }),
                "{url}: {attempt:?}"
            );
            assert!(attempt.duration < Duration::from_secs(1), "{url}");
        }
    }

    #[tokio::test]
    async fn metadata_stays_refused_even_when_its_range_is_allowed() {
        let attempt = post_to(&client(&["169.254.0.0/16"]), "http://169.254.169.254/").await;
        assert!(
            matches!(attempt.outcome, Outcome::Refused { .. }),
            "{attempt:?}"
        );
    }

    #[tokio::test]
    async fn unusable_urls_are_refused() {
        let client = client(&[]);
        for url in ["not a url", "ftp://example.com/hook", "file:///etc/passwd"] {
            let attempt = post_to(&client, url).await;
            assert!(
                matches!(attempt.outcome, Outcome::Refused { .. }),
                "{url}: {attempt:?}"
            );
        }
    }

    #[tokio::test]
    async fn invalid_header_values_are_not_sent() {
        let server = receiver().await;
        let headers = [("webhook-id", "msg\r\nx-injected: 1".to_owned())];
        let attempt = local_client()
            .post(&format!("{}/ok", server.base), &headers, Bytes::new())
            .await;
        assert!(
            matches!(attempt.outcome, Outcome::Failed { .. }),
            "{attempt:?}"
        );
        assert_eq!(server.hits.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn retry_after_takes_seconds_or_an_http_date() {
        let now = DateTime::parse_from_rfc3339("2026-03-01T12:00:00Z")
            .expect("date")
            .with_timezone(&Utc);
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after(" 120 ", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Sun, 01 Mar 2026 12:01:30 GMT", now),
            Some(Duration::from_secs(90))
        );
        assert_eq!(
            parse_retry_after("Sun, 01 Mar 2026 11:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("-5", now), None);
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
