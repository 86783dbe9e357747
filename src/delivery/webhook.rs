//! Standard Webhooks signing and the webhook HTTP client (written in parallel; see issue 3).
