//! Webhook delivery: Standard Webhooks signatures over the notice bytes and
//! the HTTP client that posts them, refusing targets inside our network.

mod client;
mod signature;
mod target;

pub use client::{Attempt, ClientBuildError, Outcome, WebhookClient, WebhookClientConfig};
pub use signature::{
    public_key_whpk, signature_header, signed_content, SecretError, WebhookSecret,
};
pub use target::{IpNet, IpNetError};

/// Standard Webhooks header carrying the message id, stable across retries.
pub const HEADER_ID: &str = "webhook-id";
/// Standard Webhooks header carrying the signing time in Unix seconds.
pub const HEADER_TIMESTAMP: &str = "webhook-timestamp";
/// Standard Webhooks header carrying the space-separated signatures.
pub const HEADER_SIGNATURE: &str = "webhook-signature";
