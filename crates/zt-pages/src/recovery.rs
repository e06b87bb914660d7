//! `/recover` (找回原平台账号): for citizens whose account came from V1.0
//! and has no usable password. Step one names the account (name, identity
//! number, mobile number as V1 held them) and sends a code; step two sets a
//! new password with it. The rules live in `zt_app::recovery`.

use askama::Template;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;
use zt_app::recovery::{RecoveryConfirmation, RecoveryRequest};
use zt_app::{App, AppError, ErrorKind};
use zt_web::extract::ClientAddr;

use crate::layout::{home_of, render, Layout, PageUser};

#[derive(Template)]
#[template(path = "recover.html")]
struct Page {
    l: Layout,
    /// Step two once a code may have been sent.
    ticket: String,
    message: String,
    real_name: String,
    id_number: String,
    mobile: String,
    error_field: String,
    error_text: String,
}

fn page(f: Option<&StartForm>, ticket: &str, message: &str, e: Option<&AppError>) -> Page {
    let mut l = Layout::new("找回原平台账号", None);
    if let Some(e) = e {
        l = l.with_error(e);
    }
    Page {
        l,
        ticket: ticket.into(),
        message: message.into(),
        real_name: f.map(|f| f.real_name.clone()).unwrap_or_default(),
        id_number: f.map(|f| f.id_number.clone()).unwrap_or_default(),
        mobile: f.map(|f| f.mobile.clone()).unwrap_or_default(),
        error_field: e.and_then(AppError::field).unwrap_or_default(),
        error_text: e.map(AppError::message).unwrap_or_default(),
    }
}

pub async fn form(user: Option<PageUser>) -> Response {
    if let Some(PageUser(p)) = user {
        return Redirect::to(home_of(&p)).into_response();
    }
    render(&page(None, "", "", None))
}

#[derive(Deserialize)]
pub struct StartForm {
    #[serde(default)]
    real_name: String,
    #[serde(default)]
    id_number: String,
    #[serde(default)]
    mobile: String,
}

pub async fn start(
    State(app): State<App>,
    ClientAddr(addr): ClientAddr,
    Form(f): Form<StartForm>,
) -> Response {
    let req = RecoveryRequest {
        real_name: f.real_name.clone(),
        id_number: f.id_number.clone(),
        mobile: f.mobile.clone(),
    };
    match zt_app::recovery::request(&app, &req, &addr).await {
        Ok(s) => render(&page(Some(&f), &s.ticket, &s.message, None)),
        Err(e) => (
            zt_web::error::status_of(e.kind()),
            render(&page(Some(&f), "", "", Some(&e))),
        )
            .into_response(),
    }
}

#[derive(Deserialize)]
pub struct ConfirmForm {
    #[serde(default)]
    ticket: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    new_password_again: String,
}

pub async fn confirm(
    State(app): State<App>,
    ClientAddr(addr): ClientAddr,
    Form(f): Form<ConfirmForm>,
) -> Response {
    let result = if f.new_password != f.new_password_again {
        Err(AppError::new(
            ErrorKind::Unprocessable,
            "PASSWORD_MISMATCH",
            "两次输入的密码不一致。",
        )
        .with_field("new_password_again"))
    } else {
        zt_app::recovery::confirm(
            &app,
            &RecoveryConfirmation {
                ticket: f.ticket.clone(),
                code: f.code.clone(),
                new_password: f.new_password.clone(),
            },
            &addr,
        )
        .await
    };
    match result {
        Ok(r) => Redirect::to(&format!(
            "/login?done=recovered&username={}",
            urlencode(&r.username)
        ))
        .into_response(),
        Err(e) => (
            zt_web::error::status_of(e.kind()),
            render(&page(
                None,
                &f.ticket,
                "请输入短信验证码并设置新密码。",
                Some(&e),
            )),
        )
            .into_response(),
    }
}

/// Usernames are `[A-Za-z0-9._-]` (V1 names that were not are renamed), so
/// only an unexpected character needs escaping.
fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'-' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
