//! The `zt1:` text envelope: one SM4-GCM ciphertext plus the id of the key
//! that made it, in a form that fits a TEXT column and survives copy/paste,
//! CSV export and JSON without escaping.
//!
//! ```text
//! zt1:<kid>:<base64url-no-pad(nonce[12] || ciphertext || tag[16])>
//! ```
//!
//! The key id travels in clear so that a value can be decrypted after the
//! active key has changed, and so that a rotation sweep can find old values
//! without decrypting anything. The caller's context string is the GCM
//! associated data (exactly its UTF-8 bytes, nothing added), so a value
//! copied into another column, or another table, fails authentication.

use aes_gcm::aead::consts::U12;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::AesGcm;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::rngs::OsRng;
use rand::RngCore;
use sm4::Sm4;
use zeroize::Zeroizing;

use crate::CryptoError;

/// SM4 in GCM mode with a 96-bit nonce and a 128-bit tag (as in RFC 8998).
pub(crate) type Sm4Gcm = AesGcm<Sm4, U12>;

/// Version tag; a different scheme would get a different prefix.
pub const PREFIX: &str = "zt1:";

pub(crate) const NONCE_LEN: usize = 12;
pub(crate) const TAG_LEN: usize = 16;

/// A 128-bit SM4 data key, wiped from memory when dropped.
pub(crate) type DataKey = Zeroizing<[u8; 16]>;

/// Whether `kid` is a well-formed key id: 1–16 characters from
/// `[A-Za-z0-9_-]`. The alphabet excludes `:` so the envelope splits
/// unambiguously, and excludes anything that needs quoting in the key file.
pub fn is_valid_key_id(kid: &str) -> bool {
    (1..=16).contains(&kid.len())
        && kid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// An envelope split into its parts; the payload is still sealed.
pub(crate) struct Parsed<'a> {
    pub(crate) kid: &'a str,
    /// nonce || ciphertext || tag
    pub(crate) payload: Vec<u8>,
}

pub(crate) fn parse(value: &str) -> Result<Parsed<'_>, CryptoError> {
    let rest = value
        .strip_prefix(PREFIX)
        .ok_or(CryptoError::Malformed("not a zt1 envelope"))?;
    let (kid, b64) = rest
        .split_once(':')
        .ok_or(CryptoError::Malformed("envelope has no key id separator"))?;
    if !is_valid_key_id(kid) {
        return Err(CryptoError::Malformed("envelope key id is not valid"));
    }
    let payload = URL_SAFE_NO_PAD
        .decode(b64)
        .map_err(|_| CryptoError::Malformed("envelope payload is not base64url without padding"))?;
    if payload.len() < NONCE_LEN + TAG_LEN {
        return Err(CryptoError::Malformed("envelope payload is too short"));
    }
    Ok(Parsed { kid, payload })
}

/// The key id of an envelope, or `None` if `value` is not a well-formed
/// envelope. Reads no key, so it works without the key file (e.g. in a
/// report of which keys are still in use).
pub fn key_id_of(value: &str) -> Option<&str> {
    parse(value).ok().map(|p| p.kid)
}

/// Whether `value` is a well-formed `zt1:` envelope (structure only; the
/// tag is not checked). Lets a migration tell legacy clear-text rows from
/// encrypted ones.
pub fn is_envelope(value: &str) -> bool {
    parse(value).is_ok()
}

/// Encrypts `plaintext` under `key` with a fresh random nonce and formats
/// the envelope.
///
/// # Panics
///
/// Only if `plaintext` exceeds GCM's limit of about 64 GiB.
pub(crate) fn seal(key: &DataKey, kid: &str, context: &str, plaintext: &[u8]) -> String {
    let mut nonce = [0u8; NONCE_LEN];
    OsRng.fill_bytes(&mut nonce);
    let sealed = cipher(key)
        .encrypt(
            (&nonce).into(),
            Payload {
                msg: plaintext,
                aad: context.as_bytes(),
            },
        )
        .expect("SM4-GCM encryption fails only for plaintexts over 64 GiB");
    let mut payload = Vec::with_capacity(NONCE_LEN + sealed.len());
    payload.extend_from_slice(&nonce);
    payload.extend_from_slice(&sealed);
    format!("{PREFIX}{kid}:{}", URL_SAFE_NO_PAD.encode(&payload))
}

/// Verifies and decrypts a parsed envelope's payload under `key`.
pub(crate) fn open(
    key: &DataKey,
    context: &str,
    payload: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let (nonce, sealed) = payload.split_at(NONCE_LEN);
    cipher(key)
        .decrypt(
            nonce.into(),
            Payload {
                msg: sealed,
                aad: context.as_bytes(),
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| CryptoError::Authentication)
}

fn cipher(key: &DataKey) -> Sm4Gcm {
    Sm4Gcm::new((&**key).into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sm4::cipher::BlockEncrypt;

    fn unhex(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    // GB/T 32907-2016, appendix A, example 1.
    #[test]
    fn sm4_gbt32907_example_1_single_block() {
        let key = unhex("0123456789abcdeffedcba9876543210");
        let cipher = Sm4::new_from_slice(&key).unwrap();
        let mut block = sm4::cipher::Block::<Sm4>::clone_from_slice(&key);
        cipher.encrypt_block(&mut block);
        assert_eq!(hex::encode(block), "681edf34d206965e86b3e94f536e4246");
    }

    // GB/T 32907-2016, appendix A, example 2: the same block encrypted
    // 1 000 000 times with the same key.
    #[test]
    fn sm4_gbt32907_example_2_million_iterations() {
        let key = unhex("0123456789abcdeffedcba9876543210");
        let cipher = Sm4::new_from_slice(&key).unwrap();
        let mut block = sm4::cipher::Block::<Sm4>::clone_from_slice(&key);
        for _ in 0..1_000_000 {
            cipher.encrypt_block(&mut block);
        }
        assert_eq!(hex::encode(block), "595298c7c6fd271f0402f804c33d3f66");
    }

    // RFC 8998 appendix A.1 (SM4-GCM test vector). Expected ciphertext and
    // tag as published in the RFC; also reproduced independently with
    // Python `cryptography` 48 (Cipher(algorithms.SM4(key), modes.GCM(iv))).
    const RFC8998_KEY: &str = "0123456789ABCDEFFEDCBA9876543210";
    const RFC8998_IV: &str = "00001234567800000000ABCD";
    const RFC8998_AAD: &str = "FEEDFACEDEADBEEFFEEDFACEDEADBEEFABADDAD2";
    const RFC8998_PT: &str = "AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBBCCCCCCCCCCCCCCCCDDDDDDDDDDDDDDDD\
                              EEEEEEEEEEEEEEEEFFFFFFFFFFFFFFFFEEEEEEEEEEEEEEEEAAAAAAAAAAAAAAAA";
    const RFC8998_CT: &str = "17F399F08C67D5EE19D0DC9969C4BB7D5FD46FD3756489069157B282BB200735\
                              D82710CA5C22F0CCFA7CBF93D496AC15A56834CBCF98C397B4024A2691233B8D";
    const RFC8998_TAG: &str = "83DE3541E4C2B58177E065A9BF7B62EC";

    fn rfc8998_key() -> DataKey {
        let mut k = Zeroizing::new([0u8; 16]);
        hex::decode_to_slice(RFC8998_KEY, &mut *k).unwrap();
        k
    }

    #[test]
    fn sm4_gcm_rfc8998_a1_encrypt() {
        let sealed = cipher(&rfc8998_key())
            .encrypt(
                unhex(RFC8998_IV).as_slice().into(),
                Payload {
                    msg: &unhex(RFC8998_PT),
                    aad: &unhex(RFC8998_AAD),
                },
            )
            .unwrap();
        let (ct, tag) = sealed.split_at(sealed.len() - TAG_LEN);
        assert_eq!(hex::encode_upper(ct), RFC8998_CT);
        assert_eq!(hex::encode_upper(tag), RFC8998_TAG);
    }

    #[test]
    fn sm4_gcm_rfc8998_a1_decrypt_and_reject_tampering() {
        let mut payload = unhex(RFC8998_IV);
        payload.extend(unhex(RFC8998_CT));
        payload.extend(unhex(RFC8998_TAG));
        let (nonce, sealed) = payload.split_at(NONCE_LEN);
        let pt = cipher(&rfc8998_key())
            .decrypt(
                nonce.into(),
                Payload {
                    msg: sealed,
                    aad: &unhex(RFC8998_AAD),
                },
            )
            .unwrap();
        assert_eq!(hex::encode_upper(pt), RFC8998_PT);

        let mut bad = sealed.to_vec();
        bad[0] ^= 1;
        assert!(cipher(&rfc8998_key())
            .decrypt(
                nonce.into(),
                Payload {
                    msg: &bad,
                    aad: &unhex(RFC8998_AAD),
                },
            )
            .is_err());
    }

    #[test]
    fn key_id_syntax() {
        for ok in ["k1", "2026a", "A_b-9", "abcdefghijklmnop"] {
            assert!(is_valid_key_id(ok), "{ok}");
        }
        for bad in ["", "abcdefghijklmnopq", "k:1", "k 1", "k.1", "密钥", "k=1"] {
            assert!(!is_valid_key_id(bad), "{bad}");
        }
    }

    #[test]
    fn seal_then_open_and_envelope_shape() {
        let key = rfc8998_key();
        let v = seal(&key, "k1", "users.mobile", "13800138000".as_bytes());
        assert!(v.starts_with("zt1:k1:"));
        assert!(is_envelope(&v));
        assert_eq!(key_id_of(&v), Some("k1"));
        let p = parse(&v).unwrap();
        assert_eq!(p.payload.len(), NONCE_LEN + 11 + TAG_LEN);
        assert_eq!(
            &**open(&key, "users.mobile", &p.payload).unwrap(),
            b"13800138000"
        );
    }

    #[test]
    fn parse_rejects_malformed_values() {
        let short = format!("zt1:k1:{}", URL_SAFE_NO_PAD.encode([0u8; 27]));
        let padded = format!("zt1:k1:{}=", URL_SAFE_NO_PAD.encode([0u8; 29]));
        let std_alphabet = "zt1:k1:++++++++++++++++++++++++++++++++++++++";
        for bad in [
            "",
            "110101199003077777",
            "zt2:k1:AAAA",
            "zt1:k1",
            "zt1::AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "zt1:bad.kid:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            short.as_str(),
            padded.as_str(),
            std_alphabet,
        ] {
            assert!(
                matches!(parse(bad), Err(CryptoError::Malformed(_))),
                "{bad:?}"
            );
            assert!(!is_envelope(bad));
            assert_eq!(key_id_of(bad), None);
        }
    }
}
