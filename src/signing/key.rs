use std::io::Write;
use std::path::Path;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use ed25519_dalek::{Signature, Signer as _, SigningKey};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read signing key {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot write signing key {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("signing key {path} is not a PKCS#8 PEM Ed25519 private key")]
    Format { path: String },
    #[error("signing key {0} already exists; refusing to overwrite it")]
    Exists(String),
}

/// The processor's signing key and its key id (the RFC 7638 JWK thumbprint).
pub struct Signer {
    key: SigningKey,
    kid: String,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("kid", &self.kid)
            .field("key", &"***")
            .finish()
    }
}

impl Signer {
    pub fn generate() -> Self {
        Self::from_key(SigningKey::generate(&mut rand::rngs::OsRng))
    }

    fn from_key(key: SigningKey) -> Self {
        let x = URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes());
        // RFC 7638: the required members in lexicographic order, no spaces.
        let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
        let kid = URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()));
        Self { key, kid }
    }

    pub fn load(path: &Path) -> Result<Self, KeyError> {
        let shown = path.display().to_string();
        let pem = std::fs::read_to_string(path).map_err(|source| KeyError::Read {
            path: shown.clone(),
            source,
        })?;
        SigningKey::from_pkcs8_pem(&pem)
            .map(Self::from_key)
            .map_err(|_| KeyError::Format { path: shown })
    }

    /// Loads the key, or generates one when the file does not exist yet.
    /// Returns whether it was generated.
    pub fn load_or_generate(path: &Path) -> Result<(Self, bool), KeyError> {
        if path.exists() {
            return Self::load(path).map(|s| (s, false));
        }
        let signer = Self::generate();
        signer.write_new(path)?;
        Ok((signer, true))
    }

    /// Writes the private key as PKCS#8 PEM, readable only by its owner.
    pub fn write_new(&self, path: &Path) -> Result<(), KeyError> {
        let shown = path.display().to_string();
        let error = |source| KeyError::Write {
            path: shown.clone(),
            source,
        };
        if path.exists() {
            return Err(KeyError::Exists(shown));
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(error)?;
        }
        let pem = self
            .key
            .to_pkcs8_pem(Default::default())
            .map_err(|e| error(std::io::Error::other(e.to_string())))?;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(path).map_err(error)?;
        file.write_all(pem.as_bytes()).map_err(error)?;
        file.sync_all().map_err(error)
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// A raw Ed25519 signature, as used by Standard Webhooks `v1a`.
    pub fn sign_raw(&self, message: &[u8]) -> Signature {
        self.key.sign(message)
    }

    pub fn public_key_bytes(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    /// The detached compact JWS over `payload`: `header..signature`.
    pub fn sign_detached(&self, payload: &[u8]) -> String {
        let header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"EdDSA","kid":"{}"}}"#, self.kid));
        let body = URL_SAFE_NO_PAD.encode(payload);
        let signature = self.key.sign(format!("{header}.{body}").as_bytes());
        format!("{header}..{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
    }

    pub fn public_jwk(&self) -> Value {
        json!({
            "kty": "OKP",
            "crv": "Ed25519",
            "x": URL_SAFE_NO_PAD.encode(self.public_key_bytes()),
            "kid": self.kid,
            "alg": "EdDSA",
            "use": "sig",
        })
    }

    pub fn jwks(&self) -> Value {
        json!({ "keys": [self.public_jwk()] })
    }
}
