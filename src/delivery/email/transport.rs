//! Where rendered emails go: `.eml` files (the embedded default, so a fresh
//! install never mails anyone) or an SMTP relay over rustls, pooled.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::extension::ClientId;
use lettre::transport::smtp::PoolConfig;
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::Deserialize;

use super::{headers, EmailError};

/// The `[email]` defaults to merge into the embedded configuration.

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TransportKind {
    File,
    Smtp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum TlsMode {
    /// Plain connection upgraded with STARTTLS; refused if the server does
    /// not offer it, so nothing is ever sent in clear by accident.
    #[serde(rename = "starttls")]
    StartTls,
    /// TLS from the first byte (SMTPS).
    #[serde(rename = "tls")]
    Tls,
    /// No encryption, for a local relay only.
    #[serde(rename = "none")]
    None,
}

/// A password that never shows up in `Debug` output or logs.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    pub transport: TransportKind,
    pub from: String,
    pub message_id_domain: String,
    /// For the file transport; created when missing.
    pub file_dir: PathBuf,
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    pub username: String,
    #[serde(default)]
    pub password: Option<Secret>,
    pub pool_size: u32,
    /// Bounds the TCP connect and, separately, the whole SMTP exchange of
    /// one message (waiting for a pooled connection included).
    pub timeout_seconds: u64,
}

impl EmailConfig {
    /// Every problem at once, so an operator fixes the file in one go.
    pub fn check(&self) -> Result<(), EmailError> {
        let mut problems = Vec::new();
        if let Err(e) = headers::mailbox("from", &self.from) {
            problems.push(format!("email.from: {e}"));
        }
        if headers::domain("message_id_domain", &self.message_id_domain).is_err() {
            problems.push("email.message_id_domain must be a host name".to_owned());
        }
        match self.transport {
            TransportKind::File => {
                if self.file_dir.as_os_str().is_empty() {
                    problems.push("email.file_dir must not be empty".to_owned());
                }
            }
            TransportKind::Smtp => {
                if headers::domain("host", &self.host).is_err() {
                    problems.push("email.host must be a host name or IPv4 address".to_owned());
                }
                if self.port == 0 {
                    problems.push("email.port must not be 0".to_owned());
                }
                if self.pool_size == 0 {
                    problems.push("email.pool_size must be at least 1".to_owned());
                }
                if self.timeout_seconds == 0 {
                    problems.push("email.timeout_seconds must be at least 1".to_owned());
                }
                if self.password().is_some() && self.username.is_empty() {
                    problems.push("email.username is required with a password".to_owned());
                }
                if self.password().is_some() && self.tls == TlsMode::None {
                    // lettre would send AUTH PLAIN over the open connection.
                    problems.push("email.password needs tls = \"starttls\" or \"tls\"".to_owned());
                }
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(EmailError::Config(problems.join("; ")))
        }
    }

    /// How long one message's attempt can take before it fails: the bound
    /// on the SMTP exchange. The file transport writes locally, unbounded.
    pub fn attempt_timeout(&self) -> Option<Duration> {
        match self.transport {
            TransportKind::Smtp => Some(Duration::from_secs(self.timeout_seconds)),
            TransportKind::File => None,
        }
    }

    /// An empty environment variable means no password, not an empty one.
    fn password(&self) -> Option<&Secret> {
        self.password.as_ref().filter(|p| !p.expose().is_empty())
    }
}

/// Why a send failed, and whether trying again can help: SMTP 5xx replies
/// are permanent; 4xx replies, timeouts, refused connections and file
/// system errors are transient and go back to the retry schedule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SendError {
    pub permanent: bool,
    /// The error and its causes, as the server or system reported them; the
    /// attempt log stores it. Never holds the password: lettre does not echo
    /// credentials and servers do not return them.
    pub message: String,
}

/// Long enough for a multi-line SMTP reply, short enough for an attempt row.
const MAX_MESSAGE_CHARS: usize = 1000;

impl SendError {
    fn new(permanent: bool, error: &(dyn std::error::Error + 'static)) -> Self {
        // lettre's Display already includes the first cause; add deeper ones
        // it would otherwise hide (the io::Error behind a connection error).
        let mut message = error.to_string();
        let mut source = error.source();
        while let Some(cause) = source {
            let text = cause.to_string();
            if !message.contains(&text) {
                message.push_str(": ");
                message.push_str(&text);
            }
            source = cause.source();
        }
        if let Some((cut, _)) = message.char_indices().nth(MAX_MESSAGE_CHARS) {
            message.truncate(cut);
            message.push('…');
        }
        Self { permanent, message }
    }
}

/// A configured mail transport; cheap to clone (the SMTP pool is shared).
#[derive(Clone)]
pub enum MailTransport {
    File(AsyncFileTransport<Tokio1Executor>),
    Smtp {
        transport: AsyncSmtpTransport<Tokio1Executor>,
        /// For the whole exchange: lettre's own timeout only covers the TCP
        /// connect on Tokio, and a relay that stops answering mid-session
        /// must not hold a delivery worker forever.
        timeout: Duration,
    },
}

impl fmt::Debug for MailTransport {
    // Written by hand so the SMTP settings (and their credentials) are never
    // formatted into a log line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(_) => f.write_str("MailTransport::File"),
            Self::Smtp { .. } => f.write_str("MailTransport::Smtp"),
        }
    }
}

impl MailTransport {
    /// Checks `config` and sets the transport up; the SMTP one must be
    /// created inside the Tokio runtime that will use it.
    pub fn new(config: &EmailConfig) -> Result<Self, EmailError> {
        config.check()?;
        match config.transport {
            TransportKind::File => {
                std::fs::create_dir_all(&config.file_dir).map_err(|source| {
                    EmailError::MailDir {
                        path: config.file_dir.clone(),
                        source,
                    }
                })?;
                Ok(Self::File(AsyncFileTransport::new(&config.file_dir)))
            }
            TransportKind::Smtp => Self::smtp(config),
        }
    }

    fn smtp(config: &EmailConfig) -> Result<Self, EmailError> {
        // The pool spawns its idle-connection reaper on the current runtime
        // and lettre panics without one; say so instead.
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(EmailError::NoRuntime);
        }
        let host = config.host.as_str();
        let setup = |source| EmailError::SmtpSetup {
            host: host.to_owned(),
            source,
        };
        let builder = match config.tls {
            TlsMode::StartTls => {
                AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host).map_err(setup)?
            }
            TlsMode::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(host).map_err(setup)?,
            TlsMode::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host),
        };
        let mut builder = builder
            .port(config.port)
            // Our own domain in EHLO rather than the container's host name,
            // which relays tend to reject as not fully qualified.
            .hello_name(ClientId::Domain(config.message_id_domain.clone()))
            .timeout(Some(Duration::from_secs(config.timeout_seconds)))
            .pool_config(PoolConfig::new().max_size(config.pool_size));
        if let Some(password) = config.password() {
            builder = builder.credentials(Credentials::new(
                config.username.clone(),
                password.expose().to_owned(),
            ));
        }
        Ok(Self::Smtp {
            transport: builder.build(),
            timeout: Duration::from_secs(config.timeout_seconds),
        })
    }

    /// Sends (or writes) one message to the recipients in its envelope.
    pub async fn send(&self, message: &Message) -> Result<(), SendError> {
        let envelope = message.envelope();
        let bytes = message.formatted();
        match self {
            Self::File(transport) => transport
                .send_raw(envelope, &bytes)
                .await
                .map(drop)
                .map_err(|e| SendError::new(false, &e)),
            Self::Smtp { transport, timeout } => {
                match tokio::time::timeout(*timeout, transport.send_raw(envelope, &bytes)).await {
                    Ok(sent) => sent
                        .map(drop)
                        .map_err(|e| SendError::new(e.is_permanent(), &e)),
                    Err(_) => Err(SendError {
                        permanent: false,
                        message: format!(
                            "the SMTP exchange did not finish within {} s",
                            timeout.as_secs()
                        ),
                    }),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The embedded defaults, with the file transport's directory resolved.
    fn defaults() -> EmailConfig {
        crate::config::Config::load(None)
            .expect("defaults load")
            .email_config()
    }

    #[test]
    fn defaults_parse_and_pass_the_check() {
        let config = defaults();
        assert_eq!(config.transport, TransportKind::File);
        assert_eq!(config.tls, TlsMode::StartTls);
        assert!(config.password.is_none());
        config.check().expect("defaults are valid");
        // The SMTP half of the defaults is valid too, once chosen.
        let smtp = EmailConfig {
            transport: TransportKind::Smtp,
            ..config
        };
        smtp.check().expect("smtp defaults are valid");
    }

    #[tokio::test]
    async fn secrets_never_print() {
        let config = EmailConfig {
            transport: TransportKind::Smtp,
            username: "mailer".into(),
            password: Some(Secret::new("hunter2-very-secret")),
            ..defaults()
        };
        let printed = format!("{config:?}");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(printed.contains("***"));
        let transport = MailTransport::new(&config).expect("smtp transport");
        assert!(!format!("{transport:?}").contains("hunter2"));
    }

    #[test]
    fn smtp_needs_a_runtime_and_says_so() {
        let config = EmailConfig {
            transport: TransportKind::Smtp,
            ..defaults()
        };
        assert!(matches!(
            MailTransport::new(&config),
            Err(EmailError::NoRuntime)
        ));
    }

    #[test]
    fn check_lists_every_problem() {
        let config = EmailConfig {
            transport: TransportKind::Smtp,
            from: "not an address".into(),
            host: "relay.example\r\nRCPT".into(),
            port: 0,
            tls: TlsMode::None,
            password: Some(Secret::new("s3cr3t-pw")),
            pool_size: 0,
            ..defaults()
        };
        let Err(EmailError::Config(problems)) = config.check() else {
            panic!("expected a config error");
        };
        for field in ["from", "host", "port", "pool_size", "username", "password"] {
            assert!(
                problems.contains(&format!("email.{field}")),
                "{field}: {problems}"
            );
        }
        assert!(!problems.contains("s3cr3t"), "{problems}");
    }

    #[test]
    fn an_empty_password_is_no_password() {
        let config = EmailConfig {
            transport: TransportKind::Smtp,
            tls: TlsMode::None,
            password: Some(Secret::new("")),
            ..defaults()
        };
        config.check().expect("empty password is ignored");
    }
}
