//! Two-factor authentication: the code after the password, enrolment of an
//! authenticator app, removal, and the security administrator's reset.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use zt_app::second_factor::{Enrolment, Status};
use zt_app::state::Origin;
use zt_app::App;

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, Auth, ClientAddr};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeRequest {
    /// Six digits from the authenticator app, or a recovery code.
    pub code: String,
}

/// Give the second factor of this session (after the password).
#[utoipa::path(post, path = "/api/v1/session/second-factor", tag = "session", request_body = CodeRequest,
    responses((status = 204), (status = 401, body = ErrorBody, description = "locked after too many wrong codes"),
              (status = 422, body = ErrorBody, description = "SECOND_FACTOR_INVALID / _FORMAT / _REPLAYED")))]
pub async fn verify(
    State(app): State<App>,
    ClientAddr(addr): ClientAddr,
    Auth(p): Auth,
    ApiJson(req): ApiJson<CodeRequest>,
) -> ApiResult<StatusCode> {
    zt_app::second_factor::verify(&app, &p, &req.code, &addr).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Whether one's account has an authenticator, must have one, and how many recovery codes are left.
#[utoipa::path(get, path = "/api/v1/me/second-factor", tag = "session",
    responses((status = 200, body = Status), (status = 401, body = ErrorBody)))]
pub async fn status(State(app): State<App>, Auth(p): Auth) -> ApiResult<Json<Status>> {
    Ok(Json(zt_app::second_factor::status(&app, &p).await?))
}

/// Start enrolling an authenticator app: a new secret as a QR code.
#[utoipa::path(post, path = "/api/v1/me/second-factor/enrolment", tag = "session",
    responses((status = 201, body = Enrolment), (status = 409, body = ErrorBody)))]
pub async fn start(
    State(app): State<App>,
    Auth(p): Auth,
) -> ApiResult<(StatusCode, Json<Enrolment>)> {
    Ok((
        StatusCode::CREATED,
        Json(zt_app::second_factor::start_enrolment(&app, &p).await?),
    ))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RecoveryCodes {
    /// Shown once: each signs in once when the phone is lost.
    pub recovery_codes: Vec<String>,
}

/// Confirm the enrolment with the app's first code; returns the recovery codes.
#[utoipa::path(post, path = "/api/v1/me/second-factor/enrolment/confirm", tag = "session", request_body = CodeRequest,
    responses((status = 200, body = RecoveryCodes), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn confirm(
    State(app): State<App>,
    ClientAddr(addr): ClientAddr,
    Auth(p): Auth,
    ApiJson(req): ApiJson<CodeRequest>,
) -> ApiResult<Json<RecoveryCodes>> {
    let recovery_codes =
        zt_app::second_factor::confirm_enrolment(&app, &p, &req.code, &addr).await?;
    Ok(Json(RecoveryCodes { recovery_codes }))
}

/// Remove one's authenticator (with a current code; not for accounts that must have one).
#[utoipa::path(post, path = "/api/v1/me/second-factor/removal", tag = "session", request_body = CodeRequest,
    responses((status = 204), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn remove(
    State(app): State<App>,
    ClientAddr(addr): ClientAddr,
    Auth(p): Auth,
    ApiJson(req): ApiJson<CodeRequest>,
) -> ApiResult<StatusCode> {
    zt_app::second_factor::remove(&app, &p, &req.code, &addr).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Reset an account's second factor after a lost device (security administrator; not for administrators).
#[utoipa::path(post, path = "/api/v1/admin/users/{username}/second-factor/reset", tag = "admin", params(("username" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn reset(
    State(app): State<App>,
    ClientAddr(addr): ClientAddr,
    Auth(p): Auth,
    Path(username): Path<String>,
) -> ApiResult<StatusCode> {
    zt_app::second_factor::reset(&app, Some(&p), &Origin::of(&p, &addr), &username).await?;
    Ok(StatusCode::NO_CONTENT)
}
