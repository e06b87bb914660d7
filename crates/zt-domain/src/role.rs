//! Roles of the platform. Staff roles act on cases of their department; the
//! three administrator roles are separated (三权分立) and never act on cases.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Role {
    /// A natural person, or the agent of an organisation, applying for items.
    Applicant,
    /// 窗口受理
    Clerk,
    /// 审查
    Reviewer,
    /// 决定
    Approver,
    /// 系统管理员: accounts, departments, items, calendar.
    Sysadmin,
    /// 安全管理员: roles, permissions, security policy.
    Secadmin,
    /// 审计管理员: reads and exports the audit trail.
    Auditor,
}

impl Role {
    pub const ALL: [Role; 7] = [
        Role::Applicant,
        Role::Clerk,
        Role::Reviewer,
        Role::Approver,
        Role::Sysadmin,
        Role::Secadmin,
        Role::Auditor,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Applicant => "applicant",
            Self::Clerk => "clerk",
            Self::Reviewer => "reviewer",
            Self::Approver => "approver",
            Self::Sysadmin => "sysadmin",
            Self::Secadmin => "secadmin",
            Self::Auditor => "auditor",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Self::Applicant => "申请人",
            Self::Clerk => "窗口受理人员",
            Self::Reviewer => "审查人员",
            Self::Approver => "决定人员",
            Self::Sysadmin => "系统管理员",
            Self::Secadmin => "安全管理员",
            Self::Auditor => "审计管理员",
        }
    }

    /// Staff who work on cases within a department.
    pub fn is_case_staff(self) -> bool {
        matches!(self, Self::Clerk | Self::Reviewer | Self::Approver)
    }

    pub fn is_admin(self) -> bool {
        matches!(self, Self::Sysadmin | Self::Secadmin | Self::Auditor)
    }
}

/// 三权分立: no account may hold two administrator roles, nor an administrator
/// role together with a case role.
pub fn roles_compatible(roles: &[Role]) -> bool {
    let admins = roles.iter().filter(|r| r.is_admin()).count();
    admins == 0 || (admins == 1 && roles.len() == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separation_of_duties() {
        assert!(roles_compatible(&[Role::Clerk, Role::Reviewer]));
        assert!(roles_compatible(&[Role::Sysadmin]));
        assert!(!roles_compatible(&[Role::Sysadmin, Role::Auditor]));
        assert!(!roles_compatible(&[Role::Secadmin, Role::Clerk]));
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
    }
}
