//! One module per page, each with its GET handler (`show`) and the POST
//! handler of its form (`submit`), if any.

pub mod account_setup;
pub mod admin;
pub mod board;
pub mod portal;
pub mod report;
pub mod sign_in;
