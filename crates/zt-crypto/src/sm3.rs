//! SM3 (GB/T 32905) hashing and HMAC-SM3, the GM/T-approved replacements for
//! SHA-256 and HMAC-SHA-256. Thin wrappers so the rest of the platform never
//! touches the digest traits directly and always gets fixed-size outputs.

use hmac::{Hmac, Mac};
use sm3::{Digest, Sm3};
use subtle::ConstantTimeEq;

type HmacSm3 = Hmac<Sm3>;

/// SM3 digest of `data`.
pub fn sm3_digest(data: &[u8]) -> [u8; 32] {
    Sm3::digest(data).into()
}

/// Lower-case hex SM3 digest of `data` (64 characters), the form used in
/// logs, audit records and file checksums.
pub fn sm3_hex(data: &[u8]) -> String {
    hex::encode(sm3_digest(data))
}

/// HMAC-SM3 (RFC 2104 construction over SM3) of `msg` under `key`. Keys
/// longer than the 64-byte block are hashed first, as HMAC requires.
pub fn hmac_sm3(key: &[u8], msg: &[u8]) -> [u8; 32] {
    hmac_sm3_parts(key, &[msg])
}

/// HMAC-SM3 over the concatenation of `parts`, without allocating the
/// concatenation (used for domain-separated blind indexes).
pub(crate) fn hmac_sm3_parts(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = <HmacSm3 as Mac>::new_from_slice(key)
        .expect("HMAC accepts keys of any length, so new_from_slice cannot fail");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// Compares two byte strings in time that depends only on their lengths, so
/// that checking a MAC or token does not leak how many leading bytes matched.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    // GB/T 32905-2016, appendix A, example 1: "abc".
    #[test]
    fn sm3_gbt32905_example_1_abc() {
        assert_eq!(
            sm3_hex(b"abc"),
            "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
        );
    }

    // GB/T 32905-2016, appendix A, example 2: "abcd" x 16 (512 bits).
    #[test]
    fn sm3_gbt32905_example_2_abcd_x16() {
        let msg = b"abcd".repeat(16);
        assert_eq!(msg.len(), 64);
        assert_eq!(
            sm3_hex(&msg),
            "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"
        );
    }

    // Expected values from an independent implementation, CPython's hmac
    // module over OpenSSL's SM3:
    //   python3 -c "import hmac; print(hmac.new(KEY, MSG, 'sm3').hexdigest())"
    #[test]
    fn hmac_sm3_matches_python_short_key() {
        let tag = hmac_sm3(b"key", b"The quick brown fox jumps over the lazy dog");
        assert_eq!(
            hex::encode(tag),
            "bd4a34077888162b210645b8ebf74b9af357303789357a27c7fc457244ebd398"
        );
    }

    #[test]
    fn hmac_sm3_matches_python_key_longer_than_block() {
        // 100-byte key 00 01 .. 63 (longer than SM3's 64-byte block, so it is
        // hashed first): python3 ... hmac.new(bytes(range(100)), b'abc', 'sm3')
        let key: Vec<u8> = (0u8..100).collect();
        assert_eq!(
            hex::encode(hmac_sm3(&key, b"abc")),
            "efa0b8554e9475092d2f978d8855627a45325381b7f478f6e164faa04fd5c844"
        );
    }

    #[test]
    fn hmac_sm3_matches_python_empty_key_and_message() {
        // python3 ... hmac.new(b'', b'', 'sm3')
        assert_eq!(
            hex::encode(hmac_sm3(b"", b"")),
            "0d23f72ba15e9c189a879aefc70996b06091de6e64d31b7a84004356dd915261"
        );
    }

    #[test]
    fn hmac_parts_equals_hmac_of_concatenation() {
        assert_eq!(
            hmac_sm3_parts(b"k", &[b"users.id", b"\0", b"110101"]),
            hmac_sm3(b"k", b"users.id\x00110101")
        );
    }

    #[test]
    fn ct_eq_compares_content_and_length() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"abcd"));
        assert!(ct_eq(b"", b""));
    }
}
