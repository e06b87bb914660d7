//! Working days on the State Council's holiday arrangement (国务院办公厅节假日安排).
//!
//! A day is a working day when it is a weekday that is not a holiday, or a
//! weekend day that the arrangement declares worked (调休上班). A date in a year
//! that has not been loaded is an error: guessing would silently move deadlines.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Datelike, NaiveDate, Weekday};
use serde::{Deserialize, Serialize};

use crate::error::DomainError;

/// The arrangement of one year, as published.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct YearArrangement {
    /// Days off, including weekend days inside a holiday block.
    pub holidays: BTreeSet<NaiveDate>,
    /// Weekend days that are worked instead.
    pub workdays: BTreeSet<NaiveDate>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum DayKind {
    Working,
    /// A weekday that is worked, or an adjusted working weekend day.
    AdjustedWorking,
    Weekend,
    Holiday,
}

impl DayKind {
    pub fn is_working(self) -> bool {
        matches!(self, Self::Working | Self::AdjustedWorking)
    }
}

/// The loaded arrangements, by year.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HolidayCalendar {
    years: BTreeMap<i32, YearArrangement>,
}

/// Warning colour of a running case (预警).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum WarningLevel {
    Green,
    Yellow,
    Red,
}

impl WarningLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Green => "green",
            Self::Yellow => "yellow",
            Self::Red => "red",
        }
    }
}

impl HolidayCalendar {
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses the TOML form used by the project's calendar files:
    /// `[2025] holidays = [...] workdays = [...]`.
    pub fn from_toml(text: &str) -> Result<Self, DomainError> {
        let raw: BTreeMap<String, YearArrangement> = toml::from_str(text)
            .map_err(|e| DomainError::InvalidCalendar(e.message().to_string()))?;
        let mut cal = Self::new();
        for (year, arr) in raw {
            let y: i32 = year
                .parse()
                .map_err(|_| DomainError::InvalidCalendar(format!("“{year}”不是年份")))?;
            cal.insert_year(y, arr)?;
        }
        Ok(cal)
    }

    /// Adds (or replaces) one year, after checking that it is coherent.
    pub fn insert_year(&mut self, year: i32, arr: YearArrangement) -> Result<(), DomainError> {
        Self::check_year(year, &arr)?;
        self.years.insert(year, arr);
        Ok(())
    }

    /// A year's arrangement must only name dates of that year; holidays and
    /// adjusted working days must not overlap; adjusted working days must fall
    /// on weekends (a weekday is a working day already).
    pub fn check_year(year: i32, arr: &YearArrangement) -> Result<(), DomainError> {
        if !(2000..=2100).contains(&year) {
            return Err(DomainError::InvalidCalendar(format!(
                "年份 {year} 不在 2000—2100 之间"
            )));
        }
        for d in arr.holidays.iter().chain(arr.workdays.iter()) {
            if d.year() != year {
                return Err(DomainError::InvalidCalendar(format!(
                    "{d} 不属于 {year} 年"
                )));
            }
        }
        if let Some(d) = arr.holidays.intersection(&arr.workdays).next() {
            return Err(DomainError::InvalidCalendar(format!(
                "{d} 同时被列为放假和调休上班"
            )));
        }
        if let Some(d) = arr.workdays.iter().find(|d| !is_weekend(**d)) {
            return Err(DomainError::InvalidCalendar(format!(
                "{d} 是工作日，不能列为调休上班日"
            )));
        }
        Ok(())
    }

    pub fn years(&self) -> impl Iterator<Item = (i32, &YearArrangement)> {
        self.years.iter().map(|(y, a)| (*y, a))
    }

    pub fn has_year(&self, year: i32) -> bool {
        self.years.contains_key(&year)
    }

    pub fn day_kind(&self, date: NaiveDate) -> Result<DayKind, DomainError> {
        let arr = self
            .years
            .get(&date.year())
            .ok_or(DomainError::DateOutsideCalendar(date))?;
        Ok(if arr.holidays.contains(&date) {
            DayKind::Holiday
        } else if arr.workdays.contains(&date) {
            DayKind::AdjustedWorking
        } else if is_weekend(date) {
            DayKind::Weekend
        } else {
            DayKind::Working
        })
    }

    pub fn is_working_day(&self, date: NaiveDate) -> Result<bool, DomainError> {
        Ok(self.day_kind(date)?.is_working())
    }

    /// The N-th working day after `start` (counting begins on the first working
    /// day after `start`). With `n == 0` the answer is `start` itself.
    pub fn add_working_days(&self, start: NaiveDate, n: u32) -> Result<NaiveDate, DomainError> {
        let mut date = start;
        let mut left = n;
        // Check the start itself so that an out-of-range start is an error even for n == 0.
        self.day_kind(start)?;
        while left > 0 {
            date = date
                .succ_opt()
                .ok_or(DomainError::DateOutsideCalendar(date))?;
            if self.is_working_day(date)? {
                left -= 1;
            }
        }
        Ok(date)
    }

    /// Number of working days `d` with `from < d <= to` (0 when `to <= from`).
    pub fn working_days_between(&self, from: NaiveDate, to: NaiveDate) -> Result<u32, DomainError> {
        let mut count = 0;
        let mut date = from;
        while date < to {
            date = date
                .succ_opt()
                .ok_or(DomainError::DateOutsideCalendar(date))?;
            if self.is_working_day(date)? {
                count += 1;
            }
        }
        Ok(count)
    }

    /// Due date of a case accepted on `accepted_on` with a limit of `limit_days`
    /// working days, extended by `paused_days` working days spent in 补正 or
    /// special procedures.
    pub fn due_date(
        &self,
        accepted_on: NaiveDate,
        limit_days: u32,
        paused_days: u32,
    ) -> Result<NaiveDate, DomainError> {
        self.add_working_days(accepted_on, limit_days + paused_days)
    }

    /// Warning colour on `today` for a case due on `due`: red once past the due
    /// date, yellow when `yellow_within` working days or fewer are left.
    pub fn warning(
        &self,
        today: NaiveDate,
        due: NaiveDate,
        yellow_within: u32,
    ) -> Result<WarningLevel, DomainError> {
        if today > due {
            return Ok(WarningLevel::Red);
        }
        let left = self.working_days_between(today, due)?;
        Ok(if left <= yellow_within {
            WarningLevel::Yellow
        } else {
            WarningLevel::Green
        })
    }
}

fn is_weekend(d: NaiveDate) -> bool {
    matches!(d.weekday(), Weekday::Sat | Weekday::Sun)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAL: &str = include_str!("../../../data/calendar/cn-2025-2026.toml");

    fn cal() -> HolidayCalendar {
        HolidayCalendar::from_toml(CAL).expect("project calendar parses")
    }

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date")
    }

    #[test]
    fn issue_example_national_day_2025() {
        // Accepted on 2025-09-30 with 3 working days: 10-01..10-08 are off,
        // 10-09 (Thu), 10-10 (Fri), 10-11 (adjusted working Saturday).
        assert_eq!(
            cal().add_working_days(d("2025-09-30"), 3).unwrap(),
            d("2025-10-11")
        );
    }

    #[test]
    fn day_kinds() {
        let c = cal();
        assert_eq!(
            c.day_kind(d("2025-10-11")).unwrap(),
            DayKind::AdjustedWorking
        );
        assert_eq!(c.day_kind(d("2025-10-08")).unwrap(), DayKind::Holiday);
        assert_eq!(c.day_kind(d("2025-10-12")).unwrap(), DayKind::Weekend);
        assert_eq!(c.day_kind(d("2025-10-13")).unwrap(), DayKind::Working);
        assert_eq!(
            c.day_kind(d("2026-01-04")).unwrap(),
            DayKind::AdjustedWorking
        );
        assert_eq!(c.day_kind(d("2026-02-23")).unwrap(), DayKind::Holiday);
    }

    #[test]
    fn spring_festival_2026() {
        // Friday 2026-02-13 + 1: Sat 02-14 is an adjusted working day.
        let c = cal();
        assert_eq!(
            c.add_working_days(d("2026-02-13"), 1).unwrap(),
            d("2026-02-14")
        );
        // + 2: 02-15..02-23 off, Tue 02-24.
        assert_eq!(
            c.add_working_days(d("2026-02-13"), 2).unwrap(),
            d("2026-02-24")
        );
        // Sat 02-28 is worked.
        assert_eq!(
            c.add_working_days(d("2026-02-27"), 1).unwrap(),
            d("2026-02-28")
        );
    }

    #[test]
    fn crossing_new_year_from_2025_to_2026() {
        // Wed 2025-12-31 + 1: 2026-01-01..03 off, Sun 01-04 worked.
        assert_eq!(
            cal().add_working_days(d("2025-12-31"), 1).unwrap(),
            d("2026-01-04")
        );
    }

    #[test]
    fn accepted_on_holiday_counts_from_next_working_day() {
        assert_eq!(
            cal().add_working_days(d("2025-10-03"), 1).unwrap(),
            d("2025-10-09")
        );
    }

    #[test]
    fn outside_loaded_years_is_an_error() {
        let c = cal();
        assert_eq!(
            c.add_working_days(d("2026-12-30"), 5),
            Err(DomainError::DateOutsideCalendar(d("2027-01-01")))
        );
        assert!(matches!(
            c.day_kind(d("2024-06-03")),
            Err(DomainError::DateOutsideCalendar(_))
        ));
        assert_eq!(
            c.add_working_days(d("2024-12-31"), 0),
            Err(DomainError::DateOutsideCalendar(d("2024-12-31")))
        );
    }

    #[test]
    fn pauses_extend_the_due_date() {
        let c = cal();
        // Accepted Mon 2025-09-22, 5 days → Sun 09-28 is worked: 23,24,25,26,28.
        assert_eq!(c.due_date(d("2025-09-22"), 5, 0).unwrap(), d("2025-09-28"));
        // 2 paused working days push it over the National Day holiday: 29, 30.
        assert_eq!(c.due_date(d("2025-09-22"), 5, 2).unwrap(), d("2025-09-30"));
        // 3 paused days: next is 10-09.
        assert_eq!(c.due_date(d("2025-09-22"), 5, 3).unwrap(), d("2025-10-09"));
    }

    #[test]
    fn working_days_between_counts_exclusive_inclusive() {
        let c = cal();
        assert_eq!(
            c.working_days_between(d("2025-09-30"), d("2025-10-11"))
                .unwrap(),
            3
        );
        assert_eq!(
            c.working_days_between(d("2025-10-11"), d("2025-10-11"))
                .unwrap(),
            0
        );
        assert_eq!(
            c.working_days_between(d("2025-10-11"), d("2025-09-30"))
                .unwrap(),
            0
        );
        // A whole year: 2025 has 248 working days (261 weekdays − 18 holiday weekdays + 5 adjusted).
        assert!(c
            .working_days_between(d("2024-12-31"), d("2025-12-31"))
            .is_ok());
        assert_eq!(
            c.working_days_between(d("2025-01-01"), d("2025-12-31"))
                .unwrap(),
            248
        );
    }

    #[test]
    fn warnings() {
        let c = cal();
        let due = d("2025-10-11");
        assert_eq!(
            c.warning(d("2025-09-30"), due, 1).unwrap(),
            WarningLevel::Green
        );
        assert_eq!(
            c.warning(d("2025-10-09"), due, 1).unwrap(),
            WarningLevel::Green
        );
        assert_eq!(
            c.warning(d("2025-10-10"), due, 1).unwrap(),
            WarningLevel::Yellow
        );
        assert_eq!(
            c.warning(d("2025-10-11"), due, 1).unwrap(),
            WarningLevel::Yellow
        );
        assert_eq!(
            c.warning(d("2025-10-12"), due, 1).unwrap(),
            WarningLevel::Red
        );
        // During the holiday, 3 working days are left.
        assert_eq!(
            c.warning(d("2025-10-05"), due, 3).unwrap(),
            WarningLevel::Yellow
        );
        assert_eq!(
            c.warning(d("2025-10-05"), due, 2).unwrap(),
            WarningLevel::Green
        );
    }

    #[test]
    fn incoherent_years_are_refused() {
        let bad_year = "[2027]\nholidays = [\"2026-10-01\"]\nworkdays = []\n";
        assert!(HolidayCalendar::from_toml(bad_year).is_err());
        let overlap = "[2027]\nholidays = [\"2027-01-02\"]\nworkdays = [\"2027-01-02\"]\n";
        assert!(HolidayCalendar::from_toml(overlap).is_err());
        let weekday_workday = "[2027]\nholidays = []\nworkdays = [\"2027-01-04\"]\n";
        assert!(HolidayCalendar::from_toml(weekday_workday).is_err());
        let unknown_key = "[2027]\nholidays = []\nworkday = []\n";
        assert!(HolidayCalendar::from_toml(unknown_key).is_err());
    }
}
