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
    /// "统一身份认证登录": the login route of the configured protocol
    /// (`/auth/oidc/login` or `/auth/cas/login`), none when not configured.
    sso_login: Option<&'static str>,
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
    /// Filled in after 找回账号, which tells the person their username.
    username: Option<String>,
}

fn notice_text(done: Option<&str>) -> Option<String> {
    match done? {
        "password_changed" => Some("密码已修改，请使用新密码重新登录。".into()),
        "logged_out_everywhere" => Some("已退出全部设备，请重新登录。".into()),
        "registered" => Some("注册成功，请使用新账号登录。".into()),
        "recovered" => Some("新密码已设置，请登录。".into()),
        "account_closed" => Some(
            "账号已注销，所有设备已退出登录。办件档案依法保存，个人信息将在保存期满后匿名化。"
                .into(),
        ),
        _ => None,
    }
}

/// Where "统一身份认证登录" leads: the protocol configured
/// (`identity_protocol`), none without a platform.
fn sso_login_route(app: &App) -> Option<&'static str> {
    if app.cas.is_some() {
        Some("/auth/cas/login")
    } else if app.oidc.is_some() {
        Some("/auth/oidc/login")
    } else {
        None
    }
}

fn page(app: &App, next: &str, username: &str) -> LoginPage {
    LoginPage {
        l: Layout::new("登录", None),
        next: next.to_string(),
        username: username.to_string(),
        demo: app.settings.demo,
        sso_login: sso_login_route(app),
        demo_accounts: DEMO_ACCOUNTS.to_vec(),
    }
}

pub async fn login_form(State(app): State<App>, Query(q): Query<NextQuery>) -> Response {
    let username: String = q
        .username
        .as_deref()
        .unwrap_or("")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        .take(64)
        .collect();
    let mut pg = page(&app, q.next.as_deref().unwrap_or(""), &username);
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

/// A refused login through the platform: the login page with the reason.
/// `zt_app::sso` audited the refusal already (as a failed login), so a 403
/// is not recorded a second time as `permission_denied`.
fn sso_refused(app: &App, e: &zt_app::AppError) -> Response {
    let mut resp = login_error(app, e);
    resp.extensions_mut().insert(zt_web::denials::DenialAudited);
    resp
}

/// The cookie that ties a login through the platform to the browser that
/// began it (login CSRF): set by `/auth/*/login`, required and cleared by
/// the callback.
const SSO_BROWSER_COOKIE: &str = "zt_sso_browser";

/// The binding cookie (`max_age` 0: cleared).
fn sso_browser_cookie(app: &App, value: &str, max_age: i64) -> String {
    let secure = if app.settings.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    format!(
        "{SSO_BROWSER_COOKIE}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"
    )
}

fn sso_browser_of(headers: &axum::http::HeaderMap) -> Option<String> {
    axum_extra::extract::CookieJar::from_headers(headers)
        .get(SSO_BROWSER_COOKIE)
        .map(|c| c.value().to_string())
}

fn add_cookie(resp: &mut Response, cookie: &str) {
    if let Ok(v) = HeaderValue::from_str(cookie) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// To the platform's login, with the browser's binding cookie.
fn to_platform(app: &App, begun: &zt_app::sso::Begun) -> Response {
    let mut resp = Redirect::to(&begun.url).into_response();
    let max_age = zt_app::sso::BROWSER_COOKIE_MAX_AGE_SECS;
    add_cookie(&mut resp, &sso_browser_cookie(app, &begun.browser, max_age));
    resp
}

/// The answer of a callback: signed in, or the login page with the reason.
/// The binding cookie is cleared once it has been used (kept when the
/// callback was for no login of this browser's).
fn callback_answer(
    app: &App,
    r: Result<(zt_app::Principal, String), zt_app::AppError>,
) -> Response {
    let (mut resp, used) = match r {
        Ok((p, token)) => (signed_in(app, &p, &token, ""), true),
        Err(e) => (
            sso_refused(app, &e),
            !zt_app::sso::leaves_login_in_flight(&e),
        ),
    };
    if used {
        add_cookie(&mut resp, &sso_browser_cookie(app, "", 0));
    }
    resp
}

/// `GET /auth/oidc/login`: to the unified identity platform.
pub async fn oidc_login(State(app): State<App>) -> Response {
    match zt_app::sso::begin(&app).await {
        Ok(begun) => to_platform(&app, &begun),
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
    let browser = sso_browser_of(&headers);
    let query = uri.query().unwrap_or("");
    let r = zt_app::sso::finish(&app, query, browser.as_deref(), &addr, previous.as_deref()).await;
    callback_answer(&app, r)
}

/// `GET /auth/cas/login`: to the identity platform's CAS login.
pub async fn cas_login(State(app): State<App>) -> Response {
    match zt_app::sso::cas::begin(&app).await {
        Ok(begun) => to_platform(&app, &begun),
        Err(e) => login_error(&app, &e),
    }
}

/// `GET /auth/cas/callback?ticket=ST-…`: back from the CAS login; opens the
/// session.
pub async fn cas_callback(
    State(app): State<App>,
    ClientAddr(addr): ClientAddr,
    headers: axum::http::HeaderMap,
    uri: axum::http::Uri,
) -> Response {
    let previous = zt_web::extract::session_token(&headers);
    let browser = sso_browser_of(&headers);
    let query = uri.query().unwrap_or("");
    let r =
        zt_app::sso::cas::finish(&app, query, browser.as_deref(), &addr, previous.as_deref()).await;
    callback_answer(&app, r)
}

/// `POST /auth/cas/callback` (`logoutRequest=…`): the CAS server's single
/// logout (server to server, no session, no CSRF token). 200 when handled
/// (also when no session was left to end), 400 for a body that is no
/// logout request.
pub async fn cas_single_logout(
    State(app): State<App>,
    ClientAddr(addr): ClientAddr,
    body: axum::body::Bytes,
) -> Response {
    let no_store = [(header::CACHE_CONTROL, "no-store")];
    match zt_app::sso::cas::single_logout(&app, &body, &addr).await {
        Ok(_) => (axum::http::StatusCode::OK, no_store).into_response(),
        Err(e) => (zt_web::error::status_of(e.kind()), no_store).into_response(),
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
    // A session opened through the identity platform is ended there too
    // (RP-initiated logout): the browser goes on to the platform, which
    // sends it back to our home page.
    let to = match zt_app::sso::logout(&app, &p, &addr).await {
        Ok(to) => to,
        Err(e) => {
            tracing::warn!(error = %e, "logout failed");
            None
        }
    };
    let mut resp = Redirect::to(to.as_deref().unwrap_or("/")).into_response();
    if let Ok(v) = HeaderValue::from_str(&zt_web::api::session::clear_cookie(&app)) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}
