//! Identity numbers (GB 11643-1999) and unified social credit codes
//! (GB 32100-2015) as V1 stored them (README §7, D03–D05).
//!
//! The normalisation only undoes what the typist's form allowed (blanks, a
//! lower-case `x`, the first-generation 15-digit form). A number that still
//! fails is never corrected: guessing a digit could merge two different
//! people, so the account goes to quarantine instead.

use chrono::NaiveDate;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdCard {
    Valid {
        /// 18 characters, `\d{17}[\dX]`.
        number: String,
        /// The stored number had the 15-digit first-generation form (D03).
        upgraded: bool,
        /// The stored text differed from the result by surrounding blanks or
        /// a lower-case `x` (D04).
        trimmed_or_cased: bool,
    },
    Invalid {
        /// "empty" | "length" | "characters" | "birth_date" | "check_character"
        reason: &'static str,
    },
}

pub fn normalise_id_card(stored: Option<&str>) -> IdCard {
    let Some(raw) = stored else {
        return invalid("empty");
    };
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return invalid("empty");
    }
    // ASCII only: a non-ASCII letter must stay what it is and fail below.
    let cased = trimmed.to_ascii_uppercase();
    let trimmed_or_cased = cased != raw;

    let (number, upgraded) = match cased.chars().count() {
        15 => {
            if !cased.bytes().all(|b| b.is_ascii_digit()) {
                return invalid("characters");
            }
            // First-generation numbers only covered births in the 1900s.
            let first17 = format!("{}19{}", &cased[..6], &cased[6..]);
            let Some(check) = check_char(&first17) else {
                return invalid("characters");
            };
            (format!("{first17}{check}"), true)
        }
        18 => (cased, false),
        _ => return invalid("length"),
    };

    let bytes = number.as_bytes();
    let body_ok = bytes[..17].iter().all(u8::is_ascii_digit);
    let last = bytes[17];
    if !body_ok || !(last.is_ascii_digit() || last == b'X') {
        return invalid("characters");
    }
    if birth_date(&number[6..14]).is_none() {
        return invalid("birth_date");
    }
    if check_char(&number[..17]) != Some(char::from(last)) {
        return invalid("check_character");
    }
    IdCard::Valid {
        number,
        upgraded,
        trimmed_or_cased,
    }
}

/// The GB 11643 check character of the first 17 digits; None unless the input
/// is exactly 17 ASCII digits.
/// The rule is the platform's own (`zt_domain::ids`).
pub fn check_char(first17: &str) -> Option<char> {
    zt_domain::ids::id_number_check_char(first17)
}

fn invalid(reason: &'static str) -> IdCard {
    IdCard::Invalid { reason }
}

fn birth_date(yyyymmdd: &str) -> Option<NaiveDate> {
    let y = yyyymmdd.get(..4)?.parse().ok()?;
    let m = yyyymmdd.get(4..6)?.parse().ok()?;
    let d = yyyymmdd.get(6..8)?.parse().ok()?;
    NaiveDate::from_ymd_opt(y, m, d)
}

/// GB 32100 alphabet: the digits and the capitals without I, O, S, V, Z; the
/// position of a character is its value.
const USCC_ALPHABET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
const USCC_WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];

/// Checks the GB 32100 check character of an 18-character credit code. Only
/// the upper-case form is valid: V1's codes are all stored that way.
pub fn is_valid_uscc(s: &str) -> bool {
    let bytes = s.as_bytes();
    if bytes.len() != 18 {
        return false;
    }
    let Some(expected) = uscc_check_value(&bytes[..17]) else {
        return false;
    };
    uscc_value(bytes[17]) == Some(expected)
}

fn uscc_value(b: u8) -> Option<u32> {
    let pos = USCC_ALPHABET.iter().position(|c| *c == b)?;
    u32::try_from(pos).ok()
}

/// The value (0–30) of the check character of the first 17 characters.
fn uscc_check_value(first17: &[u8]) -> Option<u32> {
    if first17.len() != 17 {
        return None;
    }
    let mut sum = 0;
    for (b, w) in first17.iter().zip(USCC_WEIGHTS) {
        sum += uscc_value(*b)? * w;
    }
    Some((31 - sum % 31) % 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid(number: &str, upgraded: bool, trimmed_or_cased: bool) -> IdCard {
        IdCard::Valid {
            number: number.to_string(),
            upgraded,
            trimmed_or_cased,
        }
    }

    /// Makes a valid 18-digit number from 17 digits.
    fn with_check(first17: &str) -> String {
        format!("{first17}{}", check_char(first17).unwrap())
    }

    #[test]
    fn readme_check_character_example() {
        assert_eq!(check_char("43990219850317002"), Some('5'));
    }

    #[test]
    fn check_char_maps_every_remainder() {
        // Remainders 0..=10 must each come out; 2 is the X.
        let mut seen = std::collections::BTreeSet::new();
        for n in 0..200u32 {
            let first17 = format!("43990219850317{n:03}");
            seen.insert(check_char(&first17).unwrap());
        }
        assert_eq!(seen.len(), 11);
        assert!(seen.contains(&'X'));
    }

    #[test]
    fn check_char_rejects_bad_input() {
        assert_eq!(check_char(""), None);
        assert_eq!(check_char("4399021985031700"), None);
        assert_eq!(check_char("439902198503170025"), None);
        assert_eq!(check_char("4399021985031700X"), None);
        assert_eq!(check_char("4399021985031700２"), None);
    }

    #[test]
    fn readme_upgrade_example() {
        assert_eq!(
            normalise_id_card(Some("439902790101123")),
            valid("439902197901011236", true, false)
        );
    }

    #[test]
    fn clean_number_is_unchanged() {
        assert_eq!(
            normalise_id_card(Some("439902198503170025")),
            valid("439902198503170025", false, false)
        );
    }

    #[test]
    fn lower_case_x_and_blanks() {
        let x = (0..1000u32)
            .map(|n| format!("43990219850317{n:03}"))
            .find(|f| check_char(f) == Some('X'))
            .unwrap();
        let upper = format!("{x}X");
        let lower = format!("{x}x");
        assert_eq!(normalise_id_card(Some(&upper)), valid(&upper, false, false));
        assert_eq!(normalise_id_card(Some(&lower)), valid(&upper, false, true));
        let padded = format!(" {lower}\t");
        assert_eq!(normalise_id_card(Some(&padded)), valid(&upper, false, true));
        assert_eq!(
            normalise_id_card(Some(" 439902790101123 ")),
            valid("439902197901011236", true, true)
        );
    }

    #[test]
    fn empty() {
        for s in [None, Some(""), Some("   ")] {
            assert_eq!(
                normalise_id_card(s),
                IdCard::Invalid { reason: "empty" },
                "{s:?}"
            );
        }
    }

    #[test]
    fn wrong_length() {
        for s in [
            "4399021985031700",
            "43990219850317002",
            "4399021985031700255",
            "43990279010112",
            "4399 0219 8503 1700 25",
        ] {
            assert_eq!(
                normalise_id_card(Some(s)),
                IdCard::Invalid { reason: "length" },
                "{s}"
            );
        }
    }

    #[test]
    fn wrong_characters() {
        for s in [
            "43990219850317002A",
            "4399021985031700X5",
            "X39902198503170025",
            "４39902198503170025",
            "43990279010112X",
            "4399027901011x3",
        ] {
            assert_eq!(
                normalise_id_card(Some(s)),
                IdCard::Invalid {
                    reason: "characters"
                },
                "{s}"
            );
        }
    }

    #[test]
    fn invalid_birth_dates() {
        let feb30 = with_check("43990219850230002");
        assert_eq!(
            normalise_id_card(Some(&feb30)),
            IdCard::Invalid {
                reason: "birth_date"
            }
        );
        let month13 = with_check("43990219851301002");
        assert_eq!(
            normalise_id_card(Some(&month13)),
            IdCard::Invalid {
                reason: "birth_date"
            }
        );
        // 1979-02-29 does not exist; the upgrade must not hide it.
        assert_eq!(
            normalise_id_card(Some("439902790229123")),
            IdCard::Invalid {
                reason: "birth_date"
            }
        );
        assert!(matches!(
            normalise_id_card(Some("439902800229123")),
            IdCard::Valid { .. }
        ));
    }

    #[test]
    fn wrong_check_character_is_never_corrected() {
        for wrong in ['0', '1', '9', 'X'] {
            let s = format!("43990219850317002{wrong}");
            assert_eq!(
                normalise_id_card(Some(&s)),
                IdCard::Invalid {
                    reason: "check_character"
                },
                "{s}"
            );
        }
        let lower = "43990219850317002x";
        assert_eq!(
            normalise_id_card(Some(lower)),
            IdCard::Invalid {
                reason: "check_character"
            }
        );
    }

    #[test]
    fn upgraded_and_eighteen_digit_forms_agree() {
        let IdCard::Valid { number, .. } = normalise_id_card(Some("439902790101123")) else {
            panic!("should be valid");
        };
        assert_eq!(
            normalise_id_card(Some(&number)),
            valid(&number, false, false)
        );
    }

    #[test]
    fn readme_uscc_example() {
        assert_eq!(uscc_check_value(b"91439902MA4L8E5K0"), Some(8));
        assert!(is_valid_uscc("91439902MA4L8E5K08"));
    }

    #[test]
    fn uscc_wrong_check_or_form() {
        for s in [
            "",
            "91439902MA4L8E5K0",
            "91439902MA4L8E5K080",
            "91439902MA4L8E5K07",
            "91439902MA4L8E5K0I",
            "91439902ma4l8e5k08",
            "91439902MI4L8E5K08",
            "91439902MO4L8E5K08",
            "91439902MA4L8E5K0８",
            "91439902MA4L8E5Ké",
        ] {
            assert!(!is_valid_uscc(s), "{s:?}");
        }
    }

    #[test]
    fn uscc_check_can_be_zero_and_letters() {
        // Every one of the 31 check values is reachable and validates.
        let mut seen = std::collections::BTreeSet::new();
        for c in USCC_ALPHABET.iter().map(|b| char::from(*b)) {
            let first17 = format!("11439900MB{c}123456");
            let value = uscc_check_value(first17.as_bytes()).unwrap();
            let check = char::from(USCC_ALPHABET[usize::try_from(value).unwrap()]);
            assert!(is_valid_uscc(&format!("{first17}{check}")));
            seen.insert(check);
        }
        assert_eq!(seen.len(), 31);
    }
}
