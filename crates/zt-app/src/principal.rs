//! The authenticated user of a request, and the access rules that depend only on it.

use serde::Serialize;
use zt_domain::role::Role;
use zt_store::cases::{CaseRow, Scope};

#[derive(Debug, Clone, Serialize)]
pub struct Principal {
    pub user_id: i64,
    pub username: String,
    pub display_name: String,
    /// person | agent | staff | admin
    pub user_type: String,
    pub roles: Vec<Role>,
    pub dept_id: Option<i64>,
    /// The staff member's department and every department under it: a
    /// bureau's staff serve its branches too (综合窗口 accepts for all).
    pub dept_scope: Vec<i64>,
    pub org_uscc: Option<String>,
    pub org_name: Option<String>,
    pub real_name_level: String,
    pub must_change_password: bool,
    /// What the session may do before anything else: while set, only the
    /// steps that lift it are allowed.
    pub restriction: Option<Restriction>,
    #[serde(skip)]
    pub session_id: String,
    #[serde(skip)]
    pub csrf_token: String,
}

/// A session that is signed in but may not yet act.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Restriction {
    /// A new, demo or reset password: the owner must choose their own.
    PasswordChange,
    /// A staff or administrator password past its maximum age.
    PasswordExpired,
    /// The password was right; the authenticator code is still to come.
    SecondFactor,
    /// The account must enrol an authenticator before it may act
    /// (administrators always, staff when so configured).
    SecondFactorEnrolment,
}

impl Restriction {
    pub fn code(self) -> &'static str {
        match self {
            Self::PasswordChange | Self::PasswordExpired => "PASSWORD_CHANGE_REQUIRED",
            Self::SecondFactor => "SECOND_FACTOR_REQUIRED",
            Self::SecondFactorEnrolment => "SECOND_FACTOR_ENROLMENT_REQUIRED",
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            Self::PasswordChange => "为保障账号安全，请先设置您自己的新密码，然后再继续办理。",
            Self::PasswordExpired => "您的密码已超过有效期，请先修改密码，然后再继续办理。",
            Self::SecondFactor => {
                "请输入身份验证器（动态口令）App 上显示的6位验证码，或一个备用恢复码。"
            }
            Self::SecondFactorEnrolment => {
                "您的账号须启用双因素认证：请用身份验证器 App 扫描二维码完成绑定后再继续。"
            }
        }
    }

    pub fn error(self) -> crate::AppError {
        crate::AppError::new(crate::ErrorKind::Forbidden, self.code(), self.message())
    }
}

impl Principal {
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    pub fn is_applicant(&self) -> bool {
        self.has(Role::Applicant)
    }

    pub fn is_case_staff(&self) -> bool {
        self.roles.iter().any(|r| r.is_case_staff())
    }

    /// The cases this user may list.
    pub fn case_scope(&self) -> Option<Scope> {
        if self.is_applicant() {
            Some(Scope::Applicant {
                user_id: self.user_id,
                org_uscc: self.org_uscc.clone(),
            })
        } else if self.is_case_staff() {
            self.dept_id
                .map(|_| Scope::Departments(self.dept_scope.clone()))
        } else {
            None
        }
    }

    /// The applicant of a case, or an agent of the same organisation.
    pub fn owns(&self, case: &CaseRow) -> bool {
        self.is_applicant()
            && (case.applicant_id == self.user_id
                || (self.org_uscc.is_some()
                    && case.org_uscc.is_some()
                    && self.org_uscc == case.org_uscc))
    }

    /// Staff of the case's department (drafts are private to the applicant).
    pub fn serves(&self, case: &CaseRow) -> bool {
        self.is_case_staff() && self.dept_scope.contains(&case.dept_id) && case.status != "draft"
    }

    pub fn may_view(&self, case: &CaseRow) -> bool {
        self.owns(case) || self.serves(case)
    }
}
