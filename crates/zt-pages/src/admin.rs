//! The administration area: departments, items and versions, accounts
//! (masked), the holiday calendar. Each section shows only to its role.

use askama::Template;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;
use zt_app::admin::UserView;
use zt_app::catalogue::ItemSummary;
use zt_app::state::Origin;
use zt_app::App;
use zt_domain::role::Role;
use zt_web::extract::ClientAddr;

use crate::layout::{app_error, check_csrf, render, require, Layout, PageUser};

#[derive(Template)]
#[template(path = "admin.html")]
struct AdminPage {
    l: Layout,
    show_catalogue: bool,
    show_users: bool,
    /// (code, name, region, parent code)
    depts: Vec<(String, String, String, String)>,
    items: Vec<ItemSummary>,
    years: Vec<i32>,
    users: Vec<UserView>,
}

pub async fn dashboard(State(app): State<App>, PageUser(p): PageUser) -> Response {
    let sys = p.has(Role::Sysadmin);
    let sec = p.has(Role::Secadmin);
    if let Some(r) = require(sys || sec || p.has(Role::Auditor)) {
        return r;
    }
    let mut page = AdminPage {
        l: Layout::new("管理", Some(&p)),
        show_catalogue: sys,
        show_users: sys || sec,
        depts: Vec::new(),
        items: Vec::new(),
        years: app.calendar().years().map(|(y, _)| y).collect(),
        users: Vec::new(),
    };
    if sys {
        let depts = zt_app::catalogue::departments(&app)
            .await
            .unwrap_or_default();
        page.depts = depts
            .iter()
            .map(|d| {
                let parent = d
                    .parent_id
                    .and_then(|id| depts.iter().find(|x| x.id == id))
                    .map(|x| x.code.clone())
                    .unwrap_or_default();
                (
                    d.code.clone(),
                    d.name.clone(),
                    d.region_code.clone(),
                    parent,
                )
            })
            .collect();
        match zt_app::catalogue::list_items(&app, None, None, true).await {
            Ok(items) => page.items = items,
            Err(e) => return app_error(e, "/admin"),
        }
    }
    if sys || sec {
        match zt_app::admin::list_users(&app, &p, 500, 0).await {
            Ok(u) => page.users = u,
            Err(e) => return app_error(e, "/admin"),
        }
    }
    render(&page)
}

#[derive(Deserialize)]
pub struct CalendarForm {
    csrf_token: String,
    toml: String,
    source: String,
}

pub async fn import_calendar(
    State(app): State<App>,
    ClientAddr(addr): ClientAddr,
    PageUser(p): PageUser,
    Form(f): Form<CalendarForm>,
) -> Response {
    if let Some(r) = check_csrf(&p, &f.csrf_token) {
        return r;
    }
    let origin = Origin {
        actor_id: Some(p.user_id),
        actor_name: p.username.clone(),
        client_addr: addr,
    };
    match zt_app::admin::import_calendar(&app, Some(&p), &origin, &f.toml, f.source.trim()).await {
        Ok(_) => Redirect::to("/admin").into_response(),
        Err(e) => app_error(e, "/admin"),
    }
}
