//! Cases: filing, materials, actions, reading; the inbox and rectifications.

use axum::body::Body;
use axum::extract::{Multipart, Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;
use zt_app::cases::{ActionRequest, CaseDetail, CaseSummary, ListQuery, MaterialInfo};
use zt_app::ratings::RectificationView;
use zt_app::{App, AppError, ErrorKind};

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiQuery, Auth, ClientAddr};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCaseRequest {
    pub item_code: String,
    /// Field values keyed by the item's `form_fields[].key`.
    #[schema(value_type = Object)]
    pub form: Map<String, Value>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Created {
    pub case_no: String,
    pub status: String,
    pub item_version: i64,
}

/// File a draft case for an item (applicants).
#[utoipa::path(post, path = "/api/v1/cases", tag = "cases", request_body = NewCaseRequest,
    responses((status = 201, body = Created), (status = 422, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn create(
    State(app): State<App>,
    ClientAddr(addr): ClientAddr,
    Auth(p): Auth,
    ApiJson(req): ApiJson<NewCaseRequest>,
) -> ApiResult<(StatusCode, Json<Created>)> {
    let row = zt_app::cases::create_draft(&app, &p, &addr, &req.item_code, &req.form).await?;
    Ok((
        StatusCode::CREATED,
        Json(Created {
            case_no: row.case_no,
            status: row.status,
            item_version: row.item_version,
        }),
    ))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CaseList {
    pub cases: Vec<CaseSummary>,
    pub total: i64,
}

/// List cases: applicants see their own (and their organisation's), staff their department's.
#[utoipa::path(get, path = "/api/v1/cases", tag = "cases", params(ListQuery),
    responses((status = 200, body = CaseList), (status = 400, body = ErrorBody)))]
pub async fn list(
    State(app): State<App>,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Json<CaseList>> {
    let (cases, total) = zt_app::cases::list(&app, &p, &q).await?;
    Ok(Json(CaseList { cases, total }))
}

/// A case with its form, materials, due date, warning and timeline.
#[utoipa::path(get, path = "/api/v1/cases/{case_no}", tag = "cases", params(("case_no" = String, Path)),
    responses((status = 200, body = CaseDetail), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(app): State<App>,
    Auth(p): Auth,
    Path(case_no): Path<String>,
) -> ApiResult<Json<CaseDetail>> {
    Ok(Json(zt_app::cases::detail(&app, &p, &case_no).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FormUpdate {
    #[schema(value_type = Object)]
    pub form: Map<String, Value>,
}

/// Replace the form of a draft or of a case returned for correction.
#[utoipa::path(put, path = "/api/v1/cases/{case_no}/form", tag = "cases", request_body = FormUpdate,
    params(("case_no" = String, Path)), responses((status = 204), (status = 422, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn update_form(
    State(app): State<App>,
    ClientAddr(addr): ClientAddr,
    Auth(p): Auth,
    Path(case_no): Path<String>,
    ApiJson(req): ApiJson<FormUpdate>,
) -> ApiResult<StatusCode> {
    zt_app::cases::update_form(&app, &p, &addr, &case_no, &req.form).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn multipart_error(e: axum::extract::multipart::MultipartError) -> AppError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        AppError::new(
            ErrorKind::TooLarge,
            "UPLOAD_TOO_LARGE",
            "文件过大，请压缩后重新上传。",
        )
        .with_field("file")
    } else {
        AppError::bad_request("MULTIPART_INVALID", "上传请求格式不正确。")
    }
}

/// Upload a material (multipart: `material_code`, `file`). The type is decided
/// by the content: PDF, OFD, JPEG or PNG.
#[utoipa::path(post, path = "/api/v1/cases/{case_no}/materials", tag = "cases", params(("case_no" = String, Path)),
    request_body(content_type = "multipart/form-data", description = "fields `material_code` and `file`"),
    responses((status = 201, body = MaterialInfo), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn upload(
    State(app): State<App>,
    ClientAddr(addr): ClientAddr,
    Auth(p): Auth,
    Path(case_no): Path<String>,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> ApiResult<(StatusCode, Json<MaterialInfo>)> {
    let mut multipart = multipart.map_err(|_| {
        AppError::new(
            ErrorKind::UnsupportedMedia,
            "MULTIPART_REQUIRED",
            "请以 multipart/form-data 方式上传文件。",
        )
    })?;
    let mut code = None;
    let mut file = None;
    while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
        match field.name() {
            Some("material_code") => code = Some(field.text().await.map_err(multipart_error)?),
            Some("file") => {
                let name = field.file_name().unwrap_or("").to_string();
                file = Some((name, field.bytes().await.map_err(multipart_error)?));
            }
            _ => {
                return Err(AppError::bad_request(
                    "MULTIPART_UNKNOWN_FIELD",
                    "上传请求中含有不支持的字段。",
                )
                .into());
            }
        }
    }
    let code = code.ok_or_else(|| {
        AppError::new(
            ErrorKind::Unprocessable,
            "MATERIAL_CODE_REQUIRED",
            "请选择材料类型。",
        )
        .with_field("material_code")
    })?;
    let (name, data) = file.ok_or_else(|| {
        AppError::new(
            ErrorKind::Unprocessable,
            "UPLOAD_FILE_REQUIRED",
            "请选择要上传的文件。",
        )
        .with_field("file")
    })?;
    let info =
        zt_app::cases::upload_material(&app, &p, &addr, &case_no, code.trim(), &name, data).await?;
    Ok((StatusCode::CREATED, Json(info)))
}

/// Download a material as an attachment, after checking its SM3 digest.
#[utoipa::path(get, path = "/api/v1/cases/{case_no}/materials/{id}", tag = "cases",
    params(("case_no" = String, Path), ("id" = i64, Path)), responses((status = 200, description = "the file"), (status = 404, body = ErrorBody)))]
pub async fn download(
    State(app): State<App>,
    Auth(p): Auth,
    Path((case_no, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let id: i64 = id
        .parse()
        .map_err(|_| AppError::not_found("MATERIAL_NOT_FOUND", "该材料"))?;
    let (info, data) = zt_app::cases::download_material(&app, &p, &case_no, id).await?;
    Ok(file_response(&info, data, false))
}

/// A stored file as a response: its sniffed type, never executed by the browser.
pub fn file_response(info: &MaterialInfo, data: bytes::Bytes, inline: bool) -> Response {
    let disposition = format!(
        "{}; filename=\"material-{}\"; filename*=UTF-8''{}",
        if inline { "inline" } else { "attachment" },
        info.id,
        percent_encode(&info.file_name)
    );
    let mut resp = Body::from(data).into_response();
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&info.content_type) {
        h.insert(header::CONTENT_TYPE, v);
    }
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    resp
}

fn percent_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StatusView {
    pub case_no: String,
    pub status: String,
    pub version: i64,
    pub due_date: Option<String>,
}

fn status_view(row: zt_store::cases::CaseRow) -> StatusView {
    StatusView {
        case_no: row.case_no,
        status: row.status,
        version: row.version,
        due_date: row.due_date,
    }
}

/// Submit a draft (all required materials must be uploaded).
#[utoipa::path(post, path = "/api/v1/cases/{case_no}/submit", tag = "cases", params(("case_no" = String, Path)),
    responses((status = 200, body = StatusView), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn submit(
    State(app): State<App>,
    ClientAddr(addr): ClientAddr,
    Auth(p): Auth,
    Path(case_no): Path<String>,
) -> ApiResult<Json<StatusView>> {
    let req = ActionRequest {
        action: "submit".into(),
        ..Default::default()
    };
    Ok(Json(status_view(
        zt_app::cases::act(&app, &p, &addr, &case_no, &req).await?,
    )))
}

/// Take an action on a case: accept, reject_intake, request_supplement,
/// resubmit, approve_step, deny, complete, withdraw, suspend, resume.
#[utoipa::path(post, path = "/api/v1/cases/{case_no}/actions", tag = "cases", params(("case_no" = String, Path)), request_body = ActionRequest,
    responses((status = 200, body = StatusView), (status = 403, body = ErrorBody, description = "CASE_ROLE_NOT_ALLOWED"),
              (status = 409, body = ErrorBody, description = "CASE_INVALID_TRANSITION or CASE_CONFLICT"), (status = 422, body = ErrorBody)))]
pub async fn action(
    State(app): State<App>,
    ClientAddr(addr): ClientAddr,
    Auth(p): Auth,
    Path(case_no): Path<String>,
    ApiJson(req): ApiJson<ActionRequest>,
) -> ApiResult<Json<StatusView>> {
    Ok(Json(status_view(
        zt_app::cases::act(&app, &p, &addr, &case_no, &req).await?,
    )))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RatingRequest {
    /// 5 非常满意 … 1 非常不满意
    pub score: i64,
    #[serde(default)]
    pub comment: String,
}

/// Rate a completed case (好差评). A score of 2 or less opens a rectification.
#[utoipa::path(post, path = "/api/v1/cases/{case_no}/rating", tag = "cases", params(("case_no" = String, Path)), request_body = RatingRequest,
    responses((status = 201), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn rate(
    State(app): State<App>,
    ClientAddr(addr): ClientAddr,
    Auth(p): Auth,
    Path(case_no): Path<String>,
    ApiJson(req): ApiJson<RatingRequest>,
) -> ApiResult<StatusCode> {
    zt_app::ratings::rate(&app, &p, &addr, &case_no, req.score, &req.comment).await?;
    Ok(StatusCode::CREATED)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationView {
    pub id: i64,
    pub case_no: Option<String>,
    pub title: String,
    pub body: String,
    pub created_at: String,
    pub read: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationList {
    pub notifications: Vec<NotificationView>,
    pub unread: i64,
}

/// The user's in-app messages (站内信), newest first.
#[utoipa::path(get, path = "/api/v1/notifications", tag = "notifications", responses((status = 200, body = NotificationList)))]
pub async fn notifications(
    State(app): State<App>,
    Auth(p): Auth,
) -> ApiResult<Json<NotificationList>> {
    let mut c = app.read().await?;
    let rows = zt_store::notifications::list(&mut c, p.user_id, 100)
        .await
        .map_err(AppError::from)?;
    let unread = zt_store::notifications::unread_count(&mut c, p.user_id)
        .await
        .map_err(AppError::from)?;
    Ok(Json(NotificationList {
        notifications: rows
            .into_iter()
            .map(|n| NotificationView {
                id: n.id,
                case_no: n.case_no,
                title: n.title,
                body: n.body,
                created_at: n.created_at,
                read: n.read_at.is_some(),
            })
            .collect(),
        unread,
    }))
}

/// Mark every message read.
#[utoipa::path(post, path = "/api/v1/notifications/read", tag = "notifications", responses((status = 204)))]
pub async fn notifications_read(State(app): State<App>, Auth(p): Auth) -> ApiResult<StatusCode> {
    let at = app.now_ts();
    let mut tx = app.begin().await?;
    zt_store::notifications::mark_all_read(&mut tx, p.user_id, &at)
        .await
        .map_err(AppError::from)?;
    tx.commit().await.map_err(AppError::from)?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RectificationList {
    pub rectifications: Vec<RectificationView>,
}

/// The department's rectification tasks (差评整改).
#[utoipa::path(get, path = "/api/v1/rectifications", tag = "ratings", responses((status = 200, body = RectificationList), (status = 403, body = ErrorBody)))]
pub async fn rectifications(
    State(app): State<App>,
    Auth(p): Auth,
) -> ApiResult<Json<RectificationList>> {
    Ok(Json(RectificationList {
        rectifications: zt_app::ratings::rectifications(&app, &p).await?,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnswerRequest {
    pub response: String,
}

/// Answer a rectification task; the applicant receives the answer.
#[utoipa::path(post, path = "/api/v1/rectifications/{id}/answer", tag = "ratings", params(("id" = i64, Path)), request_body = AnswerRequest,
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn answer_rectification(
    State(app): State<App>,
    ClientAddr(addr): ClientAddr,
    Auth(p): Auth,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<AnswerRequest>,
) -> ApiResult<StatusCode> {
    let id: i64 = id
        .parse()
        .map_err(|_| AppError::not_found("RECTIFICATION_NOT_FOUND", "该整改任务"))?;
    zt_app::ratings::answer(&app, &p, &addr, id, &req.response).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FullForm {
    #[schema(value_type = Object)]
    pub form: serde_json::Map<String, serde_json::Value>,
}

/// The case's form with personal information unmasked (staff serving the case; audited).
#[utoipa::path(post, path = "/api/v1/cases/{case_no}/personal-information", tag = "cases", params(("case_no" = String, Path)),
    responses((status = 200, body = FullForm), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn reveal(
    State(app): State<App>,
    ClientAddr(addr): ClientAddr,
    Auth(p): Auth,
    Path(case_no): Path<String>,
) -> ApiResult<Json<FullForm>> {
    let form = zt_app::cases::reveal_form(&app, &p, &addr, &case_no).await?;
    Ok(Json(FullForm { form }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SignatureList {
    pub signatures: Vec<zt_app::signing::SignatureView>,
}

/// The signed decisions of a case (approve, deny, reject at intake), each verified.
#[utoipa::path(get, path = "/api/v1/cases/{case_no}/signatures", tag = "cases", params(("case_no" = String, Path)),
    responses((status = 200, body = SignatureList), (status = 404, body = ErrorBody)))]
pub async fn signatures(
    State(app): State<App>,
    Auth(p): Auth,
    Path(case_no): Path<String>,
) -> ApiResult<Json<SignatureList>> {
    Ok(Json(SignatureList {
        signatures: zt_app::cases::signatures(&app, &p, &case_no).await?,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SigningKey {
    /// First 16 hex of SM3 over the uncompressed public key.
    pub key_id: String,
    /// SubjectPublicKeyInfo PEM of the SM2 public key.
    pub public_key_pem: String,
    pub algorithm: &'static str,
    /// The SM2 signer id (GB/T 32918, GM/T 0009 default).
    pub user_id: &'static str,
    /// How a payload is formed: a JSON array of these fields.
    pub payload_fields: Vec<&'static str>,
}

/// The platform's public key for verifying decision signatures (public).
#[utoipa::path(get, path = "/api/v1/signing-key", tag = "ops", responses((status = 200, body = SigningKey)))]
pub async fn signing_key(State(app): State<App>) -> Json<SigningKey> {
    Json(SigningKey {
        key_id: app.signer.key_id().to_string(),
        public_key_pem: app.signer.public_key_pem().to_string(),
        algorithm: "SM2 with SM3 (GB/T 32918, GB/T 32905)",
        user_id: zt_crypto::DEFAULT_DIST_ID,
        payload_fields: vec![
            "\"zhengtong-decision/1\"",
            "case_no",
            "decision",
            "opinion",
            "actor_id",
            "actor_name",
            "actor_role",
            "at",
            "event_seq",
        ],
    })
}
