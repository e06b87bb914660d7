//! TOTP (RFC 6238) over HOTP (RFC 4226).
//!
//! The defaults are the ones every authenticator app implements: HMAC-SHA1,
//! 6 digits, a 30 s step, T0 = 0. Time is always a parameter (unix seconds).

use std::fmt;

use hmac::{Hmac, Mac};
use rand::rngs::OsRng;
use rand::RngCore;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::error::{CodeFormat, OtpError};

/// The HMAC hash. Authenticator apps implement `Sha1`; several ignore the
/// `algorithm` URI parameter, so anything else is only for clients known to
/// support it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Algorithm {
    /// HMAC-SHA1, the RFC 6238 default and the only universally supported one.
    #[default]
    Sha1,
    /// HMAC-SHA-256.
    Sha256,
    /// HMAC-SHA-512.
    Sha512,
}

impl Algorithm {
    /// The name used in the `algorithm=` parameter of an `otpauth://` URI.
    pub const fn uri_name(self) -> &'static str {
        match self {
            Self::Sha1 => "SHA1",
            Self::Sha256 => "SHA256",
            Self::Sha512 => "SHA512",
        }
    }
}

/// Default number of digits in a code.
pub const DIGITS: u32 = 6;
/// Default step, in seconds.
pub const STEP: u32 = 30;
/// Default accepted clock skew, in steps either side of the current one.
pub const SKEW_STEPS: u32 = 1;
/// Most digits dynamic truncation can give (it yields a 31-bit number).
pub const MAX_DIGITS: u32 = 10;

/// The parameters of a TOTP credential. Use [`TotpParams::DEFAULT`] unless the
/// user's app is known to support something else.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TotpParams {
    /// HMAC hash.
    pub algorithm: Algorithm,
    /// Digits per code; clamped to `1..=10` where used.
    pub digits: u32,
    /// Step in seconds; 0 is treated as 1.
    pub step: u32,
    /// Steps of clock skew accepted on either side of the current step.
    pub skew: u32,
}

impl TotpParams {
    /// SHA1, 6 digits, 30 s, ±1 step: what authenticator apps expect.
    pub const DEFAULT: Self = Self {
        algorithm: Algorithm::Sha1,
        digits: DIGITS,
        step: STEP,
        skew: SKEW_STEPS,
    };

    fn digits(&self) -> u32 {
        self.digits.clamp(1, MAX_DIGITS)
    }
}

impl Default for TotpParams {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// A shared TOTP secret. Wiped from memory on drop; `Debug` shows only its
/// length. Persist it encrypted (e.g. with the platform's SM4 envelope),
/// never in logs.
#[derive(Clone)]
pub struct TotpSecret {
    bytes: Vec<u8>,
}

impl TotpSecret {
    /// Length of a generated secret: 160 bits, RFC 4226's recommendation and
    /// the HMAC-SHA1 output size.
    pub const LEN: usize = 20;
    /// Shortest secret accepted (RFC 4226 R6: at least 128 bits).
    pub const MIN_LEN: usize = 16;
    /// Longest secret accepted (the RFC 6238 SHA-512 test secret is 64 bytes).
    pub const MAX_LEN: usize = 64;

    /// A new random secret of [`Self::LEN`] bytes from the operating system.
    pub fn generate() -> Self {
        let mut bytes = vec![0u8; Self::LEN];
        OsRng.fill_bytes(&mut bytes);
        Self { bytes }
    }

    /// Wraps existing key bytes (e.g. after decrypting the stored secret).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, OtpError> {
        if bytes.len() < Self::MIN_LEN {
            return Err(OtpError::Secret("shorter than 128 bits"));
        }
        if bytes.len() > Self::MAX_LEN {
            return Err(OtpError::Secret("longer than 64 bytes"));
        }
        Ok(Self {
            bytes: bytes.to_vec(),
        })
    }

    /// Reads a base32 secret. Case, white space, `-` and trailing `=` are
    /// tolerated (as apps show secrets in groups); the result must be
    /// canonical base32 of 16 to 64 bytes.
    pub fn from_base32(text: &str) -> Result<Self, OtpError> {
        let compact: Zeroizing<String> = Zeroizing::new(
            text.chars()
                .filter(|c| !c.is_whitespace() && *c != '-')
                .collect(),
        );
        let bytes = Zeroizing::new(
            crate::base32::decode(&compact).ok_or(OtpError::Secret("not valid base32"))?,
        );
        Self::from_bytes(&bytes)
    }

    /// Upper-case base32 without padding, as authenticator apps expect.
    pub fn to_base32(&self) -> String {
        crate::base32::encode(&self.bytes)
    }

    /// The raw key, for encrypting it at rest.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
}

impl Zeroize for TotpSecret {
    fn zeroize(&mut self) {
        self.bytes.zeroize();
    }
}

impl Drop for TotpSecret {
    fn drop(&mut self) {
        self.zeroize();
    }
}

impl ZeroizeOnDrop for TotpSecret {}

impl fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TotpSecret(<{} bytes redacted>)", self.bytes.len())
    }
}

fn mac<M: Mac + hmac::digest::KeyInit>(key: &[u8], message: &[u8]) -> Option<Vec<u8>> {
    // HMAC takes keys of any length (RFC 2104 §2): this never fails.
    let mut mac = <M as hmac::digest::KeyInit>::new_from_slice(key).ok()?;
    mac.update(message);
    Some(mac.finalize().into_bytes().to_vec())
}

/// RFC 4226 §5.3: HMAC of the 8-byte big-endian counter, dynamic
/// truncation to 31 bits, modulo 10^digits.
fn hotp_value(algorithm: Algorithm, key: &[u8], counter: u64, digits: u32) -> Option<u32> {
    let message = counter.to_be_bytes();
    let hash = match algorithm {
        Algorithm::Sha1 => mac::<Hmac<sha1::Sha1>>(key, &message)?,
        Algorithm::Sha256 => mac::<Hmac<sha2::Sha256>>(key, &message)?,
        Algorithm::Sha512 => mac::<Hmac<sha2::Sha512>>(key, &message)?,
    };
    let offset = usize::from(hash.last()? & 0x0f);
    let window: [u8; 4] = hash.get(offset..offset + 4)?.try_into().ok()?;
    let binary = u32::from_be_bytes(window) & 0x7fff_ffff;
    Some(binary % 10u32.checked_pow(digits)?)
}

fn format_code(value: u32, digits: u32) -> String {
    format!("{value:0width$}", width = digits as usize)
}

/// The HOTP code for `counter` (RFC 4226). `digits` is clamped to `1..=10`.
pub fn hotp(algorithm: Algorithm, secret: &TotpSecret, counter: u64, digits: u32) -> String {
    let digits = digits.clamp(1, MAX_DIGITS);
    hotp_value(algorithm, &secret.bytes, counter, digits)
        .map(|v| format_code(v, digits))
        // Unreachable (HMAC output is at least 20 bytes); an empty string
        // matches no entered code.
        .unwrap_or_default()
}

/// The step (RFC 6238 `T`) containing `unix_secs`: `floor(unix_secs / step)`.
/// A `step` of 0 is treated as 1.
pub fn step_at(unix_secs: i64, step: u32) -> i64 {
    unix_secs.div_euclid(i64::from(step.max(1)))
}

/// The HMAC-SHA1 TOTP code at `unix_secs`. `digits` is clamped to `1..=10`,
/// a `step` of 0 is treated as 1 and times before 1970 use step 0.
pub fn code_at(secret: &TotpSecret, unix_secs: i64, digits: u32, step: u32) -> String {
    code_at_with(
        &TotpParams {
            digits,
            step,
            ..TotpParams::DEFAULT
        },
        secret,
        unix_secs,
    )
}

/// [`code_at`] with any parameters (e.g. another algorithm).
pub fn code_at_with(params: &TotpParams, secret: &TotpSecret, unix_secs: i64) -> String {
    let counter = u64::try_from(step_at(unix_secs, params.step)).unwrap_or(0);
    hotp(params.algorithm, secret, counter, params.digits)
}

/// Digits of an entered code: white space (including the full-width space)
/// ignored, full-width digits from a Chinese IME accepted.
fn parse_code(code: &str, digits: usize) -> Result<Vec<u8>, OtpError> {
    let mut out = Vec::with_capacity(digits);
    let mut found = 0usize;
    for c in code.chars().map(crate::fold_full_width) {
        if c.is_whitespace() {
            continue;
        }
        if !c.is_ascii_digit() {
            return Err(OtpError::Format(CodeFormat::NonDigit));
        }
        found += 1;
        if out.len() < digits {
            out.push(c as u8);
        }
    }
    if found != digits {
        return Err(OtpError::Format(CodeFormat::Length {
            expected: digits,
            found,
        }));
    }
    Ok(out)
}

/// Checks a 6-digit HMAC-SHA1 code with a 30 s step, accepting one step of
/// clock skew either way. See [`verify_with`].
pub fn verify(
    secret: &TotpSecret,
    code: &str,
    unix_secs: i64,
    last_used_step: Option<i64>,
) -> Result<i64, OtpError> {
    verify_with(
        &TotpParams::DEFAULT,
        secret,
        code,
        unix_secs,
        last_used_step,
    )
}

/// Checks an entered code and returns the step it matched.
///
/// White space in `code` is ignored; anything else but digits is
/// [`CodeFormat::NonDigit`], a wrong count is [`CodeFormat::Length`]. Every
/// step in `current ± skew` is compared in constant time. A code matching only
/// steps `<= last_used_step` is [`OtpError::Replayed`]: store the returned
/// step with the user (in the same transaction as the sign-in) and pass it
/// back next time, so each code signs in at most once (RFC 6238 §5.2).
///
/// Limiting attempts is the caller's job: each guess has a `(2·skew+1)/10^6`
/// chance with the defaults.
pub fn verify_with(
    params: &TotpParams,
    secret: &TotpSecret,
    code: &str,
    unix_secs: i64,
    last_used_step: Option<i64>,
) -> Result<i64, OtpError> {
    let digits = params.digits();
    let entered = parse_code(code, digits as usize)?;
    let current = step_at(unix_secs, params.step);
    let skew = i64::from(params.skew);

    let mut accepted: Option<i64> = None;
    let mut replayed = false;
    // Every candidate is computed and compared; no early exit.
    for step in current.saturating_sub(skew)..=current.saturating_add(skew) {
        let Ok(counter) = u64::try_from(step) else {
            continue; // before 1970: no such step
        };
        let Some(value) = hotp_value(params.algorithm, &secret.bytes, counter, digits) else {
            continue;
        };
        let expected = format_code(value, digits);
        let matches: bool = expected.as_bytes().ct_eq(&entered).into();
        if matches {
            if last_used_step.is_some_and(|last| step <= last) {
                replayed = true;
            } else {
                accepted = Some(step); // ascending: keeps the latest fresh step
            }
        }
    }
    match accepted {
        Some(step) => Ok(step),
        None if replayed => Err(OtpError::Replayed),
        None => Err(OtpError::Mismatch),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rfc_secret(len: usize) -> TotpSecret {
        // RFC 6238 appendix B: "12345678901234567890" repeated to the length.
        let seed = b"1234567890";
        let bytes: Vec<u8> = seed.iter().copied().cycle().take(len).collect();
        TotpSecret::from_bytes(&bytes).unwrap()
    }

    const TIMES: [i64; 6] = [
        59,
        1_111_111_109,
        1_111_111_111,
        1_234_567_890,
        2_000_000_000,
        20_000_000_000,
    ];

    #[test]
    fn rfc6238_appendix_b_sha1() {
        let secret = rfc_secret(20);
        assert_eq!(secret.as_bytes(), b"12345678901234567890");
        let expected = [
            "94287082", "07081804", "14050471", "89005924", "69279037", "65353130",
        ];
        for (t, want) in TIMES.iter().zip(expected) {
            assert_eq!(code_at(&secret, *t, 8, 30), want, "T = {t}");
        }
    }

    #[test]
    fn rfc6238_appendix_b_sha256_and_sha512() {
        let sha256 = [
            "46119246", "68084774", "67062674", "91819424", "90698825", "77737706",
        ];
        let sha512 = [
            "90693936", "25091201", "99943326", "93441116", "38618901", "47863826",
        ];
        for (algorithm, len, expected) in [
            (Algorithm::Sha256, 32, sha256),
            (Algorithm::Sha512, 64, sha512),
        ] {
            let secret = rfc_secret(len);
            let params = TotpParams {
                algorithm,
                digits: 8,
                ..TotpParams::DEFAULT
            };
            for (t, want) in TIMES.iter().zip(expected) {
                assert_eq!(
                    code_at_with(&params, &secret, *t),
                    want,
                    "{algorithm:?} T = {t}"
                );
            }
        }
    }

    #[test]
    fn rfc4226_appendix_d_hotp() {
        let secret = rfc_secret(20);
        let expected = [
            "755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583",
            "399871", "520489",
        ];
        for (counter, want) in (0u64..).zip(expected) {
            assert_eq!(
                hotp(Algorithm::Sha1, &secret, counter, 6),
                want,
                "counter {counter}"
            );
        }
    }

    #[test]
    fn code_at_is_constant_within_a_step_and_zero_padded() {
        let secret = rfc_secret(20);
        // 1111111109 is in step 37037036, which starts at 1111111080.
        assert_eq!(code_at(&secret, 1_111_111_080, 8, 30), "07081804");
        assert_eq!(code_at(&secret, 1_111_111_109, 8, 30), "07081804");
        assert_ne!(code_at(&secret, 1_111_111_110, 8, 30), "07081804");
        assert_eq!(code_at(&secret, 59, 6, 30).len(), 6);
        assert_eq!(step_at(59, 30), 1);
        assert_eq!(step_at(-1, 30), -1);
        assert_eq!(step_at(10, 0), 10, "step 0 treated as 1");
    }

    const NOW: i64 = 1_700_000_015; // in the middle of a step

    #[test]
    fn verify_accepts_the_current_code_and_returns_its_step() {
        let secret = TotpSecret::generate();
        let code = code_at(&secret, NOW, 6, 30);
        assert_eq!(verify(&secret, &code, NOW, None), Ok(step_at(NOW, 30)));
    }

    #[test]
    fn verify_window_is_plus_minus_one_step() {
        let secret = rfc_secret(20);
        let step = step_at(NOW, 30);
        for (offset, ok) in [
            (-60, false),
            (-30, true),
            (0, true),
            (30, true),
            (60, false),
        ] {
            let code = code_at(&secret, NOW + offset, 6, 30);
            let result = verify(&secret, &code, NOW, None);
            if ok {
                assert_eq!(result, Ok(step + offset / 30), "offset {offset}");
            } else {
                assert_eq!(result, Err(OtpError::Mismatch), "offset {offset}");
            }
        }
    }

    #[test]
    fn verify_refuses_replay_of_the_same_or_older_step() {
        let secret = rfc_secret(20);
        let code = code_at(&secret, NOW, 6, 30);
        let used = verify(&secret, &code, NOW, None).unwrap();
        assert_eq!(
            verify(&secret, &code, NOW, Some(used)),
            Err(OtpError::Replayed)
        );
        assert_eq!(
            verify(&secret, &code, NOW + 20, Some(used)),
            Err(OtpError::Replayed)
        );
        // The previous step's code is older than the used one: refused too.
        let older = code_at(&secret, NOW - 30, 6, 30);
        assert_eq!(
            verify(&secret, &older, NOW, Some(used)),
            Err(OtpError::Replayed)
        );
        // The next step's code is still fine.
        let next = code_at(&secret, NOW + 30, 6, 30);
        assert_eq!(verify(&secret, &next, NOW + 30, Some(used)), Ok(used + 1));
        // A code accepted early (clock skew) blocks the current step's code.
        let early = verify(&secret, &next, NOW, None).unwrap();
        assert_eq!(
            verify(&secret, &code, NOW, Some(early)),
            Err(OtpError::Replayed)
        );
        // A wrong code stays a mismatch, not a replay.
        let wrong = if code == "000000" { "111111" } else { "000000" };
        assert_eq!(
            verify(&secret, wrong, NOW, Some(used)),
            Err(OtpError::Mismatch)
        );
    }

    #[test]
    fn verify_ignores_spaces_and_accepts_full_width_input() {
        let secret = rfc_secret(20);
        let code = code_at(&secret, NOW, 6, 30);
        let step = step_at(NOW, 30);
        let spaced = format!(" {} {} ", &code[..3], &code[3..]);
        assert_eq!(verify(&secret, &spaced, NOW, None), Ok(step));
        let tabbed = format!("{}\t{}\u{3000}", &code[..2], &code[2..]);
        assert_eq!(verify(&secret, &tabbed, NOW, None), Ok(step));
        let full_width: String = code
            .chars()
            .map(|c| char::from_u32(c as u32 + 0xFEE0).unwrap())
            .collect();
        assert_eq!(verify(&secret, &full_width, NOW, None), Ok(step));
    }

    #[test]
    fn verify_format_errors_are_distinct() {
        let secret = rfc_secret(20);
        let non_digit = Err(OtpError::Format(CodeFormat::NonDigit));
        assert_eq!(verify(&secret, "12345a", NOW, None), non_digit);
        assert_eq!(verify(&secret, "abcdef", NOW, None), non_digit);
        assert_eq!(verify(&secret, "123-456", NOW, None), non_digit);
        assert_eq!(verify(&secret, "１２３４５６七", NOW, None), non_digit);
        let length = |found| Err(OtpError::Format(CodeFormat::Length { expected: 6, found }));
        assert_eq!(verify(&secret, "12345", NOW, None), length(5));
        assert_eq!(verify(&secret, "1234567", NOW, None), length(7));
        assert_eq!(verify(&secret, "", NOW, None), length(0));
        assert_eq!(verify(&secret, "   ", NOW, None), length(0));
        // An 8-digit code of the right step is still the wrong length.
        let eight = code_at(&secret, NOW, 8, 30);
        assert_eq!(verify(&secret, &eight, NOW, None), length(8));
    }

    #[test]
    fn verify_with_other_parameters() {
        let secret = rfc_secret(32);
        let params = TotpParams {
            algorithm: Algorithm::Sha256,
            digits: 8,
            step: 60,
            skew: 0,
        };
        let code = code_at_with(&params, &secret, NOW);
        assert_eq!(code.len(), 8);
        let step = step_at(NOW, 60);
        assert_eq!(verify_with(&params, &secret, &code, NOW, None), Ok(step));
        // skew 0: the previous step's code is refused.
        let previous = code_at_with(&params, &secret, NOW - 60);
        assert_eq!(
            verify_with(&params, &secret, &previous, NOW, None),
            Err(OtpError::Mismatch)
        );
        // SHA1 code for the same secret does not pass as SHA-256.
        let sha1 = code_at_with(
            &TotpParams {
                algorithm: Algorithm::Sha1,
                ..params
            },
            &secret,
            NOW,
        );
        assert_ne!(sha1, code);
    }

    #[test]
    fn verify_before_1970_does_not_panic() {
        let secret = rfc_secret(20);
        let code_at_zero = code_at(&secret, 0, 6, 30);
        assert!(verify(&secret, "123456", i64::MIN, None).is_err());
        assert!(verify(&secret, "123456", i64::MAX, None).is_err());
        // At T = -10 s only step 0 (the +1 skew) exists.
        assert_eq!(verify(&secret, &code_at_zero, -10, None), Ok(0));
        assert_eq!(code_at(&secret, -100, 6, 30), code_at(&secret, 0, 6, 30));
    }

    #[test]
    fn secret_generation_length_and_randomness() {
        let a = TotpSecret::generate();
        let b = TotpSecret::generate();
        assert_eq!(a.as_bytes().len(), TotpSecret::LEN);
        assert_ne!(a.as_bytes(), b.as_bytes());
        assert_eq!(a.to_base32().len(), 32);
    }

    #[test]
    fn secret_base32_round_trip_and_tolerance() {
        let secret = TotpSecret::generate();
        let text = secret.to_base32();
        assert!(text
            .bytes()
            .all(|c| c.is_ascii_uppercase() || (b'2'..=b'7').contains(&c)));
        assert!(!text.contains('='));
        assert_eq!(
            TotpSecret::from_base32(&text).unwrap().as_bytes(),
            secret.as_bytes()
        );
        // As shown by apps: lower case, in groups of four.
        let grouped: String = text
            .to_lowercase()
            .as_bytes()
            .chunks(4)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect::<Vec<_>>()
            .join(" ");
        assert_eq!(
            TotpSecret::from_base32(&grouped).unwrap().as_bytes(),
            secret.as_bytes()
        );
        // RFC test secret: "12345678901234567890".
        let rfc = TotpSecret::from_base32("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ").unwrap();
        assert_eq!(rfc.as_bytes(), b"12345678901234567890");
        assert_eq!(rfc.to_base32(), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
    }

    #[test]
    fn secret_refuses_bad_input() {
        assert!(
            matches!(
                TotpSecret::from_base32("MZXW6YTBOI"),
                Err(OtpError::Secret(_))
            ),
            "too short"
        );
        assert!(matches!(
            TotpSecret::from_base32("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJ0"),
            Err(OtpError::Secret(_))
        ));
        assert!(matches!(
            TotpSecret::from_base32(""),
            Err(OtpError::Secret(_))
        ));
        assert!(TotpSecret::from_bytes(&[7u8; 15]).is_err());
        assert!(TotpSecret::from_bytes(&[7u8; 16]).is_ok());
        assert!(TotpSecret::from_bytes(&[7u8; 64]).is_ok());
        assert!(TotpSecret::from_bytes(&[7u8; 65]).is_err());
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let secret = TotpSecret::from_base32("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ").unwrap();
        let debug = format!("{secret:?} {:#?}", secret);
        assert!(!debug.contains("GEZDGNBV"));
        assert!(!debug.contains("1234567890"));
        assert!(!debug.contains("49, 50"), "no byte list");
        assert!(debug.contains("redacted"));
    }

    #[test]
    fn secret_zeroize_leaves_no_key() {
        let mut secret = TotpSecret::generate();
        secret.zeroize();
        assert!(secret.as_bytes().is_empty());
    }
}
