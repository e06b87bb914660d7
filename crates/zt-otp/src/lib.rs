//! Zhengtong's second factor: TOTP codes from an authenticator app, one-time
//! recovery codes, and the enrolment QR code, rendered by the platform itself.
//!
//! The crate is pure: it never reads the clock (time is a parameter, unix
//! seconds), stores nothing and calls no service.
//!
//! # TOTP with HMAC-SHA1
//!
//! Codes follow RFC 6238 with its defaults: HMAC-SHA1, 6 digits, 30 s steps.
//! These are the only parameters every authenticator app (Google and
//! Microsoft Authenticator, 腾讯身份验证器, FreeOTP, Aegis, …) implements;
//! several silently ignore `algorithm=` in the enrolment URI and compute SHA1
//! anyway, so a SHA-256 credential would produce codes that never match.
//! SHA1's collision attacks do not carry over to HMAC-SHA1, whose security
//! rests on SHA1 as a keyed pseudo-random function (RFC 4226 appendix A).
//! No app implements HMAC-SM3, so the GM/T algorithms are used where only the
//! platform computes (recovery-code fingerprints), not here.
//! [`Algorithm`] keeps SHA-256 and SHA-512 available for clients known to
//! support them.
//!
//! # Why `verify` returns the step
//!
//! RFC 6238 §5.2: a verifier must not accept the same code twice. [`verify`]
//! returns the step that matched; the caller stores it with the user (in the
//! same transaction as the sign-in) and passes it back as `last_used_step`
//! next time, and any code of that step or an earlier one is then
//! [`OtpError::Replayed`]. Keeping this state with the caller keeps the crate
//! free of storage and lets one database row carry it. Limiting failed
//! attempts is also the caller's job.
//!
//! # Why recovery codes are fingerprinted
//!
//! A recovery code signs in like a password, so only its [`recovery::fingerprint`]
//! (SM3 of the normalized code) is stored: a copy of the database does not
//! give anyone a way in. Codes carry ≈ 79 bits, so a plain digest cannot be
//! reversed by search and no salt or slow hash is needed; being unsalted, the
//! fingerprint can be looked up with one indexed query, and deleting the row
//! makes the code one-time.
//!
//! # QR code
//!
//! [`qr_svg`] draws a self-contained SVG (no script, no external reference)
//! that can be inlined or served as `image/svg+xml` under a strict CSP; no
//! external service or JavaScript library ever sees the secret.
//!
//! ```
//! use zt_otp::{code_at, otpauth_uri, qr_svg, verify, TotpSecret};
//!
//! let secret = TotpSecret::generate();
//! let uri = otpauth_uri("政通", "张三", &secret);
//! let svg = qr_svg(&uri).expect("fits in a QR code");
//! assert!(svg.contains("viewBox"));
//!
//! let now = 1_700_000_000;
//! let code = code_at(&secret, now, 6, 30);
//! let step = verify(&secret, &code, now, None).expect("valid");
//! assert_eq!(
//!     verify(&secret, &code, now, Some(step)),
//!     Err(zt_otp::OtpError::Replayed)
//! );
//! ```

pub mod base32;
mod error;
pub mod qr;
pub mod recovery;
pub mod totp;
pub mod uri;

pub use error::{CodeFormat, OtpError};
pub use qr::qr_svg;
pub use recovery::generate_recovery_codes;
pub use totp::{
    code_at, code_at_with, hotp, step_at, verify, verify_with, Algorithm, TotpParams, TotpSecret,
};
pub use uri::{otpauth_uri, otpauth_uri_with};

/// Full-width forms (U+FF01–U+FF5E, as a Chinese IME types them) to their
/// ASCII counterparts, and the ideographic space U+3000 to a space.
pub(crate) fn fold_full_width(c: char) -> char {
    match c {
        '\u{3000}' => ' ',
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(u32::from(c) - 0xFEE0).unwrap_or(c),
        _ => c,
    }
}

#[cfg(test)]
mod tests {
    use super::fold_full_width;

    #[test]
    fn full_width_folding() {
        assert_eq!(fold_full_width('１'), '1');
        assert_eq!(fold_full_width('９'), '9');
        assert_eq!(fold_full_width('Ａ'), 'A');
        assert_eq!(fold_full_width('ｚ'), 'z');
        assert_eq!(fold_full_width('－'), '-');
        assert_eq!(fold_full_width('\u{3000}'), ' ');
        assert_eq!(fold_full_width('政'), '政');
        assert_eq!(fold_full_width('7'), '7');
    }
}
