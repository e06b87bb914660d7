//! The audit trail for the audit administrator: search, export, and the
//! chain's verification state.

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use zt_app::audit_trail::{AuditEntry, AuditQuery};
use zt_app::App;

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiQuery, Auth, ClientAddr};

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditList {
    /// Newest first; pass the last id as `before_id` for the next page.
    pub records: Vec<AuditEntry>,
}

/// Search the audit trail (audit administrator).
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(AuditQuery),
    responses((status = 200, body = AuditList), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn search(
    State(app): State<App>,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> ApiResult<Json<AuditList>> {
    let records = zt_app::audit_trail::search(&app, &p, &q).await?;
    Ok(Json(AuditList { records }))
}

/// Export the matching records as CSV (audit administrator; the export is itself audited).
#[utoipa::path(get, path = "/api/v1/audit/export", tag = "audit", params(AuditQuery),
    responses((status = 200, content_type = "text/csv", body = String), (status = 403, body = ErrorBody)))]
pub async fn export(
    State(app): State<App>,
    ClientAddr(addr): ClientAddr,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> ApiResult<Response> {
    let csv = zt_app::audit_trail::export_csv(&app, &p, &addr, &q).await?;
    let mut resp = Body::from(csv).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"audit-records.csv\""),
    );
    Ok(resp)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChainState {
    pub intact: bool,
    pub records: u64,
    pub first_id: Option<i64>,
    pub last_id: Option<i64>,
    pub anchors_checked: usize,
    /// Where the chain breaks, in words, when it does.
    pub problem: Option<String>,
    pub broken_at: Option<i64>,
}

/// Verify the audit chain now (audit administrator).
#[utoipa::path(get, path = "/api/v1/audit/verify", tag = "audit",
    responses((status = 200, body = ChainState), (status = 403, body = ErrorBody)))]
pub async fn verify(State(app): State<App>, Auth(p): Auth) -> ApiResult<Json<ChainState>> {
    let v = zt_app::audit_trail::verify_as(&app, &p).await?;
    Ok(Json(ChainState {
        intact: v.first_break.is_none(),
        records: v.records,
        first_id: v.first_id,
        last_id: v.last_id,
        anchors_checked: v.anchors_checked,
        problem: v.first_break.as_ref().map(|b| b.describe()),
        broken_at: v.first_break.as_ref().map(|b| b.record_id()),
    }))
}
