//! Integration tests against a real gateway, in one test binary so that
//! the harness in `support/` and the crate are compiled and linked once.
//! One module per area; `cargo test --test api <module>::` runs one area.

mod support;

mod access;
mod admin;
mod audit;
mod backup;
mod client_api;
mod connections;
mod contracts;
mod crash;
mod delivery;
mod deploy;
mod email;
mod errors;
mod follow_ups;
mod independent_verifiers;
mod input;
mod instances;
mod large_fan_out;
mod layers;
mod limits;
mod monitoring;
mod notice_facts;
mod openapi;
mod per_client;
mod pipeline;
mod private_files;
mod register;
mod scheduling;
mod store_copy;
mod tokens;
mod web_admin;
mod web_incident;
mod web_portal;
mod web_queries;
mod web_security;
mod web_staff;
