//! "Now", as the caller says it is.
//!
//! The crate never reads the system clock: every check of `exp`, `iat` and
//! of the login state's age asks the [`Clock`] the caller passed. The
//! platform adapts its own clock (`zt_domain::time::Clock`) with a closure,
//! tests use [`ManualClock`].

use std::sync::atomic::{AtomicI64, Ordering};

/// Source of the current time in unix seconds.
pub trait Clock: Send + Sync {
    /// Seconds since 1970-01-01T00:00:00Z.
    fn unix_now(&self) -> i64;
}

/// Any `Fn() -> i64` is a clock, e.g.
/// `move || platform_clock.now().timestamp()`.
impl<F> Clock for F
where
    F: Fn() -> i64 + Send + Sync,
{
    fn unix_now(&self) -> i64 {
        self()
    }
}

/// A clock that stands still until told otherwise (tests, the fake provider).
#[derive(Debug, Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    /// A clock showing `unix` seconds.
    pub fn new(unix: i64) -> Self {
        Self(AtomicI64::new(unix))
    }

    /// Sets the time.
    pub fn set(&self, unix: i64) {
        self.0.store(unix, Ordering::SeqCst);
    }

    /// Moves the time on by `secs` (negative: back).
    pub fn advance(&self, secs: i64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn unix_now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}
