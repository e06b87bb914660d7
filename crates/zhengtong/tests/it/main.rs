#![allow(clippy::unwrap_used)] // the whole crate is test code
//! The one integration-test binary (link time dominates on 2 cores): the API
//! over real HTTP on loopback, on SQLite and on PostgreSQL.

mod harness;

mod access;
mod admin_pages;
mod audit;
mod backup;
mod bad_input;
mod cas;
mod integrations;
mod licence_interop;
mod licences;
mod lifecycle;
mod matrix;
mod migrate_v1;
mod ops;
mod outbox;
mod pii;
mod privacy;
mod second_factor;
mod sessions;
mod signatures;
mod sso;
mod sso_interop;
mod tls;
mod uploads;
mod verification;
