//! Login and logout.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use zt_app::{App, Principal};

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{session_token, ApiJson, Auth, ClientAddr, SESSION_COOKIE};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    #[schema(value_type = Object)]
    pub user: Principal,
    pub roles: Vec<String>,
    /// Set when the session must first lift a restriction (e.g.
    /// `password_change`): every other request answers 403 with its code.
    pub restriction: Option<zt_app::principal::Restriction>,
    /// Send this in `X-CSRF-Token` with every state-changing request.
    pub csrf_token: String,
}

pub fn session_view(p: Principal) -> SessionView {
    SessionView {
        roles: p.roles.iter().map(|r| r.as_str().to_string()).collect(),
        restriction: p.restriction,
        csrf_token: p.csrf_token.clone(),
        user: p,
    }
}

/// The Set-Cookie value of a session (HttpOnly, SameSite=Lax, Secure on TLS).
pub fn session_cookie(app: &App, token: &str) -> String {
    let max_age = app.settings.session_absolute.num_seconds();
    let secure = if app.settings.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    format!("{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}")
}

pub fn clear_cookie(app: &App) -> String {
    let secure = if app.settings.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}")
}

/// Log in with a username and password.
#[utoipa::path(post, path = "/api/v1/session", tag = "session", request_body = LoginRequest,
    responses((status = 200, body = SessionView, description = "logged in; sets the session cookie"),
              (status = 401, body = ErrorBody, description = "AUTH_INVALID_CREDENTIALS")))]
pub async fn login(
    State(app): State<App>,
    ClientAddr(addr): ClientAddr,
    old: HeaderMap,
    ApiJson(req): ApiJson<LoginRequest>,
) -> ApiResult<impl IntoResponse> {
    let previous = session_token(&old);
    let (p, token) = zt_app::auth::login(
        &app,
        &req.username,
        &req.password,
        &addr,
        previous.as_deref(),
    )
    .await?;
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&session_cookie(&app, &token)) {
        headers.insert(header::SET_COOKIE, v);
    }
    Ok((StatusCode::OK, headers, Json(session_view(p))))
}

/// The current session's user.
#[utoipa::path(get, path = "/api/v1/session", tag = "session",
    responses((status = 200, body = SessionView), (status = 401, body = ErrorBody)))]
pub async fn me(Auth(p): Auth) -> Json<SessionView> {
    Json(session_view(p))
}

/// Log out: the session ends on the server and the cookie is cleared.
#[utoipa::path(delete, path = "/api/v1/session", tag = "session",
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody, description = "CSRF_INVALID")))]
pub async fn logout(
    State(app): State<App>,
    ClientAddr(addr): ClientAddr,
    Auth(p): Auth,
) -> ApiResult<impl IntoResponse> {
    zt_app::auth::logout(&app, &p, &addr).await?;
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&clear_cookie(&app)) {
        headers.insert(header::SET_COOKIE, v);
    }
    Ok((StatusCode::NO_CONTENT, headers))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    pub old_password: String,
    pub new_password: String,
}

/// Change one's own password; every session of the account ends.
#[utoipa::path(post, path = "/api/v1/session/password", tag = "session", request_body = PasswordChange,
    responses((status = 204), (status = 422, body = ErrorBody)))]
pub async fn change_password(
    State(app): State<App>,
    ClientAddr(addr): ClientAddr,
    Auth(p): Auth,
    ApiJson(req): ApiJson<PasswordChange>,
) -> ApiResult<StatusCode> {
    zt_app::auth::change_password(&app, &p, &req.old_password, &req.new_password, &addr).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionList {
    pub sessions: Vec<zt_app::auth::SessionInfo>,
}

/// One's own active sessions (devices), newest first.
#[utoipa::path(get, path = "/api/v1/sessions", tag = "session",
    responses((status = 200, body = SessionList), (status = 401, body = ErrorBody)))]
pub async fn list_sessions(State(app): State<App>, Auth(p): Auth) -> ApiResult<Json<SessionList>> {
    Ok(Json(SessionList {
        sessions: zt_app::auth::sessions_of(&app, &p).await?,
    }))
}

/// Log out everywhere: every session of the account ends, this one included.
#[utoipa::path(delete, path = "/api/v1/sessions", tag = "session",
    responses((status = 204), (status = 401, body = ErrorBody)))]
pub async fn end_all_sessions(
    State(app): State<App>,
    ClientAddr(addr): ClientAddr,
    Auth(p): Auth,
) -> ApiResult<impl IntoResponse> {
    zt_app::auth::end_sessions(&app, &p, zt_app::auth::Ending::All, &addr).await?;
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&clear_cookie(&app)) {
        headers.insert(header::SET_COOKIE, v);
    }
    Ok((StatusCode::NO_CONTENT, headers))
}

/// End one of one's sessions (e.g. a phone left logged in).
#[utoipa::path(delete, path = "/api/v1/sessions/{handle}", tag = "session", params(("handle" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn end_session(
    State(app): State<App>,
    ClientAddr(addr): ClientAddr,
    Auth(p): Auth,
    axum::extract::Path(handle): axum::extract::Path<String>,
) -> ApiResult<StatusCode> {
    zt_app::auth::end_sessions(&app, &p, zt_app::auth::Ending::One(&handle), &addr).await?;
    Ok(StatusCode::NO_CONTENT)
}
