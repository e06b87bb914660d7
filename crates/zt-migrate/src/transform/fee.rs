//! V1's fee column, free text (D16).
//!
//! V2 needs a decimal amount; a text that states no amount (`按标准收取`) is
//! not guessed but left for manual review.

/// The fee of an item: an amount with exactly two decimals, or unknown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fee {
    /// E.g. "120.00".
    Amount(String),
    Unknown,
}

pub fn parse_fee(s: Option<&str>) -> Fee {
    let Some(s) = s else {
        return Fee::Unknown;
    };
    let s = s.trim();
    let s = s.strip_suffix('元').unwrap_or(s).trim();
    if s == "免费" {
        return Fee::Amount("0.00".to_string());
    }
    // `parse_amount` would also take "12."; V1's amounts are exactly
    // `\d+(\.\d{1,2})?`, anything else is a text for a person to read.
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    let well_formed = match s.split_once('.') {
        Some((int, frac)) => digits(int) && digits(frac) && frac.len() <= 2,
        None => digits(s),
    };
    if !well_formed {
        return Fee::Unknown;
    }
    zt_domain::item::parse_amount(s).map_or(Fee::Unknown, Fee::Amount)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn amount(s: &str) -> Fee {
        Fee::Amount(s.to_string())
    }

    #[test]
    fn readme_forms() {
        assert_eq!(parse_fee(Some("0")), amount("0.00"));
        assert_eq!(parse_fee(Some("0.00")), amount("0.00"));
        assert_eq!(parse_fee(Some("免费")), amount("0.00"));
        assert_eq!(parse_fee(Some("60.00")), amount("60.00"));
        assert_eq!(parse_fee(Some("200")), amount("200.00"));
        assert_eq!(parse_fee(Some("100元")), amount("100.00"));
        assert_eq!(parse_fee(Some("按标准收取")), Fee::Unknown);
    }

    #[test]
    fn decimals_and_blanks() {
        assert_eq!(parse_fee(Some("12.5")), amount("12.50"));
        assert_eq!(parse_fee(Some("120.05")), amount("120.05"));
        assert_eq!(parse_fee(Some(" 120.00 ")), amount("120.00"));
        assert_eq!(parse_fee(Some("120 元")), amount("120.00"));
        assert_eq!(parse_fee(Some(" 120.5元 ")), amount("120.50"));
        assert_eq!(parse_fee(Some("免费元")), amount("0.00"));
        assert_eq!(parse_fee(Some("007")), amount("7.00"));
    }

    #[test]
    fn unknown() {
        for s in [
            None,
            Some(""),
            Some("  "),
            Some("元"),
            Some("120.005"),
            Some("120."),
            Some(".5"),
            Some("1.2.3"),
            Some("-5"),
            Some("+5"),
            Some("1,200"),
            Some("１２０"),
            Some("120元元"),
            Some("约100元"),
            Some("100元/件"),
            Some("12 0"),
            Some("免 费"),
            Some("99999999999999"),
        ] {
            assert_eq!(parse_fee(s), Fee::Unknown, "{s:?}");
        }
    }
}
