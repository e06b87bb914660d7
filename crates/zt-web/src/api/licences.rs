//! Electronic licences: the holder's view and download, the public
//! verification (by number, and of an uploaded file), and the department
//! seal an administrator sets.

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use utoipa::ToSchema;
use zt_app::licence::{LicenceView, PublicLicence, UploadCheck};
use zt_app::{App, AppError};

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, Auth, ClientAddr};

/// The licence of a case (its holder and the staff serving it).
#[utoipa::path(get, path = "/api/v1/cases/{case_no}/licence", tag = "licences",
    params(("case_no" = String, Path)),
    responses((status = 200, body = LicenceView), (status = 404, body = ErrorBody)))]
pub async fn of_case(
    State(app): State<App>,
    Auth(p): Auth,
    Path(case_no): Path<String>,
) -> ApiResult<Json<LicenceView>> {
    zt_app::licence::for_case(&app, &p, &case_no)
        .await?
        .map(Json)
        .ok_or_else(|| AppError::not_found("LICENCE_NOT_FOUND", "该办件的电子证照").into())
}

/// The sealed licence PDF (409 `LICENCE_PENDING_SEAL` while it is being sealed).
#[utoipa::path(get, path = "/api/v1/cases/{case_no}/licence/document", tag = "licences",
    params(("case_no" = String, Path)),
    responses((status = 200, description = "the sealed PDF", content_type = "application/pdf"),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn document(
    State(app): State<App>,
    Auth(p): Auth,
    ClientAddr(addr): ClientAddr,
    Path(case_no): Path<String>,
) -> ApiResult<Response> {
    let (name, data) = zt_app::licence::download(&app, &p, &addr, &case_no).await?;
    Ok(pdf_response(&name, data))
}

/// A sealed licence as a download, never rendered by the browser as a page.
pub fn pdf_response(name: &str, data: Bytes) -> Response {
    let mut resp = Body::from(data).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/pdf"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    resp
}

/// Public: whether a licence exists, its standing, and whether the stored
/// document's signature is intact.
#[utoipa::path(get, path = "/api/v1/licences/{licence_no}/verification", tag = "licences",
    params(("licence_no" = String, Path)),
    responses((status = 200, body = PublicLicence), (status = 404, body = ErrorBody)))]
pub async fn verification(
    State(app): State<App>,
    Path(licence_no): Path<String>,
) -> ApiResult<Json<PublicLicence>> {
    Ok(Json(zt_app::licence::public_view(&app, &licence_no).await?))
}

/// Public: whether the PDF in the body (`application/pdf`) is the authentic
/// sealed licence of that number.
#[utoipa::path(post, path = "/api/v1/licences/{licence_no}/verification", tag = "licences",
    params(("licence_no" = String, Path)),
    request_body(content = Vec<u8>, content_type = "application/pdf"),
    responses((status = 200, body = UploadCheck), (status = 400, body = ErrorBody), (status = 413, body = ErrorBody)))]
pub async fn check_file(
    State(app): State<App>,
    ClientAddr(addr): ClientAddr,
    Path(licence_no): Path<String>,
    body: Bytes,
) -> ApiResult<Json<UploadCheck>> {
    Ok(Json(
        zt_app::licence::check_upload(&app, &licence_no, &body, &addr).await?,
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DepartmentSeal {
    /// 14-digit seal code at the e-seal service; empty to clear.
    pub seal_code: String,
}

/// Set the seal a department's licences are sealed with (system
/// administrator); licences waiting for a seal are retried at once.
#[utoipa::path(put, path = "/api/v1/admin/departments/{code}/seal", tag = "admin",
    params(("code" = String, Path)), request_body = DepartmentSeal,
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn set_seal(
    State(app): State<App>,
    ClientAddr(addr): ClientAddr,
    Auth(p): Auth,
    Path(code): Path<String>,
    ApiJson(req): ApiJson<DepartmentSeal>,
) -> ApiResult<StatusCode> {
    zt_app::licence::set_department_seal(&app, &p, &addr, &code, &req.seal_code).await?;
    Ok(StatusCode::NO_CONTENT)
}
