//! The user as the identity platform describes them (identity.md §4), the
//! same for an OIDC login and a CAS ticket.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::IdentityError;

/// 用户类型: who is logging in. The platform's roles follow from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserType {
    /// 自然人: a citizen acting for themselves.
    Citizen,
    /// 工作人员: staff of a department (has `dept_code`).
    Staff,
    /// 法人经办人: an agent acting for an enterprise (has `org_uscc`).
    EnterpriseAgent,
}

impl UserType {
    /// The claim value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Citizen => "citizen",
            Self::Staff => "staff",
            Self::EnterpriseAgent => "enterprise_agent",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "citizen" => Self::Citizen,
            "staff" => Self::Staff,
            "enterprise_agent" => Self::EnterpriseAgent,
            _ => return None,
        })
    }
}

/// 实名认证等级, ordered: `L1 < L2 < L3`, so a service can require
/// `claims.real_name_level >= Some(RealNameLevel::L2)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum RealNameLevel {
    /// Registered, name and identity number self-declared (not verified).
    L1,
    /// Verified against the identity-card register (身份证件核验).
    L2,
    /// Verified in person or by face recognition (人脸识别/现场核验).
    L3,
}

impl RealNameLevel {
    /// The claim value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::L1 => "L1",
            Self::L2 => "L2",
            Self::L3 => "L3",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "L1" => Self::L1,
            "L2" => Self::L2,
            "L3" => Self::L3,
            _ => return None,
        })
    }
}

/// `gender` (derived by the platform from the identity number).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Gender {
    /// `male`
    Male,
    /// `female`
    Female,
}

impl Gender {
    /// The claim value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Male => "male",
            Self::Female => "female",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "male" => Self::Male,
            "female" => Self::Female,
            _ => return None,
        })
    }
}

/// Every claim of identity.md §4 (scopes `openid profile phone gov`), plus
/// the session claims. A claim the account does not have is `None` (a
/// citizen has no `dept_code`, a staff member no `org_uscc`).
///
/// Link local users by [`Claims::sub`], never by name or phone number: two
/// people may share a name. `Debug` masks the identity and phone numbers.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// 用户唯一标识: stable, opaque account identifier.
    pub sub: String,
    /// The provider's session id for this client (ID token only); a
    /// back-channel logout names the session by it.
    pub sid: Option<String>,
    /// 姓名 (may contain `·`).
    pub name: Option<String>,
    /// Surname (may have two characters, e.g. 欧阳).
    pub family_name: Option<String>,
    /// Given name.
    pub given_name: Option<String>,
    /// 登录名.
    pub preferred_username: Option<String>,
    /// Derived from the identity number.
    pub gender: Option<Gender>,
    /// `YYYY-MM-DD`, derived from the identity number.
    pub birthdate: Option<String>,
    /// 11-digit mainland mobile number without `+86`.
    pub phone_number: Option<String>,
    /// Verified by SMS at registration.
    pub phone_number_verified: Option<bool>,
    /// 公民身份号码 (GB 11643-1999), 18 characters, check character `X`
    /// upper-case.
    pub id_number: Option<String>,
    /// 实名认证等级.
    pub real_name_level: Option<RealNameLevel>,
    /// 用户类型.
    pub user_type: Option<UserType>,
    /// 部门编码 (staff only).
    pub dept_code: Option<String>,
    /// 部门名称 (staff only).
    pub dept_name: Option<String>,
    /// 统一社会信用代码 of the enterprise an agent acts for.
    pub org_uscc: Option<String>,
    /// Name of that enterprise.
    pub org_name: Option<String>,
    /// When the user authenticated (unix seconds), if the provider said.
    pub auth_time: Option<i64>,
    /// Authentication context class, if requested.
    pub acr: Option<String>,
    /// Authentication methods, if requested.
    pub amr: Option<Vec<String>>,
}

impl Claims {
    /// Reads the user claims of an ID token or userinfo object. Unknown
    /// claims are ignored; a known claim of the wrong type or an unknown
    /// `user_type`/`real_name_level`/`gender` is [`IdentityError::InvalidClaim`].
    pub(crate) fn from_json(map: &Map<String, Value>) -> Result<Self, IdentityError> {
        let r = Reader(map);
        Ok(Self {
            sub: r
                .string("sub")?
                .ok_or(IdentityError::MissingClaim { claim: "sub" })?,
            sid: r.string("sid")?,
            name: r.string("name")?,
            family_name: r.string("family_name")?,
            given_name: r.string("given_name")?,
            preferred_username: r.string("preferred_username")?,
            gender: r.parsed("gender", Gender::parse)?,
            birthdate: r.string("birthdate")?,
            phone_number: r.string("phone_number")?,
            phone_number_verified: r.boolean("phone_number_verified")?,
            id_number: r.string("id_number")?,
            real_name_level: r.parsed("real_name_level", RealNameLevel::parse)?,
            user_type: r.parsed("user_type", UserType::parse)?,
            dept_code: r.string("dept_code")?,
            dept_name: r.string("dept_name")?,
            org_uscc: r.string("org_uscc")?,
            org_name: r.string("org_name")?,
            auth_time: r.integer("auth_time")?,
            acr: r.string("acr")?,
            amr: r.strings("amr")?,
        })
    }

    /// Fills every user claim `self` lacks, and replaces those `fresher`
    /// has, from a second source about the same subject (userinfo after the
    /// ID token). Session claims (`sid`, `auth_time`, `acr`, `amr`) stay.
    pub(crate) fn merge_userinfo(&mut self, fresher: Claims) {
        macro_rules! take {
            ($($f:ident),*) => { $( if fresher.$f.is_some() { self.$f = fresher.$f; } )* };
        }
        take!(
            name,
            family_name,
            given_name,
            preferred_username,
            gender,
            birthdate,
            phone_number,
            phone_number_verified,
            id_number,
            real_name_level,
            user_type,
            dept_code,
            dept_name,
            org_uscc,
            org_name
        );
    }
}

struct Reader<'a>(&'a Map<String, Value>);

impl Reader<'_> {
    fn string(&self, claim: &'static str) -> Result<Option<String>, IdentityError> {
        match self.0.get(claim) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(IdentityError::InvalidClaim { claim }),
        }
    }

    fn parsed<T>(
        &self,
        claim: &'static str,
        parse: fn(&str) -> Option<T>,
    ) -> Result<Option<T>, IdentityError> {
        match self.string(claim)? {
            None => Ok(None),
            Some(s) => parse(&s)
                .map(Some)
                .ok_or(IdentityError::InvalidClaim { claim }),
        }
    }

    fn boolean(&self, claim: &'static str) -> Result<Option<bool>, IdentityError> {
        match self.0.get(claim) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            // CAS (and some providers) write booleans as strings.
            Some(Value::String(s)) if s == "true" => Ok(Some(true)),
            Some(Value::String(s)) if s == "false" => Ok(Some(false)),
            Some(_) => Err(IdentityError::InvalidClaim { claim }),
        }
    }

    fn integer(&self, claim: &'static str) -> Result<Option<i64>, IdentityError> {
        match self.0.get(claim) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => numeric_date(v)
                .map(Some)
                .ok_or(IdentityError::InvalidClaim { claim }),
        }
    }

    fn strings(&self, claim: &'static str) -> Result<Option<Vec<String>>, IdentityError> {
        match self.0.get(claim) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| v.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .map(Some)
                .ok_or(IdentityError::InvalidClaim { claim }),
            Some(_) => Err(IdentityError::InvalidClaim { claim }),
        }
    }
}

/// A JWT NumericDate: an integer, or a number with a fraction (rounded down).
pub(crate) fn numeric_date(v: &Value) -> Option<i64> {
    if let Some(i) = v.as_i64() {
        return Some(i);
    }
    let f = v.as_f64()?;
    if f.is_finite() && f.abs() < 1e15 {
        // In range by the check above.
        #[allow(clippy::cast_possible_truncation)]
        Some(f.floor() as i64)
    } else {
        None
    }
}

/// `110105198506150110` → `110105********0110`.
fn mask_id_number(s: &str) -> String {
    mask(s, 6, 4)
}

/// `13800000001` → `138****0001`.
fn mask_phone(s: &str) -> String {
    mask(s, 3, 4)
}

fn mask(s: &str, head: usize, tail: usize) -> String {
    let chars: Vec<char> = s.chars().collect();
    if chars.len() <= head + tail {
        return "*".repeat(chars.len());
    }
    let mut out: String = chars[..head].iter().collect();
    out.push_str(&"*".repeat(chars.len() - head - tail));
    out.extend(&chars[chars.len() - tail..]);
    out
}

impl fmt::Debug for Claims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Claims")
            .field("sub", &self.sub)
            .field("sid", &self.sid)
            .field("name", &self.name)
            .field("preferred_username", &self.preferred_username)
            .field("user_type", &self.user_type)
            .field("real_name_level", &self.real_name_level)
            .field("id_number", &self.id_number.as_deref().map(mask_id_number))
            .field(
                "phone_number",
                &self.phone_number.as_deref().map(mask_phone),
            )
            .field("dept_code", &self.dept_code)
            .field("org_uscc", &self.org_uscc)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    #[test]
    fn reads_the_gov_claims() {
        let c = Claims::from_json(&map(json!({
            "sub": "U30000001", "name": "冯敏", "user_type": "enterprise_agent",
            "real_name_level": "L2", "id_number": "33010819840330026X",
            "phone_number": "13700000001", "phone_number_verified": true,
            "org_uscc": "91330106MA2H0K3BXT", "org_name": "杭州西湖数字科技股份有限公司",
            "gender": "female", "auth_time": 1795529089.7, "unknown": {"x": 1}
        })))
        .unwrap();
        assert_eq!(c.user_type, Some(UserType::EnterpriseAgent));
        assert_eq!(c.real_name_level, Some(RealNameLevel::L2));
        assert_eq!(c.gender, Some(Gender::Female));
        assert_eq!(c.auth_time, Some(1_795_529_089));
        assert_eq!(c.dept_code, None);
        assert!(c.real_name_level >= Some(RealNameLevel::L2));
        assert!(Some(RealNameLevel::L1) < Some(RealNameLevel::L3));
        let dbg = format!("{c:?}");
        assert!(dbg.contains("330108********026X"), "{dbg}");
        assert!(dbg.contains("137****0001"), "{dbg}");
        assert!(!dbg.contains("33010819840330026X"));
    }

    #[test]
    fn rejects_bad_values() {
        assert_eq!(
            Claims::from_json(&map(json!({"name": "x"}))),
            Err(IdentityError::MissingClaim { claim: "sub" })
        );
        assert_eq!(
            Claims::from_json(&map(json!({"sub": "U1", "user_type": "admin"}))),
            Err(IdentityError::InvalidClaim { claim: "user_type" })
        );
        assert_eq!(
            Claims::from_json(&map(json!({"sub": "U1", "real_name_level": "L4"}))),
            Err(IdentityError::InvalidClaim {
                claim: "real_name_level"
            })
        );
        assert_eq!(
            Claims::from_json(&map(json!({"sub": 5}))),
            Err(IdentityError::InvalidClaim { claim: "sub" })
        );
    }

    #[test]
    fn userinfo_wins_for_user_claims_only() {
        let mut a =
            Claims::from_json(&map(json!({"sub": "U1", "sid": "s1", "name": "旧"}))).unwrap();
        let b = Claims::from_json(&map(
            json!({"sub": "U1", "name": "新", "phone_number": "13800000001"}),
        ))
        .unwrap();
        a.merge_userinfo(b);
        assert_eq!(a.name.as_deref(), Some("新"));
        assert_eq!(a.sid.as_deref(), Some("s1"));
        assert_eq!(a.phone_number.as_deref(), Some("13800000001"));
    }
}
