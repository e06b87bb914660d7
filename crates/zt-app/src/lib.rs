//! Application services: each public function is one use case, run as one
//! database transaction that writes the change together with its timeline
//! event, its audit record and its notification — or writes nothing.

pub mod admin;
pub mod audit_trail;
pub mod auth;
pub mod cases;
pub mod catalogue;
pub mod clock;
pub mod error;
pub mod integrations;
pub mod licence;
pub mod limiter;
pub mod metrics;
pub mod network;
pub mod notify;
pub mod outbox;
pub mod pii;
pub mod principal;
pub mod privacy;
pub mod ratings;
pub mod recovery;
pub mod role_tags;
pub mod second_factor;
pub mod signing;
pub mod sso;
pub mod state;
pub mod upload;
pub mod verification;

pub use error::{AppError, ErrorKind};
pub use principal::Principal;
pub use state::{App, Settings};
