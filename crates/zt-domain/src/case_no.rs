//! Case numbers: `ZT` + acceptance-independent filing date (YYYYMMDD) + the
//! department's 6-digit region code + a 6-digit daily sequence, e.g.
//! `ZT20261124370200000042`. Fixed width, so string order is filing order.

use chrono::NaiveDate;

pub const PREFIX: &str = "ZT";

pub fn format_case_no(date: NaiveDate, region_code: &str, seq: u64) -> String {
    format!("{PREFIX}{}{region_code:0>6}{seq:06}", date.format("%Y%m%d"))
}

/// The counter key a sequence is drawn from: one sequence per day and region.
pub fn sequence_key(date: NaiveDate, region_code: &str) -> String {
    format!("{}-{region_code}", date.format("%Y%m%d"))
}

/// V1.0's numbers, kept by the migration: `ZW` + date + 5-digit sequence.
pub const V1_PREFIX: &str = "ZW";

/// A case number as found in a URL: checked for shape before any query.
/// V2's own numbers, or the V1 numbers migrated cases keep.
pub fn is_well_formed(s: &str) -> bool {
    let digits = |from: usize| s[from..].bytes().all(|b| b.is_ascii_digit());
    (s.len() == 22 && s.starts_with(PREFIX) && digits(2))
        || (s.len() == 15 && s.starts_with(V1_PREFIX) && digits(2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_and_shape() {
        let d = NaiveDate::from_ymd_opt(2026, 11, 24).unwrap();
        let n = format_case_no(d, "370200", 42);
        assert_eq!(n, "ZT20261124370200000042");
        assert!(is_well_formed(&n));
        assert!(!is_well_formed("ZT2026112437020000004"));
        assert!(!is_well_formed("../etc/passwd"));
        assert!(is_well_formed("ZW2019030500123"));
        assert!(!is_well_formed("ZW201903050012"));
        assert!(!is_well_formed("ZW20190305001x3"));
        assert!(format_case_no(d, "370200", 9) < format_case_no(d, "370200", 10));
    }
}
