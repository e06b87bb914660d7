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

/// A case number as found in a URL: checked for shape before any query.
pub fn is_well_formed(s: &str) -> bool {
    s.len() == 22 && s.starts_with(PREFIX) && s[2..].bytes().all(|b| b.is_ascii_digit())
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
        assert!(format_case_no(d, "370200", 9) < format_case_no(d, "370200", 10));
    }
}
