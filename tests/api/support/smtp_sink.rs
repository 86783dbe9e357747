//! An in-process SMTP server for tests. It speaks just enough plain ESMTP
//! (EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT; no TLS, no AUTH) for a
//! real client such as lettre, keeps every message it accepts, and lets a
//! test change its reply to RCPT at any moment, to play a mailbox that is
//! full (452), greylisted (451) or unknown (550).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::task::{JoinHandle, JoinSet};

/// One accepted message, as the client sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMail {
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    /// The DATA with dot-stuffing undone and CRLF line endings kept.
    pub data: Vec<u8>,
}

#[derive(Debug)]
struct State {
    rcpt_reply: (u16, String),
    received: Vec<ReceivedMail>,
    /// Woken at each accepted message, for [`SmtpSink::wait_until`].
    arrived: Arc<Notify>,
}

/// The running sink; it stops, with every open session, when dropped.
pub struct SmtpSink {
    state: Arc<Mutex<State>>,
    server: JoinHandle<()>,
}

impl SmtpSink {
    /// Listens on a free port of 127.0.0.1.
    pub async fn start() -> (SocketAddr, SmtpSink) {
        Self::start_on("127.0.0.1:0").await
    }

    /// Listens on `addr`, e.g. to come back on the port of a sink that was stopped.
    pub async fn start_on(addr: &str) -> (SocketAddr, SmtpSink) {
        let listener = TcpListener::bind(addr).await.expect("bind the SMTP sink");
        let addr = listener.local_addr().expect("sink address");
        let state = Arc::new(Mutex::new(State {
            rcpt_reply: (250, "2.1.5 ok".to_owned()),
            received: Vec::new(),
            arrived: Arc::new(Notify::new()),
        }));
        let shared = Arc::clone(&state);
        let server = tokio::spawn(async move {
            // Sessions live in the set, so aborting the server ends them too.
            let mut sessions = JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                while sessions.try_join_next().is_some() {}
                // Replies go out at once, as a real server's do, not after delayed ACKs.
                let _ = stream.set_nodelay(true);
                sessions.spawn(session(stream, Arc::clone(&shared)));
            }
        });
        (addr, SmtpSink { state, server })
    }

    /// Every message accepted so far, oldest first.
    pub fn received(&self) -> Vec<ReceivedMail> {
        self.state().received.clone()
    }

    /// How many messages were accepted so far.
    pub fn count(&self) -> usize {
        self.state().received.len()
    }

    /// Waits (without polling on a timer) until `done` holds for the messages so far.
    pub async fn wait_until(&self, done: impl Fn(&[ReceivedMail]) -> bool) {
        let arrived = self.state().arrived.clone();
        loop {
            // Registered before the check, so an arrival in between is not missed.
            let next = arrived.notified();
            tokio::pin!(next);
            next.as_mut().enable();
            if done(&self.state().received) {
                return;
            }
            next.await;
        }
    }

    /// The reply to every following RCPT TO, e.g. `(550, "5.1.1 no such user")`.
    /// A 2xx code accepts the recipient.
    pub fn set_rcpt_reply(&self, code: u16, text: &str) {
        self.state().rcpt_reply = (code, text.to_owned());
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().expect("sink state")
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// The address inside `<…>` of a MAIL FROM or RCPT TO line.
fn address(line: &str) -> String {
    line.split_once('<')
        .and_then(|(_, rest)| rest.split_once('>'))
        .map(|(address, _)| address.to_owned())
        .unwrap_or_default()
}

async fn session(stream: TcpStream, state: Arc<Mutex<State>>) {
    // A client hanging up mid-session is normal (lettre aborts after a
    // negative reply); there is nothing to report.
    let _ = converse(stream, state).await;
}

async fn converse(stream: TcpStream, state: Arc<Mutex<State>>) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    write
        .write_all(b"220 sink.test ESMTP test sink\r\n")
        .await?;

    let mut mail_from: Option<String> = None;
    let mut rcpt_to: Vec<String> = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let command = line.trim_end();
        let verb = command
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        let reply = match verb.as_str() {
            "EHLO" => "250-sink.test\r\n250-8BITMIME\r\n250 SMTPUTF8".to_owned(),
            "HELO" => "250 sink.test".to_owned(),
            "MAIL" => {
                mail_from = Some(address(command));
                rcpt_to.clear();
                "250 2.1.0 ok".to_owned()
            }
            "RCPT" if mail_from.is_none() => "503 5.5.1 MAIL first".to_owned(),
            "RCPT" => {
                let (code, text) = state.lock().expect("sink state").rcpt_reply.clone();
                if (200..300).contains(&code) {
                    rcpt_to.push(address(command));
                }
                format!("{code} {text}")
            }
            "DATA" if rcpt_to.is_empty() => "503 5.5.1 no valid recipients".to_owned(),
            "DATA" => {
                write
                    .write_all(b"354 end data with <CR><LF>.<CR><LF>\r\n")
                    .await?;
                let data = read_data(&mut reader).await?;
                let mut state = state.lock().expect("sink state");
                state.received.push(ReceivedMail {
                    mail_from: mail_from.take().unwrap_or_default(),
                    rcpt_to: std::mem::take(&mut rcpt_to),
                    data,
                });
                state.arrived.notify_waiters();
                "250 2.0.0 queued".to_owned()
            }
            "RSET" => {
                mail_from = None;
                rcpt_to.clear();
                "250 2.0.0 ok".to_owned()
            }
            "NOOP" => "250 2.0.0 ok".to_owned(),
            "QUIT" => {
                write.write_all(b"221 2.0.0 bye\r\n").await?;
                return Ok(());
            }
            _ => "502 5.5.2 command not implemented".to_owned(),
        };
        write.write_all(reply.as_bytes()).await?;
        write.write_all(b"\r\n").await?;
    }
}

/// Reads the message up to the lone dot, undoing dot-stuffing (RFC 5321 4.5.2).
async fn read_data<R>(reader: &mut R) -> std::io::Result<Vec<u8>>
where
    R: AsyncBufReadExt + Unpin,
{
    let mut data = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if line == b".\r\n" || line == b".\n" {
            return Ok(data);
        }
        let unstuffed = if line.starts_with(b"..") {
            &line[1..]
        } else {
            &line[..]
        };
        data.extend_from_slice(unstuffed);
    }
}
