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
    /// The audit administrator's section: a link to the audit page.
    show_audit: bool,
    /// (code, name, region, parent code)
    depts: Vec<(String, String, String, String, String)>,
    items: Vec<ItemSummary>,
    years: Vec<i32>,
    users: Vec<UserView>,
    role_options: Vec<(&'static str, &'static str)>,
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
        show_audit: p.has(Role::Auditor),
        depts: Vec::new(),
        items: Vec::new(),
        years: app.calendar().years().map(|(y, _)| y).collect(),
        users: Vec::new(),
        role_options: Role::ALL
            .iter()
            .filter(|r| **r != Role::Applicant)
            .map(|r| (r.as_str(), r.label_zh()))
            .collect(),
    };
    if sys {
        let depts = zt_app::catalogue::departments(&app)
            .await
            .unwrap_or_default();
        let seals = zt_app::licence::department_seals(&app)
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
                    seals.get(&d.id).cloned().unwrap_or_default(),
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
    let origin = Origin::of(&p, &addr);
    match zt_app::admin::import_calendar(&app, Some(&p), &origin, &f.toml, f.source.trim()).await {
        Ok(_) => Redirect::to("/admin").into_response(),
        Err(e) => app_error(e, "/admin"),
    }
}

#[derive(Deserialize)]
pub struct DeptForm {
    csrf_token: String,
    code: String,
    name: String,
    region_code: String,
    #[serde(default)]
    parent: String,
}

#[derive(Deserialize)]
pub struct SealForm {
    csrf_token: String,
    code: String,
    seal_code: String,
}

/// Sets the seal a department's licences are sealed with.
pub async fn set_department_seal(
    State(app): State<App>,
    ClientAddr(addr): ClientAddr,
    PageUser(p): PageUser,
    Form(f): Form<SealForm>,
) -> Response {
    if let Some(r) = check_csrf(&p, &f.csrf_token) {
        return r;
    }
    match zt_app::licence::set_department_seal(&app, &p, &addr, f.code.trim(), &f.seal_code).await {
        Ok(()) => Redirect::to("/admin").into_response(),
        Err(e) => app_error(e, "/admin"),
    }
}

pub async fn create_department(
    State(app): State<App>,
    ClientAddr(addr): ClientAddr,
    PageUser(p): PageUser,
    Form(f): Form<DeptForm>,
) -> Response {
    if let Some(r) = check_csrf(&p, &f.csrf_token) {
        return r;
    }
    let parent = Some(f.parent.as_str()).filter(|s| !s.is_empty());
    match zt_app::admin::create_department(
        &app,
        Some(&p),
        &Origin::of(&p, &addr),
        f.code.trim(),
        &f.name,
        f.region_code.trim(),
        parent,
    )
    .await
    {
        Ok(_) => Redirect::to("/admin").into_response(),
        Err(e) => app_error(e, "/admin"),
    }
}

pub async fn create_user(
    State(app): State<App>,
    ClientAddr(addr): ClientAddr,
    PageUser(p): PageUser,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    if let Some(r) = check_csrf(&p, &get("csrf_token")) {
        return r;
    }
    let req = zt_app::admin::NewUserRequest {
        username: get("username").trim().to_string(),
        password: get("password"),
        display_name: get("display_name"),
        user_type: get("user_type"),
        roles: pairs
            .iter()
            .filter(|(k, _)| k == "roles")
            .map(|(_, v)| v.clone())
            .collect(),
        dept_code: Some(get("dept_code")).filter(|s| !s.is_empty()),
        must_change_password: true,
        ..Default::default()
    };
    match zt_app::admin::create_user(&app, Some(&p), &Origin::of(&p, &addr), &req).await {
        Ok(_) => Redirect::to("/admin").into_response(),
        Err(e) => app_error(e, "/admin"),
    }
}

#[derive(Deserialize)]
pub struct ResetForm {
    csrf_token: String,
    username: String,
    password: String,
}

pub async fn reset_password(
    State(app): State<App>,
    ClientAddr(addr): ClientAddr,
    PageUser(p): PageUser,
    Form(f): Form<ResetForm>,
) -> Response {
    if let Some(r) = check_csrf(&p, &f.csrf_token) {
        return r;
    }
    match zt_app::admin::reset_password(
        &app,
        Some(&p),
        &Origin::of(&p, &addr),
        f.username.trim(),
        &f.password,
    )
    .await
    {
        Ok(()) => Redirect::to("/admin").into_response(),
        Err(e) => app_error(e, "/admin"),
    }
}

#[derive(Template)]
#[template(path = "admin_item.html")]
struct ItemPage {
    l: Layout,
    item: zt_app::catalogue::ItemDetail,
    versions: Vec<(i64, String)>,
    definition: String,
}

pub async fn item(
    State(app): State<App>,
    PageUser(p): PageUser,
    axum::extract::Path(code): axum::extract::Path<String>,
) -> Response {
    if let Some(r) = require(p.has(Role::Sysadmin)) {
        return r;
    }
    let (row, def) = match zt_app::catalogue::get_item(&app, &code).await {
        Ok(x) => x,
        Err(e) => return app_error(e, "/admin"),
    };
    let versions = match app.read().await {
        Ok(mut c) => zt_store::items::versions(&mut c, row.id)
            .await
            .unwrap_or_default(),
        Err(e) => return app_error(e, "/admin"),
    };
    let definition = serde_json::to_string_pretty(&def).unwrap_or_default();
    render(&ItemPage {
        l: Layout::new("事项管理", Some(&p)),
        item: zt_app::catalogue::detail_of(&row, def),
        versions: versions
            .into_iter()
            .map(|v| (v.version, v.published_at))
            .collect(),
        definition,
    })
}

#[derive(Deserialize)]
pub struct VersionForm {
    csrf_token: String,
    based_on: i64,
    definition: String,
}

pub async fn publish_version(
    State(app): State<App>,
    ClientAddr(addr): ClientAddr,
    PageUser(p): PageUser,
    axum::extract::Path(code): axum::extract::Path<String>,
    Form(f): Form<VersionForm>,
) -> Response {
    if let Some(r) = check_csrf(&p, &f.csrf_token) {
        return r;
    }
    let here = format!("/admin/items/{code}");
    let def = match zt_web::extract::parse_json::<zt_domain::item::ItemDefinition>(
        f.definition.as_bytes(),
    ) {
        Ok(d) => d,
        Err(e) => return app_error(e, &here),
    };
    match zt_app::catalogue::publish_version(
        &app,
        &p,
        &Origin::of(&p, &addr),
        &code,
        f.based_on,
        &def,
    )
    .await
    {
        Ok(_) => Redirect::to(&here).into_response(),
        Err(e) => app_error(e, &here),
    }
}

#[derive(Deserialize)]
pub struct StatusForm {
    csrf_token: String,
    published: bool,
}

pub async fn item_status(
    State(app): State<App>,
    ClientAddr(addr): ClientAddr,
    PageUser(p): PageUser,
    axum::extract::Path(code): axum::extract::Path<String>,
    Form(f): Form<StatusForm>,
) -> Response {
    if let Some(r) = check_csrf(&p, &f.csrf_token) {
        return r;
    }
    let here = format!("/admin/items/{code}");
    match zt_app::catalogue::set_item_status(&app, &p, &Origin::of(&p, &addr), &code, f.published)
        .await
    {
        Ok(()) => Redirect::to(&here).into_response(),
        Err(e) => app_error(e, &here),
    }
}
