//! The `zhengtong` binary's library: configuration, wiring, the demo data set
//! and the server loop. `main.rs` only parses the command line.

pub mod backup;
pub mod bootstrap;
pub mod builtin_seal;
pub mod cli;
pub mod config;
pub mod demo;
pub mod integrations;
pub mod migrate_v1;
pub mod server;
