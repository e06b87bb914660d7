//! Clients of the province's shared systems.
//!
//! * [`scheme`] — GX-HMAC-SM3, pure and without I/O: canonical request and
//!   response strings, HMAC-SM3 signatures, the SM4-CBC payload envelope,
//!   header formats and the clock-skew rule (`specs/gx-hmac-sm3.md`).
//! * [`client`] — [`GxClient`], an async HTTP client that signs every attempt
//!   afresh (new timestamp, nonce and signature), verifies every response
//!   signature before looking at the content, decrypts the envelope and maps
//!   the platform's error codes to [`GxError`], retrying only what the
//!   scheme says may be retried.
//! * [`gxpt`] — the typed operations of the data-sharing & exchange platform
//!   (`specs/gxpt.md`): identity verification, person / enterprise / licence
//!   look-ups, idempotent case-event pushes and the daily reconciliation,
//!   with the content digest and the reconciliation digest as pure functions.
//! * `double` (feature `double`) — an in-process gxpt on 127.0.0.1:0 that
//!   implements the same scheme, the same endpoints and switchable faults,
//!   for fast tests.
//!
//! Time is never read from the system by library code: every component takes
//! a [`Clock`] (the platform's own `zt_domain::time::Clock`). [`SystemClock`]
//! is the one place that reads the wall clock, for the running server.

pub mod client;
pub mod error;
pub mod eseal;
pub mod gxpt;
pub(crate) mod json;
pub mod scheme;

#[cfg(any(test, feature = "double"))]
pub mod double;

pub use client::{GxClient, GxConfig, RetryPolicy};
pub use error::GxError;
pub use gxpt::GxptClient;
pub use scheme::Credentials;
pub use zt_domain::time::Clock;

use chrono::{DateTime, Utc};

/// The wall clock. The only place in this crate that reads the system time;
/// tests and the double may use any other [`Clock`].
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        #[allow(clippy::disallowed_methods)]
        Utc::now()
    }
}

/// Milliseconds since the Unix epoch, as the scheme's timestamps count them.
pub(crate) fn now_ms(clock: &dyn Clock) -> i64 {
    clock.now().timestamp_millis()
}
