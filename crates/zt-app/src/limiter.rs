//! A fixed-window counter per client address, for the login endpoint. It
//! lives in memory: one instance per process is enough to blunt password
//! guessing from one address; a cluster behind a load balancer limits at the
//! balancer as well.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};

/// Addresses remembered at most; older windows are dropped first.
const MAX_TRACKED: usize = 100_000;

#[derive(Debug, Default)]
pub struct RateLimiter {
    windows: Mutex<HashMap<String, (DateTime<Utc>, u32)>>,
}

impl RateLimiter {
    /// Counts an attempt from `key` at `now`; false when more than
    /// `per_minute` attempts fall in the current minute.
    pub fn allow(&self, key: &str, now: DateTime<Utc>, per_minute: u32) -> bool {
        let Ok(mut w) = self.windows.lock() else {
            return true;
        };
        if w.len() >= MAX_TRACKED {
            w.retain(|_, (start, _)| now - *start < Duration::minutes(1));
        }
        let entry = w.entry(key.to_string()).or_insert((now, 0));
        if now - entry.0 >= Duration::minutes(1) {
            *entry = (now, 0);
        }
        entry.1 += 1;
        entry.1 <= per_minute
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_per_address() {
        let l = RateLimiter::default();
        let t0 = DateTime::<Utc>::default();
        for _ in 0..3 {
            assert!(l.allow("10.0.0.1", t0, 3));
        }
        assert!(!l.allow("10.0.0.1", t0 + Duration::seconds(30), 3));
        assert!(
            l.allow("10.0.0.2", t0, 3),
            "another address has its own window"
        );
        assert!(
            l.allow("10.0.0.1", t0 + Duration::seconds(61), 3),
            "a new minute starts afresh"
        );
    }
}
