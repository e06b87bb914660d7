//! The bureau works in Beijing time; dates in the domain are local (+08:00) dates.

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};

/// UTC+08:00, the time zone of every date a citizen or a clerk sees.
pub fn beijing() -> FixedOffset {
    // 8 hours is always a valid offset.
    FixedOffset::east_opt(8 * 3600)
        .unwrap_or_else(|| FixedOffset::east_opt(0).expect("zero offset"))
}

/// The local calendar date of an instant.
pub fn local_date(at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&beijing()).date_naive()
}

/// Source of "now". Library code never reads the system clock itself.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
    fn today(&self) -> NaiveDate {
        local_date(self.now())
    }
}
