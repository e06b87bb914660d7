//! What every page shares: the principal, the CSRF token, navigation,
//! messages, and the error page.

use askama::Template;
use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use zt_app::{App, AppError, ErrorKind, Principal};
use zt_domain::role::Role;

use crate::assets;

pub struct Layout {
    pub title: String,
    pub user_name: Option<String>,
    pub is_applicant: bool,
    pub is_staff: bool,
    pub is_admin: bool,
    /// The audit administrator (安全审计 in the navigation).
    pub is_auditor: bool,
    pub csrf: String,
    pub css: &'static str,
    pub js: &'static str,
    pub error: Option<String>,
    /// The error's stable code (`data-code` of the alert), empty without one.
    pub error_code: &'static str,
    pub notice: Option<String>,
    pub request_id: String,
}

impl Layout {
    pub fn new(title: &str, p: Option<&Principal>) -> Self {
        Self {
            title: title.to_string(),
            user_name: p.map(|p| p.display_name.clone()),
            is_applicant: p.is_some_and(Principal::is_applicant),
            is_staff: p.is_some_and(Principal::is_case_staff),
            is_admin: p.is_some_and(|p| p.roles.iter().any(|r| r.is_admin())),
            is_auditor: p.is_some_and(|p| p.has(Role::Auditor)),
            csrf: p.map(|p| p.csrf_token.clone()).unwrap_or_default(),
            css: assets::css_url(),
            js: assets::js_url(),
            error: None,
            error_code: "",
            notice: None,
            request_id: String::new(),
        }
    }

    pub fn with_error(mut self, e: &AppError) -> Self {
        self.error = Some(e.message());
        self.error_code = e.code();
        self.request_id = zt_web::middleware::current_request_id();
        self
    }

    pub fn with_notice(mut self, n: Option<String>) -> Self {
        self.notice = n;
        self
    }
}

pub fn render(t: &impl Template) -> Response {
    match t.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "页面生成失败").into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    l: Layout,
    message: String,
}

pub fn error_page(status: StatusCode, title: &str, message: &str) -> Response {
    let mut l = Layout::new(title, None);
    l.request_id = zt_web::middleware::current_request_id();
    (
        status,
        render(&ErrorPage {
            l,
            message: message.to_string(),
        }),
    )
        .into_response()
}

/// An error as a page; login is asked for when the session is missing.
pub fn app_error(e: AppError, here: &str) -> Response {
    match e.code() {
        "PASSWORD_CHANGE_REQUIRED" => return Redirect::to("/account/password").into_response(),
        "SECOND_FACTOR_REQUIRED" => return Redirect::to("/login/second-factor").into_response(),
        "SECOND_FACTOR_ENROLMENT_REQUIRED" => {
            return Redirect::to("/account/second-factor").into_response()
        }
        _ => {}
    }
    match e.kind() {
        ErrorKind::Unauthenticated => {
            Redirect::to(&format!("/login?next={}", encode(here))).into_response()
        }
        kind => {
            let status = zt_web::error::status_of(kind);
            let title = match kind {
                ErrorKind::Forbidden => "无权访问",
                ErrorKind::NotFound => "未找到",
                ErrorKind::Internal => "系统繁忙",
                _ => "操作未完成",
            };
            error_page(status, title, &e.message())
        }
    }
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"/-_.".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The signed-in user of a page. Pages that need one redirect to /login.
pub struct PageUser(pub Principal);

impl FromRequestParts<App> for PageUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Response> {
        let here = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| "/".into());
        zt_web::extract::session_principal(parts, app)
            .await
            .map(PageUser)
            .map_err(|e| app_error(e, &here))
    }
}

impl OptionalFromRequestParts<App> for PageUser {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &App,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(zt_web::extract::session_principal(parts, app)
            .await
            .ok()
            .map(PageUser))
    }
}

/// Every state-changing form carries the session's CSRF token. Returns the
/// refusal page when it does not.
pub fn check_csrf(p: &Principal, sent: &str) -> Option<Response> {
    if zt_web::extract::constant_time_eq(sent.as_bytes(), p.csrf_token.as_bytes()) {
        None
    } else {
        Some(error_page(
            StatusCode::FORBIDDEN,
            "页面已过期",
            "页面已过期或请求来源不明，请返回上一页刷新后重试。",
        ))
    }
}

/// The refusal page when a role check fails.
pub fn require(ok: bool) -> Option<Response> {
    (!ok).then(|| app_error(AppError::forbidden(), "/"))
}

/// The landing page of a role after login.
pub fn home_of(p: &Principal) -> &'static str {
    if p.is_applicant() {
        "/my/cases"
    } else if p.is_case_staff() {
        "/workbench"
    } else if p
        .roles
        .iter()
        .any(|r| matches!(r, Role::Sysadmin | Role::Secadmin | Role::Auditor))
    {
        "/admin"
    } else {
        "/"
    }
}

/// A redirect target from a form: a local path only.
pub fn safe_next(next: &str) -> Option<&str> {
    (next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && !next.contains("://"))
    .then_some(next)
}

#[cfg(test)]
mod tests {
    #[test]
    fn next_must_be_local() {
        assert_eq!(super::safe_next("/my/cases"), Some("/my/cases"));
        assert_eq!(super::safe_next("//evil.example"), None);
        assert_eq!(super::safe_next("http://x"), None);
        assert_eq!(super::safe_next("/\\evil"), None);
        assert_eq!(super::safe_next(""), None);
    }
}
