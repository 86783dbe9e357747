//! Retry policy as data.
