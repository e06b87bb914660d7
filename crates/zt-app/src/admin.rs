//! Administration: departments, accounts and roles, the holiday calendar.
//! Each call checks the administrator role it needs (三权分立).

use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use zt_domain::calendar::{HolidayCalendar, YearArrangement};
use zt_domain::ids::{IdNumber, Mobile, Uscc};
use zt_domain::item::is_region_code;
use zt_domain::role::{roles_compatible, Role};
use zt_store::users::{self, NewUser};
use zt_store::{calendar, departments, sessions, StoreError};

use crate::auth::check_password_policy;
use crate::error::{AppError, ErrorKind, Result};
use crate::principal::Principal;
use crate::state::{audit, App, Origin};

fn require(p: Option<&Principal>, role: Role) -> Result<()> {
    match p {
        // `None`: the local command line, run by the operator on the host.
        None => Ok(()),
        Some(p) if p.has(role) => Ok(()),
        Some(_) => Err(AppError::forbidden()),
    }
}

fn unprocessable(code: &'static str, msg: &str, field: &str) -> AppError {
    AppError::new(ErrorKind::Unprocessable, code, msg).with_field(field)
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUserRequest {
    pub username: String,
    pub password: String,
    pub display_name: String,
    /// person | agent | staff | admin
    pub user_type: String,
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default)]
    pub dept_code: Option<String>,
    #[serde(default)]
    pub id_number: Option<String>,
    #[serde(default)]
    pub mobile: Option<String>,
    #[serde(default)]
    pub org_uscc: Option<String>,
    #[serde(default)]
    pub org_name: Option<String>,
    #[serde(default)]
    pub real_name_level: Option<String>,
    #[serde(default)]
    pub must_change_password: bool,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UserView {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub user_type: String,
    pub roles: Vec<String>,
    pub dept_id: Option<i64>,
    pub org_name: Option<String>,
    /// Masked: 4399**********1236.
    pub id_number_masked: Option<String>,
    pub mobile_masked: Option<String>,
    pub active: bool,
}

pub fn check_username(u: &str) -> Result<()> {
    if !(3..=32).contains(&u.len())
        || !u
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-')
    {
        return Err(unprocessable(
            "USERNAME_INVALID",
            "用户名应为3至32位字母、数字、点、下划线或短横线。",
            "username",
        ));
    }
    Ok(())
}

/// Creates an account (system administrator; roles must respect 三权分立).
pub async fn create_user(
    app: &App,
    p: Option<&Principal>,
    origin: &Origin,
    req: &NewUserRequest,
) -> Result<i64> {
    require(p, Role::Sysadmin)?;
    check_username(&req.username)?;
    check_password_policy(&req.username, &req.password)?;
    let name = req.display_name.trim();
    if name.is_empty() || name.chars().count() > 50 {
        return Err(unprocessable(
            "NAME_INVALID",
            "姓名不能为空且不超过50个字。",
            "display_name",
        ));
    }
    if !matches!(
        req.user_type.as_str(),
        "person" | "agent" | "staff" | "admin"
    ) {
        return Err(unprocessable(
            "USER_TYPE_INVALID",
            "账号类型应为 person、agent、staff 或 admin。",
            "user_type",
        ));
    }
    let names = if req.roles.is_empty() {
        vec![Role::Applicant.as_str().to_string()]
    } else {
        req.roles.clone()
    };
    let roles = checked_roles(&req.user_type, &names)?;
    // 三权分立: the system administrator creates accounts but cannot make
    // another administrator (whose first password they would know).
    if p.is_some() && roles.iter().any(|r| r.is_admin()) {
        return Err(admin_roles_elsewhere());
    }
    let id_number = match req.id_number.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => Some(
            IdNumber::parse(s)
                .map_err(|e| unprocessable(e.code(), e.message_zh(), "id_number"))?
                .to_string(),
        ),
        None => None,
    };
    let mobile = match req.mobile.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => Some(
            Mobile::parse(s)
                .map_err(|e| unprocessable(e.code(), e.message_zh(), "mobile"))?
                .as_str()
                .to_string(),
        ),
        None => None,
    };
    let org_uscc = match req.org_uscc.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => Some(
            Uscc::parse(s)
                .map_err(|e| unprocessable(e.code(), e.message_zh(), "org_uscc"))?
                .to_string(),
        ),
        None => None,
    };
    if req.user_type == "agent"
        && (org_uscc.is_none() || req.org_name.as_deref().unwrap_or("").trim().is_empty())
    {
        return Err(unprocessable(
            "ORG_REQUIRED",
            "法人经办人账号须填写单位名称和统一社会信用代码。",
            "org_uscc",
        ));
    }
    let level = req.real_name_level.clone().unwrap_or_else(|| "L1".into());
    if !matches!(level.as_str(), "L1" | "L2" | "L3") {
        return Err(unprocessable(
            "REAL_NAME_LEVEL_INVALID",
            "实名认证等级应为 L1、L2 或 L3。",
            "real_name_level",
        ));
    }
    let hash = crate::auth::hash_password_off_thread(&req.password).await?;
    let at = app.now_ts();
    let mut tx = app.begin().await?;
    let dept_id = match req.dept_code.as_deref().filter(|s| !s.is_empty()) {
        Some(code) => Some(
            departments::by_code(&mut tx, code)
                .await?
                .ok_or_else(|| unprocessable("DEPT_NOT_FOUND", "所选部门不存在。", "dept_code"))?
                .id,
        ),
        None => None,
    };
    if roles.iter().any(|r| r.is_case_staff()) && dept_id.is_none() {
        return Err(unprocessable(
            "DEPT_REQUIRED",
            "业务岗位人员须指定所属部门。",
            "dept_code",
        ));
    }
    let id = users::insert(
        &mut tx,
        &NewUser {
            username: req.username.clone(),
            password_hash: Some(hash),
            display_name: name.to_string(),
            user_type: req.user_type.clone(),
            personal: crate::pii::sealed_personal(
                &app.pii,
                &req.username,
                id_number.as_deref(),
                mobile.as_deref(),
            ),
            org_uscc,
            org_name: req.org_name.clone().map(|s| s.trim().to_string()),
            dept_id,
            real_name_level: level,
            // A password chosen by an administrator is known to two people:
            // the owner replaces it at first login.
            must_change_password: req.must_change_password || p.is_some(),
        },
        &at,
    )
    .await
    .map_err(|e| match e {
        StoreError::Duplicate => {
            AppError::new(ErrorKind::Conflict, "USERNAME_TAKEN", "该用户名已被使用。")
                .with_field("username")
        }
        other => other.into(),
    })?;
    let role_strs: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
    users::set_roles(&mut tx, id, &crate::role_tags::tagged(app, id, &role_strs)).await?;
    audit(
        &mut tx,
        &at,
        origin,
        "user_create",
        &format!("user:{id}"),
        "success",
        json!({"username": req.username, "roles": role_strs}),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// Sets a new password for an account and ends its sessions.
pub async fn reset_password(
    app: &App,
    p: Option<&Principal>,
    origin: &Origin,
    username: &str,
    password: &str,
) -> Result<()> {
    require(p, Role::Sysadmin)?;
    check_password_policy(username, password)?;
    let hash = crate::auth::hash_password_off_thread(password).await?;
    let at = app.now_ts();
    let mut tx = app.begin().await?;
    let user = users::by_username(&mut tx, username)
        .await?
        .ok_or_else(|| AppError::not_found("USER_NOT_FOUND", "该账号"))?;
    if p.is_some() && is_admin_account(&mut tx, user.id).await? {
        return Err(admin_accounts_on_host());
    }
    // One's own password is changed with the old one (`auth::change_password`):
    // a reset of it would let whoever holds the session take the account over.
    if p.is_some_and(|p| p.user_id == user.id) {
        return Err(AppError::new(
            ErrorKind::Forbidden,
            "RESET_OWN_PASSWORD",
            "不能重置自己账号的密码，请通过“修改密码”办理（需验证原密码）。",
        ));
    }
    // A reset by someone else must be followed by the owner's own choice.
    users::set_password(&mut tx, user.id, &hash, p.is_some(), &at).await?;
    sessions::delete_for_user(&mut tx, user.id).await?;
    audit(
        &mut tx,
        &at,
        origin,
        "password_reset",
        &format!("user:{}", user.id),
        "success",
        json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

pub async fn list_users(
    app: &App,
    p: &Principal,
    limit: i64,
    offset: i64,
) -> Result<Vec<UserView>> {
    if !(p.has(Role::Sysadmin) || p.has(Role::Secadmin)) {
        return Err(AppError::forbidden());
    }
    let mut c = app.read().await?;
    let rows = users::list(&mut c, limit.clamp(1, 500), offset.max(0)).await?;
    let mut out = Vec::with_capacity(rows.len());
    for u in rows {
        let roles = users::roles(&mut c, u.id).await?;
        let id_number = app.pii.open_opt(
            &crate::pii::ctx_user_id_number(&u.username),
            u.id_number.as_deref(),
        )?;
        let mobile = app.pii.open_opt(
            &crate::pii::ctx_user_mobile(&u.username),
            u.mobile.as_deref(),
        )?;
        out.push(UserView {
            id: u.id,
            username: u.username,
            display_name: u.display_name,
            user_type: u.user_type,
            roles,
            dept_id: u.dept_id,
            org_name: u.org_name,
            id_number_masked: id_number
                .as_deref()
                .and_then(|s| IdNumber::parse(s).ok())
                .map(|n| n.masked()),
            mobile_masked: mobile
                .as_deref()
                .and_then(|s| Mobile::parse(s).ok())
                .map(|m| m.masked()),
            active: u.active != 0,
        });
    }
    Ok(out)
}

/// Creates a department (system administrator).
pub async fn create_department(
    app: &App,
    p: Option<&Principal>,
    origin: &Origin,
    code: &str,
    name: &str,
    region_code: &str,
    parent_code: Option<&str>,
) -> Result<i64> {
    require(p, Role::Sysadmin)?;
    if code.is_empty()
        || code.len() > 20
        || !code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(unprocessable(
            "CODE_INVALID",
            "部门编码应为1至20位字母、数字、短横线或下划线。",
            "code",
        ));
    }
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(unprocessable(
            "NAME_INVALID",
            "部门名称不能为空且不超过100个字。",
            "name",
        ));
    }
    if !is_region_code(region_code) {
        return Err(unprocessable(
            "REGION_CODE_INVALID",
            "行政区划代码应为6位数字（GB/T 2260）。",
            "region_code",
        ));
    }
    let at = app.now_ts();
    let mut tx = app.begin().await?;
    let parent = match parent_code.filter(|s| !s.is_empty()) {
        Some(pc) => Some(
            departments::by_code(&mut tx, pc)
                .await?
                .ok_or_else(|| unprocessable("DEPT_NOT_FOUND", "上级部门不存在。", "parent"))?
                .id,
        ),
        None => None,
    };
    let id = departments::insert(&mut tx, code, name, region_code, parent, &at)
        .await
        .map_err(|e| match e {
            StoreError::Duplicate => {
                AppError::new(ErrorKind::Conflict, "DEPT_EXISTS", "该部门编码已存在。")
                    .with_field("code")
            }
            other => other.into(),
        })?;
    audit(
        &mut tx,
        &at,
        origin,
        "dept_create",
        &format!("dept:{code}"),
        "success",
        json!({"name": name}),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// Imports one or more years of the holiday arrangement (TOML), replacing
/// those years. Takes effect at once for new due dates.
pub async fn import_calendar(
    app: &App,
    p: Option<&Principal>,
    origin: &Origin,
    toml_text: &str,
    source: &str,
) -> Result<Vec<i32>> {
    require(p, Role::Sysadmin)?;
    let parsed = HolidayCalendar::from_toml(toml_text)?;
    let years: Vec<(i32, YearArrangement)> = parsed.years().map(|(y, a)| (y, a.clone())).collect();
    if years.is_empty() {
        return Err(unprocessable(
            "CALENDAR_EMPTY",
            "文件中没有任何年度的节假日安排。",
            "file",
        ));
    }
    let at = app.now_ts();
    let mut tx = app.begin().await?;
    for (y, arr) in &years {
        calendar::replace_year(&mut tx, *y, arr, source, &at).await?;
    }
    let ys: Vec<i32> = years.iter().map(|(y, _)| *y).collect();
    audit(
        &mut tx,
        &at,
        origin,
        "calendar_import",
        "calendar",
        "success",
        json!({"years": ys, "source": source}),
    )
    .await?;
    tx.commit().await?;
    app.reload_calendar().await?;
    Ok(ys)
}

fn admin_roles_elsewhere() -> AppError {
    AppError::new(
        ErrorKind::Forbidden,
        "ADMIN_ROLE_SEPARATED",
        "系统管理员不能创建管理员账号：请创建普通账号后由安全管理员授予管理员角色，或在服务器上通过命令行办理。",
    )
}

fn admin_accounts_on_host() -> AppError {
    AppError::new(
        ErrorKind::Forbidden,
        "ADMIN_ACCOUNT_SEPARATED",
        "管理员账号的密码重置与停用只能在服务器上通过命令行办理（三权分立）。",
    )
}

pub(crate) async fn is_admin_account(conn: &mut zt_store::Conn, user_id: i64) -> Result<bool> {
    Ok(users::roles(conn, user_id)
        .await?
        .iter()
        .filter_map(|r| Role::parse(r))
        .any(Role::is_admin))
}

/// Parses role names and checks them against the account type and 三权分立.
fn checked_roles(user_type: &str, names: &[String]) -> Result<Vec<Role>> {
    let mut roles = Vec::new();
    for r in names {
        let role =
            Role::parse(r).ok_or_else(|| unprocessable("ROLE_UNKNOWN", "未知的角色。", "roles"))?;
        if !roles.contains(&role) {
            roles.push(role);
        }
    }
    if roles.is_empty() {
        return Err(unprocessable("ROLES_EMPTY", "至少需要一个角色。", "roles"));
    }
    if !roles_compatible(&roles) {
        return Err(unprocessable(
            "ROLES_INCOMPATIBLE",
            "系统管理员、安全管理员、审计管理员三种角色互斥，且不能兼任业务岗位。",
            "roles",
        ));
    }
    let applicant = matches!(user_type, "person" | "agent");
    if applicant != roles.iter().all(|r| *r == Role::Applicant) {
        return Err(unprocessable(
            "ROLE_TYPE_MISMATCH",
            "申请人账号只能具有申请人角色，工作人员账号不能具有申请人角色。",
            "roles",
        ));
    }
    Ok(roles)
}

/// Changes an account's roles (security administrator). The account's
/// sessions end: a privilege change takes effect at the next login, with a
/// new session id.
pub async fn set_roles(
    app: &App,
    p: Option<&Principal>,
    origin: &Origin,
    username: &str,
    names: &[String],
) -> Result<Vec<String>> {
    require(p, Role::Secadmin)?;
    let at = app.now_ts();
    let mut tx = app.begin().await?;
    let user = users::by_username(&mut tx, username)
        .await?
        .ok_or_else(|| AppError::not_found("USER_NOT_FOUND", "该账号"))?;
    if p.is_some_and(|p| p.user_id == user.id) {
        return Err(AppError::new(
            ErrorKind::Forbidden,
            "ROLES_OWN_ACCOUNT",
            "不能修改自己账号的角色，请由另一名安全管理员办理。",
        ));
    }
    let roles = checked_roles(&user.user_type, names)?;
    if roles.iter().any(|r| r.is_case_staff()) && user.dept_id.is_none() {
        return Err(unprocessable(
            "DEPT_REQUIRED",
            "业务岗位人员须指定所属部门。",
            "roles",
        ));
    }
    let before = users::roles(&mut tx, user.id).await?;
    let role_strs: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
    users::set_roles(
        &mut tx,
        user.id,
        &crate::role_tags::tagged(app, user.id, &role_strs),
    )
    .await?;
    let ended = sessions::delete_for_user(&mut tx, user.id).await?;
    audit(
        &mut tx,
        &at,
        origin,
        "roles_change",
        &format!("user:{}", user.id),
        "success",
        json!({"username": user.username, "before": before, "after": role_strs, "sessions_ended": ended}),
    )
    .await?;
    tx.commit().await?;
    Ok(role_strs.into_iter().map(str::to_string).collect())
}

/// Disables or re-enables an account (system administrator). A disabled
/// account's sessions end at once.
pub async fn set_active(
    app: &App,
    p: Option<&Principal>,
    origin: &Origin,
    username: &str,
    active: bool,
) -> Result<()> {
    require(p, Role::Sysadmin)?;
    let at = app.now_ts();
    let mut tx = app.begin().await?;
    let user = users::by_username(&mut tx, username)
        .await?
        .ok_or_else(|| AppError::not_found("USER_NOT_FOUND", "该账号"))?;
    if p.is_some() && is_admin_account(&mut tx, user.id).await? {
        return Err(admin_accounts_on_host());
    }
    if !active && p.is_some_and(|p| p.user_id == user.id) {
        return Err(AppError::new(
            ErrorKind::Forbidden,
            "DISABLE_OWN_ACCOUNT",
            "不能停用自己的账号。",
        ));
    }
    // The owner withdrew their consent: nobody may take it back for them.
    if active
        && zt_store::privacy::account_state(&mut tx, user.id)
            .await?
            .closed_at
            .is_some()
    {
        return Err(AppError::new(
            ErrorKind::Conflict,
            "ACCOUNT_CLOSED",
            "该账号已由本人申请注销（撤回同意），不能重新启用；如本人需要继续办理，请重新注册。",
        ));
    }
    users::set_active(&mut tx, user.id, active, &at).await?;
    let ended = if active {
        0
    } else {
        sessions::delete_for_user(&mut tx, user.id).await?
    };
    audit(
        &mut tx,
        &at,
        origin,
        if active {
            "user_enable"
        } else {
            "user_disable"
        },
        &format!("user:{}", user.id),
        "success",
        json!({"username": user.username, "sessions_ended": ended}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
