//! The staff workbench: the department's queue by urgency, case handling,
//! rectifications.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;
use zt_app::cases::{CaseSummary, ListQuery};
use zt_app::ratings::RectificationView;
use zt_app::App;
use zt_web::extract::ClientAddr;

use crate::layout::{app_error, check_csrf, render, require, Layout, PageUser};
use crate::portal::{act_and_show, case_page_for, ActionForm};

const QUEUE_STATUSES: &str = "submitted,in_review,supplement_requested,suspended,approved,denied";

#[derive(Template)]
#[template(path = "workbench.html")]
struct QueuePage {
    l: Layout,
    statuses: Vec<(&'static str, &'static str)>,
    status: String,
    warning: String,
    q: String,
    total: i64,
    /// (case, warning class)
    cases: Vec<(CaseSummary, String)>,
}

#[derive(Deserialize, Default)]
pub struct QueueQuery {
    status: Option<String>,
    warning: Option<String>,
    q: Option<String>,
}

pub async fn queue(
    State(app): State<App>,
    PageUser(p): PageUser,
    Query(q): Query<QueueQuery>,
) -> Response {
    if let Some(r) = require(p.is_case_staff()) {
        return r;
    }
    let status = q
        .status
        .clone()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| QUEUE_STATUSES.to_string());
    let lq = ListQuery {
        status: Some(status.clone()),
        warning: q.warning.clone().filter(|w| !w.is_empty()),
        q: q.q.clone().filter(|s| !s.is_empty()),
        limit: Some(200),
        ..Default::default()
    };
    match zt_app::cases::list(&app, &p, &lq).await {
        Ok((cases, total)) => render(&QueuePage {
            l: Layout::new("工作台", Some(&p)),
            statuses: vec![
                (QUEUE_STATUSES, "全部在办"),
                ("submitted", "待受理"),
                ("in_review", "审查中"),
                ("supplement_requested", "待补正"),
                ("suspended", "特别程序中"),
                ("approved,denied", "待办结"),
                ("completed", "已办结"),
                ("rejected_at_intake", "不予受理"),
                ("withdrawn", "已撤回"),
            ],
            status,
            warning: q.warning.unwrap_or_default(),
            q: q.q.unwrap_or_default(),
            total,
            cases: cases
                .into_iter()
                .map(|c| {
                    let w = c
                        .warning
                        .map(|w| w.as_str().to_string())
                        .unwrap_or_default();
                    (c, w)
                })
                .collect(),
        }),
        Err(e) => app_error(e, "/workbench"),
    }
}

#[derive(Deserialize)]
pub struct Notice {
    done: Option<String>,
}

pub async fn case_page(
    State(app): State<App>,
    PageUser(p): PageUser,
    Path(no): Path<String>,
    Query(n): Query<Notice>,
) -> Response {
    if let Some(r) = require(p.is_case_staff()) {
        return r;
    }
    match zt_app::cases::detail(&app, &p, &no).await {
        Ok(c) => render(&case_page_for(
            &p,
            c,
            true,
            None,
            n.done.map(|_| "办理成功。".to_string()),
        )),
        Err(e) => app_error(e, &format!("/workbench/cases/{no}")),
    }
}

pub async fn action(
    State(app): State<App>,
    ClientAddr(addr): ClientAddr,
    PageUser(p): PageUser,
    Path(no): Path<String>,
    Form(f): Form<ActionForm>,
) -> Response {
    act_and_show(&app, &addr, &p, &no, f, true).await
}

#[derive(Template)]
#[template(path = "rectifications.html")]
struct RectificationsPage {
    l: Layout,
    items: Vec<RectificationView>,
}

pub async fn rectifications(State(app): State<App>, PageUser(p): PageUser) -> Response {
    match zt_app::ratings::rectifications(&app, &p).await {
        Ok(items) => render(&RectificationsPage {
            l: Layout::new("差评整改", Some(&p)),
            items,
        }),
        Err(e) => app_error(e, "/workbench/rectifications"),
    }
}

#[derive(Deserialize)]
pub struct AnswerForm {
    csrf_token: String,
    response: String,
}

pub async fn answer(
    State(app): State<App>,
    ClientAddr(addr): ClientAddr,
    PageUser(p): PageUser,
    Path(id): Path<i64>,
    Form(f): Form<AnswerForm>,
) -> Response {
    if let Some(r) = check_csrf(&p, &f.csrf_token) {
        return r;
    }
    match zt_app::ratings::answer(&app, &p, &addr, id, &f.response).await {
        Ok(()) => Redirect::to("/workbench/rectifications").into_response(),
        Err(e) => app_error(e, "/workbench/rectifications"),
    }
}

#[derive(serde::Deserialize)]
pub struct CsrfOnly {
    csrf_token: String,
}

/// The case page with the applicant's personal information in full; the
/// view is audited.
pub async fn reveal(
    State(app): State<App>,
    zt_web::extract::ClientAddr(addr): zt_web::extract::ClientAddr,
    PageUser(p): PageUser,
    Path(no): Path<String>,
    axum::Form(f): axum::Form<CsrfOnly>,
) -> Response {
    if let Some(r) = crate::layout::check_csrf(&p, &f.csrf_token) {
        return r;
    }
    let here = format!("/workbench/cases/{no}");
    let full = match zt_app::cases::reveal_form(&app, &p, &addr, &no).await {
        Ok(f) => f,
        Err(e) => return app_error(e, &here),
    };
    match zt_app::cases::detail(&app, &p, &no).await {
        Ok(mut c) => {
            c.form = full;
            c.masked_fields.clear();
            render(&case_page_for(
                &p,
                c,
                true,
                None,
                Some("已显示完整个人信息；本次查看已记录审计日志。".into()),
            ))
        }
        Err(e) => app_error(e, &here),
    }
}
