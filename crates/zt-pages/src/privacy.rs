//! The privacy notice (个人信息保护政策), self-registration, and the
//! applicant's page for their personal information: see it in full, correct
//! it, download it, close the account.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;
use zt_app::privacy::{
    DeletionRequest, PersonalInformation, ProfileCorrection, RegistrationRequest, NOTICE_VERSION,
};
use zt_app::{App, AppError, ErrorKind, Principal};
use zt_web::extract::ClientAddr;

use crate::layout::{app_error, check_csrf, home_of, render, Layout, PageUser};

// ---- the notice -------------------------------------------------------------------

/// One block of the notice's Markdown: a heading, a paragraph or a list.
pub struct Block {
    /// h1 | h2 | h3 | p | ul
    pub kind: &'static str,
    pub text: String,
    pub items: Vec<String>,
}

/// The small part of Markdown the notice uses: `#`-headings, `- ` lists and
/// paragraphs separated by blank lines. Text is plain (escaped by the
/// template): nothing in the file can become markup.
pub fn blocks(md: &str) -> Vec<Block> {
    let mut out: Vec<Block> = Vec::new();
    let mut open = false;
    for line in md.lines().map(str::trim_end) {
        let t = line.trim_start();
        if t.is_empty() {
            open = false;
            continue;
        }
        let heading = [("### ", "h3"), ("## ", "h2"), ("# ", "h1")]
            .into_iter()
            .find_map(|(mark, kind)| t.strip_prefix(mark).map(|rest| (kind, rest)));
        if let Some((kind, rest)) = heading {
            out.push(Block {
                kind,
                text: rest.trim().to_string(),
                items: Vec::new(),
            });
            open = false;
        } else if let Some(item) = t.strip_prefix("- ") {
            match out.last_mut() {
                Some(b) if open && b.kind == "ul" => b.items.push(item.trim().to_string()),
                _ => out.push(Block {
                    kind: "ul",
                    text: String::new(),
                    items: vec![item.trim().to_string()],
                }),
            }
            open = true;
        } else {
            match out.last_mut() {
                Some(b) if open && b.kind == "p" => b.text.push_str(t),
                Some(b) if open && b.kind == "ul" => {
                    // A continuation line of the last item.
                    if let Some(last) = b.items.last_mut() {
                        last.push_str(t);
                    }
                }
                _ => out.push(Block {
                    kind: "p",
                    text: t.to_string(),
                    items: Vec::new(),
                }),
            }
            open = true;
        }
    }
    out
}

#[derive(Template)]
#[template(path = "privacy.html")]
struct NoticePage {
    l: Layout,
    version: &'static str,
    blocks: Vec<Block>,
}

pub async fn notice(user: Option<PageUser>) -> Response {
    let p = user.map(|u| u.0);
    render(&NoticePage {
        l: Layout::new("个人信息保护政策", p.as_ref()),
        version: NOTICE_VERSION,
        blocks: blocks(zt_app::privacy::NOTICE_TEXT),
    })
}

// ---- registration -------------------------------------------------------------------

#[derive(Template)]
#[template(path = "register.html")]
struct RegisterPage {
    l: Layout,
    version: &'static str,
    username: String,
    name: String,
    id_number: String,
    mobile: String,
    consent: bool,
    /// The field the error is about, to show it there too.
    error_field: String,
    error_text: String,
}

fn register_page(f: Option<&RegisterForm>, e: Option<&AppError>) -> RegisterPage {
    let mut l = Layout::new("注册自然人账号", None);
    if let Some(e) = e {
        l = l.with_error(e);
    }
    RegisterPage {
        l,
        version: NOTICE_VERSION,
        username: f.map(|f| f.username.clone()).unwrap_or_default(),
        name: f.map(|f| f.name.clone()).unwrap_or_default(),
        id_number: f.map(|f| f.id_number.clone()).unwrap_or_default(),
        mobile: f.map(|f| f.mobile.clone()).unwrap_or_default(),
        consent: f.is_some_and(|f| f.consent.is_some()),
        error_field: e.and_then(AppError::field).unwrap_or_default(),
        error_text: e.map(AppError::message).unwrap_or_default(),
    }
}

pub async fn register_form(user: Option<PageUser>) -> Response {
    if let Some(PageUser(p)) = user {
        return Redirect::to(home_of(&p)).into_response();
    }
    render(&register_page(None, None))
}

#[derive(Deserialize)]
pub struct RegisterForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    password_again: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    id_number: String,
    #[serde(default)]
    mobile: String,
    /// Present only when the box was ticked.
    consent: Option<String>,
    #[serde(default)]
    notice_version: String,
}

pub async fn register(
    State(app): State<App>,
    ClientAddr(addr): ClientAddr,
    Form(f): Form<RegisterForm>,
) -> Response {
    let result = if f.password != f.password_again {
        Err(AppError::new(
            ErrorKind::Unprocessable,
            "PASSWORD_MISMATCH",
            "两次输入的密码不一致。",
        )
        .with_field("password_again"))
    } else {
        let req = RegistrationRequest {
            username: f.username.trim().to_string(),
            password: f.password.clone(),
            name: f.name.clone(),
            id_number: f.id_number.clone(),
            mobile: f.mobile.clone(),
            consent: f.consent.is_some(),
            notice_version: Some(f.notice_version.clone()),
        };
        zt_app::privacy::register(&app, &req, &addr).await
    };
    match result {
        Ok(_) => Redirect::to("/login?done=registered").into_response(),
        Err(e) => (
            zt_web::error::status_of(e.kind()),
            render(&register_page(Some(&f), Some(&e))),
        )
            .into_response(),
    }
}

// ---- the applicant's own page ---------------------------------------------------------

#[derive(Template)]
#[template(path = "account_privacy.html")]
struct AccountPrivacyPage {
    l: Layout,
    info: PersonalInformation,
    version: &'static str,
    retention_days: i64,
    error_field: String,
    error_text: String,
    /// The correction form's values (as typed, after an error).
    display_name: String,
    mobile: String,
    id_number: String,
}

#[derive(Deserialize)]
pub struct Notice {
    done: Option<String>,
}

fn notice_text(done: Option<&str>) -> Option<String> {
    match done? {
        "corrected" => Some("个人信息已更正。".into()),
        "unchanged" => Some("您没有修改任何信息。".into()),
        _ => None,
    }
}

async fn account_page(
    app: &App,
    p: &Principal,
    notice: Option<String>,
    e: Option<&AppError>,
    typed: Option<&CorrectionForm>,
) -> Result<AccountPrivacyPage, Response> {
    let info = zt_app::privacy::personal_information(app, p)
        .await
        .map_err(|e| app_error(e, "/account/privacy"))?;
    let mut l = Layout::new("个人信息与隐私", Some(p)).with_notice(notice);
    if let Some(e) = e {
        l = l.with_error(e);
    }
    Ok(AccountPrivacyPage {
        l,
        version: NOTICE_VERSION,
        retention_days: app.settings.pi_retention.num_days(),
        error_field: e.and_then(AppError::field).unwrap_or_default(),
        error_text: e.map(AppError::message).unwrap_or_default(),
        display_name: typed
            .map(|t| t.display_name.clone())
            .unwrap_or_else(|| info.display_name.clone()),
        mobile: typed
            .map(|t| t.mobile.clone())
            .unwrap_or_else(|| info.mobile.clone().unwrap_or_default()),
        id_number: typed
            .and_then(|t| t.id_number.clone())
            .unwrap_or_else(|| info.id_number.clone().unwrap_or_default()),
        info,
    })
}

pub async fn show(
    State(app): State<App>,
    PageUser(p): PageUser,
    Query(n): Query<Notice>,
) -> Response {
    match account_page(&app, &p, notice_text(n.done.as_deref()), None, None).await {
        Ok(pg) => render(&pg),
        Err(r) => r,
    }
}

async fn page_with_error(
    app: &App,
    p: &Principal,
    e: AppError,
    typed: Option<&CorrectionForm>,
) -> Response {
    if matches!(e.kind(), ErrorKind::Unauthenticated) {
        return app_error(e, "/account/privacy");
    }
    match account_page(app, p, None, Some(&e), typed).await {
        Ok(pg) => (zt_web::error::status_of(e.kind()), render(&pg)).into_response(),
        Err(r) => r,
    }
}

#[derive(Deserialize)]
pub struct CorrectionForm {
    csrf_token: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    mobile: String,
    /// Only on the form while the identity number may be corrected.
    id_number: Option<String>,
}

pub async fn correct(
    State(app): State<App>,
    ClientAddr(addr): ClientAddr,
    PageUser(p): PageUser,
    Form(f): Form<CorrectionForm>,
) -> Response {
    if let Some(r) = check_csrf(&p, &f.csrf_token) {
        return r;
    }
    let before = zt_app::privacy::personal_information(&app, &p).await;
    let req = ProfileCorrection {
        display_name: Some(f.display_name.clone()),
        mobile: Some(f.mobile.clone()),
        id_number: f.id_number.clone(),
    };
    match zt_app::privacy::correct_profile(&app, &p, &addr, &req).await {
        Ok(after) => {
            let same = before.is_ok_and(|b| {
                b.display_name == after.display_name
                    && b.mobile == after.mobile
                    && b.id_number == after.id_number
            });
            let done = if same { "unchanged" } else { "corrected" };
            Redirect::to(&format!("/account/privacy?done={done}")).into_response()
        }
        Err(e) => page_with_error(&app, &p, e, Some(&f)).await,
    }
}

#[derive(Deserialize)]
pub struct CsrfForm {
    csrf_token: String,
}

pub async fn export(
    State(app): State<App>,
    ClientAddr(addr): ClientAddr,
    PageUser(p): PageUser,
    Form(f): Form<CsrfForm>,
) -> Response {
    if let Some(r) = check_csrf(&p, &f.csrf_token) {
        return r;
    }
    let file = match zt_app::privacy::export(&app, &p, &addr).await {
        Ok(doc) => zt_web::api::me::export_response(&doc, &p.username),
        Err(e) => return page_with_error(&app, &p, e, None).await,
    };
    match file {
        Ok(f) => f.into_response(),
        Err(e) => page_with_error(&app, &p, e.0, None).await,
    }
}

#[derive(Deserialize)]
pub struct DeletionForm {
    csrf_token: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    reason: String,
}

pub async fn delete(
    State(app): State<App>,
    ClientAddr(addr): ClientAddr,
    PageUser(p): PageUser,
    Form(f): Form<DeletionForm>,
) -> Response {
    if let Some(r) = check_csrf(&p, &f.csrf_token) {
        return r;
    }
    let req = DeletionRequest {
        password: f.password,
        reason: Some(f.reason),
    };
    match zt_app::privacy::close_account(&app, &p, &addr, &req).await {
        Ok(_) => {
            let mut resp = Redirect::to("/login?done=account_closed").into_response();
            if let Ok(v) = HeaderValue::from_str(&zt_web::api::session::clear_cookie(&app)) {
                resp.headers_mut().insert(header::SET_COOKIE, v);
            }
            resp
        }
        Err(e) => page_with_error(&app, &p, e, None).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_notice_renders_as_blocks() {
        let b = blocks("# 标题\n\n版本：v1\n\n## 一、收集\n\n- 甲\n- 乙\n  续\n\n段落一\n接续\n\n<script>x</script>\n");
        let kinds: Vec<_> = b.iter().map(|b| b.kind).collect();
        assert_eq!(kinds, vec!["h1", "p", "h2", "ul", "p", "p"]);
        assert_eq!(b[3].items, vec!["甲", "乙续"]);
        assert_eq!(b[4].text, "段落一接续");
        // Text stays text: the template escapes it.
        assert_eq!(b[5].text, "<script>x</script>");
        let real = blocks(zt_app::privacy::NOTICE_TEXT);
        assert!(real.iter().filter(|b| b.kind == "h2").count() >= 9);
        assert!(real.iter().any(|b| b
            .items
            .iter()
            .any(|i| i.contains("账号注销后个人信息在保存期满后匿名化"))));
    }
}
