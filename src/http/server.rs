//! The API's accept loop. Every connection is bounded in number and in time,
//! so that silent, slow or idle clients cannot hold the gateway's file
//! descriptors:
//! - at most `server.max_connections` at once (lowered at start to fit the
//!   descriptor limit) and `server.max_connections_per_address` from one
//!   client address; a connection over either limit is accepted and closed
//!   at once, so the listen queue keeps moving and other clients get in;
//! - a request head must be complete within `server.header_timeout_ms` of its
//!   first byte (of the connection opening, for the first request), and a
//!   kept-alive connection may wait `server.idle_timeout_ms` for the next one;
//!   a watchdog beside each connection closes it when its time is up;
//! - each request head is checked as it arrives ([`super::head`]): one that
//!   hyper would answer with a bare status line (or, when it overflows
//!   hyper's buffer, with a reset connection) is refused here in the API's
//!   error shape, and the connection closed.
//!
//! The body timeout is the body extractor's ([`super::body`]), which answers
//! 408 in the API's error shape.

use std::collections::HashMap;
use std::convert::Infallible;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{ready, Context, Poll};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use bytes::Bytes;
use hyper::body::{Body as HttpBody, Frame, Incoming, SizeHint};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use super::head::HeadCheck;
use crate::config::ServerConfig;
use crate::metrics::Metrics;

/// Serves `router` on `listener` until `shutdown`, then stops accepting and
/// waits for the open connections: idle ones close at once, requests in
/// flight are answered first.
pub async fn serve(
    router: Router,
    listener: TcpListener,
    server: &ServerConfig,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) -> io::Result<()> {
    let limits = ConnectionLimits::fitted(server, raise_descriptor_limit());
    if limits.max_connections < server.max_connections {
        tracing::warn!(
            configured = server.max_connections,
            max_connections = limits.max_connections,
            "server.max_connections lowered to fit the file descriptor limit"
        );
    }
    metrics.connections_max.set(limits.max_connections.into());
    let open = Arc::new(OpenConnections::new(&limits, metrics));
    loop {
        let (stream, peer) = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) if is_peer_gone(&e) => continue,
                Err(e) => {
                    // Out of descriptors or memory: give connections time to
                    // close rather than spin on the same error.
                    tracing::error!(error = %e, "cannot accept a connection");
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = tokio::time::sleep(ACCEPT_RETRY) => continue,
                    }
                }
            },
        };
        match open.admit(peer.ip()) {
            Ok(admission) => {
                tokio::spawn(serve_connection(
                    stream,
                    peer,
                    admission,
                    router.clone(),
                    limits.timeouts,
                    shutdown.clone(),
                ));
            }
            Err(limit) => {
                tracing::debug!(%peer, limit, "connection refused: limit reached");
                drop(stream);
            }
        }
    }
    drop(listener);
    open.all_closed().await;
    Ok(())
}

/// Raises the soft limit on open file descriptors to the hard limit where the
/// system allows, and answers the soft limit then in force (`None` where it
/// cannot be read).
pub fn raise_descriptor_limit() -> Option<u64> {
    let before = match rlimit::getrlimit(rlimit::Resource::NOFILE) {
        Ok((soft, _hard)) => soft,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the file descriptor limit");
            return None;
        }
    };
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(now) => {
            if now > before {
                tracing::info!(from = before, to = now, "file descriptor limit raised");
            }
            Some(now)
        }
        Err(e) => {
            tracing::warn!(error = %e, limit = before, "cannot raise the file descriptor limit");
            Some(before)
        }
    }
}

/// How long to wait after an accept error other than a vanished peer.
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

/// Descriptors kept from API connections for the rest of the gateway (the
/// database, outgoing deliveries, SMTP, logs): a quarter of the limit, and at
/// least this many.
const DESCRIPTORS_KEPT: u64 = 128;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Timeouts {
    header: Duration,
    idle: Duration,
}

#[derive(Debug, PartialEq, Eq)]
struct ConnectionLimits {
    timeouts: Timeouts,
    max_connections: u32,
    max_connections_per_address: u32,
}

impl ConnectionLimits {
    /// The configured limits, the total lowered where `descriptors` (the
    /// process's limit) would not leave enough for the rest of the gateway.
    fn fitted(server: &ServerConfig, descriptors: Option<u64>) -> Self {
        let room = descriptors.map_or(u64::MAX, |limit| {
            limit
                .saturating_sub((limit / 4).max(DESCRIPTORS_KEPT))
                .max(1)
        });
        let max_connections = server
            .max_connections
            .min(u32::try_from(room).unwrap_or(u32::MAX));
        Self {
            timeouts: Timeouts {
                header: Duration::from_millis(server.header_timeout_ms),
                idle: Duration::from_millis(server.idle_timeout_ms),
            },
            max_connections,
            max_connections_per_address: server.max_connections_per_address.min(max_connections),
        }
    }
}

/// The connections open now, in total and by client address.
struct OpenConnections {
    total: Arc<Semaphore>,
    capacity: u32,
    by_address: Mutex<HashMap<IpAddr, u32>>,
    per_address: u32,
    metrics: Arc<Metrics>,
}

/// An admitted connection's place; dropping it frees the place.
struct Admission {
    open: Arc<OpenConnections>,
    address: IpAddr,
    _place: OwnedSemaphorePermit,
}

impl OpenConnections {
    fn new(limits: &ConnectionLimits, metrics: Arc<Metrics>) -> Self {
        Self {
            total: Arc::new(Semaphore::new(limits.max_connections as usize)),
            capacity: limits.max_connections,
            by_address: Mutex::new(HashMap::new()),
            per_address: limits.max_connections_per_address,
            metrics,
        }
    }

    /// A place for a connection from `address`, or the limit it meets.
    fn admit(self: &Arc<Self>, address: IpAddr) -> Result<Admission, &'static str> {
        let refused = |limit| {
            self.metrics
                .connections_refused
                .with_label_values(&[limit])
                .inc();
            limit
        };
        let place = self
            .total
            .clone()
            .try_acquire_owned()
            .map_err(|_| refused("total"))?;
        let mut by_address = self
            .by_address
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let from_address = by_address.entry(address).or_default();
        if *from_address >= self.per_address {
            return Err(refused("per_address"));
        }
        *from_address += 1;
        self.metrics.connections_open.inc();
        Ok(Admission {
            open: self.clone(),
            address,
            _place: place,
        })
    }

    /// Waits until every admitted connection has closed.
    async fn all_closed(&self) {
        // Every place free again means no admission is left.
        let _ = self.total.acquire_many(self.capacity).await;
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        let mut by_address = self
            .open
            .by_address
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(from_address) = by_address.get_mut(&self.address) {
            *from_address -= 1;
            if *from_address == 0 {
                by_address.remove(&self.address);
            }
        }
        self.open.metrics.connections_open.dec();
    }
}

fn is_peer_gone(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// What a connection is waiting for, and so which timeout runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// The rest of a request head, due by the deadline.
    Head { deadline: Instant },
    /// The first byte of the next request, since the last answer went out.
    Idle { since: Instant },
    /// Nothing: a request is being answered (its body has its own timeout).
    Answering,
}

impl Phase {
    fn deadline(self, timeouts: Timeouts) -> Option<Instant> {
        match self {
            Phase::Head { deadline } => Some(deadline),
            Phase::Idle { since } => Some(since + timeouts.idle),
            Phase::Answering => None,
        }
    }
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    _admission: Admission,
    router: Router,
    timeouts: Timeouts,
    shutdown: CancellationToken,
) {
    let (phase, watched) = watch::channel(Phase::Head {
        deadline: Instant::now() + timeouts.header,
    });
    let phase = Arc::new(phase);
    let requests = Arc::new(AtomicU64::new(0));
    let io = TokioIo::new(WatchedStream {
        stream,
        phase: phase.clone(),
        header_timeout: timeouts.header,
        heads: HeadCheck::new(),
        requests: requests.clone(),
        unflushed: false,
        refusal: None,
    });
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        // The rate limit of callers without a token keys on the peer address.
        request.extensions_mut().insert(ConnectInfo(peer));
        requests.fetch_add(1, Ordering::Relaxed);
        phase.send_replace(Phase::Answering);
        let sent = AnswerSent(phase.clone());
        let router = router.clone();
        async move {
            let response = router.oneshot(request).await?;
            Ok::<_, Infallible>(response.map(|body| UntilSent { body, _sent: sent }))
        }
    });
    let connection = hyper::server::conn::http1::Builder::new()
        // The watchdog keeps time, not hyper.
        .header_read_timeout(None)
        .serve_connection(io, service);
    tokio::pin!(connection);
    let expired = time_is_up(watched, timeouts);
    tokio::pin!(expired);
    let finished = tokio::select! {
        finished = connection.as_mut() => finished,
        () = expired.as_mut() => {
            tracing::debug!(%peer, "connection closed: timed out");
            return;
        }
        () = shutdown.cancelled() => {
            connection.as_mut().graceful_shutdown();
            tokio::select! {
                finished = connection.as_mut() => finished,
                () = expired.as_mut() => return,
            }
        }
    };
    if let Err(e) = finished {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}

/// Resolves once the connection's phase has outlasted its timeout.
async fn time_is_up(mut phase: watch::Receiver<Phase>, timeouts: Timeouts) {
    loop {
        let deadline = phase.borrow_and_update().deadline(timeouts);
        let changed = async {
            if phase.changed().await.is_err() {
                // The connection is gone, and with it any reason to close it.
                std::future::pending::<()>().await;
            }
        };
        match deadline {
            Some(deadline) => tokio::select! {
                () = tokio::time::sleep_until(deadline) => return,
                () = changed => {}
            },
            None => changed.await,
        }
    }
}

/// The socket of a connection, telling its phase when a new request starts
/// arriving, and checking each request head before hyper reads it.
struct WatchedStream {
    stream: TcpStream,
    phase: Arc<watch::Sender<Phase>>,
    header_timeout: Duration,
    heads: HeadCheck,
    /// Requests handed to the router so far.
    requests: Arc<AtomicU64>,
    /// Whether hyper has written since it last flushed.
    unflushed: bool,
    refusal: Option<Refusal>,
}

/// A refused head's answer, written by the socket itself in place of hyper.
enum Refusal {
    Writing {
        answer: Vec<u8>,
        written: usize,
    },
    /// The answer is out and the sending side shut. What the client still
    /// sends is read and dropped until it closes (or the header timeout
    /// closes the connection): closing with unread bytes would reset the
    /// connection, and the client could lose the answer.
    Draining,
}

impl WatchedStream {
    /// Whether every request read so far has been answered in full, so that
    /// an answer written now comes after them.
    fn nothing_owed(&self) -> bool {
        self.heads.heads_seen() == self.requests.load(Ordering::Relaxed)
            && !self.unflushed
            && *self.phase.borrow() != Phase::Answering
    }

    /// Writes the refusal, then drains the connection; ends with an end of
    /// stream for hyper, which has seen no complete head and so writes nothing.
    fn poll_refusal(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut stream = Pin::new(&mut self.stream);
        if let Some(Refusal::Writing { answer, written }) = &mut self.refusal {
            while *written < answer.len() {
                match ready!(stream.as_mut().poll_write(cx, &answer[*written..]))? {
                    0 => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                    n => *written += n,
                }
            }
            ready!(stream.as_mut().poll_shutdown(cx))?;
            self.refusal = Some(Refusal::Draining);
        }
        let mut scratch = [0u8; 8192];
        loop {
            let mut dropped = ReadBuf::new(&mut scratch);
            match ready!(stream.as_mut().poll_read(cx, &mut dropped)) {
                Ok(()) if !dropped.filled().is_empty() => {}
                // Closed or reset: either way, done.
                Ok(()) | Err(_) => return Poll::Ready(Ok(())),
            }
        }
    }
}

impl AsyncRead for WatchedStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.refusal.is_some() {
            return this.poll_refusal(cx);
        }
        let filled = buf.filled().len();
        ready!(Pin::new(&mut this.stream).poll_read(cx, buf))?;
        let read = &buf.filled()[filled..];
        if read.is_empty() {
            return Poll::Ready(Ok(()));
        }
        let header_timeout = this.header_timeout;
        this.phase.send_if_modified(|phase| match phase {
            Phase::Idle { .. } => {
                *phase = Phase::Head {
                    deadline: Instant::now() + header_timeout,
                };
                true
            }
            Phase::Head { .. } | Phase::Answering => false,
        });
        if let Err(refused) = this.heads.feed(read) {
            // With an answer still owed (pipelined requests), hyper judges
            // the head itself once it gets there, in its own words.
            if this.nothing_owed() {
                tracing::debug!(error = ?refused, "request head refused");
                buf.set_filled(filled);
                this.refusal = Some(Refusal::Writing {
                    answer: refused.http1_bytes(),
                    written: 0,
                });
                return this.poll_refusal(cx);
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for WatchedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.unflushed = true;
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.unflushed = true;
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(Pin::new(&mut self.stream).poll_flush(cx))?;
        self.unflushed = false;
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.refusal.is_some() {
            // Shut already, after the refusal.
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// Dropped when hyper has taken the last of an answer's body: the connection
/// is idle from then on.
struct AnswerSent(Arc<watch::Sender<Phase>>);

impl Drop for AnswerSent {
    fn drop(&mut self) {
        self.0.send_replace(Phase::Idle {
            since: Instant::now(),
        });
    }
}

/// An answer's body, holding its [`AnswerSent`] until hyper drops it.
struct UntilSent {
    body: axum::body::Body,
    _sent: AnswerSent,
}

impl HttpBody for UntilSent {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(max_connections: u32, per_address: u32) -> ServerConfig {
        let mut server = crate::Config::load(None).expect("defaults load").server;
        server.max_connections = max_connections;
        server.max_connections_per_address = per_address;
        server
    }

    #[test]
    fn the_total_is_fitted_under_the_descriptor_limit() {
        let fitted = |descriptors| ConnectionLimits::fitted(&server(4096, 256), descriptors);
        assert_eq!(fitted(Some(1024)).max_connections, 768);
        assert_eq!(fitted(Some(1024)).max_connections_per_address, 256);
        assert_eq!(fitted(Some(256)).max_connections, 128);
        assert_eq!(fitted(Some(100)).max_connections, 1);
        assert_eq!(fitted(Some(1 << 20)).max_connections, 4096);
        assert_eq!(fitted(None).max_connections, 4096);
        let small = ConnectionLimits::fitted(&server(4096, 4096), Some(512));
        assert_eq!(small.max_connections_per_address, 384);
    }

    #[test]
    fn places_are_counted_in_total_and_per_address_and_freed_on_drop() {
        let limits = ConnectionLimits::fitted(&server(3, 2), None);
        let metrics = Arc::new(Metrics::new());
        let open = Arc::new(OpenConnections::new(&limits, metrics.clone()));
        let (a, b): (IpAddr, IpAddr) = ("127.0.0.2".parse().unwrap(), "::1".parse().unwrap());
        let first = open.admit(a).unwrap();
        let _second = open.admit(a).unwrap();
        assert_eq!(open.admit(a).err(), Some("per_address"));
        let _third = open.admit(b).unwrap();
        assert_eq!(open.admit(b).err(), Some("total"));
        assert_eq!(metrics.connections_open.get(), 3);
        drop(first);
        assert_eq!(metrics.connections_open.get(), 2);
        let _again = open.admit(a).unwrap();
        let refused = &metrics.connections_refused;
        assert_eq!(refused.with_label_values(&["per_address"]).get(), 1);
        assert_eq!(refused.with_label_values(&["total"]).get(), 1);
    }
}
