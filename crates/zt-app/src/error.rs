//! Errors of the use cases. Every error carries a stable code and a Chinese
//! message; the HTTP layer maps `ErrorKind` to a status in one place.

use zt_domain::{DomainError, FieldError};
use zt_store::StoreError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    BadRequest,
    Unauthenticated,
    Forbidden,
    NotFound,
    Conflict,
    Unprocessable,
    TooLarge,
    UnsupportedMedia,
    /// Too many attempts from one client in a short time.
    TooManyRequests,
    /// A service the request needs (e.g. the virus scanner) does not answer.
    Unavailable,
    Internal,
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{code}: {message}")]
    Rejected {
        kind: ErrorKind,
        code: &'static str,
        message: String,
        field: Option<String>,
    },
    #[error("validation failed")]
    Invalid(Vec<FieldError>),
    #[error(transparent)]
    Domain(DomainError),
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("internal: {0}")]
    Internal(String),
}

impl AppError {
    pub fn new(kind: ErrorKind, code: &'static str, message: impl Into<String>) -> Self {
        Self::Rejected {
            kind,
            code,
            message: message.into(),
            field: None,
        }
    }

    pub fn with_field(self, f: impl Into<String>) -> Self {
        match self {
            Self::Rejected {
                kind,
                code,
                message,
                ..
            } => Self::Rejected {
                kind,
                code,
                message,
                field: Some(f.into()),
            },
            other => other,
        }
    }

    pub fn unauthenticated() -> Self {
        Self::new(ErrorKind::Unauthenticated, "AUTH_REQUIRED", "请先登录。")
    }

    pub fn forbidden() -> Self {
        Self::new(
            ErrorKind::Forbidden,
            "ACCESS_DENIED",
            "您没有权限进行此操作。",
        )
    }

    pub fn not_found(code: &'static str, what: &str) -> Self {
        Self::new(
            ErrorKind::NotFound,
            code,
            format!("{what}不存在或您无权查看。"),
        )
    }

    pub fn conflict() -> Self {
        Self::new(
            ErrorKind::Conflict,
            "CASE_CONFLICT",
            "该办件已被其他人员处理，请刷新后查看最新状态。",
        )
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::BadRequest, code, message)
    }

    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Rejected { kind, .. } => *kind,
            Self::Invalid(_) => ErrorKind::Unprocessable,
            Self::Domain(e) => match e {
                DomainError::InvalidTransition { .. } | DomainError::AlreadySigned => {
                    ErrorKind::Conflict
                }
                DomainError::RoleNotAllowed { .. } => ErrorKind::Forbidden,
                _ => ErrorKind::Unprocessable,
            },
            Self::Store(StoreError::Conflict) | Self::Store(StoreError::Duplicate) => {
                ErrorKind::Conflict
            }
            Self::Store(StoreError::NotFound) => ErrorKind::NotFound,
            Self::Store(_) | Self::Internal(_) => ErrorKind::Internal,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::Rejected { code, .. } => code,
            Self::Invalid(errs) => errs.first().map(|e| e.code).unwrap_or("VALIDATION_FAILED"),
            Self::Domain(e) => e.code(),
            Self::Store(StoreError::Conflict) => "CASE_CONFLICT",
            Self::Store(StoreError::Duplicate) => "DUPLICATE",
            Self::Store(StoreError::NotFound) => "NOT_FOUND",
            Self::Store(_) | Self::Internal(_) => "INTERNAL_ERROR",
        }
    }

    /// The message for the citizen. Internal errors never show their details.
    pub fn message(&self) -> String {
        match self {
            Self::Rejected { message, .. } => message.clone(),
            Self::Invalid(errs) => errs
                .first()
                .map(|e| e.message.clone())
                .unwrap_or_else(|| "提交的内容有误。".into()),
            Self::Domain(e) => e.message_zh(),
            Self::Store(StoreError::Conflict) => "该记录已被其他人员修改，请刷新后重试。".into(),
            Self::Store(StoreError::Duplicate) => "该记录已存在，请勿重复提交。".into(),
            Self::Store(StoreError::NotFound) => "您要找的记录不存在。".into(),
            Self::Store(_) | Self::Internal(_) => {
                "系统繁忙，请稍后再试。如问题持续，请凭请求编号联系客服。".into()
            }
        }
    }

    pub fn field(&self) -> Option<String> {
        match self {
            Self::Rejected { field, .. } => field.clone(),
            Self::Invalid(errs) => errs.first().map(|e| e.field.clone()),
            Self::Domain(e) => e.field().map(str::to_string),
            _ => None,
        }
    }

    /// All field errors, when several were found at once.
    pub fn field_errors(&self) -> &[FieldError] {
        match self {
            Self::Invalid(errs) => errs,
            Self::Domain(DomainError::Validation(errs)) => errs,
            _ => &[],
        }
    }
}

impl From<DomainError> for AppError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::Validation(errs) => Self::Invalid(errs),
            other => Self::Domain(other),
        }
    }
}

impl From<sqlx::Error> for AppError {
    fn from(e: sqlx::Error) -> Self {
        Self::Store(e.into())
    }
}

pub type Result<T, E = AppError> = std::result::Result<T, E>;
