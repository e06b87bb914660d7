//! Behaviour of `Keyring` envelopes and blind indexes through the public API.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use zt_crypto::{is_envelope, key_id_of, CryptoError, Keyring};

const ID_NUMBER: &str = "11010519491231002X";
const CTX: &str = "users.id_number";

fn ring() -> Keyring {
    Keyring::generate("k1").expect("valid key id").0
}

/// Re-encodes `value` after applying `f` to its decoded payload.
fn tamper(value: &str, f: impl FnOnce(&mut Vec<u8>)) -> String {
    let (head, b64) = value.rsplit_once(':').expect("an envelope");
    let mut payload = URL_SAFE_NO_PAD.decode(b64).expect("base64url payload");
    f(&mut payload);
    format!("{head}:{}", URL_SAFE_NO_PAD.encode(payload))
}

#[test]
fn round_trip() {
    let ring = ring();
    for text in [ID_NUMBER, "", "北京市朝阳区建国路 88 号", "13800138000"] {
        let v = ring.encrypt(CTX, text);
        assert!(v.starts_with("zt1:k1:"), "{v}");
        assert!(is_envelope(&v));
        assert!(Keyring::is_envelope(&v));
        assert_eq!(key_id_of(&v), Some("k1"));
        assert_eq!(Keyring::key_id_of(&v), Some("k1"));
        assert!(!v.contains(text) || text.is_empty());
        assert_eq!(ring.decrypt(CTX, &v).unwrap(), text);
    }
}

#[test]
fn other_context_fails_authentication() {
    let ring = ring();
    let v = ring.encrypt(CTX, ID_NUMBER);
    assert_eq!(
        ring.decrypt("users.address", &v),
        Err(CryptoError::Authentication)
    );
    assert_eq!(ring.decrypt("", &v), Err(CryptoError::Authentication));
}

#[test]
fn flipped_byte_anywhere_fails_authentication() {
    let ring = ring();
    let v = ring.encrypt(CTX, ID_NUMBER);
    let len = URL_SAFE_NO_PAD
        .decode(v.rsplit_once(':').unwrap().1)
        .unwrap()
        .len();
    // nonce, ciphertext and tag bytes alike
    for i in 0..len {
        let bad = tamper(&v, |p| p[i] ^= 0x01);
        assert_eq!(
            ring.decrypt(CTX, &bad),
            Err(CryptoError::Authentication),
            "byte {i}"
        );
    }
    let truncated = tamper(&v, |p| {
        p.pop();
    });
    assert_eq!(
        ring.decrypt(CTX, &truncated),
        Err(CryptoError::Authentication)
    );
}

#[test]
fn key_from_another_keyring_fails_authentication() {
    // Same key id, different key bytes (e.g. the wrong key file was loaded).
    let v = ring().encrypt(CTX, ID_NUMBER);
    assert_eq!(ring().decrypt(CTX, &v), Err(CryptoError::Authentication));
}

#[test]
fn unknown_key_id_fails() {
    let ring = ring();
    let v = ring
        .encrypt(CTX, ID_NUMBER)
        .replacen("zt1:k1:", "zt1:k9:", 1);
    assert_eq!(
        ring.decrypt(CTX, &v),
        Err(CryptoError::UnknownKeyId("k9".into()))
    );
}

#[test]
fn malformed_values_are_rejected() {
    let ring = ring();
    for bad in [
        "",
        ID_NUMBER,
        "zt1:k1:",
        "zt1:k1:!!!!",
        "zt1:k1",
        "ZT1:k1:AAAA",
    ] {
        assert!(
            matches!(ring.decrypt(CTX, bad), Err(CryptoError::Malformed(_))),
            "{bad:?}"
        );
        assert!(!is_envelope(bad));
    }
}

#[test]
fn rotation_keeps_old_values_readable_and_flags_them() {
    let (r1, _) = Keyring::generate("2025a").unwrap();
    let old = r1.encrypt(CTX, ID_NUMBER);
    assert!(!r1.needs_rewrap(&old));

    let (r2, text) = r1.with_new_active_key("2026a").unwrap();
    assert_eq!(r2.active_key_id(), "2026a");
    assert_eq!(r2.key_ids().collect::<Vec<_>>(), ["2025a", "2026a"]);
    assert_eq!(r2.decrypt(CTX, &old).unwrap(), ID_NUMBER);
    assert!(r2.needs_rewrap(&old));

    let new = r2.encrypt(CTX, ID_NUMBER);
    assert_eq!(key_id_of(&new), Some("2026a"));
    assert!(!r2.needs_rewrap(&new));

    let rewrapped = r2.rewrap(CTX, &old).unwrap();
    assert_eq!(key_id_of(&rewrapped), Some("2026a"));
    assert!(!r2.needs_rewrap(&rewrapped));
    assert_eq!(r2.decrypt(CTX, &rewrapped).unwrap(), ID_NUMBER);

    // The old keyring cannot read what the new key wrote.
    assert_eq!(
        r1.decrypt(CTX, &new),
        Err(CryptoError::UnknownKeyId("2026a".into()))
    );

    // The new key file reloads to an equivalent keyring, and the blind-index
    // key survived the rotation.
    let reloaded = Keyring::from_text(&text).unwrap();
    assert_eq!(reloaded.active_key_id(), "2026a");
    assert_eq!(reloaded.decrypt(CTX, &old).unwrap(), ID_NUMBER);
    assert_eq!(reloaded.decrypt(CTX, &new).unwrap(), ID_NUMBER);
    assert_eq!(
        reloaded.blind_index(CTX, ID_NUMBER),
        r1.blind_index(CTX, ID_NUMBER)
    );
}

#[test]
fn needs_rewrap_is_true_for_legacy_and_malformed_values() {
    let ring = ring();
    assert!(ring.needs_rewrap(ID_NUMBER));
    assert!(ring.needs_rewrap(""));
    assert!(ring.needs_rewrap("zt1:k1:not-base64!"));
}

#[test]
fn rotation_rejects_bad_or_duplicate_key_ids() {
    let ring = ring();
    assert_eq!(
        ring.with_new_active_key("k1").err(),
        Some(CryptoError::DuplicateKeyId("k1".into()))
    );
    for bad in ["", "has space", "k:2", "abcdefghijklmnopq"] {
        assert_eq!(
            ring.with_new_active_key(bad).err(),
            Some(CryptoError::InvalidKeyId)
        );
        assert_eq!(
            Keyring::generate(bad).err(),
            Some(CryptoError::InvalidKeyId)
        );
    }
}

#[test]
fn same_plaintext_encrypts_differently_but_indexes_equally() {
    let ring = ring();
    let a = ring.encrypt(CTX, ID_NUMBER);
    let b = ring.encrypt(CTX, ID_NUMBER);
    assert_ne!(a, b);
    let ia = ring.blind_index(CTX, ID_NUMBER);
    let ib = ring.blind_index(CTX, ID_NUMBER);
    assert_eq!(ia, ib);
    assert_eq!(ia.len(), 64);
    assert!(ia
        .bytes()
        .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
}

#[test]
fn blind_index_depends_on_value_domain_and_key() {
    let ring = ring();
    let base = ring.blind_index(CTX, ID_NUMBER);
    assert_ne!(base, ring.blind_index(CTX, "110105194912310021"));
    assert_ne!(base, ring.blind_index("staff.id_number", ID_NUMBER));
    assert_ne!(
        base,
        Keyring::generate("k1")
            .unwrap()
            .0
            .blind_index(CTX, ID_NUMBER)
    );
    // The 0x00 separator keeps (domain, value) pairs from running together.
    assert_ne!(ring.blind_index("ab", "c"), ring.blind_index("a", "bc"));
}

#[test]
fn blind_index_is_hmac_sm3_of_domain_nul_value() {
    let text = "\
index = 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
key k1 = 0123456789abcdeffedcba9876543210
active = k1
";
    let ring = Keyring::from_text(text).unwrap();
    let key: Vec<u8> = (0u8..32).collect();
    // Independently, with CPython's hmac over OpenSSL's SM3:
    //   hmac.new(bytes(range(32)), b'users.id_number\x0011010519491231002X', 'sm3')
    let expected = "9f83277a9573fff5ba3f177bd2c0e5176bd7f45fedb4ba5fff6059dccf1eafa0";
    let ours = ring.blind_index(CTX, ID_NUMBER);
    assert_eq!(
        ours,
        hex::encode(zt_crypto::hmac_sm3(
            &key,
            b"users.id_number\x0011010519491231002X"
        ))
    );
    assert_eq!(ours, expected);
}
