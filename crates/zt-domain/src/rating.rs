//! 好差评: five levels, 5 = 非常满意 … 1 = 非常不满意. A score of 2 or less opens
//! a rectification (整改) for the department.

use serde::{Deserialize, Serialize};

use crate::error::{DomainError, FieldError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct Score(u8);

pub const MAX_COMMENT_CHARS: usize = 500;

impl Score {
    pub fn new(v: i64) -> Result<Self, DomainError> {
        if (1..=5).contains(&v) {
            Ok(Self(v as u8))
        } else {
            Err(DomainError::Validation(vec![FieldError::new(
                "score",
                "RATING_SCORE_INVALID",
                "评价等级应为1至5（非常不满意至非常满意）。",
            )]))
        }
    }

    pub fn value(self) -> u8 {
        self.0
    }

    pub fn label_zh(self) -> &'static str {
        label_of(self.0)
    }

    /// Ratings of 2 or less are 差评 and must be rectified.
    pub fn needs_rectification(self) -> bool {
        self.0 <= 2
    }
}

pub fn label_of(score: u8) -> &'static str {
    match score {
        5 => "非常满意",
        4 => "满意",
        3 => "基本满意",
        2 => "不满意",
        _ => "非常不满意",
    }
}

impl TryFrom<i64> for Score {
    type Error = DomainError;
    fn try_from(v: i64) -> Result<Self, DomainError> {
        Self::new(v)
    }
}
impl From<Score> for i64 {
    fn from(s: Score) -> i64 {
        i64::from(s.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores() {
        assert!(Score::new(0).is_err());
        assert!(Score::new(6).is_err());
        assert!(Score::new(2).unwrap().needs_rectification());
        assert!(!Score::new(3).unwrap().needs_rectification());
        assert_eq!(Score::new(5).unwrap().label_zh(), "非常满意");
        assert_eq!(Score::new(1).unwrap().label_zh(), "非常不满意");
    }
}
