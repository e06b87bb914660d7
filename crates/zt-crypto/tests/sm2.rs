//! SM2 signatures through the public API, including interoperability with
//! OpenSSL 3.

use zt_crypto::{sm2sig, verify, CryptoError, Sm2Signer, DEFAULT_DIST_ID};

const MSG: &[u8] = b"zhengtong approval #42";

// Fixture made once with OpenSSL 3.0.19 (a throwaway test key):
//   openssl genpkey -algorithm SM2 -out k.pem
//   openssl pkey -in k.pem -pubout -out pub.pem
//   printf 'zhengtong approval #42' > msg
//   openssl pkeyutl -sign -inkey k.pem -rawin -digest sm3 \
//       -pkeyopt distid:1234567812345678 -in msg -out sig.der
// and the DER signature converted to r || s with Python `cryptography`'s
// decode_dss_signature.
const OPENSSL_PRIVATE_PEM: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqBHM9VAYItBG0wawIBAQQgc5WzRa/mESlKKYFU
bCLmsHhPWdFxJLJpMHkj1C66UtKhRANCAASs+GFbfAp6inxTWb7F/BXf0hcXhADt
iIf2/hw6q47EVhYLHHyMKvEwmB+/vuN9Zd5Z9yK3TCoZ/wdJIjyuWUg+
-----END PRIVATE KEY-----
";
const OPENSSL_PUBLIC_PEM: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoEcz1UBgi0DQgAErPhhW3wKeop8U1m+xfwV39IXF4QA
7YiH9v4cOquOxFYWCxx8jCrxMJgfv77jfWXeWfcit0wqGf8HSSI8rllIPg==
-----END PUBLIC KEY-----
";
const OPENSSL_PUBLIC_HEX: &str =
    "04acf8615b7c0a7a8a7c5359bec5fc15dfd217178400ed8887f6fe1c3aab8ec456\
                                  160b1c7c8c2af130981fbfbee37d65de59f722b74c2a19ff0749223cae59483e";
const OPENSSL_SIGNATURE: &str = "ac658df426790d8ac3da33cd2e596b82d81d63eab3246a45e167c61fb01d07f0\
                                 c1d72faa42a0da7050439dabcf47048fd6903235dbac2b6adb1a6837b8796fb7";

#[test]
fn default_dist_id_is_the_gmt_default() {
    assert_eq!(DEFAULT_DIST_ID, "1234567812345678");
}

#[test]
fn sign_verify_round_trip_with_pem_and_hex_keys() {
    let signer = Sm2Signer::generate();
    let sig = signer.sign(MSG);
    assert_eq!(sig.len(), 128);
    assert!(sig.bytes().all(|c| c.is_ascii_hexdigit()));
    let pem = signer.public_key_pem().unwrap();
    assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----"));
    let hex_key = signer.public_key_hex();
    assert_eq!(hex_key.len(), 130);
    assert!(hex_key.starts_with("04"));
    verify(&pem, MSG, &sig).unwrap();
    verify(&hex_key, MSG, &sig).unwrap();
    verify(&hex_key.to_uppercase(), MSG, &sig.to_uppercase()).unwrap();
    // Signing is randomized, and every signature verifies.
    let sig2 = signer.sign(MSG);
    assert_ne!(sig, sig2);
    verify(&pem, MSG, &sig2).unwrap();
    // Empty messages are signable.
    verify(&pem, b"", &signer.sign(b"")).unwrap();
}

#[test]
fn altered_message_fails() {
    let signer = Sm2Signer::generate();
    let sig = signer.sign(MSG);
    let pem = signer.public_key_pem().unwrap();
    assert_eq!(
        verify(&pem, b"zhengtong approval #43", &sig),
        Err(CryptoError::Signature)
    );
    assert_eq!(verify(&pem, b"", &sig), Err(CryptoError::Signature));
}

#[test]
fn altered_signature_fails() {
    let signer = Sm2Signer::generate();
    let sig = signer.sign(MSG);
    let key = signer.public_key_hex();
    let mut raw = hex::decode(&sig).unwrap();
    for i in [0, 31, 32, 63] {
        raw[i] ^= 0x01;
        assert_eq!(
            verify(&key, MSG, &hex::encode(&raw)),
            Err(CryptoError::Signature),
            "byte {i}"
        );
        raw[i] ^= 0x01;
    }
    // Malformed encodings are rejected the same way.
    for bad in [
        "",
        "00",
        &sig[..126],
        &format!("{sig}00"),
        &"0".repeat(128),
        &format!("zz{}", &sig[2..]),
    ] {
        assert_eq!(
            verify(&key, MSG, bad),
            Err(CryptoError::Signature),
            "{bad:?}"
        );
    }
}

#[test]
fn another_key_fails() {
    let a = Sm2Signer::generate();
    let b = Sm2Signer::generate();
    let sig = a.sign(MSG);
    assert_eq!(
        verify(&b.public_key_pem().unwrap(), MSG, &sig),
        Err(CryptoError::Signature)
    );
    assert_eq!(
        verify(&b.public_key_hex(), MSG, &sig),
        Err(CryptoError::Signature)
    );
}

#[test]
fn bad_public_keys_are_invalid_key_errors() {
    let sig = Sm2Signer::generate().sign(MSG);
    for bad in [
        "",
        "04",
        "not hex",
        "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
        &format!("04{}", "00".repeat(64)),
    ] {
        assert!(
            matches!(verify(bad, MSG, &sig), Err(CryptoError::InvalidKey(_))),
            "{bad:?}"
        );
    }
}

#[test]
fn pkcs8_pem_round_trip() {
    let signer = Sm2Signer::generate();
    let pem = signer.to_pkcs8_pem().unwrap();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
    let loaded = Sm2Signer::from_pkcs8_pem(&pem).unwrap();
    assert_eq!(loaded.public_key_hex(), signer.public_key_hex());
    assert_eq!(
        loaded.public_key_pem().unwrap(),
        signer.public_key_pem().unwrap()
    );
    assert_eq!(*loaded.to_pkcs8_pem().unwrap(), *pem);
    verify(&signer.public_key_pem().unwrap(), MSG, &loaded.sign(MSG)).unwrap();
}

#[test]
fn bad_private_keys_are_rejected() {
    for bad in ["", "hello", OPENSSL_PUBLIC_PEM] {
        assert!(matches!(
            Sm2Signer::from_pkcs8_pem(bad),
            Err(CryptoError::InvalidKey(_))
        ));
    }
}

#[test]
fn debug_does_not_show_the_private_key() {
    let signer = Sm2Signer::from_pkcs8_pem(OPENSSL_PRIVATE_PEM).unwrap();
    let debug = format!("{signer:?}");
    assert!(debug.contains(OPENSSL_PUBLIC_HEX), "{debug}");
    // The secret scalar of the fixture, in hex.
    assert!(!debug.contains("7395b345afe611294a2981546c22e6b0784f59d17124b269307923d42eba52d2"));
}

#[test]
fn loads_openssl_keys_and_verifies_an_openssl_signature() {
    let signer = Sm2Signer::from_pkcs8_pem(OPENSSL_PRIVATE_PEM).unwrap();
    assert_eq!(signer.public_key_hex(), OPENSSL_PUBLIC_HEX);
    assert_eq!(signer.public_key_pem().unwrap(), OPENSSL_PUBLIC_PEM);
    verify(OPENSSL_PUBLIC_PEM, MSG, OPENSSL_SIGNATURE).unwrap();
    verify(OPENSSL_PUBLIC_HEX, MSG, OPENSSL_SIGNATURE).unwrap();
    assert_eq!(
        verify(OPENSSL_PUBLIC_PEM, b"other", OPENSSL_SIGNATURE),
        Err(CryptoError::Signature)
    );
    // And OpenSSL's signature verifies only with its own key.
    let other = Sm2Signer::generate().public_key_pem().unwrap();
    assert_eq!(
        verify(&other, MSG, OPENSSL_SIGNATURE),
        Err(CryptoError::Signature)
    );
    // Our signature with the same key verifies too.
    verify(OPENSSL_PUBLIC_PEM, MSG, &signer.sign(MSG)).unwrap();
}

#[test]
fn module_path_is_public() {
    // `zt_crypto::sm2sig::verify` is the same function as the re-export.
    let s = Sm2Signer::generate();
    sm2sig::verify(&s.public_key_hex(), MSG, &s.sign(MSG)).unwrap();
}
