//! One-time recovery codes, for a user who lost the authenticator.
//!
//! A code is 16 symbols from a 31-symbol alphabet without `0 O 1 I L`, shown
//! as four groups of four: `7KQ4-M2XD-9PRT-W3HN`. That is 16 · log2(31) ≈
//! 79.3 bits. (Three groups of four would be only ≈ 59.5 bits: with 0/O/1/I/L
//! removed the alphabet has 31 symbols, not 32, so 12 symbols cannot reach 60
//! bits.)
//!
//! Only [`fingerprint`]s are stored: SM3 (GM/T 0004, the platform's digest
//! elsewhere too) of the normalized code, lower-case hex. A salted slow hash
//! is not needed: ≈ 2^79 candidates cannot be searched even at hardware hash
//! speed, and an unsalted digest lets the caller find the code with one
//! indexed lookup (`WHERE fingerprint = ?`) and delete that row, which makes
//! it one-time.

use std::collections::HashSet;

use rand::rngs::OsRng;
use rand::Rng;
use sm3::{Digest, Sm3};

/// Symbols of a recovery code: digits and upper-case letters without the
/// easily confused `0 O 1 I L`.
pub const ALPHABET: &[u8; 31] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
/// Symbols per group.
pub const GROUP_LEN: usize = 4;
/// Groups per code.
pub const GROUPS: usize = 4;
/// Symbols per code (without dashes): the length of a normalized code.
pub const CODE_LEN: usize = GROUP_LEN * GROUPS;
/// How many codes a user is given by default.
pub const DEFAULT_COUNT: usize = 10;

fn random_code(rng: &mut impl Rng) -> String {
    let mut out = String::with_capacity(CODE_LEN + GROUPS - 1);
    for i in 0..CODE_LEN {
        if i > 0 && i % GROUP_LEN == 0 {
            out.push('-');
        }
        // `gen_range` is unbiased (rejection sampling).
        out.push(char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]));
    }
    out
}

/// `n` distinct new codes in display form (`XXXX-XXXX-XXXX-XXXX`), from the
/// operating system's random source. Show them once; store [`fingerprint`]s.
pub fn generate_recovery_codes(n: usize) -> Vec<String> {
    let mut seen = HashSet::with_capacity(n);
    let mut codes = Vec::with_capacity(n);
    while codes.len() < n {
        let code = random_code(&mut OsRng);
        if seen.insert(code.clone()) {
            codes.push(code);
        }
    }
    codes
}

/// The canonical form of an entered code: upper case, white space and dashes
/// removed (full-width characters from a Chinese IME folded to ASCII).
/// `None` unless exactly [`CODE_LEN`] symbols of [`ALPHABET`] remain.
pub fn normalize(input: &str) -> Option<String> {
    let mut out = String::with_capacity(CODE_LEN);
    for c in input.chars().map(crate::fold_full_width) {
        if c.is_whitespace() || c == '-' {
            continue;
        }
        let c = c.to_ascii_uppercase();
        if !c.is_ascii() || !ALPHABET.contains(&(c as u8)) || out.len() == CODE_LEN {
            return None;
        }
        out.push(c);
    }
    (out.len() == CODE_LEN).then_some(out)
}

/// What to store for a code: lower-case hex SM3 of its [`normalize`]d form,
/// so `7kq4 m2xd …` and `7KQ4-M2XD-…` give the same value. Input that does
/// not normalize is hashed as given; that never equals a stored fingerprint
/// (call [`normalize`] first to tell the user about a typo).
pub fn fingerprint(code: &str) -> String {
    let normalized = normalize(code);
    let digest = Sm3::digest(normalized.as_deref().unwrap_or(code).as_bytes());
    let mut hex = String::with_capacity(64);
    for byte in digest {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        hex.push(char::from(HEX[usize::from(byte >> 4)]));
        hex.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    hex
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alphabet_is_unambiguous_and_entropy_is_enough() {
        assert_eq!(ALPHABET.len(), 31);
        for banned in *b"0O1IL" {
            assert!(!ALPHABET.contains(&banned));
        }
        let unique: HashSet<u8> = ALPHABET.iter().copied().collect();
        assert_eq!(unique.len(), ALPHABET.len());
        let bits = CODE_LEN as f64 * (ALPHABET.len() as f64).log2();
        assert!(bits >= 60.0, "{bits} bits");
    }

    #[test]
    fn codes_have_the_display_shape() {
        let codes = generate_recovery_codes(DEFAULT_COUNT);
        assert_eq!(codes.len(), 10);
        for code in &codes {
            let groups: Vec<&str> = code.split('-').collect();
            assert_eq!(groups.len(), GROUPS, "{code}");
            for group in groups {
                assert_eq!(group.len(), GROUP_LEN, "{code}");
                assert!(group.bytes().all(|b| ALPHABET.contains(&b)), "{code}");
            }
        }
    }

    #[test]
    fn codes_are_unique() {
        let codes = generate_recovery_codes(500);
        let unique: HashSet<&String> = codes.iter().collect();
        assert_eq!(unique.len(), 500);
        assert!(generate_recovery_codes(0).is_empty());
        // Two batches share nothing either.
        let other = generate_recovery_codes(500);
        assert!(other.iter().all(|c| !unique.contains(c)));
    }

    #[test]
    fn every_symbol_is_used() {
        let codes = generate_recovery_codes(200); // 3200 symbols
        let used: HashSet<u8> = codes
            .iter()
            .flat_map(|c| c.bytes())
            .filter(|b| *b != b'-')
            .collect();
        assert_eq!(used.len(), ALPHABET.len());
    }

    #[test]
    fn normalize_round_trips() {
        for code in generate_recovery_codes(20) {
            let normal = normalize(&code).unwrap();
            assert_eq!(normal.len(), CODE_LEN);
            assert_eq!(normal, code.replace('-', ""));
            assert_eq!(normalize(&normal).as_deref(), Some(normal.as_str()));
            let typed = format!("  {} ", code.to_lowercase().replace('-', " - "));
            assert_eq!(normalize(&typed).as_deref(), Some(normal.as_str()));
        }
        assert_eq!(
            normalize("７ＫＱ４－Ｍ２ＸＤ　９ＰＲＴ－Ｗ３ＨＮ").as_deref(),
            Some("7KQ4M2XD9PRTW3HN"),
            "full-width IME input"
        );
    }

    #[test]
    fn normalize_refuses_wrong_alphabet_and_length() {
        assert_eq!(
            normalize("7KQ4-M2XD-9PRT-W3HN").as_deref(),
            Some("7KQ4M2XD9PRTW3HN")
        );
        for bad in [
            "7KQ4-M2XD-9PRT-W3H0", // zero
            "7KQ4-M2XD-9PRT-W3HO", // letter O
            "7KQ4-M2XD-9PRT-W3H1", // one
            "7KQ4-M2XD-9PRT-W3HI", // letter I
            "7KQ4-M2XD-9PRT-W3HL", // letter L
            "7kq4-m2xd-9prt-w3hl", // l in lower case
            "7KQ4-M2XD-9PRT-W3H!",
            "7KQ4-M2XD-9PRT-W3H政",
            "7KQ4_M2XD_9PRT_W3HN",
            "7KQ4-M2XD-9PRT",        // too short
            "7KQ4-M2XD-9PRT-W3HN-A", // too long
            "",
            "----",
        ] {
            assert_eq!(normalize(bad), None, "{bad}");
        }
    }

    #[test]
    fn fingerprint_is_sm3_hex_of_the_normalized_code() {
        // GM/T 0004 appendix A example 1: SM3("abc").
        assert_eq!(
            fingerprint("abc"),
            "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
        );
        let fp = fingerprint("7KQ4-M2XD-9PRT-W3HN");
        assert_eq!(fp.len(), 64);
        assert!(fp
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        assert_eq!(fp, fingerprint("7KQ4M2XD9PRTW3HN"));
        assert_eq!(fp, fingerprint(" 7kq4 m2xd 9prt w3hn "));
        assert_ne!(fp, fingerprint("7KQ4-M2XD-9PRT-W3HP"));
        assert_eq!(fp, {
            let d = Sm3::digest(b"7KQ4M2XD9PRTW3HN");
            d.iter().map(|b| format!("{b:02x}")).collect::<String>()
        });
    }

    #[test]
    fn fingerprints_of_a_batch_are_distinct() {
        let codes = generate_recovery_codes(DEFAULT_COUNT);
        let fps: HashSet<String> = codes.iter().map(|c| fingerprint(c)).collect();
        assert_eq!(fps.len(), codes.len());
    }
}
