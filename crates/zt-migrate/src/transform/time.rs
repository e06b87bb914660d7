//! V1's times stored as text (README §6, D01, D02).
//!
//! Several V1 programs wrote `t_apply.apply_time` and `t_citizen.create_time`
//! in their own format; every value is Beijing local time without a zone.
//! Only the five forms V1 is known to have written are accepted: anything else
//! is reported rather than guessed at, because a wrong guess would silently
//! move a case in time.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, Utc};

/// How much of the instant V1 actually recorded; the migration report flags
/// anything coarser than a second.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Precision {
    Second,
    Minute,
    Day,
}

impl Precision {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Second => "second",
            Self::Minute => "minute",
            Self::Day => "day",
        }
    }
}

/// A V1 time: Beijing local time and the precision it was stored with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct V1Time {
    /// Beijing local time (UTC+08:00).
    pub local: NaiveDateTime,
    pub precision: Precision,
}

impl V1Time {
    pub fn to_utc(self) -> DateTime<Utc> {
        // Saturating: only a date within 8 h of chrono's minimum could
        // underflow, which no 4-digit-year V1 text can produce.
        self.local
            .checked_sub_signed(TimeDelta::hours(8))
            .unwrap_or(NaiveDateTime::MIN)
            .and_utc()
    }

    /// The form of the migration's listings (README §9): always seconds,
    /// never a fraction, always the +08:00 offset V1 meant.
    pub fn rfc3339_beijing(self) -> String {
        self.local.format("%Y-%m-%dT%H:%M:%S+08:00").to_string()
    }
}

/// Parses one of V1's five text forms, after trimming surrounding whitespace.
pub fn parse_v1_time(s: &str) -> Option<V1Time> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    parse_iso(s)
        .or_else(|| parse_slash(s))
        .or_else(|| parse_compact(s))
        .or_else(|| parse_chinese(s))
}

/// Where `apply_time` came from: the migration report flags the two fallbacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplyTimeSource {
    Parsed,
    /// `apply_time` was empty or NULL.
    CaseNo,
    /// `apply_time` held text in none of V1's forms.
    Unparsed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApplyTime {
    pub time: V1Time,
    pub source: ApplyTimeSource,
}

/// t_apply.apply_time (D01): '' or NULL → the date inside apply_no (`ZW` + yyyyMMdd + 5 digits) at 00:00, Day, source CaseNo;
/// an unparseable non-empty text → also the apply_no date, source Unparsed. None only when apply_no carries no valid date either.
pub fn apply_time(stored: Option<&str>, apply_no: &str) -> Option<ApplyTime> {
    let stored = stored.map(str::trim).unwrap_or("");
    if let Some(time) = parse_v1_time(stored) {
        return Some(ApplyTime {
            time,
            source: ApplyTimeSource::Parsed,
        });
    }
    // V1 numbered a case at its first save, so the number's date is the
    // apply_time's date (README §6): a safe day-precision fallback.
    let date = case_no_date(apply_no)?;
    Some(ApplyTime {
        time: V1Time {
            local: date.and_time(NaiveTime::MIN),
            precision: Precision::Day,
        },
        source: if stored.is_empty() {
            ApplyTimeSource::CaseNo
        } else {
            ApplyTimeSource::Unparsed
        },
    })
}

/// t_citizen.create_time (D02): None = unknown ('' / NULL / unparseable)
pub fn registration_time(stored: Option<&str>) -> Option<V1Time> {
    parse_v1_time(stored?)
}

/// a clean DATETIME/`yyyy-MM-dd HH:mm:ss` text (accept_time, finish_time, DATETIME columns read via DATE_FORMAT): Second precision; '' → None
pub fn datetime(s: Option<&str>) -> Option<V1Time> {
    let s = s?.trim();
    let (date, rest) = iso_date(s)?;
    let rest = rest.strip_prefix(' ')?;
    let (time, rest) = hms(rest)?;
    if !rest.is_empty() {
        return None;
    }
    Some(V1Time {
        local: date.and_time(time),
        precision: Precision::Second,
    })
}

/// The date of first save inside a case number `ZW` + yyyyMMdd + 5 digits.
pub fn case_no_date(apply_no: &str) -> Option<NaiveDate> {
    let digits = apply_no.strip_prefix("ZW")?;
    if digits.len() != 13 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (date, rest) = compact_date(digits)?;
    debug_assert_eq!(rest.len(), 5);
    Some(date)
}

/// Reads between `min` and `max` leading ASCII digits.
fn number(s: &str, min: usize, max: usize) -> Option<(u32, &str)> {
    let len = s.bytes().take_while(u8::is_ascii_digit).count().min(max);
    if len < min {
        return None;
    }
    let value = s[..len].parse().ok()?;
    Some((value, &s[len..]))
}

fn ymd(y: u32, m: u32, d: u32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(i32::try_from(y).ok()?, m, d)
}

/// `yyyy-MM-dd`, zero-padded.
fn iso_date(s: &str) -> Option<(NaiveDate, &str)> {
    let (y, s) = number(s, 4, 4)?;
    let (m, s) = number(s.strip_prefix('-')?, 2, 2)?;
    let (d, s) = number(s.strip_prefix('-')?, 2, 2)?;
    Some((ymd(y, m, d)?, s))
}

/// `HH:mm:ss`, zero-padded.
fn hms(s: &str) -> Option<(NaiveTime, &str)> {
    let (h, s) = number(s, 2, 2)?;
    let (mi, s) = number(s.strip_prefix(':')?, 2, 2)?;
    let (sec, s) = number(s.strip_prefix(':')?, 2, 2)?;
    Some((NaiveTime::from_hms_opt(h, mi, sec)?, s))
}

fn compact_date(s: &str) -> Option<(NaiveDate, &str)> {
    let (y, s) = number(s, 4, 4)?;
    let (m, s) = number(s, 2, 2)?;
    let (d, s) = number(s, 2, 2)?;
    Some((ymd(y, m, d)?, s))
}

/// `yyyy-MM-dd HH:mm:ss` and `Timestamp.toString()`'s `yyyy-MM-dd HH:mm:ss.S…`.
fn parse_iso(s: &str) -> Option<V1Time> {
    let (date, rest) = iso_date(s)?;
    let (time, rest) = hms(rest.strip_prefix(' ')?)?;
    if let Some(fraction) = rest.strip_prefix('.') {
        // The fraction is dropped, not rounded: rounding could carry into the
        // next second, minute or even day.
        if fraction.is_empty() || !fraction.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
    } else if !rest.is_empty() {
        return None;
    }
    Some(V1Time {
        local: date.and_time(time),
        precision: Precision::Second,
    })
}

/// `yyyy/M/d H:mm` of the Excel import, with or without zero padding.
fn parse_slash(s: &str) -> Option<V1Time> {
    let (y, s) = number(s, 4, 4)?;
    let (m, s) = number(s.strip_prefix('/')?, 1, 2)?;
    let (d, s) = number(s.strip_prefix('/')?, 1, 2)?;
    let (h, s) = number(s.strip_prefix(' ')?, 1, 2)?;
    let (mi, s) = number(s.strip_prefix(':')?, 2, 2)?;
    if !s.is_empty() {
        return None;
    }
    Some(V1Time {
        local: ymd(y, m, d)?.and_time(NaiveTime::from_hms_opt(h, mi, 0)?),
        precision: Precision::Minute,
    })
}

/// `yyyyMMdd`.
fn parse_compact(s: &str) -> Option<V1Time> {
    let (date, rest) = compact_date(s)?;
    if !rest.is_empty() {
        return None;
    }
    Some(V1Time {
        local: date.and_time(NaiveTime::MIN),
        precision: Precision::Day,
    })
}

/// `yyyy年M月d日`; zero-padded month and day are accepted too.
fn parse_chinese(s: &str) -> Option<V1Time> {
    let (y, s) = number(s, 4, 4)?;
    let (m, s) = number(s.strip_prefix('年')?, 1, 2)?;
    let (d, s) = number(s.strip_prefix('月')?, 1, 2)?;
    if s != "日" {
        return None;
    }
    Some(V1Time {
        local: ymd(y, m, d)?.and_time(NaiveTime::MIN),
        precision: Precision::Day,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(y: i32, m: u32, d: u32, h: u32, mi: u32, s: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, m, d)
            .unwrap()
            .and_hms_opt(h, mi, s)
            .unwrap()
    }

    fn parsed(s: &str) -> (String, Precision) {
        let t = parse_v1_time(s).unwrap_or_else(|| panic!("{s:?} should parse"));
        (t.rfc3339_beijing(), t.precision)
    }

    #[test]
    fn readme_table_forms() {
        let cases = [
            (
                "2019-03-05 14:22:10",
                "2019-03-05T14:22:10+08:00",
                Precision::Second,
            ),
            (
                "2019-03-05 14:22:10.0",
                "2019-03-05T14:22:10+08:00",
                Precision::Second,
            ),
            (
                "2019/3/5 14:22",
                "2019-03-05T14:22:00+08:00",
                Precision::Minute,
            ),
            ("20190305", "2019-03-05T00:00:00+08:00", Precision::Day),
            ("2019年3月5日", "2019-03-05T00:00:00+08:00", Precision::Day),
        ];
        for (input, rfc, precision) in cases {
            assert_eq!(parsed(input), (rfc.to_string(), precision), "{input}");
        }
    }

    #[test]
    fn fractions_are_truncated_not_rounded() {
        assert_eq!(
            parsed("2019-12-31 23:59:59.999").0,
            "2019-12-31T23:59:59+08:00"
        );
        assert_eq!(
            parsed("2019-03-05 14:22:10.123456789").0,
            "2019-03-05T14:22:10+08:00"
        );
        assert_eq!(
            parse_v1_time("2019-03-05 14:22:10.999").unwrap().local,
            at(2019, 3, 5, 14, 22, 10)
        );
    }

    #[test]
    fn slash_form_with_and_without_padding() {
        assert_eq!(parsed("2019/03/05 09:05").0, "2019-03-05T09:05:00+08:00");
        assert_eq!(parsed("2019/3/05 9:05").0, "2019-03-05T09:05:00+08:00");
        assert_eq!(parsed("2019/12/31 0:00").0, "2019-12-31T00:00:00+08:00");
        assert_eq!(parsed("2019/12/31 23:59").0, "2019-12-31T23:59:00+08:00");
    }

    #[test]
    fn chinese_form_accepts_padding() {
        assert_eq!(parsed("2019年03月05日").0, "2019-03-05T00:00:00+08:00");
        assert_eq!(parsed("2016年12月1日").0, "2016-12-01T00:00:00+08:00");
    }

    #[test]
    fn surrounding_whitespace_is_trimmed() {
        assert_eq!(
            parsed("  2019-03-05 14:22:10\t").0,
            "2019-03-05T14:22:10+08:00"
        );
        assert_eq!(parsed("\n20190305 ").1, Precision::Day);
    }

    #[test]
    fn rejects_other_forms() {
        for s in [
            "",
            "   ",
            "2019-03-05",
            "2019-03-05T14:22:10",
            "2019-03-05 14:22:10+08:00",
            "2019-03-05 14:22:10.",
            "2019-03-05 14:22:10.0a",
            "2019-03-05  14:22:10",
            "2019-3-5 14:22:10",
            "2019-03-05 14:22",
            "2019/3/5 14:2",
            "2019/3/5 14:22:10",
            "2019/3/5",
            "2019/123/5 14:22",
            "19/3/5 14:22",
            "2019030",
            "201903051",
            "2019年3月5",
            "2019年3月5日 14:22",
            "2019-03-05 １４:22:10",
            "１２３４0305",
            "5 Mar 2019",
            "null",
        ] {
            assert_eq!(parse_v1_time(s), None, "{s:?}");
        }
    }

    #[test]
    fn rejects_invalid_calendar_values() {
        for s in [
            "2019-02-30 10:00:00",
            "2019-13-01 10:00:00",
            "2019-03-05 24:00:00",
            "2019-03-05 14:60:00",
            "2019-03-05 14:22:60",
            "2019/2/29 10:00",
            "2019/3/5 25:00",
            "20190230",
            "20190001",
            "2019年2月30日",
            "2019年0月1日",
        ] {
            assert_eq!(parse_v1_time(s), None, "{s:?}");
        }
        assert!(parse_v1_time("2020-02-29 10:00:00").is_some());
        assert!(parse_v1_time("2020/2/29 10:00").is_some());
    }

    #[test]
    fn utc_is_eight_hours_earlier() {
        let t = parse_v1_time("2019-03-05 06:30:00").unwrap();
        assert_eq!(t.to_utc().to_rfc3339(), "2019-03-04T22:30:00+00:00");
        let d = parse_v1_time("20190305").unwrap();
        assert_eq!(d.to_utc().to_rfc3339(), "2019-03-04T16:00:00+00:00");
    }

    #[test]
    fn rfc3339_never_shows_fractions() {
        let t = V1Time {
            local: at(2019, 3, 5, 14, 22, 10) + TimeDelta::milliseconds(500),
            precision: Precision::Second,
        };
        assert_eq!(t.rfc3339_beijing(), "2019-03-05T14:22:10+08:00");
    }

    #[test]
    fn precision_names() {
        assert_eq!(Precision::Second.as_str(), "second");
        assert_eq!(Precision::Minute.as_str(), "minute");
        assert_eq!(Precision::Day.as_str(), "day");
        assert_eq!(
            serde_json::to_string(&Precision::Minute).unwrap(),
            "\"minute\""
        );
    }

    #[test]
    fn case_no_dates() {
        assert_eq!(
            case_no_date("ZW2019030500123"),
            NaiveDate::from_ymd_opt(2019, 3, 5)
        );
        for s in [
            "",
            "ZW",
            "ZW20190305",
            "ZW201903050012",
            "ZW20190305001234",
            "zw2019030500123",
            "XX2019030500123",
            "ZW2019023000123",
            "ZW2019030500A23",
            "ZW２019030500123",
        ] {
            assert_eq!(case_no_date(s), None, "{s:?}");
        }
    }

    #[test]
    fn apply_time_parsed() {
        let a = apply_time(Some("2019/3/5 14:22"), "ZW2019030500123").unwrap();
        assert_eq!(a.source, ApplyTimeSource::Parsed);
        assert_eq!(a.time.precision, Precision::Minute);
        assert_eq!(a.time.local, at(2019, 3, 5, 14, 22, 0));
        // A parseable time is used even when the case number is damaged.
        let b = apply_time(Some("2019-03-05 14:22:10"), "bad").unwrap();
        assert_eq!(b.source, ApplyTimeSource::Parsed);
    }

    #[test]
    fn apply_time_empty_falls_back_to_case_no() {
        for stored in [None, Some(""), Some("  ")] {
            let a = apply_time(stored, "ZW2019030500123").unwrap();
            assert_eq!(a.source, ApplyTimeSource::CaseNo, "{stored:?}");
            assert_eq!(a.time.precision, Precision::Day);
            assert_eq!(a.time.rfc3339_beijing(), "2019-03-05T00:00:00+08:00");
        }
    }

    #[test]
    fn apply_time_unparseable_falls_back_to_case_no() {
        let a = apply_time(Some("昨天下午"), "ZW2019030500123").unwrap();
        assert_eq!(a.source, ApplyTimeSource::Unparsed);
        assert_eq!(a.time.precision, Precision::Day);
        assert_eq!(a.time.local, at(2019, 3, 5, 0, 0, 0));
        let b = apply_time(Some("2019-02-30 10:00:00"), "ZW2019030500123").unwrap();
        assert_eq!(b.source, ApplyTimeSource::Unparsed);
    }

    #[test]
    fn apply_time_none_without_any_date() {
        assert_eq!(apply_time(None, "ZW2019023000123"), None);
        assert_eq!(apply_time(Some(""), ""), None);
        assert_eq!(apply_time(Some("garbage"), "ZW123"), None);
    }

    #[test]
    fn registration_times() {
        assert_eq!(registration_time(None), None);
        assert_eq!(registration_time(Some("")), None);
        assert_eq!(registration_time(Some("unknown")), None);
        let t = registration_time(Some("2016年6月1日")).unwrap();
        assert_eq!(t.precision, Precision::Day);
        assert_eq!(t.rfc3339_beijing(), "2016-06-01T00:00:00+08:00");
        let s = registration_time(Some("2016-06-01 08:00:01.0")).unwrap();
        assert_eq!(s.precision, Precision::Second);
    }

    #[test]
    fn clean_datetimes() {
        let t = datetime(Some("2026-10-31 18:00:00")).unwrap();
        assert_eq!(t.precision, Precision::Second);
        assert_eq!(t.local, at(2026, 10, 31, 18, 0, 0));
        assert_eq!(datetime(Some(" 2026-10-31 18:00:00 ")), Some(t));
        for s in [
            None,
            Some(""),
            Some("2026-10-31"),
            Some("2026-10-31 18:00:00.0"),
            Some("2026/10/31 18:00"),
            Some("20261031"),
            Some("2026-02-30 18:00:00"),
        ] {
            assert_eq!(datetime(s), None, "{s:?}");
        }
    }
}
