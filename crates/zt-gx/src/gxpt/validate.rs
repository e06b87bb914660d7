//! The identifier and field rules of gxpt.md §1 and §4.1, exactly as the
//! platform applies them: no trimming, no case folding.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveTime, TimeZone};
use serde_json::Value;

const ID_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const ID_CHECK: &[u8; 11] = b"10X98765432";
const USCC_ALPHABET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
const USCC_WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];
const ORG_WEIGHTS: [u32; 8] = [3, 7, 9, 10, 5, 8, 4, 2];

/// §1.2: `^[0-9]{17}[0-9X]$` (upper-case X only), a real birth date and the
/// right ISO 7064 MOD 11-2 check character.
pub fn is_valid_id_number(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 18
        || !b[..17].iter().all(u8::is_ascii_digit)
        || !(b[17].is_ascii_digit() || b[17] == b'X')
    {
        return false;
    }
    let num = |r: std::ops::Range<usize>| s[r].parse::<u32>().ok();
    let (Some(y), Some(m), Some(d)) = (num(6..10), num(10..12), num(12..14)) else {
        return false;
    };
    // Python's date() refuses year 0, as the platform does.
    if y == 0 || NaiveDate::from_ymd_opt(y as i32, m, d).is_none() {
        return false;
    }
    let sum: u32 = b[..17]
        .iter()
        .zip(ID_WEIGHTS)
        .map(|(c, w)| u32::from(c - b'0') * w)
        .sum();
    ID_CHECK[(sum % 11) as usize] == b[17]
}

/// §1.3: 18 characters of `0-9 A-H J-N P-R T U W-Y`, the organisation-code
/// check character (position 17) and the code's check character (18).
pub fn is_valid_uscc(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 18 || !b.iter().all(|c| USCC_ALPHABET.contains(c)) {
        return false;
    }
    // Organisation code (GB 11714): positions 9–16, values 0–9 / A–Z → 10–35.
    let org: u32 = b[8..16]
        .iter()
        .zip(ORG_WEIGHTS)
        .map(|(&c, w)| {
            let v = if c.is_ascii_digit() {
                u32::from(c - b'0')
            } else {
                u32::from(c - b'A') + 10
            };
            v * w
        })
        .sum();
    let org_check = match 11 - org % 11 {
        10 => b'X',
        11 => b'0',
        n => b'0' + n as u8,
    };
    if b[16] != org_check {
        return false;
    }
    let mut sum = 0u32;
    for (&c, w) in b[..17].iter().zip(USCC_WEIGHTS) {
        let Some(i) = USCC_ALPHABET.iter().position(|&a| a == c) else {
            return false;
        };
        sum += i as u32 * w;
    }
    USCC_ALPHABET[((31 - sum % 31) % 31) as usize] == b[17]
}

/// `case_no`: `^[A-Za-z0-9][A-Za-z0-9._/-]{0,63}$` (never a `|`).
pub fn is_valid_case_no(s: &str) -> bool {
    pattern(s, |c| matches!(c, b'.' | b'_' | b'/' | b'-'))
}

/// `item_code`, `dept_code`: `^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`.
pub fn is_valid_code(s: &str) -> bool {
    pattern(s, |c| matches!(c, b'.' | b'_' | b'-'))
}

fn pattern(s: &str, extra: impl Fn(u8) -> bool) -> bool {
    let b = s.as_bytes();
    (1..=64).contains(&b.len())
        && b[0].is_ascii_alphanumeric()
        && b[1..]
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || extra(c))
}

/// `occurred_at` of §4.1: `YYYY-MM-DDThh:mm:ss[.fraction]` then `Z` or
/// `±hh:mm`; 1–9 fraction digits; `T`/`Z` may be lower case; seconds 00–59;
/// a real date. Returns the instant with its offset.
pub fn parse_occurred_at(s: &str) -> Option<DateTime<FixedOffset>> {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| -> Option<u32> {
        let part = b.get(r)?;
        if part.iter().all(u8::is_ascii_digit) {
            std::str::from_utf8(part).ok()?.parse().ok()
        } else {
            None
        }
    };
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let (y, mo, d) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    let (h, mi, sec) = (digits(11..13)?, digits(14..16)?, digits(17..19)?);
    let mut i = 19;
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        let mut end = start;
        while end < b.len() && b[end].is_ascii_digit() {
            end += 1;
        }
        if !(1..=9).contains(&(end - start)) {
            return None;
        }
        i = end;
    }
    let offset_secs: i32 = match &b[i..] {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let oh = digits(i + 1..i + 3)?;
            let om = digits(i + 4..i + 6)?;
            if oh > 23 || om > 59 {
                return None;
            }
            let v = (oh * 3600 + om * 60) as i32;
            if *sign == b'-' {
                -v
            } else {
                v
            }
        }
        _ => return None,
    };
    if y == 0 || h > 23 || mi > 59 || sec > 59 {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(y as i32, mo, d)?;
    let time = NaiveTime::from_hms_opt(h, mi, sec)?;
    let offset = FixedOffset::east_opt(offset_secs)?;
    offset.from_local_datetime(&date.and_time(time)).single()
}

/// Largest magnitude of an integer in a case-event payload: 2^53 − 1.
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;
/// Deepest nesting of a case-event payload (the payload object is level 0).
pub const MAX_PAYLOAD_NESTING: usize = 32;
/// Largest canonical record of a case event, in bytes.
pub const MAX_CANONICAL_RECORD: usize = 65_536;

/// The payload rules of §4.1: numbers are integers within ±(2^53−1) (no
/// fractions or exponents), nesting at most 32 levels. `Err` names the
/// offending member.
pub fn check_payload_value(v: &Value, path: &str, depth: usize) -> Result<(), String> {
    if depth > MAX_PAYLOAD_NESTING {
        return Err(format!("{path}: nesting deeper than {MAX_PAYLOAD_NESTING}"));
    }
    match v {
        Value::Null | Value::Bool(_) | Value::String(_) => Ok(()),
        Value::Number(n) => {
            let ok = n
                .as_i64()
                .map(|i| i.unsigned_abs() <= MAX_SAFE_INTEGER)
                .or_else(|| n.as_u64().map(|u| u <= MAX_SAFE_INTEGER))
                .unwrap_or(false);
            if ok {
                Ok(())
            } else if n.is_f64() {
                Err(format!("{path}: numbers must be integers"))
            } else {
                Err(format!("{path}: integer out of range ±(2^53−1)"))
            }
        }
        Value::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, x)| check_payload_value(x, &format!("{path}[{i}]"), depth + 1)),
        Value::Object(map) => map
            .iter()
            .try_for_each(|(k, x)| check_payload_value(x, &format!("{path}.{k}"), depth + 1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_numbers_of_the_fixed_persons_are_valid() {
        for id in [
            "110105198506150110",
            "310104199003080128",
            "440305200812310124",
            "420106194001010113",
            "33010619781123038X",
            "430104199607200116",
            "650102200002290124",
            "320106198809090122",
            "510107197504180116",
            "370202196210010114",
        ] {
            assert!(is_valid_id_number(id), "{id}");
        }
        // §1.2 example: 11010519491231002 → X.
        assert!(is_valid_id_number("11010519491231002X"));
        for bad in [
            "110105198506150111",  // wrong check digit
            "33010619781123038x",  // lower-case x
            "11010519850615011",   // 17 characters
            "1101051985061501100", // 19
            "110105198502300116",  // 30 February
            " 110105198506150110",
            "11010519850615011０",
        ] {
            assert!(!is_valid_id_number(bad), "{bad}");
        }
    }

    #[test]
    fn usccs_of_the_fixed_enterprises_are_valid() {
        for u in [
            "91110108MA01D7K64J",
            "913101157805234266",
            "91440104MA59C2K7XF",
            "92440304MA5FR3N608",
            "91330106MA2H0K3BXT",
        ] {
            assert!(is_valid_uscc(u), "{u}");
        }
        for bad in [
            "91110108MA01D7K64K", // wrong check character
            "91110108MA01D7K65J", // wrong organisation-code check
            "91110108ma01d7k64j", // lower case
            "91110108MA01D7K64",
            "91110108MA01D7KI4J", // I is not in the alphabet
        ] {
            assert!(!is_valid_uscc(bad), "{bad}");
        }
    }

    #[test]
    fn case_no_and_codes() {
        assert!(is_valid_case_no("ZT20250102000001"));
        assert!(is_valid_case_no("a/b.c_d-e"));
        assert!(is_valid_case_no(&"A".repeat(64)));
        assert!(!is_valid_case_no(&"A".repeat(65)));
        assert!(!is_valid_case_no("ZT|1"));
        assert!(!is_valid_case_no("-ZT"));
        assert!(!is_valid_case_no(""));
        assert!(is_valid_code("JZ-XZSP"));
        assert!(!is_valid_code("JZ/XZSP"));
    }

    #[test]
    fn occurred_at_forms() {
        for ok in [
            "2025-01-02T09:30:00+08:00",
            "2025-01-01T17:15:00Z",
            "2025-01-01t17:15:00z",
            "2025-03-03T11:00:00.5+08:00",
            "2025-03-03T11:00:00.123456789-05:30",
            "2024-02-29T00:00:00+23:59",
        ] {
            assert!(parse_occurred_at(ok).is_some(), "{ok}");
        }
        for bad in [
            "2025-03-03T09:30:00",
            "2025-02-30T09:30:00+08:00",
            "2025-03-03T24:00:00Z",
            "2025-03-03T23:59:60Z",
            "2025-03-03T09:30:00.Z",
            "2025-03-03T09:30:00.1234567890Z",
            "2025-03-03 09:30:00Z",
            "2025-03-03T09:30:00+0800",
            "2025-03-03T09:30:00+24:00",
            "0000-01-01T00:00:00Z",
            "2025-3-3T09:30:00Z",
        ] {
            assert!(parse_occurred_at(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn payload_rules() {
        use serde_json::json;
        assert!(check_payload_value(
            &json!({"a": [1, "x", null, true, {"b": -9007199254740991i64}]}),
            "payload",
            0
        )
        .is_ok());
        assert!(check_payload_value(&json!({"fee": 12.5}), "payload", 0).is_err());
        assert!(check_payload_value(&json!({"n": 9007199254740992u64}), "payload", 0).is_err());
        let mut deep = json!(1);
        for _ in 0..32 {
            deep = json!([deep]);
        }
        assert!(check_payload_value(&json!({ "d": deep.clone() }), "payload", 0).is_err());
        assert!(check_payload_value(&deep, "payload", 0).is_ok());
    }
}
