//! Administration: accounts, departments, items and versions, calendar.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use zt_app::admin::{NewUserRequest, UserView};
use zt_app::state::Origin;
use zt_app::{App, AppError};
use zt_domain::item::ItemDefinition;
use zt_domain::role::Role;

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiQuery, Auth, ClientAddr};

#[derive(Debug, Serialize, ToSchema)]
pub struct IdView {
    pub id: i64,
}

/// Create an account (system administrator).
#[utoipa::path(post, path = "/api/v1/admin/users", tag = "admin", request_body = NewUserRequest,
    responses((status = 201, body = IdView), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_user(
    State(app): State<App>,
    ClientAddr(addr): ClientAddr,
    Auth(p): Auth,
    ApiJson(req): ApiJson<NewUserRequest>,
) -> ApiResult<(StatusCode, Json<IdView>)> {
    let id = zt_app::admin::create_user(&app, Some(&p), &Origin::of(&p, &addr), &req).await?;
    Ok((StatusCode::CREATED, Json(IdView { id })))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct Page {
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserList {
    pub users: Vec<UserView>,
}

/// List accounts (system or security administrator); personal data masked.
#[utoipa::path(get, path = "/api/v1/admin/users", tag = "admin", params(Page), responses((status = 200, body = UserList), (status = 403, body = ErrorBody)))]
pub async fn list_users(
    State(app): State<App>,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<Page>,
) -> ApiResult<Json<UserList>> {
    let users =
        zt_app::admin::list_users(&app, &p, q.limit.unwrap_or(100), q.offset.unwrap_or(0)).await?;
    Ok(Json(UserList { users }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordReset {
    pub password: String,
}

/// Set a new password for an account; the owner must change it at next login.
#[utoipa::path(post, path = "/api/v1/admin/users/{username}/password", tag = "admin", params(("username" = String, Path)), request_body = PasswordReset,
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn reset_password(
    State(app): State<App>,
    ClientAddr(addr): ClientAddr,
    Auth(p): Auth,
    Path(username): Path<String>,
    ApiJson(req): ApiJson<PasswordReset>,
) -> ApiResult<StatusCode> {
    zt_app::admin::reset_password(
        &app,
        Some(&p),
        &Origin::of(&p, &addr),
        &username,
        &req.password,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDepartment {
    pub code: String,
    pub name: String,
    /// GB/T 2260 six-digit region code.
    pub region_code: String,
    #[serde(default)]
    pub parent: Option<String>,
}

/// Create a department.
#[utoipa::path(post, path = "/api/v1/admin/departments", tag = "admin", request_body = NewDepartment,
    responses((status = 201, body = IdView), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_department(
    State(app): State<App>,
    ClientAddr(addr): ClientAddr,
    Auth(p): Auth,
    ApiJson(req): ApiJson<NewDepartment>,
) -> ApiResult<(StatusCode, Json<IdView>)> {
    let id = zt_app::admin::create_department(
        &app,
        Some(&p),
        &Origin::of(&p, &addr),
        &req.code,
        &req.name,
        &req.region_code,
        req.parent.as_deref(),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(IdView { id })))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewItem {
    pub code: String,
    pub impl_code: String,
    pub dept: String,
    pub definition: ItemDefinition,
}

/// Create an item with its first version.
#[utoipa::path(post, path = "/api/v1/admin/items", tag = "admin", request_body = NewItem,
    responses((status = 201), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_item(
    State(app): State<App>,
    ClientAddr(addr): ClientAddr,
    Auth(p): Auth,
    ApiJson(req): ApiJson<NewItem>,
) -> ApiResult<StatusCode> {
    zt_app::catalogue::create_item(
        &app,
        &p,
        &Origin::of(&p, &addr),
        &req.code,
        &req.impl_code,
        &req.dept,
        &req.definition,
    )
    .await?;
    Ok(StatusCode::CREATED)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewVersion {
    /// The version the editor started from (optimistic lock).
    pub based_on: i64,
    pub definition: ItemDefinition,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VersionView {
    pub version: i64,
}

/// Publish a new version of an item. Cases filed earlier keep their version.
#[utoipa::path(post, path = "/api/v1/admin/items/{code}/versions", tag = "admin", params(("code" = String, Path)), request_body = NewVersion,
    responses((status = 201, body = VersionView), (status = 409, body = ErrorBody, description = "ITEM_VERSION_CONFLICT"), (status = 422, body = ErrorBody)))]
pub async fn publish_version(
    State(app): State<App>,
    ClientAddr(addr): ClientAddr,
    Auth(p): Auth,
    Path(code): Path<String>,
    ApiJson(req): ApiJson<NewVersion>,
) -> ApiResult<(StatusCode, Json<VersionView>)> {
    let version = zt_app::catalogue::publish_version(
        &app,
        &p,
        &Origin::of(&p, &addr),
        &code,
        req.based_on,
        &req.definition,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(VersionView { version })))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VersionInfo {
    pub version: i64,
    pub published_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VersionList {
    pub versions: Vec<VersionInfo>,
}

/// The versions of an item, newest first.
#[utoipa::path(get, path = "/api/v1/admin/items/{code}/versions", tag = "admin", params(("code" = String, Path)),
    responses((status = 200, body = VersionList), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn versions(
    State(app): State<App>,
    Auth(p): Auth,
    Path(code): Path<String>,
) -> ApiResult<Json<VersionList>> {
    if !p.has(Role::Sysadmin) {
        return Err(AppError::forbidden().into());
    }
    let (row, _) = zt_app::catalogue::get_item(&app, &code).await?;
    let mut c = app.read().await?;
    let rows = zt_store::items::versions(&mut c, row.id)
        .await
        .map_err(AppError::from)?;
    Ok(Json(VersionList {
        versions: rows
            .into_iter()
            .map(|v| VersionInfo {
                version: v.version,
                published_at: v.published_at,
            })
            .collect(),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemStatus {
    pub published: bool,
}

/// Withdraw an item from online application, or publish it again.
#[utoipa::path(post, path = "/api/v1/admin/items/{code}/status", tag = "admin", params(("code" = String, Path)), request_body = ItemStatus,
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn set_item_status(
    State(app): State<App>,
    ClientAddr(addr): ClientAddr,
    Auth(p): Auth,
    Path(code): Path<String>,
    ApiJson(req): ApiJson<ItemStatus>,
) -> ApiResult<StatusCode> {
    zt_app::catalogue::set_item_status(&app, &p, &Origin::of(&p, &addr), &code, req.published)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CalendarImport {
    /// The arrangement in the project's TOML form: `[2027] holidays = [...] workdays = [...]`.
    pub toml: String,
    /// Where it comes from, e.g. the notice number.
    pub source: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CalendarYears {
    pub years: Vec<i32>,
}

/// Import next year's holiday arrangement without a release.
#[utoipa::path(post, path = "/api/v1/admin/calendar", tag = "admin", request_body = CalendarImport,
    responses((status = 201, body = CalendarYears), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn import_calendar(
    State(app): State<App>,
    ClientAddr(addr): ClientAddr,
    Auth(p): Auth,
    ApiJson(req): ApiJson<CalendarImport>,
) -> ApiResult<(StatusCode, Json<CalendarYears>)> {
    let source = req.source.trim();
    if source.is_empty() || source.chars().count() > 200 {
        return Err(AppError::new(
            zt_app::ErrorKind::Unprocessable,
            "CALENDAR_SOURCE_REQUIRED",
            "请填写节假日安排的来源（如通知文号），不超过200字。",
        )
        .with_field("source")
        .into());
    }
    let years =
        zt_app::admin::import_calendar(&app, Some(&p), &Origin::of(&p, &addr), &req.toml, source)
            .await?;
    Ok((StatusCode::CREATED, Json(CalendarYears { years })))
}

/// The years of the holiday arrangement that are loaded.
#[utoipa::path(get, path = "/api/v1/admin/calendar", tag = "admin", responses((status = 200, body = CalendarYears)))]
pub async fn calendar_years(
    State(app): State<App>,
    Auth(_p): Auth,
) -> ApiResult<Json<CalendarYears>> {
    Ok(Json(CalendarYears {
        years: app.calendar().years().map(|(y, _)| y).collect(),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RolesChange {
    /// e.g. `["clerk", "reviewer"]`; the three administrator roles exclude each other and case roles.
    pub roles: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RolesView {
    pub roles: Vec<String>,
}

/// Change an account's roles (security administrator); the account's sessions end.
#[utoipa::path(put, path = "/api/v1/admin/users/{username}/roles", tag = "admin", params(("username" = String, Path)), request_body = RolesChange,
    responses((status = 200, body = RolesView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn set_roles(
    State(app): State<App>,
    ClientAddr(addr): ClientAddr,
    Auth(p): Auth,
    Path(username): Path<String>,
    ApiJson(req): ApiJson<RolesChange>,
) -> ApiResult<Json<RolesView>> {
    let roles = zt_app::admin::set_roles(
        &app,
        Some(&p),
        &Origin::of(&p, &addr),
        &username,
        &req.roles,
    )
    .await?;
    Ok(Json(RolesView { roles }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActiveChange {
    pub active: bool,
}

/// Disable or re-enable an account (system administrator); disabling ends its sessions.
#[utoipa::path(put, path = "/api/v1/admin/users/{username}/active", tag = "admin", params(("username" = String, Path)), request_body = ActiveChange,
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn set_active(
    State(app): State<App>,
    ClientAddr(addr): ClientAddr,
    Auth(p): Auth,
    Path(username): Path<String>,
    ApiJson(req): ApiJson<ActiveChange>,
) -> ApiResult<StatusCode> {
    zt_app::admin::set_active(
        &app,
        Some(&p),
        &Origin::of(&p, &addr),
        &username,
        req.active,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
