//! Migration of V1.0's history (`zhengtong migrate-v1`, issue 6; design in
//! `docs/design/migration-v1.md`).
//!
//! `transform` holds the rules of `../shared/v1/README.md` as pure functions
//! (no I/O, no clock, no keys); the reader, writer and report sit around them.

pub mod error;
pub mod phase;
pub mod progress;
pub mod release;
pub mod replay;
pub mod report;
pub mod run;
pub mod sink;
pub mod source;
pub mod transform;

pub use error::MigrateError;
pub use run::{run, Options, Outcome};
