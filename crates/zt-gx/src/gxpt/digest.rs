//! Content identity and the reconciliation digest (gxpt.md §4), as pure
//! functions: the platform computes the same values from what it pushed
//! that gxpt computes from what it stored.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use zt_crypto::sm3_hex;

use super::validate::parse_occurred_at;

/// `canonical_json` of a record (gxpt.md §4.1): sorted members at every
/// level, no whitespace, UTF-8 as itself, minimal escapes.
pub fn canonical_record(record: &Value) -> Vec<u8> {
    crate::json::canonical_json(record)
}

/// `content_sm3 = sm3hex(canonical_json(record))`.
pub fn content_sm3_of(record: &Value) -> String {
    sm3_hex(&canonical_record(record))
}

/// The calendar date in China Standard Time (UTC+08:00) on which an
/// `occurred_at` falls — the reconciliation day it belongs to
/// (`2025-01-01T17:15:00Z` belongs to 2025-01-02). `None` if `occurred_at`
/// is not a valid value of §4.1.
pub fn occurred_date(occurred_at: &str) -> Option<NaiveDate> {
    let at = parse_occurred_at(occurred_at)?;
    Some(at.with_timezone(&zt_domain::time::beijing()).date_naive())
}

/// One stored event as reconciliation sees it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ReconcileEntry {
    pub case_no: String,
    pub seq: u32,
    pub content_sm3: String,
}

impl ReconcileEntry {
    /// `case_no + "|" + decimal(seq) + "|" + content_sm3 + "\n"`.
    pub fn line(&self) -> String {
        format!("{}|{}|{}\n", self.case_no, self.seq, self.content_sm3)
    }
}

/// The count and digest of a reconciliation set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayDigest {
    pub count: u64,
    pub digest: String,
}

/// The digest algorithm of §4.2: one line per entry, lines sorted by their
/// UTF-8 bytes (whole lines, so `ZT1|10|…` < `ZT1|1|…` < `ZT1|2|…`),
/// concatenated, SM3. The empty set gives count 0 and `sm3hex("")`.
pub fn day_digest(entries: &[ReconcileEntry]) -> DayDigest {
    let lines = sorted_lines(entries);
    let mut all = Vec::with_capacity(lines.iter().map(String::len).sum());
    for l in &lines {
        all.extend_from_slice(l.as_bytes());
    }
    DayDigest {
        count: lines.len() as u64,
        digest: sm3_hex(&all),
    }
}

/// The entries in digest order (the order of `entries` in the platform's
/// answer).
pub fn digest_order(entries: &[ReconcileEntry]) -> Vec<ReconcileEntry> {
    let mut v = entries.to_vec();
    v.sort_by(|a, b| a.line().as_bytes().cmp(b.line().as_bytes()));
    v
}

fn sorted_lines(entries: &[ReconcileEntry]) -> Vec<String> {
    let mut lines: Vec<String> = entries.iter().map(ReconcileEntry::line).collect();
    // String's order is the byte order of its UTF-8 encoding.
    lines.sort_unstable();
    lines
}

/// What differs between what the platform pushed (`local`) and what gxpt
/// stored (`platform`) for one day, by `(case_no, seq)`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReconcileDiff {
    /// Pushed (or meant to be) but not stored: push again (idempotent).
    pub missing_on_platform: Vec<ReconcileEntry>,
    /// Stored but not in the local list: investigate.
    pub unexpected_on_platform: Vec<ReconcileEntry>,
    /// Stored with other content than the local one, as `(local, platform)`:
    /// report (a push of the local one answers 409).
    pub conflicting: Vec<(ReconcileEntry, ReconcileEntry)>,
}

impl ReconcileDiff {
    pub fn is_empty(&self) -> bool {
        self.missing_on_platform.is_empty()
            && self.unexpected_on_platform.is_empty()
            && self.conflicting.is_empty()
    }
}

/// Compares two sets of entries by `(case_no, seq)`.
pub fn diff(local: &[ReconcileEntry], platform: &[ReconcileEntry]) -> ReconcileDiff {
    let key = |e: &ReconcileEntry| (e.case_no.clone(), e.seq);
    let remote: BTreeMap<_, _> = platform.iter().map(|e| (key(e), e)).collect();
    let mine: BTreeMap<_, _> = local.iter().map(|e| (key(e), e)).collect();
    let mut d = ReconcileDiff::default();
    for (k, l) in &mine {
        match remote.get(k) {
            None => d.missing_on_platform.push((*l).clone()),
            Some(r) if r.content_sm3 != l.content_sm3 => {
                d.conflicting.push(((*l).clone(), (*r).clone()));
            }
            Some(_) => {}
        }
    }
    for (k, r) in &remote {
        if !mine.contains_key(k) {
            d.unexpected_on_platform.push((*r).clone());
        }
    }
    d
}

#[cfg(test)]
pub(crate) mod tests_support {
    use crate::gxpt::{CaseEvent, CaseEventKind};
    use serde_json::{json, Value};

    /// The three events of the worked example of gxpt.md §4.2.
    pub(crate) fn spec_events() -> Vec<CaseEvent> {
        let mk = |seq, event, at: &str, payload: Value| CaseEvent {
            case_no: "ZT20250102000001".into(),
            seq,
            event,
            occurred_at: at.into(),
            item_code: "XK001".into(),
            dept_code: "JZ-XZSP".into(),
            applicant_id: "110105198506150110".into(),
            payload: payload.as_object().cloned().unwrap(),
        };
        vec![
            mk(
                1,
                CaseEventKind::Submitted,
                "2025-01-02T09:30:00+08:00",
                json!({"channel": "mobile", "materials": ["身份证"]}),
            ),
            mk(
                10,
                CaseEventKind::SupplementRequested,
                "2025-01-02T11:00:00+08:00",
                json!({"note": "补正：身份证复印件不清晰"}),
            ),
            mk(
                2,
                CaseEventKind::Accepted,
                "2025-01-01T17:15:00Z",
                json!({}),
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::tests_support::spec_events;
    use super::*;
    use crate::gxpt::CaseEvent;

    #[test]
    fn canonical_record_of_the_worked_example() {
        let e = &spec_events()[0];
        assert_eq!(
            String::from_utf8(e.canonical_record()).unwrap(),
            r#"{"applicant_id":"110105198506150110","case_no":"ZT20250102000001","dept_code":"JZ-XZSP","event":"SUBMITTED","item_code":"XK001","occurred_at":"2025-01-02T09:30:00+08:00","payload":{"channel":"mobile","materials":["身份证"]},"seq":1}"#
        );
    }

    #[test]
    fn content_sm3_of_the_worked_example() {
        let got: Vec<String> = spec_events().iter().map(CaseEvent::content_sm3).collect();
        assert_eq!(
            got,
            [
                "1f280a5565d7efcccd59687ebed79ffb49a8001c74fc03c6d0ba816c3d6dfc5e",
                "7aa55e2f3dd3ff0d1e4106368d456747a6b7764245a5a38a511c5f5e63bf042d",
                "e0620ccc81639c1be5430a8311ac5e51bcfdb2d09fc45e761fcd4e774f409536",
            ]
        );
        // Member order of the JSON value does not matter.
        let e = &spec_events()[0];
        let reordered: Value = serde_json::from_str(
            r#"{"seq":1,"payload":{"materials":["身份证"],"channel":"mobile"},"occurred_at":"2025-01-02T09:30:00+08:00","item_code":"XK001","event":"SUBMITTED","dept_code":"JZ-XZSP","case_no":"ZT20250102000001","applicant_id":"110105198506150110"}"#,
        )
        .unwrap();
        assert_eq!(content_sm3_of(&reordered), e.content_sm3());
        // The same instant written differently is different content.
        let mut other = e.clone();
        other.occurred_at = "2025-01-02T01:30:00Z".into();
        assert_ne!(other.content_sm3(), e.content_sm3());
    }

    #[test]
    fn reconciliation_digest_of_the_worked_example() {
        let events = spec_events();
        let day = NaiveDate::from_ymd_opt(2025, 1, 2).unwrap();
        // All three belong to 2025-01-02 in UTC+08:00 (17:15Z is 01:15 on the 2nd).
        assert!(events.iter().all(|e| e.occurred_date() == Some(day)));
        let entries: Vec<ReconcileEntry> = events.iter().map(CaseEvent::entry).collect();
        let lines: String = digest_order(&entries)
            .iter()
            .map(ReconcileEntry::line)
            .collect();
        assert_eq!(
            lines,
            "ZT20250102000001|10|7aa55e2f3dd3ff0d1e4106368d456747a6b7764245a5a38a511c5f5e63bf042d\n\
             ZT20250102000001|1|1f280a5565d7efcccd59687ebed79ffb49a8001c74fc03c6d0ba816c3d6dfc5e\n\
             ZT20250102000001|2|e0620ccc81639c1be5430a8311ac5e51bcfdb2d09fc45e761fcd4e774f409536\n"
        );
        assert_eq!(lines.len(), 253);
        assert_eq!(
            day_digest(&entries),
            DayDigest {
                count: 3,
                digest: "01646257ab01d20e190e28f3b380fd23650d4bf3578d36ff2e064ee8b1a5e5cc".into()
            }
        );
        // Input order does not matter.
        let mut rev = entries.clone();
        rev.reverse();
        assert_eq!(day_digest(&rev), day_digest(&entries));
    }

    #[test]
    fn empty_day_digest() {
        assert_eq!(
            day_digest(&[]),
            DayDigest {
                count: 0,
                digest: crate::scheme::SM3_EMPTY_HEX.into()
            }
        );
    }

    #[test]
    fn occurred_date_is_the_date_in_utc_plus_8() {
        let d = |s| occurred_date(s).map(|d| d.to_string());
        assert_eq!(d("2025-01-01T17:15:00Z").as_deref(), Some("2025-01-02"));
        assert_eq!(d("2025-01-01T15:59:59.999Z").as_deref(), Some("2025-01-01"));
        assert_eq!(d("2025-03-03T16:00:00Z").as_deref(), Some("2025-03-04"));
        assert_eq!(
            d("2025-03-03T23:30:00+08:00").as_deref(),
            Some("2025-03-03")
        );
        assert_eq!(
            d("2025-03-03T20:00:00-05:00").as_deref(),
            Some("2025-03-04")
        );
        assert_eq!(d("2025-03-03T09:30:00"), None);
    }

    #[test]
    fn diff_finds_missing_unexpected_and_conflicting() {
        let e = |c: &str, s, h: &str| ReconcileEntry {
            case_no: c.into(),
            seq: s,
            content_sm3: h.into(),
        };
        let local = [e("A", 1, "h1"), e("A", 2, "h2"), e("B", 1, "h3")];
        let remote = [e("A", 1, "h1"), e("B", 1, "hX"), e("C", 9, "h9")];
        let d = diff(&local, &remote);
        assert_eq!(d.missing_on_platform, [e("A", 2, "h2")]);
        assert_eq!(d.unexpected_on_platform, [e("C", 9, "h9")]);
        assert_eq!(d.conflicting, [(e("B", 1, "h3"), e("B", 1, "hX"))]);
        assert!(diff(&local, &local).is_empty());
    }
}
