//! The latin1 table `t_approve_log`, which holds GBK bytes (README §5, D11).
//!
//! The reader hands over the raw bytes of the three text columns. Most rows are
//! GBK; two repairs left other encodings behind, recognisable only from the row
//! as a whole (one column alone may be pure ASCII, or may look like another
//! encoding by chance).

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Gbk,
    /// Written by the 2021–2022 mobile approval app over a UTF-8 connection.
    Utf8,
    /// GBK bytes read as latin1 and written back as UTF-8 by the 2018 repair.
    Double,
}

impl Encoding {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Gbk => "gbk",
            Self::Utf8 => "utf8",
            Self::Double => "double",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedLog {
    pub node: String,
    pub action: String,
    pub opinion: String,
    pub encoding: Encoding,
    /// A decoded column contains `?`: V1's encoder put one in place of each
    /// character outside GBK, and the original cannot be recovered.
    pub damaged: bool,
    /// The GBK bytes were not valid GBK and needed replacement characters.
    pub undecodable: bool,
}

/// MySQL's latin1 at 0x80–0x9F: Windows-1252, with the five positions that
/// Windows-1252 leaves undefined passed through as the C1 control of the same
/// number (so every byte value round-trips).
const CP1252_80_9F: [char; 32] = [
    '\u{20AC}', // 0x80 €
    '\u{0081}', // 0x81 undefined
    '\u{201A}', // 0x82 ‚
    '\u{0192}', // 0x83 ƒ
    '\u{201E}', // 0x84 „
    '\u{2026}', // 0x85 …
    '\u{2020}', // 0x86 †
    '\u{2021}', // 0x87 ‡
    '\u{02C6}', // 0x88 ˆ
    '\u{2030}', // 0x89 ‰
    '\u{0160}', // 0x8A Š
    '\u{2039}', // 0x8B ‹
    '\u{0152}', // 0x8C Œ
    '\u{008D}', // 0x8D undefined
    '\u{017D}', // 0x8E Ž
    '\u{008F}', // 0x8F undefined
    '\u{0090}', // 0x90 undefined
    '\u{2018}', // 0x91 ‘
    '\u{2019}', // 0x92 ’
    '\u{201C}', // 0x93 “
    '\u{201D}', // 0x94 ”
    '\u{2022}', // 0x95 •
    '\u{2013}', // 0x96 –
    '\u{2014}', // 0x97 —
    '\u{02DC}', // 0x98 ˜
    '\u{2122}', // 0x99 ™
    '\u{0161}', // 0x9A š
    '\u{203A}', // 0x9B ›
    '\u{0153}', // 0x9C œ
    '\u{009D}', // 0x9D undefined
    '\u{017E}', // 0x9E ž
    '\u{0178}', // 0x9F Ÿ
];

/// The byte that MySQL's latin1 stores for `c`, if `c` is in its repertoire.
fn latin1_byte(c: char) -> Option<u8> {
    let code = u32::from(c);
    if code < 0x80 || (0xA0..=0xFF).contains(&code) {
        return u8::try_from(code).ok();
    }
    let index = CP1252_80_9F.iter().position(|t| *t == c)?;
    u8::try_from(0x80 + index).ok()
}

pub fn decode_log_row(
    node: Option<&[u8]>,
    action: Option<&[u8]>,
    opinion: Option<&[u8]>,
) -> DecodedLog {
    let columns = [node, action, opinion].map(|c| c.unwrap_or_default());
    let encoding = classify(&columns);
    let mut undecodable = false;
    let [node, action, opinion] = columns.map(|bytes| match encoding {
        Encoding::Gbk => gbk(bytes, &mut undecodable),
        Encoding::Utf8 => String::from_utf8_lossy(bytes).into_owned(),
        Encoding::Double => {
            let original: Vec<u8> = String::from_utf8_lossy(bytes)
                .chars()
                .filter_map(latin1_byte)
                .collect();
            gbk(&original, &mut undecodable)
        }
    });
    let damaged = [&node, &action, &opinion].iter().any(|t| t.contains('?'));
    DecodedLog {
        node,
        action,
        opinion,
        encoding,
        damaged,
        undecodable,
    }
}

/// README §5's rule, over the row: V1 holds no GBK row that is also valid
/// UTF-8, so trying UTF-8 first misreads none, and real UTF-8 rows contain
/// Chinese, which latin1 cannot spell.
fn classify(columns: &[&[u8]; 3]) -> Encoding {
    let mut texts = Vec::with_capacity(columns.len());
    for bytes in columns {
        match std::str::from_utf8(bytes) {
            Ok(text) => texts.push(text),
            Err(_) => return Encoding::Gbk,
        }
    }
    // Pure ASCII is the same text in every encoding; GBK is what V1 wrote.
    if texts.iter().all(|t| t.is_ascii()) {
        return Encoding::Gbk;
    }
    if texts
        .iter()
        .all(|t| t.chars().all(|c| latin1_byte(c).is_some()))
    {
        Encoding::Double
    } else {
        Encoding::Utf8
    }
}

fn gbk(bytes: &[u8], undecodable: &mut bool) -> String {
    if let Some(text) = encoding_rs::GBK.decode_without_bom_handling_and_without_replacement(bytes)
    {
        return text.into_owned();
    }
    *undecodable = true;
    encoding_rs::GBK
        .decode_without_bom_handling(bytes)
        .0
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gbk_bytes(s: &str) -> Vec<u8> {
        let (bytes, _, unmappable) = encoding_rs::GBK.encode(s);
        assert!(!unmappable, "{s} should be in GBK");
        bytes.into_owned()
    }

    /// What the 2018 repair did: GBK bytes read as latin1, written as UTF-8.
    fn double(s: &str) -> Vec<u8> {
        let latin1: String = gbk_bytes(s)
            .iter()
            .map(|b| match b {
                0x80..=0x9F => CP1252_80_9F[usize::from(b - 0x80)],
                _ => char::from(*b),
            })
            .collect();
        latin1.into_bytes()
    }

    fn one(bytes: &[u8]) -> DecodedLog {
        decode_log_row(None, Some(bytes), None)
    }

    #[test]
    fn table_matches_windows_1252() {
        for (i, want) in CP1252_80_9F.iter().enumerate() {
            let byte = [u8::try_from(0x80 + i).unwrap()];
            let (decoded, _) = encoding_rs::WINDOWS_1252.decode_without_bom_handling(&byte);
            assert_eq!(decoded.chars().next(), Some(*want), "0x{:02X}", byte[0]);
        }
    }

    #[test]
    fn every_byte_round_trips_through_latin1() {
        for b in 0..=255u8 {
            let c = match b {
                0x80..=0x9F => CP1252_80_9F[usize::from(b - 0x80)],
                _ => char::from(b),
            };
            assert_eq!(latin1_byte(c), Some(b));
        }
        assert_eq!(latin1_byte('受'), None);
        assert_eq!(latin1_byte('\u{0080}'), None);
        assert_eq!(latin1_byte('\u{0100}'), None);
    }

    #[test]
    fn gbk_row() {
        let d = one(&[0xCA, 0xDC, 0xC0, 0xED]);
        assert_eq!(d.action, "受理");
        assert_eq!(d.encoding, Encoding::Gbk);
        assert!(!d.damaged);
        assert!(!d.undecodable);
        assert_eq!(d.node, "");
        assert_eq!(d.opinion, "");
    }

    #[test]
    fn utf8_row() {
        let d = decode_log_row(
            Some("窗口受理".as_bytes()),
            Some("受理".as_bytes()),
            Some("材料齐全，予以受理。".as_bytes()),
        );
        assert_eq!(d.encoding, Encoding::Utf8);
        assert_eq!(
            (d.node.as_str(), d.action.as_str(), d.opinion.as_str()),
            ("窗口受理", "受理", "材料齐全，予以受理。")
        );
        assert!(!d.damaged && !d.undecodable);
    }

    #[test]
    fn double_encoded_readme_example() {
        let bytes = [0xC3, 0x8A, 0xC3, 0x9C, 0xC3, 0x80, 0xC3, 0xAD];
        assert_eq!(std::str::from_utf8(&bytes).unwrap(), "ÊÜÀí");
        assert_eq!(double("受理"), bytes);
        let d = one(&bytes);
        assert_eq!(d.action, "受理");
        assert_eq!(d.encoding, Encoding::Double);
        assert!(!d.damaged && !d.undecodable);
    }

    #[test]
    fn double_encoded_row_round_trips() {
        let d = decode_log_row(
            Some(&double("科室审核")),
            Some(&double("审核通过")),
            Some(&double("同意。")),
        );
        assert_eq!(d.encoding, Encoding::Double);
        assert_eq!(
            (d.node.as_str(), d.action.as_str(), d.opinion.as_str()),
            ("科室审核", "审核通过", "同意。")
        );
    }

    #[test]
    fn double_encoded_through_cp1252_positions() {
        // GB 2312 characters (审核通过 among them) use bytes ≥ 0xA1 only; the
        // GBK extension characters of names such as 喆, 堃, 昇 reach
        // 0x80–0x9F, where Windows-1252 differs from ISO 8859-1.
        let opinion = "经办人张喆、王堃审核，李昇复核，同意。";
        let raw = gbk_bytes(opinion);
        assert!(
            raw.iter().any(|b| (0x80..=0x9F).contains(b)),
            "the fixture must exercise 0x80–0x9F"
        );
        let stored = double(opinion);
        assert!(std::str::from_utf8(&stored).unwrap().contains('•'));
        let d = decode_log_row(
            Some(&double("分管领导审批")),
            Some(&double("审核通过")),
            Some(&stored),
        );
        assert_eq!(d.encoding, Encoding::Double);
        assert_eq!(d.opinion, opinion);
        assert_eq!(d.action, "审核通过");
        assert!(!d.damaged && !d.undecodable);
    }

    #[test]
    fn double_encoded_undefined_positions_round_trip() {
        // GBK lead bytes 0x81, 0x8D, 0x8F, 0x90, 0x9D are the five positions
        // Windows-1252 leaves undefined.
        let text: String = [0x81u8, 0x8D, 0x8F, 0x90, 0x9D]
            .iter()
            .map(|lead| {
                let pair = [*lead, 0x40];
                let (s, bad) = encoding_rs::GBK.decode_without_bom_handling(&pair);
                assert!(!bad);
                s.into_owned()
            })
            .collect();
        let d = one(&double(&text));
        assert_eq!(d.encoding, Encoding::Double);
        assert_eq!(d.action, text);
    }

    #[test]
    fn row_decides_together() {
        // The node alone would be pure ASCII, the opinion alone double: the
        // row is double, and the ASCII column passes through unchanged.
        let d = decode_log_row(Some(b"node-1"), Some(&double("办结")), Some(b""));
        assert_eq!(d.encoding, Encoding::Double);
        assert_eq!((d.node.as_str(), d.action.as_str()), ("node-1", "办结"));

        // One column is GBK (invalid UTF-8): the whole row is GBK, even if
        // another column happens to be valid UTF-8 Latin text.
        let d = decode_log_row(
            Some(&gbk_bytes("办结")),
            Some(&gbk_bytes("办结")),
            Some(b"OK"),
        );
        assert_eq!(d.encoding, Encoding::Gbk);
        assert_eq!(d.action, "办结");

        // A UTF-8 column with Chinese beside a latin1-looking column: UTF-8.
        let d = decode_log_row(Some("é".as_bytes()), Some("撤回".as_bytes()), None);
        assert_eq!(d.encoding, Encoding::Utf8);
        assert_eq!(d.node, "é");
    }

    #[test]
    fn pure_ascii_row_is_gbk() {
        let d = decode_log_row(Some(b"A"), Some(b"B"), Some(b"C"));
        assert_eq!(d.encoding, Encoding::Gbk);
        assert_eq!(
            (d.node.as_str(), d.action.as_str(), d.opinion.as_str()),
            ("A", "B", "C")
        );
        let empty = decode_log_row(None, None, None);
        assert_eq!(empty.encoding, Encoding::Gbk);
        assert_eq!(empty.opinion, "");
        assert!(!empty.damaged && !empty.undecodable);
    }

    #[test]
    fn lossy_gbk_is_damaged() {
        let d = decode_log_row(
            Some(&gbk_bytes("窗口受理")),
            Some(&gbk_bytes("受理")),
            Some(&gbk_bytes("申请人?某某材料齐全")),
        );
        assert_eq!(d.encoding, Encoding::Gbk);
        assert_eq!(d.opinion, "申请人?某某材料齐全");
        assert!(d.damaged);
        assert!(!d.undecodable);
        let d = one(&double("?办结"));
        assert_eq!(d.encoding, Encoding::Double);
        assert!(d.damaged);
    }

    #[test]
    fn invalid_gbk_is_undecodable() {
        // 0xFF is no GBK byte; a lead byte lacks its trail byte.
        let d = decode_log_row(Some(&[0xCA, 0xDC, 0xFF]), Some(&[0xCA]), None);
        assert_eq!(d.encoding, Encoding::Gbk);
        assert!(d.undecodable);
        assert!(d.node.starts_with('受'));
        assert!(d.node.contains('\u{FFFD}'));
        assert!(!d.damaged);
    }

    #[test]
    fn encoding_names() {
        assert_eq!(Encoding::Gbk.as_str(), "gbk");
        assert_eq!(Encoding::Utf8.as_str(), "utf8");
        assert_eq!(Encoding::Double.as_str(), "double");
    }
}
