//! V1's `promise_date` and the deadline it should have been (README §4).
//!
//! V1 counted Monday to Friday only; official holidays and make-up working
//! days were ignored. Closed cases keep V1's date as what the applicant was
//! told; open accepted cases get the official one, so both rules are needed.

use chrono::{Datelike, Days, NaiveDate, Weekday};
use zt_domain::calendar::HolidayCalendar;

/// The `promise_days`-th Monday–Friday after `accepted_on`, as V1 computed it:
/// the acceptance day itself never counts.
pub fn v1_promise_date(accepted_on: NaiveDate, promise_days: u32) -> NaiveDate {
    if promise_days == 0 {
        return accepted_on;
    }
    // Any 7 consecutive days hold exactly 5 weekdays, so whole weeks can be
    // skipped; only the last 1–5 weekdays are walked.
    let weeks = (promise_days - 1) / 5;
    let mut left = promise_days - weeks * 5;
    let mut date = accepted_on
        .checked_add_days(Days::new(u64::from(weeks) * 7))
        .unwrap_or(NaiveDate::MAX);
    while left > 0 {
        let Some(next) = date.succ_opt() else {
            // Saturate at chrono's last date rather than panic: no V1 case
            // comes anywhere near it.
            return date;
        };
        date = next;
        if !matches!(date.weekday(), Weekday::Sat | Weekday::Sun) {
            left -= 1;
        }
    }
    date
}

/// The deadline on the official holiday arrangement: the same count as V1
/// (start day excluded), but over working days. None when the calendar does not
/// cover the dates involved; a guessed deadline would be worse than none.
pub fn official_due_date(
    cal: &HolidayCalendar,
    accepted_on: NaiveDate,
    promise_days: u32,
) -> Option<NaiveDate> {
    cal.add_working_days(accepted_on, promise_days).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    fn calendar() -> HolidayCalendar {
        HolidayCalendar::from_toml(include_str!("../../../../data/calendar/cn-2025-2026.toml"))
            .unwrap()
    }

    /// The definition, walked day by day, to check the shortcut against.
    fn walk(start: NaiveDate, n: u32) -> NaiveDate {
        let mut date = start;
        let mut left = n;
        while left > 0 {
            date = date.succ_opt().unwrap();
            if date.weekday().number_from_monday() <= 5 {
                left -= 1;
            }
        }
        date
    }

    #[test]
    fn readme_example() {
        assert_eq!(v1_promise_date(d(2026, 9, 28), 5), d(2026, 10, 5));
        assert_eq!(
            official_due_date(&calendar(), d(2026, 9, 28), 5),
            Some(d(2026, 10, 10))
        );
    }

    #[test]
    fn zero_days_is_the_acceptance_day() {
        assert_eq!(v1_promise_date(d(2026, 10, 3), 0), d(2026, 10, 3));
        assert_eq!(
            official_due_date(&calendar(), d(2026, 10, 3), 0),
            Some(d(2026, 10, 3))
        );
    }

    #[test]
    fn acceptance_day_does_not_count() {
        // Friday → next Monday; Saturday and Sunday → Monday too.
        assert_eq!(v1_promise_date(d(2019, 3, 8), 1), d(2019, 3, 11));
        assert_eq!(v1_promise_date(d(2019, 3, 9), 1), d(2019, 3, 11));
        assert_eq!(v1_promise_date(d(2019, 3, 10), 1), d(2019, 3, 11));
        assert_eq!(v1_promise_date(d(2019, 3, 11), 1), d(2019, 3, 12));
        assert_eq!(v1_promise_date(d(2019, 3, 11), 5), d(2019, 3, 18));
        assert_eq!(v1_promise_date(d(2019, 3, 9), 5), d(2019, 3, 15));
    }

    #[test]
    fn v1_ignores_holidays() {
        // 2025-10-01 is National Day: V1 counted it anyway.
        assert_eq!(v1_promise_date(d(2025, 9, 30), 1), d(2025, 10, 1));
    }

    #[test]
    fn shortcut_equals_the_definition() {
        let start = d(2018, 12, 24);
        for offset in 0..14u64 {
            let accepted = start.checked_add_days(Days::new(offset)).unwrap();
            for n in 0..70 {
                assert_eq!(
                    v1_promise_date(accepted, n),
                    walk(accepted, n),
                    "{accepted} + {n}"
                );
            }
        }
    }

    #[test]
    fn huge_counts_do_not_panic() {
        assert_eq!(v1_promise_date(d(2019, 3, 11), u32::MAX), NaiveDate::MAX);
        assert_eq!(v1_promise_date(NaiveDate::MAX, 1), NaiveDate::MAX);
    }

    #[test]
    fn official_skips_holidays_and_counts_make_up_days() {
        let cal = calendar();
        // Spring Festival 2026: 02-15 … 02-23 off; 02-14 (Saturday) worked.
        assert_eq!(
            official_due_date(&cal, d(2026, 2, 13), 1),
            Some(d(2026, 2, 14))
        );
        assert_eq!(
            official_due_date(&cal, d(2026, 2, 14), 1),
            Some(d(2026, 2, 24))
        );
        assert_eq!(v1_promise_date(d(2026, 2, 14), 1), d(2026, 2, 16));
        // An ordinary week agrees with V1.
        assert_eq!(
            official_due_date(&cal, d(2026, 3, 9), 5),
            Some(v1_promise_date(d(2026, 3, 9), 5))
        );
    }

    #[test]
    fn official_outside_the_calendar() {
        let cal = calendar();
        assert_eq!(official_due_date(&cal, d(2024, 6, 3), 5), None);
        assert_eq!(official_due_date(&cal, d(2024, 6, 3), 0), None);
        // The count runs past the last loaded year.
        assert_eq!(official_due_date(&cal, d(2026, 12, 28), 10), None);
        assert_eq!(
            official_due_date(&HolidayCalendar::new(), d(2026, 3, 9), 1),
            None
        );
    }
}
