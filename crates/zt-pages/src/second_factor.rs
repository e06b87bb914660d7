//! Pages of the second factor: the code after the password, and enrolment of
//! an authenticator app with its QR code.

use askama::Template;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;
use zt_app::second_factor::{Enrolment, Status};
use zt_app::{App, AppError, Principal};
use zt_web::extract::ClientAddr;

use crate::layout::{app_error, check_csrf, home_of, render, Layout, PageUser};

#[derive(Template)]
#[template(path = "login_second_factor.html")]
struct CodePage {
    l: Layout,
}

pub async fn code_form(PageUser(p): PageUser) -> Response {
    render(&CodePage {
        l: Layout::new("双因素认证", Some(&p)),
    })
}

#[derive(Deserialize)]
pub struct CodeForm {
    csrf_token: String,
    code: String,
}

pub async fn code_submit(
    State(app): State<App>,
    ClientAddr(addr): ClientAddr,
    PageUser(p): PageUser,
    Form(f): Form<CodeForm>,
) -> Response {
    if let Some(r) = check_csrf(&p, &f.csrf_token) {
        return r;
    }
    match zt_app::second_factor::verify(&app, &p, &f.code, &addr).await {
        Ok(()) => Redirect::to(home_of(&p)).into_response(),
        Err(e) if e.kind() == zt_app::ErrorKind::Unauthenticated => {
            Redirect::to("/login").into_response()
        }
        Err(e) => {
            let l = Layout::new("双因素认证", Some(&p)).with_error(&e);
            (zt_web::error::status_of(e.kind()), render(&CodePage { l })).into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "second_factor.html")]
struct SetupPage {
    l: Layout,
    status: Status,
    enrolment: Option<Enrolment>,
    recovery_codes: Vec<String>,
}

async fn setup_page(
    app: &App,
    p: &Principal,
    enrolment: Option<Enrolment>,
    recovery_codes: Vec<String>,
    error: Option<&AppError>,
) -> Response {
    let status = match zt_app::second_factor::status(app, p).await {
        Ok(s) => s,
        Err(e) => return app_error(e, "/account/second-factor"),
    };
    let mut l = Layout::new("双因素认证", Some(p));
    if let Some(e) = error {
        l = l.with_error(e);
    }
    let status_code = error.map_or(axum::http::StatusCode::OK, |e| {
        zt_web::error::status_of(e.kind())
    });
    (
        status_code,
        render(&SetupPage {
            l,
            status,
            enrolment,
            recovery_codes,
        }),
    )
        .into_response()
}

pub async fn setup(State(app): State<App>, PageUser(p): PageUser) -> Response {
    setup_page(&app, &p, None, Vec::new(), None).await
}

#[derive(Deserialize)]
pub struct CsrfForm {
    csrf_token: String,
}

pub async fn start(
    State(app): State<App>,
    PageUser(p): PageUser,
    Form(f): Form<CsrfForm>,
) -> Response {
    if let Some(r) = check_csrf(&p, &f.csrf_token) {
        return r;
    }
    match zt_app::second_factor::start_enrolment(&app, &p).await {
        Ok(e) => setup_page(&app, &p, Some(e), Vec::new(), None).await,
        Err(e) => setup_page(&app, &p, None, Vec::new(), Some(&e)).await,
    }
}

pub async fn confirm(
    State(app): State<App>,
    ClientAddr(addr): ClientAddr,
    PageUser(p): PageUser,
    Form(f): Form<CodeForm>,
) -> Response {
    if let Some(r) = check_csrf(&p, &f.csrf_token) {
        return r;
    }
    match zt_app::second_factor::confirm_enrolment(&app, &p, &f.code, &addr).await {
        Ok(codes) => setup_page(&app, &p, None, codes, None).await,
        Err(e) => setup_page(&app, &p, None, Vec::new(), Some(&e)).await,
    }
}

pub async fn remove(
    State(app): State<App>,
    ClientAddr(addr): ClientAddr,
    PageUser(p): PageUser,
    Form(f): Form<CodeForm>,
) -> Response {
    if let Some(r) = check_csrf(&p, &f.csrf_token) {
        return r;
    }
    match zt_app::second_factor::remove(&app, &p, &f.code, &addr).await {
        Ok(()) => Redirect::to("/account/second-factor").into_response(),
        Err(e) => setup_page(&app, &p, None, Vec::new(), Some(&e)).await,
    }
}
