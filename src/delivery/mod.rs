//! Delivery: outbox workers claim due deliveries with a lease and send each
//! notice by webhook or email, recording every attempt.

pub mod email;
pub mod retry;
pub mod webhook;
mod worker;

pub use worker::Worker;
