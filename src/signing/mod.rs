//! Signing: the processor's Ed25519 key, detached compact JWS over the exact
//! notice bytes (RFC 7515 appendix F, `alg: EdDSA` per RFC 8037), and the JWKS
//! that clients verify against.

mod jws;
mod key;

pub use jws::{verify_detached, VerifyError};
pub use key::{KeyError, Signer};
