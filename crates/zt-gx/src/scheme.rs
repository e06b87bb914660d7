//! GX-HMAC-SM3 (specs/gx-hmac-sm3.md): request and response signatures and
//! the SM4-CBC payload envelope. Pure: no I/O, no clock, no global state —
//! times, nonces and IVs are parameters (with [`new_nonce`] and [`new_iv`]
//! to draw fresh ones from the operating system's CSPRNG).
//!
//! Signatures are always computed over the exact bytes that travel: the
//! request-target as it appears on the request line and the body bytes as
//! sent. Nothing here re-serialises JSON between signing and sending.

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use rand::distributions::Alphanumeric;
use rand::rngs::OsRng;
use rand::{Rng, RngCore};
use serde::Deserialize;
use zeroize::Zeroizing;
use zt_crypto::{ct_eq, hmac_sm3, sm3_hex};

/// Request and response header: which application calls.
pub const HEADER_APP_KEY: &str = "X-Gx-AppKey";
/// Request and response header: epoch milliseconds, exactly 13 digits.
pub const HEADER_TIMESTAMP: &str = "X-Gx-Timestamp";
/// Request and response header: 16–64 characters of `[A-Za-z0-9]`.
pub const HEADER_NONCE: &str = "X-Gx-Nonce";
/// Request and response header: 64 lowercase hex characters.
pub const HEADER_SIGNATURE: &str = "X-Gx-Signature";
/// The content type of every business request and response.
pub const CONTENT_TYPE_JSON: &str = "application/json; charset=utf-8";

/// `|server time − X-Gx-Timestamp|` may not exceed this (inclusive), §3.4.
pub const MAX_CLOCK_SKEW_MS: i64 = 300_000;
/// A nonce may not be reused by an application for this long, §3.4.
pub const NONCE_TTL_MS: i64 = 600_000;
/// Length of the nonces this crate generates (the server's own length).
pub const NONCE_LEN: usize = 32;
/// `sm3hex("")`: the body digest of an empty body, and the reconciliation
/// digest of an empty day.
pub const SM3_EMPTY_HEX: &str = "1ab21d8355cfa17f8e61194831e81a8f22bec8c728fefb747ed035eb5082aa2b";

/// What can be wrong with credentials, headers, envelopes or signatures.
/// No variant carries a key, a secret or a plaintext.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SchemeError {
    /// The app key, app secret or data key does not have the form of §1.
    #[error("invalid credentials: {0}")]
    InvalidCredentials(&'static str),
    /// A timestamp that cannot be written as 13 decimal digits.
    #[error("timestamp out of range: {0} ms")]
    TimestampOutOfRange(i64),
    /// The body is not an envelope of §5, or does not decrypt under the key.
    #[error("bad envelope: {0}")]
    BadEnvelope(&'static str),
    /// The response carries no `X-Gx-Signature` (or no timestamp/nonce to
    /// check it with).
    #[error("response is not signed: {0}")]
    Unsigned(&'static str),
    /// The response signature does not match: altered, forged, or signed
    /// with another secret.
    #[error("response signature does not match")]
    SignatureMismatch,
}

// ---------------------------------------------------------------------------
// Credentials
// ---------------------------------------------------------------------------

/// One registered application: `app_key`, `app_secret` (HMAC key) and the
/// 16-byte SM4 `data_key`. The secret and the data key are wiped from memory
/// on drop and never shown by `Debug`.
#[derive(Clone)]
pub struct Credentials {
    app_key: String,
    app_secret: Zeroizing<String>,
    data_key: Zeroizing<[u8; 16]>,
}

impl Credentials {
    /// `app_key`: non-empty ASCII without `:`; `app_secret`: non-empty ASCII;
    /// `data_key_hex`: 32 hexadecimal characters (either case).
    pub fn new(
        app_key: impl Into<String>,
        app_secret: impl Into<String>,
        data_key_hex: &str,
    ) -> Result<Self, SchemeError> {
        let app_key = app_key.into();
        let app_secret = Zeroizing::new(app_secret.into());
        if app_key.is_empty()
            || !app_key.is_ascii()
            || app_key.contains(':')
            || app_key.bytes().any(|b| b.is_ascii_control())
        {
            return Err(SchemeError::InvalidCredentials(
                "app_key must be non-empty printable ASCII without ':'",
            ));
        }
        if app_secret.is_empty() || !app_secret.is_ascii() {
            return Err(SchemeError::InvalidCredentials(
                "app_secret must be non-empty ASCII",
            ));
        }
        let mut data_key = Zeroizing::new([0u8; 16]);
        if data_key_hex.len() != 32 || hex::decode_to_slice(data_key_hex, &mut *data_key).is_err() {
            return Err(SchemeError::InvalidCredentials(
                "data_key must be 32 hexadecimal characters",
            ));
        }
        Ok(Self {
            app_key,
            app_secret,
            data_key,
        })
    }

    /// The documented sandbox test application (gx-hmac-sm3.md §1).
    pub fn sandbox_default() -> Self {
        Self {
            app_key: "zt-sandbox-app".to_owned(),
            app_secret: Zeroizing::new("zt-sandbox-secret-2025".to_owned()),
            data_key: Zeroizing::new([
                0x8f, 0x3a, 0x1c, 0x5e, 0x7b, 0x9d, 0x2f, 0x4a, 0x6c, 0x8e, 0x0b, 0x1d, 0x3f, 0x5a,
                0x7c, 0x9e,
            ]),
        }
    }

    pub fn app_key(&self) -> &str {
        &self.app_key
    }

    fn secret(&self) -> &[u8] {
        self.app_secret.as_bytes()
    }

    fn data_key(&self) -> &[u8; 16] {
        &self.data_key
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("app_key", &self.app_key)
            .field("app_secret", &"<redacted>")
            .field("data_key", &"<redacted>")
            .finish()
    }
}

// ---------------------------------------------------------------------------
// Timestamps, nonces, IVs
// ---------------------------------------------------------------------------

/// The `X-Gx-Timestamp` form of an instant: exactly 13 decimal digits of
/// epoch milliseconds (2001-09-09 … 2286-11-20).
pub fn format_timestamp(epoch_ms: i64) -> Result<String, SchemeError> {
    if (1_000_000_000_000..=9_999_999_999_999).contains(&epoch_ms) {
        Ok(epoch_ms.to_string())
    } else {
        Err(SchemeError::TimestampOutOfRange(epoch_ms))
    }
}

/// Parses an `X-Gx-Timestamp` value: exactly 13 ASCII digits.
pub fn parse_timestamp(value: &str) -> Option<i64> {
    if value.len() == 13 && value.bytes().all(|b| b.is_ascii_digit()) {
        value.parse().ok()
    } else {
        None
    }
}

/// Whether `value` is a well-formed nonce: 16–64 characters of `[A-Za-z0-9]`.
pub fn is_valid_nonce(value: &str) -> bool {
    (16..=64).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// The clock-skew rule (§3.4 check 8, §4.3 point 2): a timestamp is
/// acceptable when it differs from `now_ms` by at most 300 000 ms, either way.
pub fn within_clock_skew(now_ms: i64, timestamp_ms: i64) -> bool {
    now_ms.abs_diff(timestamp_ms) <= MAX_CLOCK_SKEW_MS.unsigned_abs()
}

/// A fresh nonce of [`NONCE_LEN`] characters of `[A-Za-z0-9]` from the OS
/// CSPRNG.
pub fn new_nonce() -> String {
    OsRng
        .sample_iter(&Alphanumeric)
        .take(NONCE_LEN)
        .map(char::from)
        .collect()
}

/// A fresh 16-byte IV from the OS CSPRNG.
pub fn new_iv() -> [u8; 16] {
    let mut iv = [0u8; 16];
    OsRng.fill_bytes(&mut iv);
    iv
}

// ---------------------------------------------------------------------------
// Canonical strings and signatures
// ---------------------------------------------------------------------------

/// The canonical request string of §3.3:
/// `METHOD \n PATH_WITH_QUERY \n TIMESTAMP \n NONCE \n sm3hex(BODY)`, no
/// trailing newline. `path_with_query` is the request-target exactly as on
/// the request line.
pub fn canonical_request(
    method: &str,
    path_with_query: &str,
    timestamp: &str,
    nonce: &str,
    body: &[u8],
) -> String {
    format!(
        "{method}\n{path_with_query}\n{timestamp}\n{nonce}\n{}",
        sm3_hex(body)
    )
}

/// `X-Gx-Signature` of a request: lowercase hex of
/// `hmac_sm3(app_secret, canonical_request(…))`.
pub fn request_signature(
    creds: &Credentials,
    method: &str,
    path_with_query: &str,
    timestamp: &str,
    nonce: &str,
    body: &[u8],
) -> String {
    let msg = canonical_request(method, path_with_query, timestamp, nonce, body);
    hex::encode(hmac_sm3(creds.secret(), msg.as_bytes()))
}

/// Whether `signature` is the request signature (constant-time; a signature
/// in upper case does not match, as on the server).
pub fn verify_request_signature(
    creds: &Credentials,
    method: &str,
    path_with_query: &str,
    timestamp: &str,
    nonce: &str,
    body: &[u8],
    signature: &str,
) -> bool {
    let expected = request_signature(creds, method, path_with_query, timestamp, nonce, body);
    ct_eq(expected.as_bytes(), signature.as_bytes())
}

/// The canonical response string of §4.2:
/// `STATUS \n REQUEST_NONCE \n RESPONSE_TIMESTAMP \n RESPONSE_NONCE \n
/// sm3hex(RESPONSE_BODY)`. `request_nonce` is the request's `X-Gx-Nonce`
/// exactly as sent (empty if it had none).
pub fn canonical_response(
    status: u16,
    request_nonce: &str,
    timestamp: &str,
    nonce: &str,
    body: &[u8],
) -> String {
    format!(
        "{status:03}\n{request_nonce}\n{timestamp}\n{nonce}\n{}",
        sm3_hex(body)
    )
}

/// `X-Gx-Signature` of a response.
pub fn response_signature(
    creds: &Credentials,
    status: u16,
    request_nonce: &str,
    timestamp: &str,
    nonce: &str,
    body: &[u8],
) -> String {
    let msg = canonical_response(status, request_nonce, timestamp, nonce, body);
    hex::encode(hmac_sm3(creds.secret(), msg.as_bytes()))
}

/// The signature-relevant headers of a received response, as received.
#[derive(Debug, Clone, Copy, Default)]
pub struct ResponseAuth<'a> {
    pub timestamp: Option<&'a str>,
    pub nonce: Option<&'a str>,
    pub signature: Option<&'a str>,
}

/// Verifies a response (§4.3 point 1): the signature must be present and
/// equal, in constant time, to the one computed over the status, the nonce
/// of *our* request, the response's timestamp and nonce and the exact body
/// bytes. A response that fails this must be treated as not received.
pub fn verify_response(
    creds: &Credentials,
    status: u16,
    request_nonce: &str,
    auth: ResponseAuth<'_>,
    body: &[u8],
) -> Result<(), SchemeError> {
    let signature = auth
        .signature
        .ok_or(SchemeError::Unsigned("no X-Gx-Signature"))?;
    let timestamp = auth
        .timestamp
        .ok_or(SchemeError::Unsigned("no X-Gx-Timestamp"))?;
    let nonce = auth.nonce.ok_or(SchemeError::Unsigned("no X-Gx-Nonce"))?;
    let expected = response_signature(creds, status, request_nonce, timestamp, nonce, body);
    if ct_eq(expected.as_bytes(), signature.as_bytes()) {
        Ok(())
    } else {
        Err(SchemeError::SignatureMismatch)
    }
}

/// The four authentication headers of one request attempt.
#[derive(Clone, PartialEq, Eq)]
pub struct RequestHeaders {
    pub app_key: String,
    pub timestamp: String,
    pub nonce: String,
    pub signature: String,
}

impl RequestHeaders {
    /// `(header name, value)` pairs, in the order of §3.2.
    pub fn pairs(&self) -> [(&'static str, &str); 4] {
        [
            (HEADER_APP_KEY, self.app_key.as_str()),
            (HEADER_TIMESTAMP, self.timestamp.as_str()),
            (HEADER_NONCE, self.nonce.as_str()),
            (HEADER_SIGNATURE, self.signature.as_str()),
        ]
    }
}

impl fmt::Debug for RequestHeaders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The signature is not secret, but it is not useful in logs either.
        f.debug_struct("RequestHeaders")
            .field("app_key", &self.app_key)
            .field("timestamp", &self.timestamp)
            .field("nonce", &self.nonce)
            .finish_non_exhaustive()
    }
}

/// Signs one request attempt: the headers of §3.2 for `method`
/// `path_with_query` with the exact `body` bytes, at `timestamp_ms` with
/// `nonce` (use [`new_nonce`]; every attempt needs a new one).
pub fn sign_request(
    creds: &Credentials,
    method: &str,
    path_with_query: &str,
    timestamp_ms: i64,
    nonce: &str,
    body: &[u8],
) -> Result<RequestHeaders, SchemeError> {
    let timestamp = format_timestamp(timestamp_ms)?;
    let signature = request_signature(creds, method, path_with_query, &timestamp, nonce, body);
    Ok(RequestHeaders {
        app_key: creds.app_key().to_owned(),
        timestamp,
        nonce: nonce.to_owned(),
        signature,
    })
}

// ---------------------------------------------------------------------------
// SM4-CBC and the envelope
// ---------------------------------------------------------------------------

type Sm4CbcEnc = cbc::Encryptor<sm4::Sm4>;
type Sm4CbcDec = cbc::Decryptor<sm4::Sm4>;

/// SM4-CBC with PKCS#7 padding (1–16 bytes, always present).
pub fn sm4_cbc_encrypt(key: &[u8; 16], iv: &[u8; 16], plaintext: &[u8]) -> Vec<u8> {
    Sm4CbcEnc::new(key.into(), iv.into()).encrypt_padded_vec_mut::<Pkcs7>(plaintext)
}

/// SM4-CBC decryption; the ciphertext must be a positive multiple of 16 bytes
/// and every padding byte must equal the padding length (1–16).
pub fn sm4_cbc_decrypt(
    key: &[u8; 16],
    iv: &[u8; 16],
    ciphertext: &[u8],
) -> Result<Vec<u8>, SchemeError> {
    if ciphertext.is_empty() || ciphertext.len() % 16 != 0 {
        return Err(SchemeError::BadEnvelope(
            "ciphertext length is not a positive multiple of 16",
        ));
    }
    let padded = Sm4CbcDec::new(key.into(), iv.into())
        .decrypt_padded_vec_mut::<Pkcs7>(ciphertext)
        .map_err(|_| SchemeError::BadEnvelope("bad PKCS#7 padding (wrong data_key?)"))?;
    Ok(padded)
}

/// The envelope body of §5.2 for already-serialised `plaintext`, with the
/// given IV: `{"iv":"<hex>","data":"<base64>"}` (compact, `iv` first).
pub fn seal_envelope_with_iv(creds: &Credentials, iv: &[u8; 16], plaintext: &[u8]) -> Vec<u8> {
    let ciphertext = sm4_cbc_encrypt(creds.data_key(), iv, plaintext);
    // Both values are ASCII without characters JSON would escape.
    format!(
        "{{\"iv\":\"{}\",\"data\":\"{}\"}}",
        hex::encode(iv),
        STANDARD.encode(ciphertext)
    )
    .into_bytes()
}

/// The envelope body for `plaintext` under a fresh random IV.
pub fn seal_envelope(creds: &Credentials, plaintext: &[u8]) -> Vec<u8> {
    seal_envelope_with_iv(creds, &new_iv(), plaintext)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EnvelopeJson {
    iv: String,
    data: String,
}

/// Opens an envelope body (§5.3): a JSON object with exactly the members `iv`
/// (32 hex characters, either case) and `data` (standard base64 with
/// padding), whose ciphertext decrypts under the data key with valid padding.
/// Returns the plaintext bytes; whether they are a JSON object is for the
/// caller to check.
pub fn open_envelope(creds: &Credentials, body: &[u8]) -> Result<Vec<u8>, SchemeError> {
    // A struct would also accept a JSON array of two strings.
    let first = body
        .iter()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'));
    if first != Some(&b'{') {
        return Err(SchemeError::BadEnvelope("body is not a JSON object"));
    }
    // serde's derive refuses unknown and duplicate members.
    let env: EnvelopeJson = serde_json::from_slice(body).map_err(|_| {
        SchemeError::BadEnvelope("body is not a JSON object with exactly \"iv\" and \"data\"")
    })?;
    let mut iv = [0u8; 16];
    if env.iv.len() != 32 || hex::decode_to_slice(&env.iv, &mut iv).is_err() {
        return Err(SchemeError::BadEnvelope("\"iv\" must be 32 hex characters"));
    }
    let ciphertext = STANDARD
        .decode(env.data.as_bytes())
        .map_err(|_| SchemeError::BadEnvelope("\"data\" is not standard base64 with padding"))?;
    sm4_cbc_decrypt(creds.data_key(), &iv, &ciphertext)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }
    fn arr16(s: &str) -> [u8; 16] {
        unhex(s).try_into().unwrap()
    }

    // ---- §2 test vectors -------------------------------------------------

    #[test]
    fn primitive_test_vectors_of_section_2() {
        assert_eq!(
            sm3_hex(b"abc"),
            "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
        );
        assert_eq!(
            sm3_hex(&b"abcd".repeat(16)),
            "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"
        );
        assert_eq!(sm3_hex(b""), SM3_EMPTY_HEX);
        assert_eq!(
            hex::encode(hmac_sm3(b"zt-sandbox-secret-2025", b"abc")),
            "4a9998f2ab15b5547c1024a4f1f69da989517ef1a97e0773961e19b76ac567a8"
        );
        // One SM4 block: key = plaintext = 0123…3210. With a zero IV the
        // first CBC block is the raw block cipher output.
        let k = arr16("0123456789abcdeffedcba9876543210");
        let ct = sm4_cbc_encrypt(&k, &[0u8; 16], &k);
        assert_eq!(hex::encode(&ct[..16]), "681edf34d206965e86b3e94f536e4246");
    }

    // ---- §9 worked example, byte for byte --------------------------------

    const EX_NONCE: &str = "a1B2c3D4e5F6g7H8";
    const EX_TS: &str = "1735689600000";
    const EX_PATH: &str = "/gx/v1/population/verify";
    const EX_PLAINTEXT: &str = r#"{"id_number":"110105198506150110","name":"张伟"}"#;
    const EX_BODY: &str = r#"{"iv":"000102030405060708090a0b0c0d0e0f","data":"pt1/+5M1eFhAECDVpfNLthUCEMun8Gu67jCItRM8Mv+sCOQZZ1/HYTpHUaY0JP/r5yjOI40Eexy/Mw/z+hvQnA=="}"#;
    const EX_RESP_BODY: &str =
        r#"{"iv":"f0e0d0c0b0a090807060504030201000","data":"wSkbLr8arZL9dOoiKK7e9w=="}"#;
    const EX_RESP_TS: &str = "1735689600123";
    const EX_RESP_NONCE: &str = "Z9y8X7w6V5u4T3s2R1q0P9o8N7m6L5k4";
    const EX_RESP_SIG: &str = "8ed2ae1826ac0f8c21002d6ff2b8b55a3e9ac3873ff93b758992817ae794b3a1";

    fn creds() -> Credentials {
        Credentials::new(
            "zt-sandbox-app",
            "zt-sandbox-secret-2025",
            "8f3a1c5e7b9d2f4a6c8e0b1d3f5a7c9e",
        )
        .unwrap()
    }

    #[test]
    fn sandbox_default_equals_the_documented_app() {
        let a = Credentials::sandbox_default();
        let b = creds();
        assert_eq!(a.app_key(), b.app_key());
        assert_eq!(a.secret(), b.secret());
        assert_eq!(a.data_key(), b.data_key());
    }

    #[test]
    fn worked_example_9_2_request() {
        let c = creds();
        // The plaintext: the payload serialised compactly by serde_json, as
        // the client does.
        let payload = serde_json::json!({"id_number": "110105198506150110", "name": "张伟"});
        let plaintext = serde_json::to_vec(&payload).unwrap();
        assert_eq!(plaintext, EX_PLAINTEXT.as_bytes());
        assert_eq!(plaintext.len(), 50);
        assert_eq!(
            hex::encode(&plaintext),
            "7b2269645f6e756d626572223a22313130313035313938353036313530313130222c226e616d65223a22e5bca0e4bc9f227d"
        );

        // SM4-CBC ciphertext: 50 bytes + 14 bytes of 0x0e padding.
        let iv = arr16("000102030405060708090a0b0c0d0e0f");
        let ct = sm4_cbc_encrypt(c.data_key(), &iv, &plaintext);
        assert_eq!(ct.len(), 64);
        assert_eq!(
            hex::encode(&ct),
            "a6dd7ffb93357858401020d5a5f34bb6150210cba7f06bbaee3088b5133c32ffac08e419675fc7613a4751a63424ffebe728ce238d047b1cbf330ff3fa1bd09c"
        );
        // The padding really is 14 × 0x0e: decrypt without unpadding.
        let mut raw = ct.clone();
        let dec = Sm4CbcDec::new(c.data_key().into(), (&iv).into());
        let raw = dec
            .decrypt_padded_mut::<cbc::cipher::block_padding::NoPadding>(&mut raw)
            .unwrap();
        assert_eq!(&raw[50..], &[0x0e; 14]);

        // The body: exact bytes, 139 of them.
        let body = seal_envelope_with_iv(&c, &iv, &plaintext);
        assert_eq!(std::str::from_utf8(&body).unwrap(), EX_BODY);
        assert_eq!(body.len(), 139);
        assert_eq!(
            sm3_hex(&body),
            "5fdd9872f03b609e9ffb73fb993d5e5025b3fddf2c02ff9f42ed6dc7ef35f825"
        );

        // The canonical request string and the signature.
        assert_eq!(
            canonical_request("POST", EX_PATH, EX_TS, EX_NONCE, &body),
            "POST\n/gx/v1/population/verify\n1735689600000\na1B2c3D4e5F6g7H8\n\
             5fdd9872f03b609e9ffb73fb993d5e5025b3fddf2c02ff9f42ed6dc7ef35f825"
        );
        let h = sign_request(&c, "POST", EX_PATH, 1_735_689_600_000, EX_NONCE, &body).unwrap();
        assert_eq!(
            h.signature,
            "50fc04d1eaed7c751de25d7031d2a394cfed799dced3a7aaf19dc765acbca20e"
        );
        assert_eq!(
            h.pairs(),
            [
                ("X-Gx-AppKey", "zt-sandbox-app"),
                ("X-Gx-Timestamp", "1735689600000"),
                ("X-Gx-Nonce", "a1B2c3D4e5F6g7H8"),
                (
                    "X-Gx-Signature",
                    "50fc04d1eaed7c751de25d7031d2a394cfed799dced3a7aaf19dc765acbca20e"
                ),
            ]
        );
        assert!(verify_request_signature(
            &c,
            "POST",
            EX_PATH,
            EX_TS,
            EX_NONCE,
            &body,
            &h.signature
        ));

        // And the server side opens it back to the same plaintext.
        assert_eq!(open_envelope(&c, &body).unwrap(), plaintext);
    }

    #[test]
    fn worked_example_9_3_response() {
        let c = creds();
        let iv = arr16("f0e0d0c0b0a090807060504030201000");
        let body = seal_envelope_with_iv(&c, &iv, br#"{"match":true}"#);
        assert_eq!(std::str::from_utf8(&body).unwrap(), EX_RESP_BODY);
        assert_eq!(
            sm3_hex(&body),
            "b431bd85bda42e10adca1209411abcea0b012a571f53a20ef71e886520e61e39"
        );
        assert_eq!(
            canonical_response(200, EX_NONCE, EX_RESP_TS, EX_RESP_NONCE, &body),
            "200\na1B2c3D4e5F6g7H8\n1735689600123\nZ9y8X7w6V5u4T3s2R1q0P9o8N7m6L5k4\n\
             b431bd85bda42e10adca1209411abcea0b012a571f53a20ef71e886520e61e39"
        );
        assert_eq!(
            response_signature(&c, 200, EX_NONCE, EX_RESP_TS, EX_RESP_NONCE, &body),
            EX_RESP_SIG
        );
        let auth = ResponseAuth {
            timestamp: Some(EX_RESP_TS),
            nonce: Some(EX_RESP_NONCE),
            signature: Some(EX_RESP_SIG),
        };
        assert_eq!(verify_response(&c, 200, EX_NONCE, auth, &body), Ok(()));
        assert_eq!(open_envelope(&c, &body).unwrap(), br#"{"match":true}"#);
    }

    #[test]
    fn worked_example_9_4_signed_error_response() {
        let c = creds();
        let body = r#"{"code":"GX_BAD_SIGNATURE","message":"签名校验失败 (signature mismatch)"}"#;
        let sig = response_signature(
            &c,
            401,
            EX_NONCE,
            EX_RESP_TS,
            EX_RESP_NONCE,
            body.as_bytes(),
        );
        assert_eq!(
            sig,
            "0aa5c96eff40001fa7fcd306c03b63f568b66ab9c96a5cdb086c35595b3c0e72"
        );
    }

    // ---- response verification refuses what it must ---------------------

    #[test]
    fn tampered_response_is_refused() {
        let c = creds();
        let body = EX_RESP_BODY.as_bytes();
        let auth = ResponseAuth {
            timestamp: Some(EX_RESP_TS),
            nonce: Some(EX_RESP_NONCE),
            signature: Some(EX_RESP_SIG),
        };
        // One byte of the body changed (a different ciphertext byte).
        let mut tampered = body.to_vec();
        let i = tampered.len() - 5;
        tampered[i] = if tampered[i] == b'A' { b'B' } else { b'A' };
        assert_eq!(
            verify_response(&c, 200, EX_NONCE, auth, &tampered),
            Err(SchemeError::SignatureMismatch)
        );
        // Trailing whitespace added: the JSON value is the same, the bytes not.
        let mut spaced = body.to_vec();
        spaced.push(b' ');
        assert_eq!(
            verify_response(&c, 200, EX_NONCE, auth, &spaced),
            Err(SchemeError::SignatureMismatch)
        );
        // Another status, another response timestamp or nonce.
        assert!(verify_response(&c, 201, EX_NONCE, auth, body).is_err());
        let other_ts = ResponseAuth {
            timestamp: Some("1735689600124"),
            ..auth
        };
        assert!(verify_response(&c, 200, EX_NONCE, other_ts, body).is_err());
        let other_nonce = ResponseAuth {
            nonce: Some("Z9y8X7w6V5u4T3s2R1q0P9o8N7m6L5k5"),
            ..auth
        };
        assert!(verify_response(&c, 200, EX_NONCE, other_nonce, body).is_err());
        // The same signed response offered as the answer to another request.
        assert!(verify_response(&c, 200, "a1B2c3D4e5F6g7H9", auth, body).is_err());
        // Upper-case signature does not match.
        let upper = EX_RESP_SIG.to_uppercase();
        let up = ResponseAuth {
            signature: Some(&upper),
            ..auth
        };
        assert!(verify_response(&c, 200, EX_NONCE, up, body).is_err());
        // No signature at all.
        let unsigned = ResponseAuth {
            signature: None,
            ..auth
        };
        assert!(matches!(
            verify_response(&c, 200, EX_NONCE, unsigned, body),
            Err(SchemeError::Unsigned(_))
        ));
    }

    #[test]
    fn wrong_key_is_refused() {
        let c = creds();
        let other = Credentials::new(
            "zt-sandbox-app",
            "not-the-secret",
            "8f3a1c5e7b9d2f4a6c8e0b1d3f5a7c9e",
        )
        .unwrap();
        let body = EX_RESP_BODY.as_bytes();
        // A response signed with another secret fails verification.
        let forged = response_signature(&other, 200, EX_NONCE, EX_RESP_TS, EX_RESP_NONCE, body);
        let auth = ResponseAuth {
            timestamp: Some(EX_RESP_TS),
            nonce: Some(EX_RESP_NONCE),
            signature: Some(&forged),
        };
        assert_eq!(
            verify_response(&c, 200, EX_NONCE, auth, body),
            Err(SchemeError::SignatureMismatch)
        );
        // A request signed with another secret fails the server's check.
        let req = EX_BODY.as_bytes();
        let sig = request_signature(&other, "POST", EX_PATH, EX_TS, EX_NONCE, req);
        assert!(!verify_request_signature(
            &c, "POST", EX_PATH, EX_TS, EX_NONCE, req, &sig
        ));
        // An envelope under another data key does not open.
        let wrong_data_key =
            Credentials::new("k", "s", "00000000000000000000000000000000").unwrap();
        assert!(matches!(
            open_envelope(&wrong_data_key, req),
            Err(SchemeError::BadEnvelope(_))
        ));
    }

    #[test]
    fn request_signature_covers_query_string_and_body_bytes() {
        let c = creds();
        let body = EX_BODY.as_bytes();
        let with_q = request_signature(
            &c,
            "POST",
            "/gx/v1/population/verify?trace=abc%20def",
            EX_TS,
            EX_NONCE,
            body,
        );
        let without = request_signature(&c, "POST", EX_PATH, EX_TS, EX_NONCE, body);
        assert_ne!(with_q, without);
        let mut reordered = br#"{"data":"#.to_vec();
        reordered.extend_from_slice(&body[42..body.len() - 1]);
        assert!(!verify_request_signature(
            &c, "POST", EX_PATH, EX_TS, EX_NONCE, &reordered, &without
        ));
    }

    // ---- clock skew, timestamps, nonces -----------------------------------

    #[test]
    fn clock_skew_rule_is_300_seconds_inclusive_both_ways() {
        let now = 1_735_689_600_000;
        assert!(within_clock_skew(now, now));
        assert!(within_clock_skew(now, now - 300_000));
        assert!(within_clock_skew(now, now + 300_000));
        assert!(!within_clock_skew(now, now - 300_001));
        assert!(!within_clock_skew(now, now + 300_001));
        assert!(within_clock_skew(now, now - 250_000));
        assert!(!within_clock_skew(i64::MAX, i64::MIN));
    }

    #[test]
    fn timestamps_are_13_digits() {
        assert_eq!(
            format_timestamp(1_735_689_600_000).unwrap(),
            "1735689600000"
        );
        assert!(format_timestamp(1_735_689_600).is_err()); // seconds, not ms
        assert!(format_timestamp(-1).is_err());
        assert!(format_timestamp(10_000_000_000_000).is_err());
        assert_eq!(parse_timestamp("1735689600000"), Some(1_735_689_600_000));
        for bad in [
            "173568960000",
            "17356896000000",
            "+735689600000",
            "1735689600ab0",
            "",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
    }

    #[test]
    fn nonces_are_fresh_and_well_formed() {
        let a = new_nonce();
        let b = new_nonce();
        assert_eq!(a.len(), NONCE_LEN);
        assert!(is_valid_nonce(&a));
        assert_ne!(a, b);
        assert!(is_valid_nonce("a1B2c3D4e5F6g7H8"));
        assert!(is_valid_nonce(&"x".repeat(64)));
        assert!(!is_valid_nonce("short"));
        assert!(!is_valid_nonce(&"x".repeat(65)));
        assert!(!is_valid_nonce("a1B2c3D4e5F6g7H-"));
        assert_ne!(new_iv(), new_iv());
    }

    // ---- SM4-CBC and the envelope -----------------------------------------

    #[test]
    fn pkcs7_padding_is_always_present_and_checked() {
        let key = arr16("000102030405060708090a0b0c0d0e0f");
        let iv = arr16("101112131415161718191a1b1c1d1e1f");
        for n in [0usize, 1, 15, 16, 17, 31, 32, 33] {
            let pt: Vec<u8> = (0..n as u8).collect();
            let ct = sm4_cbc_encrypt(&key, &iv, &pt);
            assert_eq!(ct.len(), (n / 16 + 1) * 16, "length {n}");
            assert_eq!(sm4_cbc_decrypt(&key, &iv, &ct).unwrap(), pt);
        }
        // A padding whose bytes are not all equal to its length is refused:
        // encrypt 16 bytes ending in 02 03 with no padding of our own.
        let mut block = [0u8; 16];
        block[14] = 3;
        block[15] = 2;
        let ct = Sm4CbcEnc::new((&key).into(), (&iv).into())
            .encrypt_padded_vec_mut::<cbc::cipher::block_padding::NoPadding>(&block);
        assert!(sm4_cbc_decrypt(&key, &iv, &ct).is_err());
        // Padding length 0 and 17 are refused.
        block[15] = 0;
        let ct = Sm4CbcEnc::new((&key).into(), (&iv).into())
            .encrypt_padded_vec_mut::<cbc::cipher::block_padding::NoPadding>(&block);
        assert!(sm4_cbc_decrypt(&key, &iv, &ct).is_err());
        block[15] = 17;
        let ct = Sm4CbcEnc::new((&key).into(), (&iv).into())
            .encrypt_padded_vec_mut::<cbc::cipher::block_padding::NoPadding>(&block);
        assert!(sm4_cbc_decrypt(&key, &iv, &ct).is_err());
        assert!(sm4_cbc_decrypt(&key, &iv, &[]).is_err());
        assert!(sm4_cbc_decrypt(&key, &iv, &[0u8; 17]).is_err());
    }

    #[test]
    fn envelope_opening_is_strict() {
        let c = creds();
        let good = EX_BODY;
        assert!(open_envelope(&c, good.as_bytes()).is_ok());
        // Member order and whitespace do not matter; upper-case IV is fine.
        let reordered = r#" { "data" : "pt1/+5M1eFhAECDVpfNLthUCEMun8Gu67jCItRM8Mv+sCOQZZ1/HYTpHUaY0JP/r5yjOI40Eexy/Mw/z+hvQnA==", "iv":"000102030405060708090A0B0C0D0E0F" } "#;
        assert!(open_envelope(&c, reordered.as_bytes()).is_ok());
        let data = "pt1/+5M1eFhAECDVpfNLthUCEMun8Gu67jCItRM8Mv+sCOQZZ1/HYTpHUaY0JP/r5yjOI40Eexy/Mw/z+hvQnA==";
        let bad = [
            r#"{"hello":"world"}"#.to_owned(),
            format!(r#"["000102030405060708090a0b0c0d0e0f","{data}"]"#),
            format!(r#"{{"iv":"000102030405060708090a0b0c0d0e0f","data":"{data}","x":1}}"#),
            format!(
                r#"{{"iv":"000102030405060708090a0b0c0d0e0f","iv":"000102030405060708090a0b0c0d0e0f","data":"{data}"}}"#
            ),
            format!(r#"{{"iv":"000102030405060708090a0b0c0d0e","data":"{data}"}}"#),
            format!(r#"{{"iv":"000102030405060708090a0b0c0d0e0g","data":"{data}"}}"#),
            format!(
                r#"{{"iv":"000102030405060708090a0b0c0d0e0f","data":"{}"}}"#,
                data.trim_end_matches('=')
            ),
            format!(
                r#"{{"iv":"000102030405060708090a0b0c0d0e0f","data":"{}"}}"#,
                data.replace('+', "-")
            ),
            r#"{"iv":"000102030405060708090a0b0c0d0e0f","data":""}"#.to_owned(),
            r#"{"iv":"000102030405060708090a0b0c0d0e0f","data":1}"#.to_owned(),
            // A different IV changes the first block and so, usually, nothing
            // about the padding — but a different key breaks the padding.
        ];
        for b in &bad {
            assert!(
                matches!(
                    open_envelope(&c, b.as_bytes()),
                    Err(SchemeError::BadEnvelope(_))
                ),
                "{b}"
            );
        }
    }

    #[test]
    fn credentials_are_checked_and_never_shown() {
        let c = creds();
        let shown = format!("{c:?}");
        assert!(shown.contains("zt-sandbox-app"));
        assert!(!shown.contains("zt-sandbox-secret-2025"));
        assert!(!shown.to_lowercase().contains("8f3a1c5e"));
        assert!(Credentials::new("a:b", "s", "8f3a1c5e7b9d2f4a6c8e0b1d3f5a7c9e").is_err());
        assert!(Credentials::new("", "s", "8f3a1c5e7b9d2f4a6c8e0b1d3f5a7c9e").is_err());
        assert!(Credentials::new("a", "", "8f3a1c5e7b9d2f4a6c8e0b1d3f5a7c9e").is_err());
        assert!(Credentials::new("a", "密钥", "8f3a1c5e7b9d2f4a6c8e0b1d3f5a7c9e").is_err());
        assert!(Credentials::new("a", "s", "8f3a1c5e7b9d2f4a6c8e0b1d3f5a7c9").is_err());
        assert!(Credentials::new("a", "s", "8f3a1c5e7b9d2f4a6c8e0b1d3f5a7c9g").is_err());
        assert!(Credentials::new("a", "s", "8F3A1C5E7B9D2F4A6C8E0B1D3F5A7C9E").is_ok());
    }
}
