//! Service items (事项) and their versioned definitions: guide, form, materials
//! and review steps. A case is always judged against the version it was filed
//! under, so a definition is immutable once published.

use std::collections::BTreeSet;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{DomainError, FieldError};
use crate::ids::{IdNumber, Mobile, Uscc};
use crate::role::Role;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ApplicantKind {
    /// 自然人
    Person,
    /// 法人 (through an agent)
    Organisation,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ItemKind {
    /// 行政许可
    Licensing,
    /// 行政确认
    Confirmation,
    /// 行政备案
    Filing,
    /// 公共服务
    PublicService,
    /// 行政给付
    Benefit,
    /// 其他行政权力
    OtherPower,
}

impl ItemKind {
    pub fn label_zh(self) -> &'static str {
        match self {
            Self::Licensing => "行政许可",
            Self::Confirmation => "行政确认",
            Self::Filing => "行政备案",
            Self::PublicService => "公共服务",
            Self::Benefit => "行政给付",
            Self::OtherPower => "其他行政权力",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum FieldType {
    Text,
    Textarea,
    Number,
    Amount,
    Date,
    Select,
    Phone,
    IdNumber,
    Uscc,
    Region,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FormField {
    pub key: String,
    pub label: String,
    #[serde(rename = "type")]
    pub field_type: FieldType,
    #[serde(default)]
    pub required: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
    /// Maximum length in characters for text fields (defaults: 200 / 2000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_len: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MaterialDef {
    pub code: String,
    pub name: String,
    #[serde(default)]
    pub required: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// 原件/复印件 and number of copies, as the guide states it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub form: Option<String>,
    /// Size limit in bytes; the platform default applies when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_bytes: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum SignMode {
    /// 会签: every listed role must agree.
    All,
    /// 或签: any one of the listed roles decides.
    Any,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StepDef {
    pub key: String,
    pub name: String,
    pub roles: Vec<Role>,
    #[serde(default = "default_mode")]
    pub mode: SignMode,
}

fn default_mode() -> SignMode {
    SignMode::Any
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Faq {
    pub q: String,
    pub a: String,
}

/// 办事指南.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Guide {
    #[serde(default)]
    pub summary: String,
    #[serde(default)]
    pub conditions: Vec<String>,
    #[serde(default)]
    pub legal_basis: Vec<String>,
    /// Fee description; empty means free of charge (不收费).
    #[serde(default)]
    pub fees: String,
    #[serde(default)]
    pub place: String,
    #[serde(default)]
    pub hours: String,
    #[serde(default)]
    pub phone: String,
    /// Name of the result document (e.g. 食品经营许可证).
    #[serde(default)]
    pub result: String,
    #[serde(default)]
    pub faq: Vec<Faq>,
}

/// One published version of an item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ItemDefinition {
    pub name: String,
    pub kind: ItemKind,
    pub applicant_kinds: Vec<ApplicantKind>,
    /// 法定时限 in working days.
    pub statutory_days: u32,
    /// 承诺时限 in working days; the due date is counted on it.
    pub promised_days: u32,
    #[serde(default)]
    pub guide: Guide,
    pub form_fields: Vec<FormField>,
    pub materials: Vec<MaterialDef>,
    pub steps: Vec<StepDef>,
    /// Minimum real-name level (L1..L3) an applicant needs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_real_name_level: Option<String>,
    /// The licence an approved case of this item issues on completion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub licence: Option<crate::licence::LicenceDef>,
}

pub const TEXT_MAX: usize = 200;
pub const TEXTAREA_MAX: usize = 2000;
pub const MAX_KEY_LEN: usize = 64;

impl ItemDefinition {
    /// Checks the definition an administrator publishes.
    pub fn check(&self) -> Result<(), DomainError> {
        let bad = |why: String| Err(DomainError::InvalidItem(why));
        if self.name.trim().is_empty() {
            return bad("事项名称不能为空".into());
        }
        if self.applicant_kinds.is_empty() {
            return bad("至少应允许一类申请人".into());
        }
        if self.statutory_days == 0
            || self.promised_days == 0
            || self.promised_days > self.statutory_days
        {
            return bad("承诺时限应为不超过法定时限的正整数个工作日".into());
        }
        if self.steps.is_empty() {
            return bad("至少应有一个审查环节".into());
        }
        let mut keys = BTreeSet::new();
        for f in &self.form_fields {
            if !is_key(&f.key) || !keys.insert(f.key.as_str()) {
                return bad(format!("表单字段“{}”的标识无效或重复", f.key));
            }
            if f.field_type == FieldType::Select && f.options.is_empty() {
                return bad(format!("下拉字段“{}”没有选项", f.label));
            }
        }
        if let Some(l) = &self.licence {
            if l.validity_years > crate::licence::MAX_VALIDITY_YEARS {
                return bad(format!(
                    "证照有效期不能超过{}年",
                    crate::licence::MAX_VALIDITY_YEARS
                ));
            }
            if let Some(k) = l.print_fields.iter().find(|k| !keys.contains(k.as_str())) {
                return bad(format!("证照打印字段“{k}”不是本事项的表单字段"));
            }
        }
        let mut codes = BTreeSet::new();
        for m in &self.materials {
            if !is_key(&m.code) || !codes.insert(m.code.as_str()) {
                return bad(format!("材料“{}”的编码无效或重复", m.code));
            }
        }
        let mut steps = BTreeSet::new();
        for s in &self.steps {
            if !is_key(&s.key) || !steps.insert(s.key.as_str()) {
                return bad(format!("环节“{}”的标识无效或重复", s.key));
            }
            if s.roles.is_empty()
                || s.roles
                    .iter()
                    .any(|r| !matches!(r, Role::Reviewer | Role::Approver))
            {
                return bad(format!("环节“{}”的岗位应为审查或决定人员", s.name));
            }
        }
        Ok(())
    }

    pub fn material(&self, code: &str) -> Option<&MaterialDef> {
        self.materials.iter().find(|m| m.code == code)
    }

    /// Validates an application form against the definition and returns the
    /// normalised values. Every problem is reported at once (一次性告知).
    pub fn validate_form(
        &self,
        form: &Map<String, Value>,
    ) -> Result<Map<String, Value>, DomainError> {
        let mut errors = Vec::new();
        for key in form.keys() {
            if !self.form_fields.iter().any(|f| &f.key == key) {
                errors.push(FieldError::new(
                    format!("form.{}", truncate(key, MAX_KEY_LEN)),
                    "FORM_UNKNOWN_FIELD",
                    "表单中含有本事项不需要的内容，请刷新页面后重新填写。",
                ));
            }
        }
        let mut out = Map::new();
        for f in &self.form_fields {
            let path = format!("form.{}", f.key);
            match form.get(&f.key) {
                None | Some(Value::Null) => {
                    if f.required {
                        errors.push(FieldError::new(
                            path,
                            "FORM_FIELD_REQUIRED",
                            format!("请填写“{}”。", f.label),
                        ));
                    }
                }
                Some(Value::String(s)) if s.trim().is_empty() => {
                    if f.required {
                        errors.push(FieldError::new(
                            path,
                            "FORM_FIELD_REQUIRED",
                            format!("请填写“{}”。", f.label),
                        ));
                    }
                }
                Some(v) => match f.normalise(v) {
                    Ok(v) => {
                        out.insert(f.key.clone(), v);
                    }
                    Err((code, msg)) => errors.push(FieldError::new(path, code, msg)),
                },
            }
        }
        if errors.is_empty() {
            Ok(out)
        } else {
            Err(DomainError::Validation(errors))
        }
    }
}

impl FormField {
    fn normalise(&self, v: &Value) -> Result<Value, (&'static str, String)> {
        let label = &self.label;
        let as_text = || -> Result<String, (&'static str, String)> {
            match v {
                Value::String(s) => Ok(s.trim().to_string()),
                Value::Number(n) => Ok(n.to_string()),
                _ => Err(("FORM_FIELD_TYPE", format!("“{label}”的填写格式不正确。"))),
            }
        };
        let s = as_text()?;
        let multiline = self.field_type == FieldType::Textarea;
        if s.chars()
            .any(|c| c.is_control() && !(multiline && (c == '\n' || c == '\r' || c == '\t')))
        {
            return Err((
                "FORM_FIELD_CONTROL_CHAR",
                format!("“{label}”中含有无法识别的控制字符。"),
            ));
        }
        let text = |max: usize| {
            let max = self.max_len.unwrap_or(max);
            if s.chars().count() > max {
                Err((
                    "FORM_FIELD_TOO_LONG",
                    format!("“{label}”不能超过{max}个字。"),
                ))
            } else {
                Ok(Value::String(s.clone()))
            }
        };
        match self.field_type {
            FieldType::Text => text(TEXT_MAX),
            FieldType::Textarea => text(TEXTAREA_MAX),
            FieldType::Number => s
                .parse::<i64>()
                .ok()
                .filter(|n| *n >= 0 && *n <= 1_000_000_000_000)
                .map(Value::from)
                .ok_or((
                    "FORM_FIELD_NUMBER",
                    format!("“{label}”应填写不小于0的整数。"),
                )),
            FieldType::Amount => parse_amount(&s).map(Value::String).ok_or((
                "FORM_FIELD_AMOUNT",
                format!("“{label}”应为金额，最多两位小数，例如 1200.50。"),
            )),
            FieldType::Date => NaiveDate::parse_from_str(&s, "%Y-%m-%d")
                .ok()
                .filter(|_| s.len() == 10)
                .map(|d| Value::String(d.format("%Y-%m-%d").to_string()))
                .ok_or((
                    "FORM_FIELD_DATE",
                    format!("“{label}”应为日期，格式如 2026-01-31。"),
                )),
            FieldType::Select => {
                if self.options.iter().any(|o| o == &s) {
                    Ok(Value::String(s))
                } else {
                    Err((
                        "FORM_FIELD_OPTION",
                        format!("“{label}”请从给定选项中选择。"),
                    ))
                }
            }
            FieldType::Phone => Mobile::parse(&s)
                .map(|m| Value::String(m.as_str().to_string()))
                .map_err(|e| (e.code(), format!("“{label}”：{}", e.message_zh()))),
            FieldType::IdNumber => IdNumber::parse(&s)
                .map(|m| Value::String(m.as_str().to_string()))
                .map_err(|e| (e.code(), format!("“{label}”：{}", e.message_zh()))),
            FieldType::Uscc => Uscc::parse(&s)
                .map(|m| Value::String(m.as_str().to_string()))
                .map_err(|e| (e.code(), format!("“{label}”：{}", e.message_zh()))),
            FieldType::Region => {
                if is_region_code(&s) {
                    Ok(Value::String(s))
                } else {
                    Err((
                        "FORM_FIELD_REGION",
                        format!("“{label}”应为6位行政区划代码（GB/T 2260）。"),
                    ))
                }
            }
        }
    }
}

/// A GB/T 2260 code: six digits, a valid province prefix (11–82).
pub fn is_region_code(s: &str) -> bool {
    s.len() == 6
        && s.bytes().all(|b| b.is_ascii_digit())
        && matches!(s[..2].parse::<u8>(), Ok(p) if (11..=82).contains(&p))
}

/// Normalises an amount in yuan to a plain decimal with two places.
pub fn parse_amount(s: &str) -> Option<String> {
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, f),
        None => (s, ""),
    };
    if int.is_empty() || int.len() > 13 || frac.len() > 2 {
        return None;
    }
    if !int.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let int = int.trim_start_matches('0');
    let int = if int.is_empty() { "0" } else { int };
    Some(format!("{int}.{frac:0<2}"))
}

fn is_key(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_KEY_LEN
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

fn truncate(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn def() -> ItemDefinition {
        serde_json::from_value(json!({
            "name": "测试事项", "kind": "licensing", "applicant_kinds": ["person"],
            "statutory_days": 20, "promised_days": 10,
            "form_fields": [
                {"key": "name", "label": "姓名", "type": "text", "required": true},
                {"key": "note", "label": "说明", "type": "textarea"},
                {"key": "staff", "label": "从业人数", "type": "number"},
                {"key": "capital", "label": "资金数额", "type": "amount"},
                {"key": "start", "label": "开业日期", "type": "date"},
                {"key": "form", "label": "组成形式", "type": "select", "options": ["个人经营", "家庭经营"]},
                {"key": "phone", "label": "联系电话", "type": "phone", "required": true},
                {"key": "idn", "label": "身份证号", "type": "id_number"},
                {"key": "uscc", "label": "信用代码", "type": "uscc"},
                {"key": "region", "label": "区划", "type": "region"}
            ],
            "materials": [{"code": "id_copy", "name": "身份证明", "required": true}],
            "steps": [{"key": "review", "name": "审查", "roles": ["reviewer"]},
                      {"key": "decide", "name": "决定", "roles": ["approver"]}]
        }))
        .expect("definition")
    }

    #[test]
    fn definition_checks() {
        assert!(def().check().is_ok());
        let mut d = def();
        d.promised_days = 30;
        assert!(d.check().is_err());
        let mut d = def();
        d.steps[0].roles = vec![Role::Clerk];
        assert!(d.check().is_err());
        let mut d = def();
        d.form_fields[1].key = "name".into();
        assert!(d.check().is_err());
    }

    #[test]
    fn valid_form_is_normalised() {
        let form = json!({
            "name": " 𠮷野·家 😀 ", "note": "第一行\n第二行", "staff": "12", "capital": "1200.5",
            "start": "2026-03-01", "form": "个人经营", "phone": "+86 138-0013-8000",
            "idn": "439902198503170025", "uscc": "91439902ma4l8e5k08", "region": "370202"
        });
        let out = def()
            .validate_form(form.as_object().unwrap())
            .expect("valid");
        assert_eq!(out["name"], "𠮷野·家 😀");
        assert_eq!(out["staff"], 12);
        assert_eq!(out["capital"], "1200.50");
        assert_eq!(out["phone"], "13800138000");
        assert_eq!(out["uscc"], "91439902MA4L8E5K08");
    }

    #[test]
    fn all_errors_reported_at_once() {
        let form = json!({
            "staff": "-1", "capital": "1.234", "start": "2026-02-30", "form": "合伙",
            "idn": "439902198503170024", "uscc": "91439902MA4L8E5K09", "region": "990000",
            "bogus": 1, "note": "a\u{0000}b"
        });
        let Err(DomainError::Validation(errs)) = def().validate_form(form.as_object().unwrap())
        else {
            panic!("expected validation errors")
        };
        let codes: Vec<_> = errs.iter().map(|e| (e.field.as_str(), e.code)).collect();
        for expected in [
            ("form.bogus", "FORM_UNKNOWN_FIELD"),
            ("form.name", "FORM_FIELD_REQUIRED"),
            ("form.phone", "FORM_FIELD_REQUIRED"),
            ("form.note", "FORM_FIELD_CONTROL_CHAR"),
            ("form.staff", "FORM_FIELD_NUMBER"),
            ("form.capital", "FORM_FIELD_AMOUNT"),
            ("form.start", "FORM_FIELD_DATE"),
            ("form.form", "FORM_FIELD_OPTION"),
            ("form.idn", "ID_NUMBER_CHECKSUM"),
            ("form.uscc", "USCC_CHECKSUM"),
            ("form.region", "FORM_FIELD_REGION"),
        ] {
            assert!(
                codes.contains(&expected),
                "missing {expected:?} in {codes:?}"
            );
        }
    }

    #[test]
    fn wrong_json_types_and_lengths() {
        let long = "长".repeat(TEXT_MAX + 1);
        let form = json!({"name": long, "phone": ["13800138000"]});
        let Err(DomainError::Validation(errs)) = def().validate_form(form.as_object().unwrap())
        else {
            panic!("expected errors")
        };
        assert!(errs.iter().any(|e| e.code == "FORM_FIELD_TOO_LONG"));
        assert!(errs.iter().any(|e| e.code == "FORM_FIELD_TYPE"));
    }

    #[test]
    fn amounts() {
        assert_eq!(parse_amount("0").as_deref(), Some("0.00"));
        assert_eq!(parse_amount("007.1").as_deref(), Some("7.10"));
        assert_eq!(parse_amount("-1"), None);
        assert_eq!(parse_amount("1e3"), None);
        assert_eq!(parse_amount(".5"), None);
    }
}
