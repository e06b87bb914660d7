//! Login and logout pages.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;
use zt_app::App;
use zt_web::extract::ClientAddr;

use crate::layout::{check_csrf, home_of, render, safe_next, Layout, PageUser};

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    l: Layout,
    next: String,
    username: String,
    demo: bool,
    /// Login through the unified identity platform is configured.
    oidc: bool,
    demo_accounts: Vec<(&'static str, &'static str)>,
}

const DEMO_ACCOUNTS: &[(&str, &str)] = &[
    ("citizen", "自然人申请人"),
    ("citizen2", "自然人申请人（生僻字姓名）"),
    ("agent", "法人经办人（青岚市示范科技有限公司）"),
    ("clerk", "窗口受理（政务服务中心，全部事项）"),
    ("reviewer", "审查（政务服务中心，全部事项）"),
    ("approver", "决定（政务服务中心，全部事项）"),
    ("clerk_scjg", "窗口受理（市场监管局）"),
    ("sysadmin", "系统管理员"),
    ("secadmin", "安全管理员"),
    ("auditor", "审计管理员"),
];

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
    done: Option<String>,
}

fn notice_text(done: Option<&str>) -> Option<String> {
    match done? {
        "password_changed" => Some("密码已修改，请使用新密码重新登录。".into()),
        "logged_out_everywhere" => Some("已退出全部设备，请重新登录。".into()),
        "registered" => Some("注册成功，请使用新账号登录。".into()),
        "account_closed" => Some(
            "账号已注销，所有设备已退出登录。办件档案依法保存，个人信息将在保存期满后匿名化。"
                .into(),
        ),
        _ => None,
    }
}

fn page(app: &App, next: &str, username: &str) -> LoginPage {
    LoginPage {
        l: Layout::new("登录", None),
        next: next.to_string(),
        username: username.to_string(),
        demo: app.settings.demo,
        oidc: app.oidc.is_some(),
        demo_accounts: DEMO_ACCOUNTS.to_vec(),
    }
}

pub async fn login_form(State(app): State<App>, Query(q): Query<NextQuery>) -> Response {
    let mut pg = page(&app, q.next.as_deref().unwrap_or(""), "");
    pg.l = pg.l.with_notice(notice_text(q.done.as_deref()));
    render(&pg)
}

#[derive(Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
    #[serde(default)]
    next: String,
}

pub async fn login(
    State(app): State<App>,
    ClientAddr(addr): ClientAddr,
    headers: axum::http::HeaderMap,
    Form(f): Form<LoginForm>,
) -> Response {
    let previous = zt_web::extract::session_token(&headers);
    match zt_app::auth::login(
        &app,
        f.username.trim(),
        &f.password,
        &addr,
        previous.as_deref(),
    )
    .await
    {
        Ok((p, token)) => signed_in(&app, &p, &token, &f.next),
        Err(e) => {
            let mut pg = page(&app, &f.next, &f.username);
            pg.l = pg.l.with_error(&e);
            let status = zt_web::error::status_of(e.kind());
            (status, render(&pg)).into_response()
        }
    }
}

/// Where a fresh session goes (what the user must do first, else `next` or
/// their home), with the session cookie.
fn signed_in(app: &App, p: &zt_app::Principal, token: &str, next: &str) -> Response {
    use zt_app::principal::Restriction;
    let to = match p.restriction {
        Some(Restriction::SecondFactor) => "/login/second-factor".to_string(),
        Some(Restriction::SecondFactorEnrolment) => "/account/second-factor".to_string(),
        Some(Restriction::PasswordChange | Restriction::PasswordExpired) => {
            "/account/password".to_string()
        }
        None => safe_next(next).unwrap_or(home_of(p)).to_string(),
    };
    let mut resp = Redirect::to(&to).into_response();
    if let Ok(v) = HeaderValue::from_str(&zt_web::api::session::session_cookie(app, token)) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}

fn login_error(app: &App, e: &zt_app::AppError) -> Response {
    let mut pg = page(app, "", "");
    pg.l = pg.l.with_error(e);
    let status = zt_web::error::status_of(e.kind());
    (status, render(&pg)).into_response()
}

/// `GET /auth/oidc/login`: to the unified identity platform.
pub async fn oidc_login(State(app): State<App>) -> Response {
    match zt_app::sso::begin(&app).await {
        Ok((url, _)) => Redirect::to(&url).into_response(),
        Err(e) => login_error(&app, &e),
    }
}

/// `GET /auth/oidc/callback`: back from the platform; opens the session.
pub async fn oidc_callback(
    State(app): State<App>,
    ClientAddr(addr): ClientAddr,
    headers: axum::http::HeaderMap,
    uri: axum::http::Uri,
) -> Response {
    let previous = zt_web::extract::session_token(&headers);
    let query = uri.query().unwrap_or("");
    match zt_app::sso::finish(&app, query, &addr, previous.as_deref()).await {
        Ok((p, token)) => signed_in(&app, &p, &token, ""),
        Err(e) => login_error(&app, &e),
    }
}

/// `POST /auth/oidc/backchannel-logout`: the platform (server to server, no
/// session, no CSRF token) ends sessions; 200 when done, 400 for a bad
/// token (OpenID Connect Back-Channel Logout 1.0 §2.8).
pub async fn oidc_backchannel_logout(
    State(app): State<App>,
    ClientAddr(addr): ClientAddr,
    body: axum::body::Bytes,
) -> Response {
    let no_store = [(header::CACHE_CONTROL, "no-store")];
    match zt_app::sso::backchannel_logout(&app, &body, &addr).await {
        Ok(_) => (axum::http::StatusCode::OK, no_store).into_response(),
        Err(e) if e.kind() == zt_app::error::ErrorKind::BadRequest => (
            axum::http::StatusCode::BAD_REQUEST,
            no_store,
            axum::Json(serde_json::json!({"error": "invalid_request"})),
        )
            .into_response(),
        Err(e) => {
            let status = zt_web::error::status_of(e.kind());
            (status, no_store).into_response()
        }
    }
}

#[derive(Deserialize)]
pub struct CsrfForm {
    csrf_token: String,
}

pub async fn logout(
    State(app): State<App>,
    ClientAddr(addr): ClientAddr,
    PageUser(p): PageUser,
    Form(f): Form<CsrfForm>,
) -> Response {
    if let Some(r) = check_csrf(&p, &f.csrf_token) {
        return r;
    }
    if let Err(e) = zt_app::auth::logout(&app, &p, &addr).await {
        tracing::warn!(error = %e, "logout failed");
    }
    let mut resp = Redirect::to("/").into_response();
    if let Ok(v) = HeaderValue::from_str(&zt_web::api::session::clear_cookie(&app)) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}
