//! Errors of the domain. Each has a stable code (part of the public API) and a
//! message in Chinese that a citizen understands.

use serde::Serialize;

/// One invalid field of an input, reported all at once (一次性告知).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub code: &'static str,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            code,
            message: message.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("action {action} is not allowed in state {status}")]
    InvalidTransition {
        status: &'static str,
        action: &'static str,
    },
    #[error("role may not perform {action}")]
    RoleNotAllowed { action: &'static str },
    #[error("already approved this step")]
    AlreadySigned,
    #[error("opinion required")]
    OpinionRequired,
    #[error("a list of what to correct is required")]
    SupplementListRequired,
    #[error("special procedure required")]
    ProcedureRequired,
    #[error("date {0} is outside the loaded holiday calendar")]
    DateOutsideCalendar(chrono::NaiveDate),
    #[error("invalid calendar: {0}")]
    InvalidCalendar(String),
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    #[error("invalid item definition: {0}")]
    InvalidItem(String),
}

impl DomainError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidTransition { .. } => "CASE_INVALID_TRANSITION",
            Self::RoleNotAllowed { .. } => "CASE_ROLE_NOT_ALLOWED",
            Self::AlreadySigned => "CASE_ALREADY_SIGNED",
            Self::OpinionRequired => "CASE_OPINION_REQUIRED",
            Self::SupplementListRequired => "CASE_SUPPLEMENT_LIST_REQUIRED",
            Self::ProcedureRequired => "CASE_PROCEDURE_REQUIRED",
            Self::DateOutsideCalendar(_) => "CALENDAR_DATE_OUT_OF_RANGE",
            Self::InvalidCalendar(_) => "CALENDAR_INVALID",
            Self::Validation(errs) => errs.first().map(|e| e.code).unwrap_or("VALIDATION_FAILED"),
            Self::InvalidItem(_) => "ITEM_INVALID_DEFINITION",
        }
    }

    /// Message in Chinese for the person who caused it.
    pub fn message_zh(&self) -> String {
        match self {
            Self::InvalidTransition { status, action } => format!(
                "办件当前状态为“{}”，不能执行“{}”操作。",
                crate::case::CaseStatus::label_of(status),
                crate::case::Action::label_of(action)
            ),
            Self::RoleNotAllowed { action } => format!(
                "您的岗位无权对该办件执行“{}”操作。",
                crate::case::Action::label_of(action)
            ),
            Self::AlreadySigned => "您已在本环节签署过意见，请等待其他人员办理。".into(),
            Self::OpinionRequired => "请填写办理意见。".into(),
            Self::SupplementListRequired => "请一次性列明需要补正的全部材料或内容。".into(),
            Self::ProcedureRequired => "请选择特别程序类型（听证、鉴定、专家评审或公示）。".into(),
            Self::DateOutsideCalendar(d) => {
                format!("日期 {d} 超出已导入的节假日安排范围，请管理员先导入该年度的节假日安排。")
            }
            Self::InvalidCalendar(why) => format!("节假日安排数据有误：{why}"),
            Self::Validation(errs) => errs
                .first()
                .map(|e| e.message.clone())
                .unwrap_or_else(|| "提交的内容有误，请检查后重试。".into()),
            Self::InvalidItem(why) => format!("事项定义有误：{why}"),
        }
    }

    /// The field an error is about, when there is one.
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::Validation(errs) => errs.first().map(|e| e.field.as_str()),
            _ => None,
        }
    }
}
