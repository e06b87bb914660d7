//! The privacy notice, self-registration, and the applicant's rights over
//! their personal information (GB/T 35273-2020): see it in full, download
//! it, correct it, withdraw consent by closing the account.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use zt_app::privacy::{
    AccountClosed, DeletionRequest, NoticeView, PersonalDataExport, PersonalInformation,
    ProfileCorrection, Registered, RegistrationRequest,
};
use zt_app::{App, AppError};

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, Auth, ClientAddr};

/// The privacy notice (个人信息保护政策) in force, with its version id.
#[utoipa::path(get, path = "/api/v1/privacy-notice", tag = "privacy",
    responses((status = 200, body = NoticeView)))]
pub async fn notice() -> Json<NoticeView> {
    Json(zt_app::privacy::notice())
}

/// Register a natural person's account (real-name level L1). Requires
/// `consent: true` to the notice version in force; rate-limited per client
/// address.
#[utoipa::path(post, path = "/api/v1/registrations", tag = "privacy", request_body = RegistrationRequest,
    responses((status = 201, body = Registered),
              (status = 422, body = ErrorBody, description = "CONSENT_REQUIRED, NOTICE_VERSION_OUTDATED, PASSWORD_WEAK, ID_NUMBER_…"),
              (status = 409, body = ErrorBody, description = "USERNAME_TAKEN, ID_NUMBER_REGISTERED"),
              (status = 429, body = ErrorBody, description = "REGISTRATION_RATE_LIMITED")))]
pub async fn register(
    State(app): State<App>,
    ClientAddr(addr): ClientAddr,
    ApiJson(req): ApiJson<RegistrationRequest>,
) -> ApiResult<(StatusCode, Json<Registered>)> {
    let r = zt_app::privacy::register(&app, &req, &addr).await?;
    Ok((StatusCode::CREATED, Json(r)))
}

/// One's own personal information in full, with one's consent records (applicants).
#[utoipa::path(get, path = "/api/v1/me/personal-information", tag = "privacy",
    responses((status = 200, body = PersonalInformation), (status = 403, body = ErrorBody)))]
pub async fn personal_information(
    State(app): State<App>,
    Auth(p): Auth,
) -> ApiResult<Json<PersonalInformation>> {
    Ok(Json(zt_app::privacy::personal_information(&app, &p).await?))
}

/// Correct one's name and mobile number (and the identity number while at
/// real-name level L1: above it, `ID_NUMBER_LOCKED`).
#[utoipa::path(put, path = "/api/v1/me/profile", tag = "privacy", request_body = ProfileCorrection,
    responses((status = 200, body = PersonalInformation), (status = 422, body = ErrorBody),
              (status = 403, body = ErrorBody, description = "ID_NUMBER_LOCKED")))]
pub async fn correct_profile(
    State(app): State<App>,
    ClientAddr(addr): ClientAddr,
    Auth(p): Auth,
    ApiJson(req): ApiJson<ProfileCorrection>,
) -> ApiResult<Json<PersonalInformation>> {
    Ok(Json(
        zt_app::privacy::correct_profile(&app, &p, &addr, &req).await?,
    ))
}

/// Everything the platform holds about the applicant as one JSON file
/// (profile, consents, cases with forms, timelines and materials'
/// descriptions, notifications, ratings); audited as `pi_export`.
#[utoipa::path(get, path = "/api/v1/me/export", tag = "privacy",
    responses((status = 200, body = PersonalDataExport, description = "an attachment"), (status = 403, body = ErrorBody)))]
pub async fn export(
    State(app): State<App>,
    ClientAddr(addr): ClientAddr,
    Auth(p): Auth,
) -> ApiResult<impl IntoResponse> {
    let doc = zt_app::privacy::export(&app, &p, &addr).await?;
    export_response(&doc, &p.username)
}

/// The export as a file download.
pub fn export_response(
    doc: &PersonalDataExport,
    username: &str,
) -> ApiResult<(HeaderMap, Vec<u8>)> {
    let body = serde_json::to_vec_pretty(doc).map_err(|e| AppError::Internal(e.to_string()))?;
    let day: String = doc
        .exported_at
        .chars()
        .take(10)
        .filter(|c| *c != '-')
        .collect();
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    // Usernames are [A-Za-z0-9._-]: safe in a quoted file name.
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"zhengtong-personal-data-{username}-{day}.json\""
    )) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok((headers, body))
}

/// Withdraw consent and close one's account at once (password required):
/// every session ends and login is refused; case records stay as the law
/// requires, personal information is anonymised after the retention period.
#[utoipa::path(post, path = "/api/v1/me/deletion", tag = "privacy", request_body = DeletionRequest,
    responses((status = 200, body = AccountClosed, description = "closed; the session cookie is cleared"),
              (status = 422, body = ErrorBody, description = "PASSWORD_WRONG"), (status = 403, body = ErrorBody)))]
pub async fn request_deletion(
    State(app): State<App>,
    ClientAddr(addr): ClientAddr,
    Auth(p): Auth,
    ApiJson(req): ApiJson<DeletionRequest>,
) -> ApiResult<impl IntoResponse> {
    let closed = zt_app::privacy::close_account(&app, &p, &addr, &req).await?;
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&super::session::clear_cookie(&app)) {
        headers.insert(header::SET_COOKIE, v);
    }
    Ok((StatusCode::OK, headers, Json(closed)))
}

/// 找回账号 (accounts migrated from V1.0, which keep no usable password):
/// name, identity number and mobile number as V1 held them. The answer is
/// the same whether or not they matched; when they did, a code goes to the
/// mobile number.
#[utoipa::path(post, path = "/api/v1/account-recovery", tag = "privacy",
    request_body = zt_app::recovery::RecoveryRequest,
    responses((status = 202, body = zt_app::recovery::RecoveryStarted),
              (status = 422, body = ErrorBody, description = "ID_NUMBER_INVALID, MOBILE_INVALID"),
              (status = 429, body = ErrorBody, description = "RECOVERY_RATE_LIMITED"),
              (status = 503, body = ErrorBody, description = "SMS_UNAVAILABLE")))]
pub async fn recovery_request(
    State(app): State<App>,
    ClientAddr(addr): ClientAddr,
    ApiJson(req): ApiJson<zt_app::recovery::RecoveryRequest>,
) -> ApiResult<(StatusCode, Json<zt_app::recovery::RecoveryStarted>)> {
    let r = zt_app::recovery::request(&app, &req, &addr).await?;
    Ok((StatusCode::ACCEPTED, Json(r)))
}

/// Set a new password with the code sent (5 minutes, 5 attempts); answers
/// the account's username.
#[utoipa::path(post, path = "/api/v1/account-recovery/confirm", tag = "privacy",
    request_body = zt_app::recovery::RecoveryConfirmation,
    responses((status = 200, body = zt_app::recovery::Recovered),
              (status = 422, body = ErrorBody, description = "RECOVERY_CODE_INVALID, PASSWORD_WEAK")))]
pub async fn recovery_confirm(
    State(app): State<App>,
    ClientAddr(addr): ClientAddr,
    ApiJson(req): ApiJson<zt_app::recovery::RecoveryConfirmation>,
) -> ApiResult<Json<zt_app::recovery::Recovered>> {
    Ok(Json(zt_app::recovery::confirm(&app, &req, &addr).await?))
}
