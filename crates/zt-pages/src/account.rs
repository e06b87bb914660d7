//! One's own account: change the password (also when the platform requires
//! it), see active sessions and end them.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;
use zt_app::auth::{Ending, SessionInfo};
use zt_app::{App, Principal};
use zt_web::extract::ClientAddr;

use crate::layout::{app_error, check_csrf, render, Layout, PageUser};

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    l: Layout,
    username: String,
    /// Why the password must be changed now, if it must.
    required: Option<&'static str>,
    sessions: Vec<SessionInfo>,
}

#[derive(Deserialize)]
pub struct Notice {
    done: Option<String>,
}

fn notice_text(done: Option<&str>) -> Option<String> {
    match done? {
        "session_ended" => Some("该登录会话已退出。".into()),
        _ => None,
    }
}

async fn page(app: &App, p: &Principal, notice: Option<String>) -> Result<AccountPage, Response> {
    // A restricted session sees only the password form.
    let sessions = if p.restriction.is_none() {
        zt_app::auth::sessions_of(app, p)
            .await
            .map_err(|e| app_error(e, "/account"))?
    } else {
        Vec::new()
    };
    Ok(AccountPage {
        l: Layout::new("我的账号", Some(p)).with_notice(notice),
        username: p.username.clone(),
        required: p.restriction.map(|r| r.message()),
        sessions,
    })
}

pub async fn show(
    State(app): State<App>,
    PageUser(p): PageUser,
    Query(n): Query<Notice>,
) -> Response {
    match page(&app, &p, notice_text(n.done.as_deref())).await {
        Ok(pg) => render(&pg),
        Err(r) => r,
    }
}

#[derive(Deserialize)]
pub struct PasswordForm {
    csrf_token: String,
    old_password: String,
    new_password: String,
    new_password_again: String,
}

fn to_login_with(app: &App, notice: &str) -> Response {
    let mut resp = Redirect::to(&format!("/login?done={notice}")).into_response();
    if let Ok(v) = HeaderValue::from_str(&zt_web::api::session::clear_cookie(app)) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}

pub async fn change_password(
    State(app): State<App>,
    ClientAddr(addr): ClientAddr,
    PageUser(p): PageUser,
    Form(f): Form<PasswordForm>,
) -> Response {
    if let Some(r) = check_csrf(&p, &f.csrf_token) {
        return r;
    }
    let result = if f.new_password != f.new_password_again {
        Err(zt_app::AppError::new(
            zt_app::ErrorKind::Unprocessable,
            "PASSWORD_MISMATCH",
            "两次输入的新密码不一致。",
        ))
    } else {
        zt_app::auth::change_password(&app, &p, &f.old_password, &f.new_password, &addr).await
    };
    match result {
        // Every session ends with a password change, this one too.
        Ok(()) => to_login_with(&app, "password_changed"),
        Err(e) => match page(&app, &p, None).await {
            Ok(mut pg) => {
                pg.l = pg.l.with_error(&e);
                (zt_web::error::status_of(e.kind()), render(&pg)).into_response()
            }
            Err(r) => r,
        },
    }
}

#[derive(Deserialize)]
pub struct CsrfForm {
    csrf_token: String,
}

pub async fn end_all(
    State(app): State<App>,
    ClientAddr(addr): ClientAddr,
    PageUser(p): PageUser,
    Form(f): Form<CsrfForm>,
) -> Response {
    if let Some(r) = check_csrf(&p, &f.csrf_token) {
        return r;
    }
    match zt_app::auth::end_sessions(&app, &p, Ending::All, &addr).await {
        Ok(_) => to_login_with(&app, "logged_out_everywhere"),
        Err(e) => app_error(e, "/account"),
    }
}

pub async fn end_one(
    State(app): State<App>,
    ClientAddr(addr): ClientAddr,
    PageUser(p): PageUser,
    Path(handle): Path<String>,
    Form(f): Form<CsrfForm>,
) -> Response {
    if let Some(r) = check_csrf(&p, &f.csrf_token) {
        return r;
    }
    match zt_app::auth::end_sessions(&app, &p, Ending::One(&handle), &addr).await {
        Ok(_) => Redirect::to("/account?done=session_ended").into_response(),
        Err(e) => app_error(e, "/account"),
    }
}
