//! Standard Webhooks signatures (<https://www.standardwebhooks.com>): `v1` is
//! HMAC-SHA256 under the endpoint's `whsec_` secret, `v1a` is Ed25519 under
//! the processor's key; both sign `{msg_id}.{timestamp}.{body}`.

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::signing::Signer;

const SECRET_PREFIX: &str = "whsec_";
const PUBLIC_KEY_PREFIX: &str = "whpk_";
/// The spec asks for secrets of 24 to 64 bytes.
const SECRET_LEN: std::ops::RangeInclusive<usize> = 24..=64;

/// Secrets come from other systems' generators; accept them the way the
/// reference libraries do (Python's `b64decode`), padded or not.
const LENIENT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretError {
    #[error("webhook secret must start with {SECRET_PREFIX}")]
    MissingPrefix,
    #[error("webhook secret is not valid base64 after {SECRET_PREFIX}")]
    NotBase64,
    #[error("webhook secret is {0} bytes; Standard Webhooks asks for 24 to 64")]
    Length(usize),
}

/// An endpoint's `whsec_` secret, kept only as a keyed HMAC; `Debug` prints `***`.
#[derive(Clone)]
pub struct WebhookSecret {
    // Keyed once here so each signature starts from a clone instead of
    // re-hashing the key.
    keyed: Hmac<Sha256>,
}

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(***)")
    }
}

impl WebhookSecret {
    /// Parses `whsec_<base64>`.
    pub fn parse(text: &str) -> Result<Self, SecretError> {
        let encoded = text
            .trim()
            .strip_prefix(SECRET_PREFIX)
            .ok_or(SecretError::MissingPrefix)?;
        let key = LENIENT_BASE64
            .decode(encoded)
            .map_err(|_| SecretError::NotBase64)?;
        if !SECRET_LEN.contains(&key.len()) {
            return Err(SecretError::Length(key.len()));
        }
        let keyed = Hmac::<Sha256>::new_from_slice(&key).map_err(|_| SecretError::NotBase64)?;
        Ok(Self { keyed })
    }

    /// The raw `v1` HMAC-SHA256 over the signed content.
    fn sign_v1(&self, msg_id: &str, timestamp: &str, body: &[u8]) -> [u8; 32] {
        // Fed in parts so the body is never copied just to be hashed.
        let mut mac = self.keyed.clone();
        mac.update(msg_id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.as_bytes());
        mac.update(b".");
        mac.update(body);
        mac.finalize().into_bytes().into()
    }
}

/// The bytes every Standard Webhooks signature covers: `{msg_id}.{timestamp}.{body}`.
pub fn signed_content(msg_id: &str, timestamp: i64, body: &[u8]) -> Vec<u8> {
    let timestamp = timestamp.to_string();
    let mut content = Vec::with_capacity(msg_id.len() + timestamp.len() + body.len() + 2);
    content.extend_from_slice(msg_id.as_bytes());
    content.push(b'.');
    content.extend_from_slice(timestamp.as_bytes());
    content.push(b'.');
    content.extend_from_slice(body);
    content
}

/// The `webhook-signature` value: `v1,<hmac>` per secret (old and new during a
/// rotation), then `v1a,<ed25519>` when a signer is given.
pub fn signature_header(
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
    secrets: &[WebhookSecret],
    ed25519: Option<&Signer>,
) -> String {
    let ts = timestamp.to_string();
    // "v1," + 44 base64 chars per HMAC, "v1a," + 88 per Ed25519, plus spaces.
    let mut header = String::with_capacity(secrets.len() * 48 + 93);
    for secret in secrets {
        push_signature(&mut header, "v1,", &secret.sign_v1(msg_id, &ts, body));
    }
    if let Some(signer) = ed25519 {
        let signature = signer.sign_raw(&signed_content(msg_id, timestamp, body));
        push_signature(&mut header, "v1a,", &signature.to_bytes());
    }
    header
}

fn push_signature(header: &mut String, version: &str, signature: &[u8]) {
    if !header.is_empty() {
        header.push(' ');
    }
    header.push_str(version);
    STANDARD.encode_string(signature, header);
}

/// The processor's public key in Standard Webhooks form: `whpk_<base64>`.
pub fn public_key_whpk(signer: &Signer) -> String {
    let mut key = String::from(PUBLIC_KEY_PREFIX);
    STANDARD.encode_string(signer.public_key_bytes(), &mut key);
    key
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::{Signature, Verifier, VerifyingKey};

    use super::*;

    // The test vector published with the Standard Webhooks spec.
    const SPEC_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const SPEC_MSG_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const SPEC_TIMESTAMP: i64 = 1614265330;
    const SPEC_BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SPEC_SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    fn secret(text: &str) -> WebhookSecret {
        WebhookSecret::parse(text).expect("valid secret")
    }

    #[test]
    fn v1_matches_the_spec_test_vector() {
        let header = signature_header(
            SPEC_MSG_ID,
            SPEC_TIMESTAMP,
            SPEC_BODY,
            &[secret(SPEC_SECRET)],
            None,
        );
        assert_eq!(header, SPEC_SIGNATURE);
    }

    #[test]
    fn signed_content_joins_id_timestamp_and_body_with_dots() {
        assert_eq!(
            signed_content(SPEC_MSG_ID, SPEC_TIMESTAMP, SPEC_BODY),
            br#"msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330.{"test": 2432232314}"#
        );
    }

    #[test]
    fn rotation_signs_with_every_secret_in_order() {
        let new = secret("whsec_c2Vjb25kLXNlY3JldC1vZi0yNC1ieXRlcw==");
        let header = signature_header(
            SPEC_MSG_ID,
            SPEC_TIMESTAMP,
            SPEC_BODY,
            &[secret(SPEC_SECRET), new.clone()],
            None,
        );
        let parts: Vec<&str> = header.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0], SPEC_SIGNATURE);
        let only_new = signature_header(SPEC_MSG_ID, SPEC_TIMESTAMP, SPEC_BODY, &[new], None);
        assert_eq!(parts[1], only_new);
    }

    #[test]
    fn v1a_verifies_with_the_processor_public_key() {
        let signer = Signer::generate();
        let header = signature_header(
            SPEC_MSG_ID,
            SPEC_TIMESTAMP,
            SPEC_BODY,
            &[secret(SPEC_SECRET)],
            Some(&signer),
        );
        let v1a = header
            .split(' ')
            .find_map(|part| part.strip_prefix("v1a,"))
            .expect("a v1a signature");
        let signature = Signature::from_slice(&STANDARD.decode(v1a).expect("base64"))
            .expect("64-byte signature");

        let whpk = public_key_whpk(&signer);
        let key_bytes: [u8; 32] = STANDARD
            .decode(whpk.strip_prefix("whpk_").expect("whpk_ prefix"))
            .expect("base64")
            .try_into()
            .expect("32-byte key");
        let key = VerifyingKey::from_bytes(&key_bytes).expect("valid key");

        let content = signed_content(SPEC_MSG_ID, SPEC_TIMESTAMP, SPEC_BODY);
        key.verify(&content, &signature).expect("v1a verifies");
        assert!(key.verify(b"other content", &signature).is_err());
    }

    #[test]
    fn secrets_must_be_whsec_base64_of_spec_length() {
        assert_eq!(
            WebhookSecret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap_err(),
            SecretError::MissingPrefix
        );
        assert_eq!(
            WebhookSecret::parse("whsec_not base64!").unwrap_err(),
            SecretError::NotBase64
        );
        assert_eq!(
            WebhookSecret::parse("whsec_c2hvcnQ=").unwrap_err(),
            SecretError::Length(5)
        );
        // Unpadded base64 is accepted, as the reference libraries do.
        assert!(WebhookSecret::parse("whsec_c2Vjb25kLXNlY3JldC1vZi0yNC1ieXRlcw").is_ok());
    }

    #[test]
    fn debug_never_shows_the_secret() {
        assert_eq!(format!("{:?}", secret(SPEC_SECRET)), "WebhookSecret(***)");
    }
}
