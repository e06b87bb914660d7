//! The one error type of the crate. Messages are English for logs; the web
//! layer maps each variant to its own Chinese message.

use std::fmt;

/// Why a second-factor operation failed.
///
/// Suggested user-facing messages: `Format` → 「请输入 6 位数字验证码」,
/// `Mismatch` → 「验证码错误」, `Replayed` → 「验证码已使用，请等待下一个验证码」,
/// `Secret` / `Qr` → internal errors (log, show a generic failure).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OtpError {
    /// The entered code is not `digits` decimal digits.
    #[error("malformed one-time code: {0}")]
    Format(CodeFormat),
    /// Well-formed, but no step in the accepted window produces this code.
    #[error("one-time code does not match")]
    Mismatch,
    /// The code is right but belongs to a step already used (or older):
    /// the same code must not log in twice.
    #[error("one-time code already used")]
    Replayed,
    /// A TOTP secret could not be read (bad base32, wrong length).
    #[error("invalid TOTP secret: {0}")]
    Secret(&'static str),
    /// The QR code could not be built (e.g. data too long).
    #[error("QR code: {0}")]
    Qr(String),
}

/// How an entered code is malformed; distinct so the page can say which.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeFormat {
    /// Something other than a digit or white space was typed.
    NonDigit,
    /// Only digits, but not the expected number of them.
    Length {
        /// Digits the code must have (6 by default).
        expected: usize,
        /// Digits that were entered (white space not counted).
        found: usize,
    },
}

impl fmt::Display for CodeFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NonDigit => f.write_str("contains a character that is not a digit"),
            Self::Length { expected, found } => {
                write!(f, "expected {expected} digits, got {found}")
            }
        }
    }
}
