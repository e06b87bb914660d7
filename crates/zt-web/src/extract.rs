//! Extractors that turn raw requests into typed input, with errors in the
//! platform's format instead of axum's plain-text rejections.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRef, FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use axum::http::{header, Method};
use axum_extra::extract::CookieJar;
use serde::de::DeserializeOwned;
use zt_app::principal::Restriction;
use zt_app::{AppError, ErrorKind, Principal};

use crate::error::ApiError;

pub const SESSION_COOKIE: &str = "zt_session";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The client's address as seen by the server.
#[derive(Debug, Clone)]
pub struct ClientAddr(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let addr = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip().to_string())
            .unwrap_or_else(|| "unknown".into());
        Ok(ClientAddr(addr))
    }
}

/// The session cookie's value, if the request carries one.
pub fn session_token(headers: &axum::http::HeaderMap) -> Option<String> {
    CookieJar::from_headers(headers)
        .get(SESSION_COOKIE)
        .map(|c| c.value().to_string())
}

/// The session cookie's principal, without any CSRF check (pages check the
/// token in their forms). A restricted session (a password to change, a
/// second factor to give) reaches only the paths that lift the restriction.
pub async fn session_principal(parts: &Parts, app: &zt_app::App) -> Result<Principal, AppError> {
    let token = session_token(&parts.headers).ok_or_else(AppError::unauthenticated)?;
    let p = zt_app::auth::authenticate(app, &token).await?;
    if let Some(slot) = parts.extensions.get::<crate::denials::CallerSlot>() {
        slot.set(p.user_id, &p.username);
    }
    match p.restriction {
        Some(r) if !allowed_while_restricted(r, &parts.method, parts.uri.path()) => Err(r.error()),
        _ => Ok(p),
    }
}

/// The requests a restricted session may make: see who it is, leave, and
/// lift the restriction.
pub fn allowed_while_restricted(r: Restriction, method: &Method, path: &str) -> bool {
    match r {
        Restriction::PasswordChange | Restriction::PasswordExpired => matches!(
            (method, path),
            (&Method::GET | &Method::DELETE, "/api/v1/session")
                | (&Method::POST, "/api/v1/session/password")
                | (&Method::GET | &Method::POST, "/account/password")
                | (&Method::POST, "/logout")
        ),
        Restriction::SecondFactor => matches!(
            (method, path),
            (&Method::GET | &Method::DELETE, "/api/v1/session")
                | (&Method::POST, "/api/v1/session/second-factor")
                | (&Method::GET | &Method::POST, "/login/second-factor")
                | (&Method::POST, "/logout")
        ),
        Restriction::SecondFactorEnrolment => matches!(
            (method, path),
            (&Method::GET | &Method::DELETE, "/api/v1/session")
                | (&Method::POST, "/api/v1/me/second-factor/enrolment")
                | (&Method::POST, "/api/v1/me/second-factor/enrolment/confirm")
                | (&Method::GET | &Method::POST, "/account/second-factor")
                | (&Method::POST, "/account/second-factor/confirm")
                | (&Method::POST, "/logout")
        ),
    }
}

/// An authenticated API caller. State-changing methods must carry the
/// session's CSRF token in `X-CSRF-Token`.
#[derive(Debug, Clone)]
pub struct Auth(pub Principal);

impl<S> FromRequestParts<S> for Auth
where
    zt_app::App: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let app = zt_app::App::from_ref(state);
        let p = session_principal(parts, &app).await?;
        let safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
        if !safe {
            let sent = parts
                .headers
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if !constant_time_eq(sent.as_bytes(), p.csrf_token.as_bytes()) {
                return Err(AppError::new(
                    ErrorKind::Forbidden,
                    "CSRF_INVALID",
                    "页面已过期或请求来源不明，请刷新页面后重试。",
                )
                .into());
            }
        }
        Ok(Auth(p))
    }
}

pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len()
        && !a.is_empty()
        && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A JSON body, with the path of the offending field on error.
#[derive(Debug, Clone)]
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let json_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.split(';')
                    .next()
                    .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
            });
        if !json_type {
            return Err(AppError::new(
                ErrorKind::UnsupportedMedia,
                "CONTENT_TYPE_JSON",
                "请求内容应为JSON格式（Content-Type: application/json）。",
            )
            .into());
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                AppError::new(ErrorKind::TooLarge, "BODY_TOO_LARGE", "提交的内容过大。")
            } else {
                AppError::bad_request("BODY_UNREADABLE", "无法读取请求内容。")
            }
        })?;
        parse_json(&bytes).map(ApiJson).map_err(ApiError)
    }
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AppError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        match inner.classify() {
            serde_json::error::Category::Syntax
            | serde_json::error::Category::Eof
            | serde_json::error::Category::Io => {
                AppError::bad_request("JSON_MALFORMED", "请求内容不是有效的JSON。")
            }
            serde_json::error::Category::Data => {
                let msg = inner.to_string();
                let quoted = msg
                    .split('`')
                    .nth(1)
                    .unwrap_or("")
                    .chars()
                    .take(64)
                    .collect::<String>();
                let (code, text, field) = if msg.starts_with("missing field") {
                    (
                        "JSON_MISSING_FIELD",
                        format!("缺少必填项“{quoted}”。"),
                        join(&path, &quoted),
                    )
                } else if msg.starts_with("unknown field") {
                    let field = if path.ends_with(&quoted) {
                        path.clone()
                    } else {
                        join(&path, &quoted)
                    };
                    (
                        "JSON_UNKNOWN_FIELD",
                        format!("请求中含有不支持的字段“{quoted}”。"),
                        field,
                    )
                } else if msg.starts_with("unknown variant") {
                    (
                        "JSON_UNKNOWN_VALUE",
                        format!("“{path}”的取值不在允许范围内。"),
                        path.clone(),
                    )
                } else {
                    (
                        "JSON_WRONG_TYPE",
                        format!("“{path}”的类型或取值不正确。"),
                        path.clone(),
                    )
                };
                AppError::new(ErrorKind::Unprocessable, code, text).with_field(field)
            }
        }
    })
}

fn join(path: &str, field: &str) -> String {
    if path.is_empty() || path == "." {
        field.to_string()
    } else {
        format!("{path}.{field}")
    }
}

/// A query string, refused with the platform's error format.
#[derive(Debug, Clone)]
pub struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| ApiQuery(q.0))
            .map_err(|_| AppError::bad_request("QUERY_INVALID", "查询参数不正确。").into())
    }
}
