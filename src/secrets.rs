//! Secrets at rest: webhook secrets the admin API generates and an encrypted
//! SMTP password are sealed with ChaCha20-Poly1305 under the gateway's
//! secrets key, as `enc:v1:<key id>:<base64url(nonce || ciphertext)>`. The
//! key id says which key sealed a value, so a value sealed under another key
//! is named as such instead of failing as corrupt.

use std::fmt;
use std::io::Write;
use std::path::Path;

use anyhow::Context;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use rand::RngCore;
use sha2::{Digest, Sha256};

const PREFIX: &str = "enc:v1:";
const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 12;
/// Random bytes in a generated `whsec_` secret (Standard Webhooks asks for 24 to 64).
const WEBHOOK_SECRET_BYTES: usize = 32;

/// What a configuration value (the SMTP password) is sealed for; the
/// associated data binds a sealed value to its use, so it cannot be moved to another.
pub const CONFIG_CONTEXT: &str = "config";

/// The associated data of a stored webhook secret.
pub fn webhook_context(client_id: &str, webhook_id: &str) -> String {
    format!("webhook-secret {client_id}/{webhook_id}")
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretsError {
    #[error("the secrets key must be the base64 of {KEY_LEN} bytes")]
    BadKey,
    #[error("not an {PREFIX}<key id>:<data> value")]
    Malformed,
    #[error("sealed with secrets key {found}, but the configured key is {expected}")]
    OtherKey { found: String, expected: String },
    #[error("cannot be decrypted: altered, or sealed for another use")]
    Tampered,
}

/// The key that seals secrets at rest; `Debug` shows only its id.
pub struct SecretsKey {
    cipher: ChaCha20Poly1305,
    id: String,
}

impl fmt::Debug for SecretsKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretsKey({}, ***)", self.id)
    }
}

impl SecretsKey {
    pub fn from_base64(text: &str) -> Result<Self, SecretsError> {
        let bytes = STANDARD
            .decode(text.trim())
            .map_err(|_| SecretsError::BadKey)?;
        if bytes.len() != KEY_LEN {
            return Err(SecretsError::BadKey);
        }
        let cipher = ChaCha20Poly1305::new_from_slice(&bytes).map_err(|_| SecretsError::BadKey)?;
        Ok(Self {
            cipher,
            id: hex::encode(&Sha256::digest(&bytes)[..4]),
        })
    }

    /// The configured key (base64) if there is one, else the key in `file`,
    /// generated there (mode 0600) on first use. True when it was generated.
    pub fn load_or_generate(configured: &str, file: &Path) -> anyhow::Result<(Self, bool)> {
        if !configured.trim().is_empty() {
            let key = Self::from_base64(configured).context("secrets.key")?;
            return Ok((key, false));
        }
        match std::fs::read_to_string(file) {
            Ok(text) => {
                let key = Self::from_base64(&text)
                    .with_context(|| format!("secrets key file {}", file.display()))?;
                Ok((key, false))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut bytes = [0u8; KEY_LEN];
                rand::rngs::OsRng.fill_bytes(&mut bytes);
                let text = STANDARD.encode(bytes);
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
                let mut out = options
                    .open(file)
                    .with_context(|| format!("cannot create {}", file.display()))?;
                writeln!(out, "{text}")?;
                Ok((Self::from_base64(&text)?, true))
            }
            Err(e) => Err(e).with_context(|| format!("cannot read {}", file.display())),
        }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// Encrypts `plaintext` for `context` under a fresh random nonce.
    pub fn seal(&self, plaintext: &[u8], context: &str) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let payload = Payload {
            msg: plaintext,
            aad: context.as_bytes(),
        };
        let ciphertext = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), payload)
            .expect("ChaCha20-Poly1305 encrypts any message of this size");
        let mut data = nonce.to_vec();
        data.extend_from_slice(&ciphertext);
        format!("{PREFIX}{}:{}", self.id, URL_SAFE_NO_PAD.encode(data))
    }

    /// Decrypts a value [`SecretsKey::seal`] made for `context`.
    pub fn open(&self, sealed: &str, context: &str) -> Result<Vec<u8>, SecretsError> {
        let (key_id, data) = sealed
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split_once(':'))
            .ok_or(SecretsError::Malformed)?;
        if key_id != self.id {
            return Err(SecretsError::OtherKey {
                found: key_id.to_owned(),
                expected: self.id.clone(),
            });
        }
        let data = URL_SAFE_NO_PAD
            .decode(data)
            .map_err(|_| SecretsError::Malformed)?;
        if data.len() < NONCE_LEN {
            return Err(SecretsError::Malformed);
        }
        let (nonce, ciphertext) = data.split_at(NONCE_LEN);
        let payload = Payload {
            msg: ciphertext,
            aad: context.as_bytes(),
        };
        self.cipher
            .decrypt(Nonce::from_slice(nonce), payload)
            .map_err(|_| SecretsError::Tampered)
    }

    /// A configuration value as given, or decrypted when it is sealed.
    pub fn open_config_value(&self, value: &str) -> Result<String, SecretsError> {
        if !is_sealed(value) {
            return Ok(value.to_owned());
        }
        let plain = self.open(value, CONFIG_CONTEXT)?;
        String::from_utf8(plain).map_err(|_| SecretsError::Tampered)
    }
}

pub fn is_sealed(value: &str) -> bool {
    value.starts_with(PREFIX)
}

/// A secret to be shown once, in the answer that created it; `Debug` prints `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct RevealedSecret(String);

impl RevealedSecret {
    /// A new `whsec_` webhook secret from the operating system's random source.
    pub fn new_webhook_secret() -> Self {
        let mut bytes = [0u8; WEBHOOK_SECRET_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(format!("whsec_{}", STANDARD.encode(bytes)))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for RevealedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RevealedSecret(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SecretsKey {
        SecretsKey::from_base64(&STANDARD.encode([7u8; KEY_LEN])).unwrap()
    }

    #[test]
    fn seals_and_opens_with_a_fresh_nonce_each_time() {
        let key = key();
        let first = key.seal(b"hunter2", "ctx");
        let second = key.seal(b"hunter2", "ctx");
        assert_ne!(first, second);
        assert!(first.starts_with(&format!("enc:v1:{}:", key.id())));
        assert!(!first.contains("hunter2"));
        assert_eq!(key.open(&first, "ctx").unwrap(), b"hunter2");
        assert_eq!(key.open(&second, "ctx").unwrap(), b"hunter2");
    }

    #[test]
    fn another_context_another_key_or_an_altered_value_is_refused() {
        let key = key();
        let sealed = key.seal(b"hunter2", "ctx");
        assert_eq!(key.open(&sealed, "other"), Err(SecretsError::Tampered));
        let other = SecretsKey::from_base64(&STANDARD.encode([8u8; KEY_LEN])).unwrap();
        assert!(matches!(
            other.open(&sealed, "ctx"),
            Err(SecretsError::OtherKey { .. })
        ));
        // One bit of the ciphertext flipped, the encoding kept valid.
        let (head, data) = sealed.rsplit_once(':').unwrap();
        let mut data = URL_SAFE_NO_PAD.decode(data).unwrap();
        data[NONCE_LEN] ^= 1;
        let altered = format!("{head}:{}", URL_SAFE_NO_PAD.encode(data));
        assert_eq!(key.open(&altered, "ctx"), Err(SecretsError::Tampered));
        assert_eq!(key.open("whsec_x", "ctx"), Err(SecretsError::Malformed));
    }

    #[test]
    fn a_key_must_be_32_bytes_of_base64() {
        assert_eq!(
            SecretsKey::from_base64("c2hvcnQ=").unwrap_err(),
            SecretsError::BadKey
        );
        assert_eq!(
            SecretsKey::from_base64("not base64!").unwrap_err(),
            SecretsError::BadKey
        );
    }

    #[test]
    fn a_missing_key_file_is_generated_once_and_private() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("secrets.key");
        let (first, generated) = SecretsKey::load_or_generate("", &file).unwrap();
        assert!(generated);
        let (again, generated) = SecretsKey::load_or_generate("", &file).unwrap();
        assert!(!generated);
        assert_eq!(first.id(), again.id());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&file).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn config_values_are_used_as_given_unless_sealed() {
        let key = key();
        assert_eq!(key.open_config_value("plain").unwrap(), "plain");
        let sealed = key.seal(b"smtp-pass", CONFIG_CONTEXT);
        assert_eq!(key.open_config_value(&sealed).unwrap(), "smtp-pass");
    }

    #[test]
    fn debug_never_shows_a_secret() {
        let secret = RevealedSecret::new_webhook_secret();
        assert!(secret.expose().starts_with("whsec_"));
        assert_eq!(format!("{secret:?}"), "RevealedSecret(***)");
        let key = key();
        assert_eq!(format!("{key:?}"), format!("SecretsKey({}, ***)", key.id()));
    }
}
