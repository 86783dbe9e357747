//! Delivery transports: the retry policy, webhooks signed with Standard
//! Webhooks signatures, and email. The outbox worker (`crate::worker`)
//! drives them.

pub mod email;
pub mod retry;
pub mod webhook;
