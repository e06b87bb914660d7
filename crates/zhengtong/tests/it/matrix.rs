//! 权限矩阵 (等保 2.0 访问控制), generated from ONE table.
//!
//! `MATRIX` says, for every endpoint of `zt_web::api::routes` and every role,
//! what happens to the caller's OWN resource and to SOMEONE ELSE's. The same
//! table is
//! * executed: `permission_matrix` sends every cell as a real HTTP request to
//!   the running application, on SQLite and on PostgreSQL;
//! * kept complete: `matrix_matches_openapi` (the OpenAPI document) and
//!   `matrix_matches_router_source` (the `.route(…)` calls in `api/mod.rs`)
//!   fail when an endpoint has no row, or a row no endpoint;
//! * published: `permission_matrix_document` compares it with
//!   `docs/security/permission-matrix.md`; `ZT_BLESS=1` rewrites that file.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::time::Instant;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use self::Expect::{Allow as A, Forbidden as F, Hidden as H, NotApplicable as N, Unauth as U};
use crate::both;
use crate::harness::{Session, TestApp, PASSWORD};

// ---- the table ------------------------------------------------------------------

/// What one caller gets for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Past the permission check: a 2xx answer, or a refusal that the
    /// platform can only give after access was granted (the codes in
    /// `PAST_PERMISSION_CHECK`). Any other 4xx is not "allowed".
    Allow,
    /// 401 `AUTH_REQUIRED`: not signed in.
    Unauth,
    /// 403: signed in, but this role (or this relation to the resource) may not.
    Forbidden,
    /// 404 `…_NOT_FOUND`: the resource exists but the caller may not know it
    /// does; the answer is the same as for a missing one (numbers cannot be probed).
    Hidden,
    /// Not applicable: no resource in the path (then only `own` is filled:
    /// the request itself), or a caller who has no resource of this kind.
    NotApplicable,
}

/// The columns of the table, in order; each is played by one account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Actor {
    Anonymous,
    Applicant,
    Clerk,
    Reviewer,
    Approver,
    Sysadmin,
    Secadmin,
    Auditor,
}

const ACTORS: [Actor; 8] = [
    Actor::Anonymous,
    Actor::Applicant,
    Actor::Clerk,
    Actor::Reviewer,
    Actor::Approver,
    Actor::Sysadmin,
    Actor::Secadmin,
    Actor::Auditor,
];

/// One endpoint: `method` and `path` exactly as in `api/mod.rs`.
pub struct Rule {
    pub method: &'static str,
    pub path: &'static str,
    /// Per column of `ACTORS`: the caller's own resource (own case, a case of
    /// their own department, their own account or session); for a path
    /// without a resource, the request itself.
    pub own: [Expect; 8],
    /// Per column: someone else's resource (another applicant's case, a case
    /// of another department, another account, another user's session).
    pub other: [Expect; 8],
    /// For the document.
    pub note: &'static str,
}

/// No "someone else's" for a path without a resource.
const NONE: [Expect; 8] = [N; 8];
/// Everyone, signed in or not.
const PUBLIC: [Expect; 8] = [A; 8];
/// Every signed-in user, for themselves.
const SIGNED_IN: [Expect; 8] = [U, A, A, A, A, A, A, A];
/// An applicant, for their own account (the rights of the personal-information subject).
const APPLICANT_SELF: [Expect; 8] = [U, A, F, F, F, F, F, F];
/// 系统管理员 only.
const SYSADMIN: [Expect; 8] = [U, F, F, F, F, A, F, F];
/// 审计管理员 only.
const AUDITOR: [Expect; 8] = [U, F, F, F, F, F, F, A];
/// A case: the applicant's own / a case of the staff member's department;
/// administrators own no cases.
const CASE_OWN_READ: [Expect; 8] = [N, A, A, A, A, N, N, N];
/// Only the applicant changes the application; staff who serve the case are refused.
const CASE_OWN_APPLICANT: [Expect; 8] = [N, A, F, F, F, N, N, N];
/// Someone else's case is hidden from everybody signed in.
const CASE_OTHER: [Expect; 8] = [U, H, H, H, H, H, H, H];

//  columns:                 anon applicant clerk reviewer approver sysadmin secadmin auditor
pub const MATRIX: &[Rule] = &[
    Rule {
        method: "GET",
        path: "/healthz",
        own: PUBLIC,
        other: NONE,
        note: "存活探针",
    },
    Rule {
        method: "GET",
        path: "/readyz",
        own: PUBLIC,
        other: NONE,
        note: "就绪探针",
    },
    Rule {
        method: "GET",
        path: "/metrics",
        own: PUBLIC,
        other: NONE,
        note: "运维指标（仅回环地址与管理网络；测试从回环地址访问）",
    },
    Rule {
        method: "GET",
        path: "/api/openapi.json",
        own: PUBLIC,
        other: NONE,
        note: "接口文档（不在文档自身中列出）",
    },
    Rule {
        method: "POST",
        path: "/api/v1/session",
        own: PUBLIC,
        other: NONE,
        note: "登录；已登录者再次登录时原会话结束",
    },
    Rule {
        method: "GET",
        path: "/api/v1/session",
        own: SIGNED_IN,
        other: NONE,
        note: "当前用户",
    },
    Rule {
        method: "DELETE",
        path: "/api/v1/session",
        own: SIGNED_IN,
        other: NONE,
        note: "退出登录",
    },
    Rule {
        method: "POST",
        path: "/api/v1/session/password",
        own: SIGNED_IN,
        other: NONE,
        note: "修改本人密码（须验证原密码）",
    },
    Rule {
        method: "POST",
        path: "/api/v1/session/second-factor",
        own: SIGNED_IN,
        other: NONE,
        note: "登录第二步：动态口令或恢复码（错误计入登录失败）",
    },
    Rule {
        method: "GET",
        path: "/api/v1/me/second-factor",
        own: SIGNED_IN,
        other: NONE,
        note: "本人双因素认证状态",
    },
    Rule {
        method: "POST",
        path: "/api/v1/me/second-factor/enrolment",
        own: SIGNED_IN,
        other: NONE,
        note: "开始绑定身份验证器（二维码）",
    },
    Rule {
        method: "POST",
        path: "/api/v1/me/second-factor/enrolment/confirm",
        own: SIGNED_IN,
        other: NONE,
        note: "以首个验证码确认绑定，得到恢复码",
    },
    Rule {
        method: "POST",
        path: "/api/v1/me/second-factor/removal",
        own: [U, A, A, A, A, F, F, F],
        other: NONE,
        note: "解除本人绑定；管理员必须启用，不能解除",
    },
    Rule {
        method: "GET",
        path: "/api/v1/sessions",
        own: SIGNED_IN,
        other: NONE,
        note: "本人的登录会话",
    },
    Rule {
        method: "DELETE",
        path: "/api/v1/sessions",
        own: SIGNED_IN,
        other: NONE,
        note: "退出全部设备",
    },
    Rule {
        method: "DELETE",
        path: "/api/v1/sessions/{handle}",
        own: [N, A, A, A, A, A, A, A],
        other: [U, H, H, H, H, H, H, H],
        note: "结束本人的某个会话；他人的会话标识无效",
    },
    Rule {
        method: "GET",
        path: "/api/v1/privacy-notice",
        own: PUBLIC,
        other: NONE,
        note: "个人信息保护政策（当前版本及其版本标识）",
    },
    Rule {
        method: "POST",
        path: "/api/v1/registrations",
        own: PUBLIC,
        other: NONE,
        note: "自然人自助注册（须明示同意当前版本政策；按来源地址限频）",
    },
    Rule {
        method: "POST",
        path: "/api/v1/account-recovery",
        own: PUBLIC,
        other: NONE,
        note: "找回原平台（V1）账号：姓名、身份证号、手机号均须一致，验证码发至该手机；结果不透露是否匹配；按来源地址与手机号限频",
    },
    Rule {
        method: "POST",
        path: "/api/v1/account-recovery/confirm",
        own: PUBLIC,
        other: NONE,
        note: "凭验证码设置新密码（5分钟、5次内有效）",
    },
    Rule {
        method: "GET",
        path: "/api/v1/me/personal-information",
        own: APPLICANT_SELF,
        other: NONE,
        note: "申请人查看本人完整个人信息与同意记录；工作人员、管理员账号的信息由所在单位管理",
    },
    Rule {
        method: "PUT",
        path: "/api/v1/me/profile",
        own: APPLICANT_SELF,
        other: NONE,
        note: "申请人更正本人姓名、手机号（实名核验高于L1后身份证号不能自行修改）",
    },
    Rule {
        method: "GET",
        path: "/api/v1/me/export",
        own: APPLICANT_SELF,
        other: NONE,
        note: "申请人下载平台保存的本人全部信息（记入审计）",
    },
    Rule {
        method: "POST",
        path: "/api/v1/me/deletion",
        own: APPLICANT_SELF,
        other: NONE,
        note: "申请人撤回同意并注销本人账号（须再次输入密码；测试以错误密码请求，账号保留）",
    },
    Rule {
        method: "GET",
        path: "/api/v1/items",
        own: PUBLIC,
        other: NONE,
        note: "事项目录",
    },
    Rule {
        method: "GET",
        path: "/api/v1/items/{code}",
        own: PUBLIC,
        other: NONE,
        note: "办事指南（公开，无归属）",
    },
    Rule {
        method: "GET",
        path: "/api/v1/departments",
        own: PUBLIC,
        other: NONE,
        note: "部门树",
    },
    Rule {
        method: "GET",
        path: "/api/v1/calendar/due",
        own: PUBLIC,
        other: NONE,
        note: "工作日计算",
    },
    Rule {
        method: "POST",
        path: "/api/v1/cases",
        own: [U, A, F, F, F, F, F, F],
        other: NONE,
        note: "只有申请人可以申请",
    },
    Rule {
        method: "GET",
        path: "/api/v1/cases",
        own: [U, A, A, A, A, F, F, F],
        other: NONE,
        note: "列表只含本人（本单位）或本部门的办件；管理员无办件权限",
    },
    Rule {
        method: "GET",
        path: "/api/v1/cases/{case_no}",
        own: CASE_OWN_READ,
        other: CASE_OTHER,
        note: "草稿仅申请人可见",
    },
    Rule {
        method: "GET",
        path: "/api/v1/cases/{case_no}/signatures",
        own: CASE_OWN_READ,
        other: CASE_OTHER,
        note: "决定的 SM2 签名及其验证结果",
    },
    Rule {
        method: "GET",
        path: "/api/v1/cases/{case_no}/licence",
        own: CASE_OWN_READ,
        other: CASE_OTHER,
        note: "办件的电子证照（状态、编号、有效期）",
    },
    Rule {
        method: "GET",
        path: "/api/v1/cases/{case_no}/licence/document",
        own: CASE_OWN_READ,
        other: CASE_OTHER,
        note: "下载已签章的电子证照（签章完成前 409 LICENCE_PENDING_SEAL）",
    },
    Rule {
        method: "GET",
        path: "/api/v1/licences/{licence_no}/verification",
        own: PUBLIC,
        other: NONE,
        note: "电子证照核验（公开；持证主体姓名掩码）",
    },
    Rule {
        method: "POST",
        path: "/api/v1/licences/{licence_no}/verification",
        own: PUBLIC,
        other: NONE,
        note: "核验上传的证照文件是否为平台签发的原件（公开）",
    },
    Rule {
        method: "GET",
        path: "/api/v1/signing-key",
        own: PUBLIC,
        other: NONE,
        note: "平台验签公钥（公开）",
    },
    Rule {
        method: "PUT",
        path: "/api/v1/cases/{case_no}/form",
        own: CASE_OWN_APPLICANT,
        other: CASE_OTHER,
        note: "工作人员不能改申请内容",
    },
    Rule {
        method: "POST",
        path: "/api/v1/cases/{case_no}/materials",
        own: CASE_OWN_APPLICANT,
        other: CASE_OTHER,
        note: "上传材料",
    },
    Rule {
        method: "GET",
        path: "/api/v1/cases/{case_no}/materials/{id}",
        own: CASE_OWN_READ,
        other: CASE_OTHER,
        note: "下载材料",
    },
    Rule {
        method: "POST",
        path: "/api/v1/cases/{case_no}/submit",
        own: CASE_OWN_APPLICANT,
        other: CASE_OTHER,
        note: "提交草稿",
    },
    Rule {
        method: "POST",
        path: "/api/v1/cases/{case_no}/personal-information",
        own: [N, F, A, A, A, N, N, N],
        other: CASE_OTHER,
        note: "业务人员查看未脱敏的个人信息（记入审计）；申请人在详情中本就看到本人信息",
    },
    Rule {
        method: "POST",
        path: "/api/v1/cases/{case_no}/actions",
        own: CASE_OWN_READ,
        other: CASE_OTHER,
        note: "申请人撤回；受理、审查、决定各按其岗位办理本部门办件",
    },
    Rule {
        method: "POST",
        path: "/api/v1/cases/{case_no}/rating",
        own: [N, A, H, H, H, N, N, N],
        other: CASE_OTHER,
        note: "好差评只能由申请人评价本人办件",
    },
    Rule {
        method: "GET",
        path: "/api/v1/notifications",
        own: SIGNED_IN,
        other: NONE,
        note: "本人站内信",
    },
    Rule {
        method: "POST",
        path: "/api/v1/notifications/read",
        own: SIGNED_IN,
        other: NONE,
        note: "本人站内信标为已读",
    },
    Rule {
        method: "GET",
        path: "/api/v1/rectifications",
        own: [U, F, A, A, A, F, F, F],
        other: NONE,
        note: "本部门的差评整改任务",
    },
    Rule {
        method: "POST",
        path: "/api/v1/rectifications/{id}/answer",
        own: [N, F, A, A, A, N, N, N],
        other: [U, F, H, H, H, F, F, F],
        note: "业务人员答复本部门整改；申请人本人的差评也只能由部门答复",
    },
    Rule {
        method: "POST",
        path: "/api/v1/admin/users",
        own: SYSADMIN,
        other: NONE,
        note: "创建账号",
    },
    Rule {
        method: "GET",
        path: "/api/v1/admin/users",
        own: [U, F, F, F, F, A, A, F],
        other: NONE,
        note: "账号列表（个人信息脱敏）",
    },
    Rule {
        method: "POST",
        path: "/api/v1/admin/users/{username}/password",
        own: [N, F, F, F, F, F, F, F],
        other: [U, F, F, F, F, A, F, F],
        note: "重置他人密码；本人密码只能经“修改密码”（验证原密码）修改",
    },
    Rule {
        method: "PUT",
        path: "/api/v1/admin/users/{username}/roles",
        own: [N, F, F, F, F, F, F, F],
        other: [U, F, F, F, F, F, A, F],
        note: "只有安全管理员授权，且不能给自己授权",
    },
    Rule {
        method: "PUT",
        path: "/api/v1/admin/users/{username}/active",
        own: [N, F, F, F, F, F, F, F],
        other: [U, F, F, F, F, A, F, F],
        note: "停用账号；不能停用自己",
    },
    Rule {
        method: "POST",
        path: "/api/v1/admin/users/{username}/second-factor/reset",
        own: [N, F, F, F, F, F, F, F],
        other: [U, F, F, F, F, F, A, F],
        note: "丢失手机后重置他人的双因素认证（安全管理员；管理员账号只能在服务器上重置）",
    },
    Rule {
        method: "POST",
        path: "/api/v1/admin/departments",
        own: SYSADMIN,
        other: NONE,
        note: "创建部门",
    },
    Rule {
        method: "PUT",
        path: "/api/v1/admin/departments/{code}/seal",
        own: SYSADMIN,
        other: NONE,
        note: "设置部门的电子证照印章",
    },
    Rule {
        method: "POST",
        path: "/api/v1/admin/items",
        own: SYSADMIN,
        other: NONE,
        note: "创建事项",
    },
    Rule {
        method: "POST",
        path: "/api/v1/admin/items/{code}/versions",
        own: SYSADMIN,
        other: NONE,
        note: "发布事项新版本",
    },
    Rule {
        method: "GET",
        path: "/api/v1/admin/items/{code}/versions",
        own: SYSADMIN,
        other: NONE,
        note: "事项版本",
    },
    Rule {
        method: "POST",
        path: "/api/v1/admin/items/{code}/status",
        own: SYSADMIN,
        other: NONE,
        note: "暂停或恢复网上申请",
    },
    Rule {
        method: "GET",
        path: "/api/v1/audit",
        own: AUDITOR,
        other: NONE,
        note: "查询审计记录",
    },
    Rule {
        method: "GET",
        path: "/api/v1/audit/export",
        own: AUDITOR,
        other: NONE,
        note: "导出审计记录（导出本身记入审计）",
    },
    Rule {
        method: "GET",
        path: "/api/v1/audit/verify",
        own: AUDITOR,
        other: NONE,
        note: "校验审计哈希链",
    },
    Rule {
        method: "POST",
        path: "/api/v1/admin/calendar",
        own: SYSADMIN,
        other: NONE,
        note: "导入节假日安排",
    },
    Rule {
        method: "GET",
        path: "/api/v1/admin/calendar",
        own: SIGNED_IN,
        other: NONE,
        note: "已导入的年度（公开信息，/readyz 亦显示）",
    },
];

/// Rows of the table that the OpenAPI document does not list (the document itself).
const NOT_IN_OPENAPI: &[(&str, &str)] = &[("GET", "/api/openapi.json")];

/// Refusals that the platform gives only after the caller was found to be
/// allowed, and that therefore count as `Allow`: `PASSWORD_WRONG` (422) is
/// checked after authentication, against the caller's own account.
const PAST_PERMISSION_CHECK: &[&str] = &[
    "PASSWORD_WRONG",
    // Second-factor requests with a malformed code, or for an account in
    // the other enrolment state: answered only for a known caller.
    "SECOND_FACTOR_FORMAT",
    "SECOND_FACTOR_NOT_ENROLLED",
    "SECOND_FACTOR_NOT_STARTED",
    "SECOND_FACTOR_ENROLLED",
    // The licence of a case the caller may see, still being sealed.
    "LICENCE_PENDING_SEAL",
    // Account recovery is open to anyone; the matrix's ticket is not a real one.
    "RECOVERY_CODE_INVALID",
];

// ---- the accounts that play the columns ----------------------------------------

/// Cases of this item belong to 市场监督管理局 (SCJG): the department of the
/// staff columns.
const OWN_DEPT_ITEM: &str = "TEST-SCJG";
/// Cases of this item belong to 政务服务管理办公室 (ZWB), the parent of SCJG:
/// outside the SCJG staff's scope.
const OTHER_DEPT_ITEM: &str = "TEST-TWO";
/// The item the catalogue administration rows act on.
const ADMIN_ITEM: &str = "MX-ITEM";
/// Accounts the user-administration rows act on as "another account".
const TARGET_PASSWORD: &str = "mx_target_pw";
const TARGET_ROLES: &str = "mx_target_roles";
const TARGET_ACTIVE: &str = "mx_target_active";

impl Actor {
    fn user(self) -> Option<&'static str> {
        match self {
            Self::Anonymous => None,
            Self::Applicant => Some("citizen"),
            Self::Clerk => Some("clerk_scjg"),
            Self::Reviewer => Some("reviewer_scjg"),
            Self::Approver => Some("approver_scjg"),
            Self::Sysadmin => Some("sysadmin"),
            Self::Secadmin => Some("secadmin"),
            Self::Auditor => Some("auditor"),
        }
    }

    fn role(self) -> &'static str {
        match self {
            Self::Anonymous => "anonymous",
            Self::Applicant => "applicant",
            Self::Clerk => "clerk",
            Self::Reviewer => "reviewer",
            Self::Approver => "approver",
            Self::Sysadmin => "sysadmin",
            Self::Secadmin => "secadmin",
            Self::Auditor => "auditor",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Self::Anonymous => "匿名",
            Self::Applicant => "申请人",
            Self::Clerk => "窗口受理",
            Self::Reviewer => "审查",
            Self::Approver => "决定",
            Self::Sysadmin => "系统管理员",
            Self::Secadmin => "安全管理员",
            Self::Auditor => "审计管理员",
        }
    }

    fn is_staff(self) -> bool {
        matches!(self, Self::Clerk | Self::Reviewer | Self::Approver)
    }
}

/// The staff of an item's department who move its cases along: (clerk, reviewer, approver).
fn crew(item: &str) -> [&'static str; 3] {
    if item == OWN_DEPT_ITEM {
        ["clerk_scjg", "reviewer_scjg", "approver_scjg"]
    } else {
        ["clerk", "reviewer", "approver"]
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rel {
    Own,
    Other,
}

// ---- running one cell ------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Stage {
    Draft,
    Submitted,
    /// Accepted, at the review step.
    Review,
    /// Reviewed, at the decision step.
    Decide,
    Completed,
}

enum Body {
    Empty,
    Json(Value),
    /// A multipart upload of a PDF as the `id_copy` material.
    Pdf,
}

fn dup(s: &Session) -> Session {
    Session {
        client: s.client.clone(),
        csrf: s.csrf.clone(),
        base: s.base.clone(),
    }
}

async fn send(s: &Session, method: &str, path: &str, body: Body) -> (StatusCode, Value) {
    let method = Method::from_bytes(method.as_bytes()).expect("method");
    let mut rb = s.client.request(method, format!("{}{path}", s.base));
    if !s.csrf.is_empty() {
        rb = rb.header("x-csrf-token", &s.csrf);
    }
    rb = match body {
        Body::Empty => rb,
        Body::Json(v) => rb.json(&v),
        Body::Pdf => rb.multipart(
            reqwest::multipart::Form::new()
                .text("material_code", "id_copy")
                .part(
                    "file",
                    reqwest::multipart::Part::bytes(zhengtong::demo::sample_pdf("matrix").to_vec())
                        .file_name("身份证明.pdf"),
                ),
        ),
    };
    let resp = rb.send().await.expect("request");
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    let v = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, v)
}

fn valid_form() -> Value {
    json!({"applicant_name": "李明", "phone": "13800138000"})
}

/// The running application with the accounts and fixtures the cells need.
struct Ctx<'a> {
    t: &'a TestApp,
    /// One long-lived session per account, for requests that do not end it.
    sessions: HashMap<&'static str, Session>,
    logins: u32,
    serial: u32,
    shared: HashMap<(&'static str, &'static str, Stage), String>,
    materials: HashMap<(&'static str, &'static str), (String, i64)>,
}

impl<'a> Ctx<'a> {
    async fn new(t: &'a TestApp) -> Ctx<'a> {
        // Staff of SCJG for the review and decision columns (the demo has a
        // SCJG clerk only), and accounts to administer as "another account".
        let origin = zhengtong::bootstrap::cli_origin();
        let staff = [("reviewer_scjg", "reviewer"), ("approver_scjg", "approver")];
        for (username, role) in staff {
            let req = zt_app::admin::NewUserRequest {
                username: username.into(),
                password: PASSWORD.into(),
                display_name: format!("市场监管{role}"),
                user_type: "staff".into(),
                roles: vec![role.into()],
                dept_code: Some("SCJG".into()),
                real_name_level: Some("L3".into()),
                ..Default::default()
            };
            zt_app::admin::create_user(&t.app, None, &origin, &req)
                .await
                .unwrap_or_else(|e| panic!("{username}: {}", e.message()));
        }
        for username in [TARGET_PASSWORD, TARGET_ROLES, TARGET_ACTIVE] {
            let req = zt_app::admin::NewUserRequest {
                username: username.into(),
                password: PASSWORD.into(),
                display_name: "被管理账号".into(),
                user_type: "person".into(),
                ..Default::default()
            };
            zt_app::admin::create_user(&t.app, None, &origin, &req)
                .await
                .unwrap_or_else(|e| panic!("{username}: {}", e.message()));
        }
        let mut cx = Ctx {
            t,
            sessions: HashMap::new(),
            logins: 0,
            serial: 0,
            shared: HashMap::new(),
            materials: HashMap::new(),
        };
        let sys = cx.session("sysadmin").await;
        let (s, b) = sys
            .post(
                "/api/v1/admin/items",
                &json!({"code": ADMIN_ITEM, "impl_code": ADMIN_ITEM, "dept": "SCJG",
                        "definition": crate::harness::test_items()[0].1.clone()}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        cx
    }

    fn next(&mut self) -> u32 {
        self.serial += 1;
        self.serial
    }

    /// Every login counts toward the per-address limit (30 a minute): a
    /// minute passes on the manual clock well before it is reached.
    fn count_login(&mut self) {
        self.logins += 1;
        if self.logins.is_multiple_of(20) {
            self.t.clock.advance(chrono::Duration::seconds(61));
        }
    }

    async fn fresh(&mut self, user: &str) -> Session {
        self.count_login();
        self.t.login(user).await
    }

    async fn session(&mut self, user: &'static str) -> Session {
        if !self.sessions.contains_key(user) {
            let s = self.fresh(user).await;
            self.sessions.insert(user, s);
        }
        dup(&self.sessions[user])
    }

    async fn caller(&mut self, actor: Actor) -> Session {
        match actor.user() {
            Some(u) => self.session(u).await,
            None => self.t.anon(),
        }
    }

    /// A session of its own, for requests that end it.
    async fn fresh_caller(&mut self, actor: Actor) -> Session {
        match actor.user() {
            Some(u) => self.fresh(u).await,
            None => self.t.anon(),
        }
    }

    async fn step(&mut self, who: &'static str, no: &str, body: Value) {
        let s = self.session(who).await;
        let (st, b) = s.act(no, body).await;
        assert_eq!(st, StatusCode::OK, "{who} on {no}: {b}");
    }

    /// A new case of `owner` for `item`, moved to `stage` by the staff of the item's department.
    async fn new_case(&mut self, owner: &'static str, item: &'static str, stage: Stage) -> String {
        let o = self.session(owner).await;
        let no = o.draft(item).await;
        if stage == Stage::Draft {
            return no;
        }
        let (s, b) = o
            .post(&format!("/api/v1/cases/{no}/submit"), &json!({}))
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        if stage == Stage::Submitted {
            return no;
        }
        let [clerk, reviewer, approver] = crew(item);
        self.step(clerk, &no, json!({"action": "accept"})).await;
        if stage == Stage::Review {
            return no;
        }
        self.step(
            reviewer,
            &no,
            json!({"action": "approve_step", "opinion": "符合条件"}),
        )
        .await;
        if stage == Stage::Decide {
            return no;
        }
        self.step(
            approver,
            &no,
            json!({"action": "approve_step", "opinion": "准予许可"}),
        )
        .await;
        self.step(
            clerk,
            &no,
            json!({"action": "complete", "opinion": "已送达"}),
        )
        .await;
        no
    }

    /// A case for reading only (or for changes that do not alter its state or visibility).
    async fn shared_case(
        &mut self,
        owner: &'static str,
        item: &'static str,
        stage: Stage,
    ) -> String {
        if let Some(no) = self.shared.get(&(owner, item, stage)) {
            return no.clone();
        }
        let no = self.new_case(owner, item, stage).await;
        self.shared.insert((owner, item, stage), no.clone());
        no
    }

    async fn material(&mut self, owner: &'static str, item: &'static str) -> (String, i64) {
        if let Some(m) = self.materials.get(&(owner, item)) {
            return m.clone();
        }
        let no = self.shared_case(owner, item, Stage::Submitted).await;
        let o = self.session(owner).await;
        let (s, d) = o.get(&format!("/api/v1/cases/{no}")).await;
        assert_eq!(s, StatusCode::OK, "{d}");
        let id = d["materials"][0]["id"].as_i64().expect("material id");
        self.materials.insert((owner, item), (no.clone(), id));
        (no, id)
    }

    /// A new rectification task: the owner rates a completed case poorly.
    async fn rectification(&mut self, owner: &'static str, item: &'static str) -> i64 {
        let no = self.new_case(owner, item, Stage::Completed).await;
        let o = self.session(owner).await;
        let (s, b) = o
            .post(
                &format!("/api/v1/cases/{no}/rating"),
                &json!({"score": 1, "comment": "材料要求前后不一"}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        let clerk = self.session(crew(item)[0]).await;
        let (_, r) = clerk.get("/api/v1/rectifications").await;
        r["rectifications"]
            .as_array()
            .expect("rectifications")
            .iter()
            .find(|x| x["case_no"] == no.as_str())
            .and_then(|x| x["id"].as_i64())
            .expect("rectification of the case")
    }

    /// The handle of a new session of `user`.
    async fn session_handle(&mut self, user: &str) -> String {
        let s = self.fresh(user).await;
        let (st, b) = s.get("/api/v1/sessions").await;
        assert_eq!(st, StatusCode::OK, "{b}");
        b["sessions"]
            .as_array()
            .expect("sessions")
            .iter()
            .find(|x| x["current"] == true)
            .and_then(|x| x["handle"].as_str())
            .expect("current session")
            .to_string()
    }

    /// Whose case, of which department, a cell is about.
    fn case_target(actor: Actor, rel: Rel) -> (&'static str, &'static str) {
        match (actor, rel) {
            (Actor::Applicant, Rel::Own) => ("citizen", OWN_DEPT_ITEM),
            (Actor::Applicant, Rel::Other) => ("citizen2", OWN_DEPT_ITEM),
            (a, Rel::Other) if a.is_staff() => ("citizen", OTHER_DEPT_ITEM),
            // Staff's own department; for administrators and the anonymous
            // caller a case that staff of SCJG do see.
            _ => ("citizen", OWN_DEPT_ITEM),
        }
    }

    /// The account a user-administration cell is about.
    fn account_target(actor: Actor, rel: Rel, other: &'static str) -> &'static str {
        match rel {
            Rel::Own => actor.user().expect("own account"),
            Rel::Other => other,
        }
    }

    /// Sends the request of one cell.
    async fn run(&mut self, rule: &Rule, actor: Actor, rel: Rel) -> (StatusCode, Value) {
        let (m, path) = (rule.method, rule.path);
        let (owner, item) = Self::case_target(actor, rel);
        match (m, path) {
            ("GET", "/healthz")
            | ("GET", "/readyz")
            | ("GET", "/metrics")
            | ("GET", "/api/openapi.json")
            | ("GET", "/api/v1/session")
            | ("GET", "/api/v1/sessions")
            | ("GET", "/api/v1/items")
            | ("GET", "/api/v1/departments")
            | ("GET", "/api/v1/cases")
            | ("GET", "/api/v1/notifications")
            | ("POST", "/api/v1/notifications/read")
            | ("GET", "/api/v1/rectifications")
            | ("GET", "/api/v1/admin/users")
            | ("GET", "/api/v1/audit")
            | ("GET", "/api/v1/audit/export")
            | ("GET", "/api/v1/audit/verify")
            | ("GET", "/api/v1/admin/calendar") => {
                let s = self.caller(actor).await;
                send(&s, m, path, Body::Empty).await
            }
            ("POST", "/api/v1/session") => {
                // Signed in or not, with one's own (or, anonymous, an account's) credentials.
                let s = self.fresh_caller(actor).await;
                self.count_login();
                let username = actor.user().unwrap_or("citizen2");
                send(
                    &s,
                    m,
                    path,
                    Body::Json(json!({"username": username, "password": PASSWORD})),
                )
                .await
            }
            ("DELETE", "/api/v1/session") => {
                let s = self.fresh_caller(actor).await;
                send(&s, m, path, Body::Empty).await
            }
            ("DELETE", "/api/v1/sessions") => {
                // Ends every session of the account, the long-lived one included.
                let s = self.fresh_caller(actor).await;
                let r = send(&s, m, path, Body::Empty).await;
                self.forget(actor);
                r
            }
            ("POST", "/api/v1/session/password") => {
                // A wrong old password: refused (422 PASSWORD_WRONG) only once
                // the caller is known, and the password stays as it is.
                let s = self.caller(actor).await;
                let body =
                    json!({"old_password": "Wrong#Guess2026", "new_password": "Qinglan#Rain7"});
                send(&s, m, path, Body::Json(body)).await
            }
            ("DELETE", "/api/v1/sessions/{handle}") => {
                let victim = match rel {
                    Rel::Own => actor.user().expect("own session"),
                    Rel::Other => "citizen2",
                };
                let handle = self.session_handle(victim).await;
                let s = self.caller(actor).await;
                send(&s, m, &format!("/api/v1/sessions/{handle}"), Body::Empty).await
            }
            ("GET", "/api/v1/items/{code}") => {
                let s = self.caller(actor).await;
                send(
                    &s,
                    m,
                    &format!("/api/v1/items/{OWN_DEPT_ITEM}"),
                    Body::Empty,
                )
                .await
            }
            ("GET", "/api/v1/calendar/due") => {
                let s = self.caller(actor).await;
                send(
                    &s,
                    m,
                    "/api/v1/calendar/due?start=2025-09-30&days=3",
                    Body::Empty,
                )
                .await
            }
            ("GET", "/api/v1/privacy-notice")
            | ("GET", "/api/v1/me/personal-information")
            | ("GET", "/api/v1/me/export") => {
                let s = self.caller(actor).await;
                send(&s, m, path, Body::Empty).await
            }
            ("POST", "/api/v1/registrations") => {
                // A new person each time (anyone may register, signed in or not).
                let n = self.next();
                let first17 = format!("43990219900101{:03}", n % 1000);
                let check = zt_domain::ids::id_number_check_char(&first17).expect("17 digits");
                let s = self.caller(actor).await;
                let body = json!({"username": format!("mx_reg_{n}"), "password": "Qinglan#Rain7",
                                  "name": "自助注册", "id_number": format!("{first17}{check}"),
                                  "mobile": "13700137000", "consent": true, "notice_version": "v1"});
                send(&s, m, path, Body::Json(body)).await
            }
            ("POST", "/api/v1/account-recovery") => {
                // Nobody migrated from V1 here: the same accepted answer as
                // for a match, which is the point.
                let s = self.caller(actor).await;
                let body = json!({"real_name": "张三", "id_number": "439902197901011236", "mobile": "13800138000"});
                send(&s, m, path, Body::Json(body)).await
            }
            ("POST", "/api/v1/account-recovery/confirm") => {
                let s = self.caller(actor).await;
                let body =
                    json!({"ticket": "00", "code": "000000", "new_password": "Qinglan#Rain7"});
                send(&s, m, path, Body::Json(body)).await
            }
            ("PUT", "/api/v1/me/profile") => {
                // The values the account already has: nothing changes.
                let s = self.caller(actor).await;
                let body = json!({"display_name": "李明", "mobile": "13800138000"});
                send(&s, m, path, Body::Json(body)).await
            }
            ("POST", "/api/v1/me/deletion") => {
                // A wrong password: refused (422 PASSWORD_WRONG) only once the
                // caller is known to be an applicant; the account stays open.
                let s = self.caller(actor).await;
                send(
                    &s,
                    m,
                    path,
                    Body::Json(json!({"password": "Wrong#Guess2026"})),
                )
                .await
            }
            ("POST", "/api/v1/cases") => {
                let s = self.caller(actor).await;
                let body = json!({"item_code": OWN_DEPT_ITEM, "form": valid_form()});
                send(&s, m, path, Body::Json(body)).await
            }
            ("GET", "/api/v1/cases/{case_no}") => {
                let no = self.shared_case(owner, item, Stage::Submitted).await;
                let s = self.caller(actor).await;
                send(&s, m, &format!("/api/v1/cases/{no}"), Body::Empty).await
            }
            ("GET", "/api/v1/cases/{case_no}/signatures") => {
                let no = self.shared_case(owner, item, Stage::Submitted).await;
                let s = self.caller(actor).await;
                send(
                    &s,
                    m,
                    &format!("/api/v1/cases/{no}/signatures"),
                    Body::Empty,
                )
                .await
            }
            ("GET", "/api/v1/cases/{case_no}/licence")
            | ("GET", "/api/v1/cases/{case_no}/licence/document") => {
                let no = self.shared_case(owner, item, Stage::Completed).await;
                let s = self.caller(actor).await;
                send(&s, m, &path.replace("{case_no}", &no), Body::Empty).await
            }
            ("GET", "/api/v1/licences/{licence_no}/verification")
            | ("POST", "/api/v1/licences/{licence_no}/verification") => {
                let s = self.caller(actor).await;
                let path = path.replace("{licence_no}", "ZZ20250930370200999999");
                let body = if m == "POST" {
                    Body::Json(json!({"not": "a pdf"}))
                } else {
                    Body::Empty
                };
                send(&s, m, &path, body).await
            }
            ("PUT", "/api/v1/admin/departments/{code}/seal") => {
                let s = self.caller(actor).await;
                send(
                    &s,
                    m,
                    "/api/v1/admin/departments/ZWB/seal",
                    Body::Json(json!({"seal_code": "37020000000011"})),
                )
                .await
            }
            ("GET", "/api/v1/signing-key") => {
                let s = self.caller(actor).await;
                send(&s, m, path, Body::Empty).await
            }
            ("PUT", "/api/v1/cases/{case_no}/form")
            | ("POST", "/api/v1/cases/{case_no}/materials") => {
                // The applicant edits a draft; staff would meet a case they
                // serve (drafts are hidden from them). Neither change alters
                // the case's state or visibility, so the cases are shared.
                let stage = if actor == Actor::Applicant {
                    Stage::Draft
                } else {
                    Stage::Submitted
                };
                let no = self.shared_case(owner, item, stage).await;
                let s = self.caller(actor).await;
                if m == "PUT" {
                    let body = json!({"form": valid_form()});
                    send(&s, m, &format!("/api/v1/cases/{no}/form"), Body::Json(body)).await
                } else {
                    send(&s, m, &format!("/api/v1/cases/{no}/materials"), Body::Pdf).await
                }
            }
            ("POST", "/api/v1/cases/{case_no}/personal-information") => {
                // Only read (and audited): the cases are shared.
                let no = self.shared_case(owner, item, Stage::Submitted).await;
                let s = self.caller(actor).await;
                send(
                    &s,
                    m,
                    &format!("/api/v1/cases/{no}/personal-information"),
                    Body::Empty,
                )
                .await
            }
            ("GET", "/api/v1/cases/{case_no}/materials/{id}") => {
                let (no, id) = self.material(owner, item).await;
                let s = self.caller(actor).await;
                send(
                    &s,
                    m,
                    &format!("/api/v1/cases/{no}/materials/{id}"),
                    Body::Empty,
                )
                .await
            }
            ("POST", "/api/v1/cases/{case_no}/submit") => {
                let stage = if actor == Actor::Applicant {
                    Stage::Draft
                } else {
                    Stage::Submitted
                };
                let no = self.new_case(owner, item, stage).await;
                let s = self.caller(actor).await;
                send(&s, m, &format!("/api/v1/cases/{no}/submit"), Body::Empty).await
            }
            ("POST", "/api/v1/cases/{case_no}/actions") => {
                // Each role with the action its post takes, on a new case in
                // the state where that action is due.
                let (stage, body) = match actor {
                    Actor::Applicant => (Stage::Submitted, json!({"action": "withdraw"})),
                    Actor::Reviewer => (
                        Stage::Review,
                        json!({"action": "approve_step", "opinion": "符合条件"}),
                    ),
                    Actor::Approver => (
                        Stage::Decide,
                        json!({"action": "approve_step", "opinion": "准予许可"}),
                    ),
                    _ => (Stage::Submitted, json!({"action": "accept"})),
                };
                let no = self.new_case(owner, item, stage).await;
                let s = self.caller(actor).await;
                send(
                    &s,
                    m,
                    &format!("/api/v1/cases/{no}/actions"),
                    Body::Json(body),
                )
                .await
            }
            ("POST", "/api/v1/cases/{case_no}/rating") => {
                let no = self.new_case(owner, item, Stage::Completed).await;
                let s = self.caller(actor).await;
                let body = json!({"score": 5, "comment": "办理很快"});
                send(
                    &s,
                    m,
                    &format!("/api/v1/cases/{no}/rating"),
                    Body::Json(body),
                )
                .await
            }
            ("POST", "/api/v1/rectifications/{id}/answer") => {
                let id = self.rectification(owner, item).await;
                let s = self.caller(actor).await;
                let body = json!({"response": "已统一材料清单并培训窗口人员"});
                send(
                    &s,
                    m,
                    &format!("/api/v1/rectifications/{id}/answer"),
                    Body::Json(body),
                )
                .await
            }
            ("POST", "/api/v1/admin/users") => {
                let n = self.next();
                let s = self.caller(actor).await;
                let body = json!({"username": format!("mx_new_{n}"), "password": "Qinglan#Rain7",
                                  "display_name": "新账号", "user_type": "person"});
                send(&s, m, path, Body::Json(body)).await
            }
            ("POST", "/api/v1/admin/users/{username}/password") => {
                let target = Self::account_target(actor, rel, TARGET_PASSWORD);
                // Reset to the same password, so that a wrongly allowed reset
                // of one's own account leaves it usable.
                let s = self.caller(actor).await;
                let body = json!({"password": PASSWORD});
                let r = send(
                    &s,
                    m,
                    &format!("/api/v1/admin/users/{target}/password"),
                    Body::Json(body),
                )
                .await;
                self.repair_own(actor, rel, r.0).await;
                r
            }
            ("PUT", "/api/v1/admin/users/{username}/roles") => {
                let target = Self::account_target(actor, rel, TARGET_ROLES);
                // The roles the account already has.
                let roles = match rel {
                    Rel::Own => json!([actor.role()]),
                    Rel::Other => json!(["applicant"]),
                };
                let s = self.caller(actor).await;
                let r = send(
                    &s,
                    m,
                    &format!("/api/v1/admin/users/{target}/roles"),
                    Body::Json(json!({"roles": roles})),
                )
                .await;
                self.repair_own(actor, rel, r.0).await;
                r
            }
            ("POST", "/api/v1/session/second-factor")
            | ("POST", "/api/v1/me/second-factor/enrolment/confirm")
            | ("POST", "/api/v1/me/second-factor/removal") => {
                // A malformed code: nothing changes, whoever asks.
                let s = self.caller(actor).await;
                send(&s, m, path, Body::Json(json!({"code": "12"}))).await
            }
            ("GET", "/api/v1/me/second-factor")
            | ("POST", "/api/v1/me/second-factor/enrolment") => {
                let s = self.caller(actor).await;
                send(&s, m, path, Body::Empty).await
            }
            ("POST", "/api/v1/admin/users/{username}/second-factor/reset") => {
                let target = Self::account_target(actor, rel, TARGET_PASSWORD);
                let s = self.caller(actor).await;
                send(
                    &s,
                    m,
                    &format!("/api/v1/admin/users/{target}/second-factor/reset"),
                    Body::Empty,
                )
                .await
            }
            ("PUT", "/api/v1/admin/users/{username}/active") => {
                let target = Self::account_target(actor, rel, TARGET_ACTIVE);
                let s = self.caller(actor).await;
                let r = send(
                    &s,
                    m,
                    &format!("/api/v1/admin/users/{target}/active"),
                    Body::Json(json!({"active": false})),
                )
                .await;
                self.repair_own(actor, rel, r.0).await;
                r
            }
            ("POST", "/api/v1/admin/departments") => {
                let n = self.next();
                let s = self.caller(actor).await;
                let body = json!({"code": format!("MX{n}"), "name": format!("矩阵测试部门{n}"),
                                  "region_code": "370200", "parent": "ZWB"});
                send(&s, m, path, Body::Json(body)).await
            }
            ("POST", "/api/v1/admin/items") => {
                let n = self.next();
                let s = self.caller(actor).await;
                let code = format!("MX-NEW-{n}");
                let body = json!({"code": code, "impl_code": code, "dept": "SCJG",
                                  "definition": crate::harness::test_items()[0].1.clone()});
                send(&s, m, path, Body::Json(body)).await
            }
            ("POST", "/api/v1/admin/items/{code}/versions") => {
                let s = self.caller(actor).await;
                let anon = self.t.anon();
                let (_, item) = anon.get(&format!("/api/v1/items/{ADMIN_ITEM}")).await;
                let based_on = item["version"].as_i64().expect("version");
                let body = json!({"based_on": based_on, "definition": crate::harness::test_items()[0].1.clone()});
                send(
                    &s,
                    m,
                    &format!("/api/v1/admin/items/{ADMIN_ITEM}/versions"),
                    Body::Json(body),
                )
                .await
            }
            ("GET", "/api/v1/admin/items/{code}/versions") => {
                let s = self.caller(actor).await;
                send(
                    &s,
                    m,
                    &format!("/api/v1/admin/items/{ADMIN_ITEM}/versions"),
                    Body::Empty,
                )
                .await
            }
            ("POST", "/api/v1/admin/items/{code}/status") => {
                let s = self.caller(actor).await;
                send(
                    &s,
                    m,
                    &format!("/api/v1/admin/items/{ADMIN_ITEM}/status"),
                    Body::Json(json!({"published": true})),
                )
                .await
            }
            ("POST", "/api/v1/admin/calendar") => {
                let s = self.caller(actor).await;
                let body = json!({"toml": "[2031]\nholidays = [\"2031-01-01\"]\nworkdays = []\n",
                                  "source": "权限矩阵测试"});
                send(&s, m, path, Body::Json(body)).await
            }
            _ => panic!(
                "MATRIX has a row for {m} {path} but permission_matrix does not know how to \
                 call it: add its request to Ctx::run"
            ),
        }
    }

    /// Forgets an account's long-lived session (it was ended).
    fn forget(&mut self, actor: Actor) {
        if let Some(u) = actor.user() {
            self.sessions.remove(u);
        }
    }

    /// After a user-administration request on one's own account went
    /// through: the account's sessions ended and it may be flagged or
    /// disabled; make it usable again for the cells that follow.
    async fn repair_own(&mut self, actor: Actor, rel: Rel, status: StatusCode) {
        if rel != Rel::Own || !status.is_success() {
            return;
        }
        let Some(u) = actor.user() else { return };
        sqlx::query(&format!(
            "UPDATE users SET must_change_password = 0, active = 1 WHERE username = '{u}'"
        ))
        .execute(self.t.app.db.writer())
        .await
        .expect("repair account");
        self.forget(actor);
    }
}

/// What the platform's answer means, or `None` for an answer that fits no
/// cell (a malformed request, a missing CSRF token, a wrong path…).
fn observed(status: StatusCode, body: &Value) -> Option<Expect> {
    let code = body["code"].as_str().unwrap_or("");
    if status.is_success() {
        return Some(A);
    }
    match status.as_u16() {
        409 | 422 if PAST_PERMISSION_CHECK.contains(&code) => Some(A),
        401 if code == "AUTH_REQUIRED" => Some(U),
        403 if !matches!(code, "CSRF_INVALID" | "PASSWORD_CHANGE_REQUIRED") => Some(F),
        // The router's own 404 (`NOT_FOUND`) would mean a wrong path in the test.
        404 if code.ends_with("_NOT_FOUND") => Some(H),
        _ => None,
    }
}

both!(permission_matrix);
async fn permission_matrix(t: TestApp) {
    let started = Instant::now();
    let mut cx = Ctx::new(&t).await;
    let mut checks = 0;
    let mut failures = Vec::new();
    // ZT_MATRIX_TRACE=1 prints every cell's answer.
    let trace = std::env::var("ZT_MATRIX_TRACE").is_ok_and(|v| v == "1");
    for rule in MATRIX {
        for (col, actor) in ACTORS.iter().enumerate() {
            for (rel, expect) in [(Rel::Own, rule.own[col]), (Rel::Other, rule.other[col])] {
                if expect == N {
                    continue;
                }
                let (status, body) = cx.run(rule, *actor, rel).await;
                checks += 1;
                let got = observed(status, &body);
                if trace {
                    eprintln!(
                        "{:<6} {:<48} {:<10} {:<5} {} {}",
                        rule.method,
                        rule.path,
                        actor.role(),
                        format!("{rel:?}"),
                        status.as_u16(),
                        body["code"].as_str().unwrap_or("")
                    );
                }
                if got != Some(expect) {
                    let shown: String = body.to_string().chars().take(200).collect();
                    failures.push(format!(
                        "{} {} as {} ({:?}, {rel:?}): expected {expect:?}, got {} {shown}",
                        rule.method,
                        rule.path,
                        actor.role(),
                        actor.user().unwrap_or("-"),
                        status.as_u16(),
                    ));
                }
            }
        }
    }
    eprintln!(
        "permission matrix on {:?}: {} rows, {checks} requests checked in {:.1?}",
        t.backend,
        MATRIX.len(),
        started.elapsed()
    );
    assert!(
        failures.is_empty(),
        "{} of {checks} cells of the permission matrix differ from the platform:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

// ---- completeness ----------------------------------------------------------------

fn table_endpoints() -> BTreeSet<(String, String)> {
    MATRIX
        .iter()
        .map(|r| (r.method.to_string(), r.path.to_string()))
        .collect()
}

fn difference(a: &BTreeSet<(String, String)>, b: &BTreeSet<(String, String)>) -> Vec<String> {
    a.difference(b).map(|(m, p)| format!("{m} {p}")).collect()
}

#[test]
fn matrix_rows_are_unique_and_consistent() {
    assert_eq!(
        table_endpoints().len(),
        MATRIX.len(),
        "an endpoint has two rows"
    );
    for r in MATRIX {
        assert!(
            matches!(r.method, "GET" | "POST" | "PUT" | "DELETE" | "PATCH"),
            "{} {}",
            r.method,
            r.path
        );
        if !r.path.contains('{') {
            assert_eq!(
                r.other, NONE,
                "{} {} has no resource in its path: no other-column",
                r.method, r.path
            );
        }
    }
}

both!(matrix_matches_openapi);
async fn matrix_matches_openapi(t: TestApp) {
    let (s, doc) = t.anon().get("/api/openapi.json").await;
    assert_eq!(s, StatusCode::OK);
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            if matches!(
                method.as_str(),
                "get" | "put" | "post" | "delete" | "patch" | "head" | "options" | "trace"
            ) {
                documented.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    let mut table = table_endpoints();
    for (m, p) in NOT_IN_OPENAPI {
        let e = (m.to_string(), p.to_string());
        assert!(
            table.remove(&e),
            "NOT_IN_OPENAPI lists {m} {p}, MATRIX has no row for it"
        );
        assert!(
            !documented.contains(&e),
            "{m} {p} is documented now: drop it from NOT_IN_OPENAPI"
        );
    }
    let missing = difference(&documented, &table);
    let stale = difference(&table, &documented);
    assert!(
        missing.is_empty() && stale.is_empty(),
        "the permission matrix (tests/it/matrix.rs) and the OpenAPI document differ.\n\
         Endpoints without a row — decide who may call them and add a row to MATRIX:\n  {}\n\
         Rows without an endpoint — remove or correct them:\n  {}",
        missing.join("\n  "),
        stale.join("\n  ")
    );
}

/// The `.route("path", method(handler).method(handler))` calls of `routes()`.
fn routes_in_source(src: &str) -> BTreeSet<(String, String)> {
    let body = src.split("pub fn routes()").nth(1).expect("fn routes()");
    let body = &body[..body.find("\n}\n").unwrap_or(body.len())];
    let mut out = BTreeSet::new();
    for chunk in body.split(".route(").skip(1) {
        let start = chunk.find('"').expect("path literal") + 1;
        let end = start + chunk[start..].find('"').expect("end of path");
        let path = &chunk[start..end];
        let rest = &chunk[end + 1..];
        for m in ["get", "post", "put", "delete", "patch"] {
            let pat = format!("{m}(");
            let mut from = 0;
            while let Some(i) = rest[from..].find(&pat) {
                let at = from + i;
                let before = rest[..at].chars().next_back();
                if !before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                    out.insert((m.to_uppercase(), path.to_string()));
                }
                from = at + pat.len();
            }
        }
    }
    out
}

#[test]
fn matrix_matches_router_source() {
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../zt-web/src/api/mod.rs");
    let src = std::fs::read_to_string(&file).expect("api/mod.rs");
    let routed = routes_in_source(&src);
    assert!(
        routed.len() > 10,
        "could not read the routes of {}: adjust routes_in_source",
        file.display()
    );
    let table = table_endpoints();
    let missing = difference(&routed, &table);
    let stale = difference(&table, &routed);
    assert!(
        missing.is_empty() && stale.is_empty(),
        "the permission matrix (tests/it/matrix.rs) and api/mod.rs differ.\n\
         Routes without a row — decide who may call them and add a row to MATRIX:\n  {}\n\
         Rows without a route:\n  {}",
        missing.join("\n  "),
        stale.join("\n  ")
    );
}

// ---- the document ------------------------------------------------------------------

fn cell(e: Expect) -> &'static str {
    match e {
        A => "✅",
        U => "401",
        F => "403",
        H => "404",
        N => "—",
    }
}

fn render_markdown() -> String {
    let mut out = String::new();
    out.push_str("# 权限矩阵\n\n");
    out.push_str(
        "<!-- 本文件由 crates/zhengtong/tests/it/matrix.rs 中的 MATRIX 表生成，请勿手工编辑。 -->\n\n",
    );
    out.push_str(
        "本表是平台接口访问控制（等保 2.0 “访问控制”）的唯一依据：它由测试 \
         `crates/zhengtong/tests/it/matrix.rs` 中的同一张表 `MATRIX` 生成，测试 \
         `permission_matrix` 在 SQLite 与 PostgreSQL 上对表中每一格发出真实的 HTTP 请求并断言结果；\
         `matrix_matches_openapi` 与 `matrix_matches_router_source` 保证 OpenAPI 文档和路由中的每个接口\
         都有一行（新增接口必须先决定其权限）。\n\n",
    );
    out.push_str(
        "**三权分立。** 系统管理员（账号、部门、事项、节假日安排）、安全管理员（角色授权）、\
         审计管理员（查询、导出、校验审计记录）三种角色互斥，也不能兼任业务岗位；三者都不能查看或办理办件。\
         业务人员（窗口受理、审查、决定）只办理本部门及下级部门的办件，且只能执行其岗位的操作。\n\n",
    );
    out.push_str(
        "**本人 / 他人。** 有资源的接口，每格写作“本人 / 他人”：申请人——本人的办件 / \
         另一申请人的办件；业务人员（以市场监督管理局 SCJG 的人员测试）——本部门的办件 / \
         其他部门（政务服务管理办公室 ZWB，不在其管辖范围内）的办件；账号管理——自己的账号 / 另一账号（普通申请人账号）；\
         会话——自己的另一会话 / 他人的会话。没有资源的接口只有一个结果（请求本身）。\
         办件操作（actions）由各岗位执行其本岗位的操作：申请人撤回、窗口受理、审查通过、决定通过；\
         改变状态的请求每格都使用新建的办件。\n\n",
    );
    out.push_str(&format!(
        "**测试账号。** {}（`reviewer_scjg`、`approver_scjg` 由测试在 SCJG 创建）；密码均为演示密码。\n\n",
        ACTORS
            .iter()
            .map(|a| match a.user() {
                Some(u) => format!("{} `{u}`", a.label()),
                None => format!("{}（无会话）", a.label()),
            })
            .collect::<Vec<_>>()
            .join("、")
    ));
    out.push_str(&format!(
        "**图例。** ✅ 允许：2xx，或只有通过权限检查后才会出现的业务校验结果（{}）；\
         401 未登录；403 已登录但无权；404 对无权查看的资源与不存在的资源作同样回答，\
         不泄露其是否存在；— 不适用。\n\n",
        PAST_PERMISSION_CHECK
            .iter()
            .map(|c| format!("`{c}`"))
            .collect::<Vec<_>>()
            .join("、")
    ));
    out.push_str(
        "**重新生成。** 修改 `MATRIX` 后运行 \
         `ZT_BLESS=1 cargo test -p zhengtong --test it matrix` 重写本文件；\
         不设该变量时，本文件与表不一致即测试失败。\n\n",
    );
    out.push_str("| 接口 |");
    for a in ACTORS {
        out.push_str(&format!(" {} |", a.label()));
    }
    out.push_str(" 说明 |\n|---|");
    for _ in ACTORS {
        out.push_str(":---:|");
    }
    out.push_str("---|\n");
    for r in MATRIX {
        out.push_str(&format!("| `{} {}` |", r.method, r.path));
        for col in 0..ACTORS.len() {
            let text = match (r.own[col], r.other[col]) {
                (own, N) => cell(own).to_string(),
                (own, other) => format!("{} / {}", cell(own), cell(other)),
            };
            out.push_str(&format!(" {text} |"));
        }
        out.push_str(&format!(" {} |\n", r.note));
    }
    out
}

#[test]
fn permission_matrix_document() {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/security/permission-matrix.md");
    let want = render_markdown();
    if std::env::var("ZT_BLESS").is_ok_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().expect("docs dir")).expect("mkdir");
        std::fs::write(&path, &want).expect("write the permission matrix");
        return;
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    if have != want {
        let line = have
            .lines()
            .zip(want.lines())
            .position(|(a, b)| a != b)
            .map_or(have.lines().count().min(want.lines().count()) + 1, |i| {
                i + 1
            });
        panic!(
            "docs/security/permission-matrix.md differs from MATRIX in tests/it/matrix.rs \
             (first at line {line}): run `ZT_BLESS=1 cargo test -p zhengtong --test it matrix` \
             and review the change"
        );
    }
}
