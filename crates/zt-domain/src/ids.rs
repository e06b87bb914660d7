//! Identity numbers, credit codes and mobile numbers, parsed at the edge so that
//! no layer below has to check them again.

use std::fmt;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// Why a value was refused. Each variant has a stable code and a Chinese message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("identity number must be 18 characters")]
    IdNumberLength,
    #[error("identity number has an invalid character")]
    IdNumberFormat,
    #[error("identity number has an invalid birth date")]
    IdNumberBirthDate,
    #[error("identity number check character is wrong")]
    IdNumberCheck,
    #[error("credit code must be 18 characters")]
    UsccLength,
    #[error("credit code has an invalid character")]
    UsccFormat,
    #[error("credit code check character is wrong")]
    UsccCheck,
    #[error("mobile number must be 11 digits starting with 1")]
    Mobile,
}

impl IdError {
    pub fn code(self) -> &'static str {
        match self {
            Self::IdNumberLength | Self::IdNumberFormat | Self::IdNumberBirthDate => {
                "ID_NUMBER_INVALID"
            }
            Self::IdNumberCheck => "ID_NUMBER_CHECKSUM",
            Self::UsccLength | Self::UsccFormat => "USCC_INVALID",
            Self::UsccCheck => "USCC_CHECKSUM",
            Self::Mobile => "MOBILE_INVALID",
        }
    }

    pub fn message_zh(self) -> &'static str {
        match self {
            Self::IdNumberLength => "公民身份号码应为18位。",
            Self::IdNumberFormat => "公民身份号码格式不正确：前17位应为数字，最后一位为数字或X。",
            Self::IdNumberBirthDate => "公民身份号码中的出生日期无效，请核对。",
            Self::IdNumberCheck => "公民身份号码校验位不正确，请核对后重新输入。",
            Self::UsccLength => "统一社会信用代码应为18位。",
            Self::UsccFormat => "统一社会信用代码含有无效字符（不使用I、O、S、V、Z）。",
            Self::UsccCheck => "统一社会信用代码校验位不正确，请核对后重新输入。",
            Self::Mobile => "手机号码应为以1开头的11位数字。",
        }
    }
}

/// 公民身份号码 (GB 11643-1999), 18 characters with a valid check character.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IdNumber(String);

const ID_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const ID_CHECK: [char; 11] = ['1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'];

/// Check character of the first 17 digits of an identity number.
pub fn id_number_check_char(first17: &str) -> Option<char> {
    if first17.len() != 17 || !first17.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let sum: u32 = first17
        .bytes()
        .zip(ID_WEIGHTS)
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum();
    Some(ID_CHECK[(sum % 11) as usize])
}

impl IdNumber {
    /// Parses a number as typed: surrounding blanks removed, `x` upper-cased.
    /// A number is never "corrected": a wrong check character is refused.
    pub fn parse(raw: &str) -> Result<Self, IdError> {
        let s = raw.trim().to_ascii_uppercase();
        if s.chars().count() != 18 {
            return Err(IdError::IdNumberLength);
        }
        if !s.is_ascii() {
            return Err(IdError::IdNumberFormat);
        }
        let (body, check) = s.split_at(17);
        if !body.bytes().all(|b| b.is_ascii_digit())
            || !check.bytes().all(|b| b.is_ascii_digit() || b == b'X')
        {
            return Err(IdError::IdNumberFormat);
        }
        let birth = NaiveDate::parse_from_str(&body[6..14], "%Y%m%d")
            .map_err(|_| IdError::IdNumberBirthDate)?;
        if birth.format("%Y").to_string().as_str() < "1900" {
            return Err(IdError::IdNumberBirthDate);
        }
        let expected = id_number_check_char(body).ok_or(IdError::IdNumberFormat)?;
        if check.starts_with(expected) {
            Ok(Self(s))
        } else {
            Err(IdError::IdNumberCheck)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn birth_date(&self) -> NaiveDate {
        // Checked in `parse`.
        NaiveDate::parse_from_str(&self.0[6..14], "%Y%m%d").unwrap_or_default()
    }

    /// `4399**********1236`: the first 4 and last 4 characters.
    pub fn masked(&self) -> String {
        format!("{}**********{}", &self.0[..4], &self.0[14..])
    }
}

impl TryFrom<String> for IdNumber {
    type Error = IdError;
    fn try_from(s: String) -> Result<Self, IdError> {
        Self::parse(&s)
    }
}
impl From<IdNumber> for String {
    fn from(v: IdNumber) -> String {
        v.0
    }
}
impl fmt::Display for IdNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// 统一社会信用代码 (GB 32100-2015), 18 characters with a valid check character.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Uscc(String);

const USCC_ALPHABET: &str = "0123456789ABCDEFGHJKLMNPQRTUWXY";
const USCC_WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];

fn uscc_value(c: char) -> Option<u32> {
    USCC_ALPHABET.find(c).map(|i| i as u32)
}

/// Check character of the first 17 characters of a credit code.
pub fn uscc_check_char(first17: &str) -> Option<char> {
    if first17.chars().count() != 17 {
        return None;
    }
    let mut sum = 0;
    for (c, w) in first17.chars().zip(USCC_WEIGHTS) {
        sum += uscc_value(c)? * w;
    }
    let check = (31 - sum % 31) % 31;
    USCC_ALPHABET.chars().nth(check as usize)
}

impl Uscc {
    pub fn parse(raw: &str) -> Result<Self, IdError> {
        let s = raw.trim().to_ascii_uppercase();
        if s.chars().count() != 18 {
            return Err(IdError::UsccLength);
        }
        if !s.is_ascii() || !s.chars().all(|c| uscc_value(c).is_some()) {
            return Err(IdError::UsccFormat);
        }
        let (body, check) = s.split_at(17);
        let expected = uscc_check_char(body).ok_or(IdError::UsccFormat)?;
        if check.starts_with(expected) {
            Ok(Self(s))
        } else {
            Err(IdError::UsccCheck)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Uscc {
    type Error = IdError;
    fn try_from(s: String) -> Result<Self, IdError> {
        Self::parse(&s)
    }
}
impl From<Uscc> for String {
    fn from(v: Uscc) -> String {
        v.0
    }
}
impl fmt::Display for Uscc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A mainland mobile number, normalised to 11 digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Mobile(String);

impl Mobile {
    /// Accepts blanks and hyphens and a leading `+86`/`86` before 11 digits.
    pub fn parse(raw: &str) -> Result<Self, IdError> {
        let s: String = raw
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .collect();
        let s = s.strip_prefix('+').map(str::to_string).unwrap_or(s);
        let s = match s.strip_prefix("86") {
            Some(rest) if rest.len() == 11 => rest.to_string(),
            _ => s,
        };
        if s.len() == 11 && s.starts_with('1') && s.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(s))
        } else {
            Err(IdError::Mobile)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `138****8000`.
    pub fn masked(&self) -> String {
        format!("{}****{}", &self.0[..3], &self.0[7..])
    }
}

impl TryFrom<String> for Mobile {
    type Error = IdError;
    fn try_from(s: String) -> Result<Self, IdError> {
        Self::parse(&s)
    }
}
impl From<Mobile> for String {
    fn from(v: Mobile) -> String {
        v.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_number_worked_example_of_v1_readme() {
        assert_eq!(id_number_check_char("43990219850317002"), Some('5'));
        assert!(IdNumber::parse("439902198503170025").is_ok());
        assert_eq!(
            IdNumber::parse("439902198503170024"),
            Err(IdError::IdNumberCheck)
        );
        // The upgraded 15-digit example of §7.
        assert!(IdNumber::parse("439902197901011236").is_ok());
    }

    #[test]
    fn id_number_x_and_blanks() {
        // Find a body whose check character is X and make sure lower case is accepted.
        let body = (0..1000)
            .map(|i| format!("11010519491231{i:03}"))
            .find(|b| id_number_check_char(b) == Some('X'))
            .expect("some body has check X");
        let n = IdNumber::parse(&format!("  {body}x ")).expect("lower-case x accepted");
        assert!(n.as_str().ends_with('X'));
    }

    #[test]
    fn id_number_refusals() {
        assert_eq!(
            IdNumber::parse("43990219850317002"),
            Err(IdError::IdNumberLength)
        );
        assert_eq!(
            IdNumber::parse("43990219850317002A"),
            Err(IdError::IdNumberFormat)
        );
        assert_eq!(
            IdNumber::parse("4399021985031700２5"),
            Err(IdError::IdNumberFormat)
        );
        assert_eq!(
            IdNumber::parse("439902198502300025"),
            Err(IdError::IdNumberBirthDate)
        );
        assert_eq!(IdNumber::parse(""), Err(IdError::IdNumberLength));
    }

    #[test]
    fn id_number_masking() {
        assert_eq!(
            IdNumber::parse("439902197901011236").unwrap().masked(),
            "4399**********1236"
        );
    }

    #[test]
    fn uscc_worked_example() {
        assert_eq!(uscc_check_char("91439902MA4L8E5K0"), Some('8'));
        assert!(Uscc::parse("91439902MA4L8E5K08").is_ok());
        assert!(Uscc::parse("91439902ma4l8e5k08").is_ok());
        assert_eq!(Uscc::parse("91439902MA4L8E5K09"), Err(IdError::UsccCheck));
        assert_eq!(Uscc::parse("91439902MA4L8E5KO8"), Err(IdError::UsccFormat));
        assert_eq!(Uscc::parse("91439902MA4L8E5K0"), Err(IdError::UsccLength));
        // A well-known real code.
        assert!(Uscc::parse("91350100M000100Y43").is_ok());
    }

    #[test]
    fn mobiles() {
        for ok in [
            "13800138000",
            "+86 138-0013-8000",
            "86-13800138000",
            " 138 0013 8000 ",
        ] {
            assert_eq!(Mobile::parse(ok).unwrap().as_str(), "13800138000", "{ok}");
        }
        for bad in [
            "1380013800",
            "23800138000",
            "138001380001",
            "1380013800a",
            "+87 13800138000",
        ] {
            assert_eq!(Mobile::parse(bad), Err(IdError::Mobile), "{bad}");
        }
        assert_eq!(
            Mobile::parse("13800138000").unwrap().masked(),
            "138****8000"
        );
    }
}
