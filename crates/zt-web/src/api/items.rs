//! The public catalogue and the working-day calculator.

use axum::extract::{Path, State};
use axum::Json;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use zt_app::catalogue::{ItemDetail, ItemSummary};
use zt_app::{App, AppError, ErrorKind};

use crate::error::{ApiResult, ErrorBody};
use crate::extract::ApiQuery;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ItemQuery {
    /// Part of the item's name, code or department name.
    pub q: Option<String>,
    /// Department code.
    pub dept: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ItemList {
    pub items: Vec<ItemSummary>,
}

/// Search the catalogue.
#[utoipa::path(get, path = "/api/v1/items", tag = "catalogue", params(ItemQuery),
    responses((status = 200, body = ItemList), (status = 400, body = ErrorBody)))]
pub async fn list(
    State(app): State<App>,
    ApiQuery(q): ApiQuery<ItemQuery>,
) -> ApiResult<Json<ItemList>> {
    let items =
        zt_app::catalogue::list_items(&app, q.q.as_deref(), q.dept.as_deref(), false).await?;
    Ok(Json(ItemList { items }))
}

/// An item's guide, form and materials (current version).
#[utoipa::path(get, path = "/api/v1/items/{code}", tag = "catalogue", params(("code" = String, Path)),
    responses((status = 200, body = ItemDetail), (status = 404, body = ErrorBody)))]
pub async fn get(State(app): State<App>, Path(code): Path<String>) -> ApiResult<Json<ItemDetail>> {
    Ok(Json(zt_app::catalogue::item_detail(&app, &code).await?))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DepartmentView {
    pub code: String,
    pub name: String,
    pub region_code: String,
    pub parent_code: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DepartmentList {
    pub departments: Vec<DepartmentView>,
}

/// The department tree (flat, with parent codes).
#[utoipa::path(get, path = "/api/v1/departments", tag = "catalogue", responses((status = 200, body = DepartmentList)))]
pub async fn departments(State(app): State<App>) -> ApiResult<Json<DepartmentList>> {
    let rows = zt_app::catalogue::departments(&app).await?;
    let departments = rows
        .iter()
        .map(|d| DepartmentView {
            code: d.code.clone(),
            name: d.name.clone(),
            region_code: d.region_code.clone(),
            parent_code: d
                .parent_id
                .and_then(|p| rows.iter().find(|x| x.id == p))
                .map(|x| x.code.clone()),
        })
        .collect();
    Ok(Json(DepartmentList { departments }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DueQuery {
    /// Day of acceptance, YYYY-MM-DD.
    pub start: String,
    /// Time limit in working days (0–365).
    pub days: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DueView {
    pub due: String,
}

/// The N-th working day after `start` on the official holiday arrangement.
#[utoipa::path(get, path = "/api/v1/calendar/due", tag = "calendar", params(DueQuery),
    responses((status = 200, body = DueView), (status = 400, body = ErrorBody), (status = 422, body = ErrorBody, description = "CALENDAR_DATE_OUT_OF_RANGE")))]
pub async fn due(
    State(app): State<App>,
    ApiQuery(q): ApiQuery<DueQuery>,
) -> ApiResult<Json<DueView>> {
    let start = NaiveDate::parse_from_str(&q.start, "%Y-%m-%d")
        .ok()
        .filter(|_| q.start.len() == 10)
        .ok_or_else(|| {
            AppError::bad_request("DATE_INVALID", "日期格式应为 YYYY-MM-DD，例如 2025-09-30。")
                .with_field("start")
        })?;
    let days: u32 = q.days.parse().ok().filter(|d| *d <= 365).ok_or_else(|| {
        AppError::bad_request("DAYS_INVALID", "工作日数应为0至365之间的整数。").with_field("days")
    })?;
    let due = app.calendar().add_working_days(start, days).map_err(|e| {
        AppError::new(
            ErrorKind::Unprocessable,
            "CALENDAR_DATE_OUT_OF_RANGE",
            e.message_zh(),
        )
        .with_field("start")
    })?;
    Ok(Json(DueView {
        due: due.format("%Y-%m-%d").to_string(),
    }))
}
