use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ed25519_dalek::{Signature, VerifyingKey};
use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("not a detached compact JWS (expected header..signature)")]
    Format,
    #[error("the JWS header is not valid: {0}")]
    Header(String),
    #[error("unsupported algorithm {0:?}; only EdDSA is accepted")]
    Algorithm(String),
    #[error("no Ed25519 key with kid {0:?} in the JWKS")]
    UnknownKey(String),
    #[error("the signature does not match the notice")]
    BadSignature,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    kid: Option<String>,
}

/// Verifies a detached compact JWS over `payload` with a key from `jwks`.
/// Returns the key id that verified it.
pub fn verify_detached(jwks: &Value, payload: &[u8], jws: &str) -> Result<String, VerifyError> {
    let mut parts = jws.trim().split('.');
    let (Some(header_b64), Some(""), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(VerifyError::Format);
    };
    let header_bytes = URL_SAFE_NO_PAD
        .decode(header_b64)
        .map_err(|e| VerifyError::Header(e.to_string()))?;
    let header: Header =
        serde_json::from_slice(&header_bytes).map_err(|e| VerifyError::Header(e.to_string()))?;
    if header.alg != "EdDSA" {
        return Err(VerifyError::Algorithm(header.alg));
    }
    let kid = header.kid.unwrap_or_default();
    let key = jwks["keys"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|k| k["kty"] == "OKP" && k["crv"] == "Ed25519")
        .find(|k| k["kid"].as_str() == Some(kid.as_str()))
        .and_then(|k| k["x"].as_str())
        .and_then(|x| URL_SAFE_NO_PAD.decode(x).ok())
        .and_then(|x| <[u8; 32]>::try_from(x.as_slice()).ok())
        .and_then(|x| VerifyingKey::from_bytes(&x).ok())
        .ok_or_else(|| VerifyError::UnknownKey(kid.clone()))?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature_b64)
        .ok()
        .and_then(|s| Signature::from_slice(&s).ok())
        .ok_or(VerifyError::BadSignature)?;
    let signing_input = format!("{header_b64}.{}", URL_SAFE_NO_PAD.encode(payload));
    key.verify_strict(signing_input.as_bytes(), &signature)
        .map_err(|_| VerifyError::BadSignature)?;
    Ok(kid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::Signer;

    #[test]
    fn a_signed_notice_verifies_and_a_flipped_byte_does_not() {
        let signer = Signer::generate();
        let notice = br#"{"type":"breach.notice.initial"}"#;
        let jws = signer.sign_detached(notice);
        assert_eq!(
            verify_detached(&signer.jwks(), notice, &jws),
            Ok(signer.kid().to_owned())
        );

        let mut tampered = notice.to_vec();
        tampered[3] ^= 1;
        assert_eq!(
            verify_detached(&signer.jwks(), &tampered, &jws),
            Err(VerifyError::BadSignature)
        );
        assert!(matches!(
            verify_detached(&Signer::generate().jwks(), notice, &jws),
            Err(VerifyError::UnknownKey(_))
        ));
    }
}
