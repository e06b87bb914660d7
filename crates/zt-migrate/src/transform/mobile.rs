//! Mobile numbers as typed into V1 (README §7, D06).
//!
//! V1 accepted whatever the applicant typed; the typists' habits (blanks,
//! hyphens, the country code) are removed, nothing else is repaired.

/// The 11-digit mainland number, or None when what remains after removing
/// blanks, hyphens and a `+86`/`86` prefix is not one.
pub fn normalise_mobile(stored: Option<&str>) -> Option<String> {
    let compact: String = stored?
        .chars()
        .filter(|c| !c.is_ascii_whitespace() && *c != '-')
        .collect();
    let number = ["+86", "86"]
        .iter()
        .find_map(|prefix| {
            compact
                .strip_prefix(prefix)
                .filter(|rest| rest.len() == 11 && rest.bytes().all(|b| b.is_ascii_digit()))
        })
        .unwrap_or(&compact);
    let is_mobile =
        number.len() == 11 && number.starts_with('1') && number.bytes().all(|b| b.is_ascii_digit());
    is_mobile.then(|| number.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readme_examples() {
        for s in [
            "+86 138-0013-8000",
            "86-13800138000",
            "138 0013 8000",
            "13800138000",
            " 13800138000\t",
            "+8613800138000",
            "8613800138000",
            "+86-138-0013-8000",
            "138-0013-8000",
            "1 3 8 0 0 1 3 8 0 0 0",
        ] {
            assert_eq!(
                normalise_mobile(Some(s)).as_deref(),
                Some("13800138000"),
                "{s:?}"
            );
        }
    }

    #[test]
    fn a_number_starting_with_86_is_not_stripped() {
        // Eleven digits already: "86" here is not a country code.
        assert_eq!(normalise_mobile(Some("86138001380")), None);
        assert_eq!(
            normalise_mobile(Some("+8686138001380")).as_deref(),
            None,
            "prefix plus 11 digits not starting with 1"
        );
    }

    #[test]
    fn rejects_non_mobiles() {
        for s in [
            None,
            Some(""),
            Some("   "),
            Some("1380013800"),
            Some("138001380001"),
            Some("23800138000"),
            Some("0731-88888888"),
            Some("+85213800138000"),
            Some("008613800138000"),
            Some("+86 1380013800"),
            Some("+86"),
            Some("138O0138000"),
            Some("１３８00138000"),
            Some("138\u{3000}0013\u{3000}8000"),
            Some("138.0013.8000"),
            Some("+1 13800138000"),
        ] {
            assert_eq!(normalise_mobile(s), None, "{s:?}");
        }
    }
}
