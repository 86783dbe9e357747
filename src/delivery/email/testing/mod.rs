//! Test support for email delivery, written to move to `tests/support/` as is:
//! nothing here depends on the rest of the crate.

pub mod mime;
pub mod smtp_sink;
