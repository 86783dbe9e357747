//! One module per page, each with its GET handler (`show`) and the POST
//! handler of its form (`submit`), if any.

pub mod account_setup;
pub mod admin;
pub mod admin_accounts;
pub mod admin_client;
pub mod board;
pub mod incident;
pub mod portal;
pub mod register;
pub mod report;
pub mod sign_in;
