//! Electronic licences (电子证照): which items issue one, what it is called,
//! how long it is valid, how it is numbered, and its life cycle.
//!
//! A licence is decided when an approved case is completed; sealing by the
//! e-seal service happens afterwards, so a licence exists first as
//! [`LicenceStatus::PendingSeal`] and becomes [`LicenceStatus::Issued`] only
//! once a sealed document whose signature the platform verified is stored.

use chrono::{Datelike, Duration, NaiveDate};
use serde::{Deserialize, Serialize};

/// Prefix of licence numbers ("证照").
pub const PREFIX: &str = "ZZ";

/// Longest validity an item may declare.
pub const MAX_VALIDITY_YEARS: u32 = 30;

/// The licence section of an item definition: an item with one issues a
/// licence when an approved case is completed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LicenceDef {
    /// The licence's name printed as its title (e.g. 食品经营许可证);
    /// empty: the item's name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Years of validity from the issue date; 0: 长期 (no end date).
    #[serde(default)]
    pub validity_years: u32,
    /// Form fields printed on the licence, in this order (their labels as
    /// the row names).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub print_fields: Vec<String>,
}

impl LicenceDef {
    /// The last day of validity of a licence issued on `issued`, or `None`
    /// for a long-term licence. 29 February plus whole years ends on
    /// 27 February (the day before the anniversary, 1 March, minus one).
    pub fn valid_until(&self, issued: NaiveDate) -> Option<NaiveDate> {
        if self.validity_years == 0 {
            return None;
        }
        let years = i32::try_from(self.validity_years).unwrap_or(MAX_VALIDITY_YEARS as i32);
        let anniversary = issued
            .with_year(issued.year() + years)
            .or_else(|| NaiveDate::from_ymd_opt(issued.year() + years, 3, 1))?;
        Some(anniversary - Duration::days(1))
    }
}

/// Where a licence is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LicenceStatus {
    /// Decided, waiting for the e-seal service (retried by the outbox).
    PendingSeal,
    /// Sealed, verified and stored: valid unless expired.
    Issued,
    /// Withdrawn by the department.
    Revoked,
}

impl LicenceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            LicenceStatus::PendingSeal => "pending_seal",
            LicenceStatus::Issued => "issued",
            LicenceStatus::Revoked => "revoked",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending_seal" => LicenceStatus::PendingSeal,
            "issued" => LicenceStatus::Issued,
            "revoked" => LicenceStatus::Revoked,
            _ => return None,
        })
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            LicenceStatus::PendingSeal => "待签章",
            LicenceStatus::Issued => "有效",
            LicenceStatus::Revoked => "已撤销",
        }
    }
}

/// What the public verification page says of a licence on a given day.
pub fn standing(
    status: LicenceStatus,
    valid_until: Option<NaiveDate>,
    today: NaiveDate,
) -> &'static str {
    match status {
        LicenceStatus::Issued if valid_until.is_some_and(|d| d < today) => "已过期",
        s => s.label_zh(),
    }
}

/// `ZZ` + issue date (YYYYMMDD) + the department's 6-digit region code + a
/// 6-digit daily sequence: fixed width, like case numbers.
pub fn format_licence_no(date: NaiveDate, region_code: &str, seq: u64) -> String {
    format!("{PREFIX}{}{region_code:0>6}{seq:06}", date.format("%Y%m%d"))
}

/// The counter a licence number's sequence is drawn from.
pub fn sequence_key(date: NaiveDate, region_code: &str) -> String {
    format!("licence-{}-{region_code}", date.format("%Y%m%d"))
}

/// A licence number as found in a URL: checked for shape before any query.
/// V2's numbers, or V1.0's that migrated licences keep (division code, item
/// number, year and sequence: 17 digits).
pub fn is_well_formed(s: &str) -> bool {
    (s.len() == 22 && s.starts_with(PREFIX) && s[2..].bytes().all(|b| b.is_ascii_digit()))
        || (s.len() == 17 && s.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn validity_ends_the_day_before_the_anniversary() {
        let def = LicenceDef {
            name: String::new(),
            validity_years: 5,
            print_fields: vec![],
        };
        assert_eq!(def.valid_until(d(2026, 11, 24)), Some(d(2031, 11, 23)));
        assert_eq!(def.valid_until(d(2028, 2, 29)), Some(d(2033, 2, 28)));
        assert_eq!(def.valid_until(d(2026, 1, 1)), Some(d(2030, 12, 31)));
        let long = LicenceDef {
            validity_years: 0,
            ..def
        };
        assert_eq!(long.valid_until(d(2026, 11, 24)), None);
    }

    #[test]
    fn numbers_have_a_fixed_shape() {
        let n = format_licence_no(d(2026, 12, 1), "360400", 7);
        assert_eq!(n, "ZZ20261201360400000007");
        assert!(is_well_formed(&n));
        assert!(!is_well_formed("ZT20261201360400000007"));
        assert!(!is_well_formed("ZZ2026120136040000000"));
        assert!(!is_well_formed("ZZ../../../etc/passwd!"));
    }

    #[test]
    fn an_issued_licence_past_its_last_day_is_expired() {
        let until = Some(d(2026, 12, 1));
        assert_eq!(
            standing(LicenceStatus::Issued, until, d(2026, 12, 1)),
            "有效"
        );
        assert_eq!(
            standing(LicenceStatus::Issued, until, d(2026, 12, 2)),
            "已过期"
        );
        assert_eq!(standing(LicenceStatus::Issued, None, d(2099, 1, 1)), "有效");
        assert_eq!(
            standing(LicenceStatus::PendingSeal, until, d(2027, 1, 1)),
            "待签章"
        );
        for s in [
            LicenceStatus::PendingSeal,
            LicenceStatus::Issued,
            LicenceStatus::Revoked,
        ] {
            assert_eq!(LicenceStatus::parse(s.as_str()), Some(s));
        }
    }
}
