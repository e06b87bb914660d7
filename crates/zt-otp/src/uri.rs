//! `otpauth://` enrolment URIs (the "Key Uri Format" that authenticator apps
//! read from the QR code).

use crate::totp::{TotpParams, TotpSecret};

/// Percent-encodes everything but RFC 3986 unreserved characters
/// (`A–Z a–z 0–9 - . _ ~`), byte by byte over UTF-8, upper-case hex; a space
/// becomes `%20`, never `+`.
pub fn percent_encode(text: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(text.len());
    for &byte in text.as_bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0x0f)]));
        }
    }
    out
}

/// `otpauth://totp/Issuer:account?secret=…&issuer=…&algorithm=SHA1&digits=6&period=30`
/// with the default parameters.
///
/// Issuer and account are percent-encoded as UTF-8 (「政通」 →
/// `%E6%94%BF%E9%80%9A`); the separating colon stays literal. A colon inside
/// the issuer or account is encoded as `%3A`, but the issuer should not
/// contain one. An empty issuer leaves out both the prefix and the parameter.
///
/// The URI contains the secret: show it once, never log it.
pub fn otpauth_uri(issuer: &str, account: &str, secret: &TotpSecret) -> String {
    otpauth_uri_with(&TotpParams::DEFAULT, issuer, account, secret)
}

/// [`otpauth_uri`] with explicit parameters.
pub fn otpauth_uri_with(
    params: &TotpParams,
    issuer: &str,
    account: &str,
    secret: &TotpSecret,
) -> String {
    let account = percent_encode(account);
    let secret = secret.to_base32();
    let tail = format!(
        "algorithm={}&digits={}&period={}",
        params.algorithm.uri_name(),
        params.digits.clamp(1, crate::totp::MAX_DIGITS),
        params.step.max(1),
    );
    if issuer.is_empty() {
        format!("otpauth://totp/{account}?secret={secret}&{tail}")
    } else {
        let issuer = percent_encode(issuer);
        format!("otpauth://totp/{issuer}:{account}?secret={secret}&issuer={issuer}&{tail}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::totp::Algorithm;

    fn rfc_secret() -> TotpSecret {
        TotpSecret::from_bytes(b"12345678901234567890").unwrap()
    }

    #[test]
    fn percent_encoding_of_utf8_and_reserved_characters() {
        assert_eq!(percent_encode("政通"), "%E6%94%BF%E9%80%9A");
        assert_eq!(percent_encode("a b+c"), "a%20b%2Bc");
        assert_eq!(percent_encode("x:y/z?&=#%"), "x%3Ay%2Fz%3F%26%3D%23%25");
        assert_eq!(percent_encode("A-z_0.9~"), "A-z_0.9~");
        assert_eq!(
            percent_encode("zhang.san@example.cn"),
            "zhang.san%40example.cn"
        );
        assert_eq!(percent_encode(""), "");
    }

    #[test]
    fn uri_with_chinese_issuer_and_account() {
        let uri = otpauth_uri("政通", "张三", &rfc_secret());
        assert_eq!(
            uri,
            "otpauth://totp/%E6%94%BF%E9%80%9A:%E5%BC%A0%E4%B8%89\
             ?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
             &issuer=%E6%94%BF%E9%80%9A&algorithm=SHA1&digits=6&period=30"
        );
        assert!(uri.is_ascii());
    }

    #[test]
    fn uri_with_ascii_issuer_and_email_account() {
        let uri = otpauth_uri("Zhengtong Gov", "li.si@zhengtong.gov.cn", &rfc_secret());
        assert_eq!(
            uri,
            "otpauth://totp/Zhengtong%20Gov:li.si%40zhengtong.gov.cn\
             ?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
             &issuer=Zhengtong%20Gov&algorithm=SHA1&digits=6&period=30"
        );
    }

    #[test]
    fn uri_colon_in_account_is_encoded_and_empty_issuer_is_left_out() {
        let uri = otpauth_uri("", "a:b", &rfc_secret());
        assert_eq!(
            uri,
            "otpauth://totp/a%3Ab?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
             &algorithm=SHA1&digits=6&period=30"
        );
    }

    #[test]
    fn uri_with_other_parameters() {
        let params = TotpParams {
            algorithm: Algorithm::Sha256,
            digits: 8,
            step: 60,
            skew: 1,
        };
        let uri = otpauth_uri_with(&params, "政通", "x", &rfc_secret());
        assert!(
            uri.ends_with("&algorithm=SHA256&digits=8&period=60"),
            "{uri}"
        );
    }
}
