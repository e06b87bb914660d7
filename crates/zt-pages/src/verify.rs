//! The public verification of electronic licences (电子证照核验): by number
//! (the QR code on every licence points here), and of an uploaded file.

use askama::Template;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use zt_app::licence::{PublicLicence, UploadCheck};
use zt_app::{App, AppError, ErrorKind};
use zt_web::extract::ClientAddr;

use crate::layout::{app_error, render, Layout, PageUser};

#[derive(Template)]
#[template(path = "verify.html")]
struct VerifyPage {
    l: Layout,
    licence_no: String,
    lic: Option<PublicLicence>,
    upload: Option<UploadCheck>,
}

#[derive(Deserialize)]
pub struct Lookup {
    licence_no: Option<String>,
}

fn page(
    user: Option<&zt_app::Principal>,
    no: &str,
    lic: Option<PublicLicence>,
    upload: Option<UploadCheck>,
) -> VerifyPage {
    VerifyPage {
        l: Layout::new("电子证照核验", user),
        licence_no: no.to_string(),
        lic,
        upload,
    }
}

/// `/verify` and `/verify?licence_no=…` (the form on the page).
pub async fn lookup(user: Option<PageUser>, Query(q): Query<Lookup>) -> Response {
    let no = q.licence_no.unwrap_or_default();
    let no = no.trim().to_ascii_uppercase();
    if no.is_empty() {
        return render(&page(user.as_ref().map(|u| &u.0), "", None, None));
    }
    Redirect::to(&format!("/verify/{}", urlencoding_path(&no))).into_response()
}

/// Keeps a typed number in the path without letting it become another path.
fn urlencoding_path(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(32)
        .collect()
}

pub async fn show(
    State(app): State<App>,
    user: Option<PageUser>,
    Path(no): Path<String>,
) -> Response {
    let p = user.map(|u| u.0);
    match zt_app::licence::public_view(&app, &no).await {
        Ok(v) => render(&page(p.as_ref(), &no, Some(v), None)),
        Err(e) => error(p.as_ref(), &no, e),
    }
}

fn error(p: Option<&zt_app::Principal>, no: &str, e: AppError) -> Response {
    if e.kind() == ErrorKind::Internal {
        return app_error(e, "/verify");
    }
    let status = zt_web::error::status_of(e.kind());
    let mut pg = page(p, no, None, None);
    pg.l = pg.l.with_error(&e);
    (status, render(&pg)).into_response()
}

pub async fn upload(
    State(app): State<App>,
    ClientAddr(addr): ClientAddr,
    user: Option<PageUser>,
    Path(no): Path<String>,
    mut mp: Multipart,
) -> Response {
    let p = user.map(|u| u.0);
    let mut file = None;
    loop {
        match mp.next_field().await {
            Ok(Some(field)) if field.name() == Some("file") => match field.bytes().await {
                Ok(b) => file = Some(b),
                Err(_) => {
                    let e = AppError::new(
                        ErrorKind::TooLarge,
                        "VERIFY_FILE_TOO_LARGE",
                        "文件过大，无法核验。",
                    );
                    return error(p.as_ref(), &no, e);
                }
            },
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(_) => {
                let e = AppError::new(
                    ErrorKind::BadRequest,
                    "VERIFY_FILE_MISSING",
                    "文件未能完整上传，请重新选择文件后再试。",
                );
                return error(p.as_ref(), &no, e);
            }
        }
    }
    let data = file.unwrap_or_default();
    let checked = zt_app::licence::check_upload(&app, &no, &data, &addr).await;
    let view = zt_app::licence::public_view(&app, &no).await;
    match (checked, view) {
        (Ok(u), Ok(v)) => render(&page(p.as_ref(), &no, Some(v), Some(u))),
        (Err(e), _) | (_, Err(e)) => error(p.as_ref(), &no, e),
    }
}

/// The sealed licence of a case, for its holder and the serving staff.
pub async fn download(
    State(app): State<App>,
    ClientAddr(addr): ClientAddr,
    PageUser(p): PageUser,
    Path(no): Path<String>,
) -> Response {
    match zt_app::licence::download(&app, &p, &addr, &no).await {
        Ok((name, data)) => zt_web::api::licences::pdf_response(&name, data),
        Err(e) if e.code() == "LICENCE_PENDING_SEAL" => {
            crate::layout::error_page(StatusCode::CONFLICT, "证照正在签章", &e.message())
        }
        Err(e) => app_error(e, &format!("/my/cases/{no}")),
    }
}
