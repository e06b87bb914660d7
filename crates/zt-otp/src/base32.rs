//! RFC 4648 §6 base32 (alphabet `A–Z2–7`), as used for TOTP secrets in
//! `otpauth://` URIs. Encoding writes upper case without `=` padding (what
//! authenticator apps expect); decoding accepts either case and optional
//! trailing padding, and refuses anything non-canonical.

const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// Upper-case base32 of `data`, no padding.
pub fn encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(5) * 8);
    let mut buffer: u16 = 0;
    let mut bits: u32 = 0;
    for &byte in data {
        buffer = (buffer << 8) | u16::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[usize::from((buffer >> bits) & 0x1f)]));
        }
        // Keep only the bits not yet written.
        buffer &= (1 << bits) - 1;
    }
    if bits > 0 {
        out.push(char::from(
            ALPHABET[usize::from((buffer << (5 - bits)) & 0x1f)],
        ));
    }
    out
}

fn value(c: u8) -> Option<u16> {
    match c {
        b'A'..=b'Z' => Some(u16::from(c - b'A')),
        b'a'..=b'z' => Some(u16::from(c - b'a')),
        b'2'..=b'7' => Some(u16::from(c - b'2') + 26),
        _ => None,
    }
}

/// Decodes base32 (either case, optional trailing `=`). `None` for a
/// character outside the alphabet, an impossible length, wrong padding, or
/// non-zero bits left over after the last byte (a non-canonical encoding).
pub fn decode(text: &str) -> Option<Vec<u8>> {
    let unpadded = text.trim_end_matches('=').as_bytes();
    let padding = text.len() - unpadded.len();
    // Padding, when present, completes the last block of 8 (and is no block
    // of its own); 1, 3 or 6 characters in a last block cannot come from
    // whole bytes.
    let padding_ok = padding == 0 || (padding < 8 && text.len().is_multiple_of(8));
    if !padding_ok || matches!(unpadded.len() % 8, 1 | 3 | 6) {
        return None;
    }
    let mut out = Vec::with_capacity(unpadded.len() * 5 / 8);
    let mut buffer: u16 = 0;
    let mut bits: u32 = 0;
    for &c in unpadded {
        buffer = (buffer << 5) | value(c)?;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((buffer >> bits) & 0xff).ok()?);
            buffer &= (1 << bits) - 1;
        }
    }
    // Leftover bits (fewer than 8) must be zero padding bits.
    if buffer != 0 {
        return None;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4648 §10 test vectors.
    const VECTORS: [(&str, &str); 7] = [
        ("", ""),
        ("f", "MY"),
        ("fo", "MZXQ"),
        ("foo", "MZXW6"),
        ("foob", "MZXW6YQ"),
        ("fooba", "MZXW6YTB"),
        ("foobar", "MZXW6YTBOI"),
    ];

    #[test]
    fn rfc4648_vectors_encode_without_padding() {
        for (plain, encoded) in VECTORS {
            assert_eq!(encode(plain.as_bytes()), encoded, "{plain:?}");
        }
        assert_eq!(encode(b"foobar"), "MZXW6YTBOI");
    }

    #[test]
    fn rfc4648_vectors_decode_padded_unpadded_and_lower_case() {
        let padded = [
            "",
            "MY======",
            "MZXQ====",
            "MZXW6===",
            "MZXW6YQ=",
            "MZXW6YTB",
            "MZXW6YTBOI======",
        ];
        for ((plain, encoded), padded) in VECTORS.iter().zip(padded) {
            assert_eq!(decode(encoded).as_deref(), Some(plain.as_bytes()));
            assert_eq!(decode(padded).as_deref(), Some(plain.as_bytes()));
            assert_eq!(
                decode(&encoded.to_lowercase()).as_deref(),
                Some(plain.as_bytes())
            );
        }
    }

    #[test]
    fn round_trip_all_lengths_and_byte_values() {
        for len in 0..70usize {
            let data: Vec<u8> = (0..len)
                .map(|i| u8::try_from((i * 37 + len * 11) % 256).unwrap())
                .collect();
            assert_eq!(decode(&encode(&data)), Some(data));
        }
        let all: Vec<u8> = (0..=255u8).collect();
        assert_eq!(decode(&encode(&all)), Some(all));
    }

    #[test]
    fn refuses_bad_input() {
        assert_eq!(decode("MZXW6YTB0I"), None, "0 is not base32");
        assert_eq!(decode("MZXW6YTB1I"), None, "1 is not base32");
        assert_eq!(decode("MZXW 6YTB"), None, "spaces are the caller's job");
        assert_eq!(decode("M"), None, "impossible length 1");
        assert_eq!(decode("MZX"), None, "impossible length 3");
        assert_eq!(decode("MZXW6Y"), None, "impossible length 6");
        assert_eq!(decode("MZ"), None, "non-zero trailing bits");
        assert_eq!(decode("MY=="), None, "padding to no multiple of 8");
        assert_eq!(decode("MY=A===="), None, "padding inside");
        assert_eq!(decode("========"), None, "padding only");
        assert_eq!(decode("政通"), None);
    }
}
