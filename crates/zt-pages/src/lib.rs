//! Server-rendered pages in Chinese: the portal (办事大厅), the staff
//! workbench and the administration area, with the static assets the binary
//! serves itself. Pages call the same use cases as the REST API.

mod account;
mod admin;
mod assets;
mod audit;
mod integrations;
mod layout;
mod migration;
mod portal;
mod privacy;
mod recovery;
mod second_factor;
mod session;
mod verify;
mod workbench;

use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use zt_app::App;

pub fn routes() -> Router<App> {
    Router::new()
        .route("/", get(portal::home))
        .route("/items", get(portal::items))
        .route("/items/{code}", get(portal::item))
        .route(
            "/items/{code}/apply",
            get(portal::apply_form).post(portal::apply),
        )
        .route("/my/cases", get(portal::my_cases))
        .route("/my/cases/{case_no}", get(portal::case_page))
        .route(
            "/my/cases/{case_no}/materials",
            post(portal::upload).layer(axum::extract::DefaultBodyLimit::max(
                zt_web::api::UPLOAD_BODY_LIMIT,
            )),
        )
        .route("/my/cases/{case_no}/action", post(portal::action))
        .route("/my/cases/{case_no}/rating", post(portal::rate))
        .route("/my/messages", get(portal::messages))
        .route("/my/messages/read", post(portal::messages_read))
        .route("/cases/{case_no}/materials/{id}", get(portal::download))
        .route("/cases/{case_no}/licence.pdf", get(verify::download))
        .route("/verify", get(verify::lookup))
        .route(
            "/verify/{licence_no}",
            get(verify::show)
                .post(verify::upload)
                .layer(axum::extract::DefaultBodyLimit::max(
                    zt_web::api::UPLOAD_BODY_LIMIT,
                )),
        )
        .route(
            "/cases/{case_no}/materials/{id}/preview",
            get(portal::preview),
        )
        .route("/login", get(session::login_form).post(session::login))
        .route("/logout", post(session::logout))
        .route("/auth/oidc/login", get(session::oidc_login))
        .route("/auth/oidc/callback", get(session::oidc_callback))
        .route(
            "/auth/oidc/backchannel-logout",
            post(session::oidc_backchannel_logout),
        )
        .route("/auth/cas/login", get(session::cas_login))
        .route(
            "/auth/cas/callback",
            get(session::cas_callback).post(session::cas_single_logout),
        )
        .route(
            "/login/second-factor",
            get(second_factor::code_form).post(second_factor::code_submit),
        )
        .route(
            "/account/second-factor",
            get(second_factor::setup).post(second_factor::start),
        )
        .route(
            "/account/second-factor/confirm",
            post(second_factor::confirm),
        )
        .route("/account/second-factor/remove", post(second_factor::remove))
        .route("/account", get(account::show))
        .route("/privacy", get(privacy::notice))
        .route(
            "/register",
            get(privacy::register_form).post(privacy::register),
        )
        .route("/recover", get(recovery::form).post(recovery::start))
        .route("/recover/confirm", post(recovery::confirm))
        .route("/account/privacy", get(privacy::show))
        .route("/account/privacy/profile", post(privacy::correct))
        .route("/account/privacy/export", post(privacy::export))
        .route("/account/privacy/deletion", post(privacy::delete))
        .route(
            "/account/password",
            get(account::show).post(account::change_password),
        )
        .route("/account/sessions/end-all", post(account::end_all))
        .route("/account/sessions/{handle}/end", post(account::end_one))
        .route("/workbench", get(workbench::queue))
        .route("/workbench/cases/{case_no}", get(workbench::case_page))
        .route("/workbench/cases/{case_no}/action", post(workbench::action))
        .route(
            "/workbench/cases/{case_no}/personal-information",
            post(workbench::reveal),
        )
        .route("/workbench/rectifications", get(workbench::rectifications))
        .route(
            "/workbench/rectifications/{id}/answer",
            post(workbench::answer),
        )
        .route("/admin", get(admin::dashboard))
        .route("/admin/audit", get(audit::show))
        .route("/admin/integrations", get(integrations::show))
        .route("/admin/migration-v1", get(migration::show))
        .route("/admin/audit/export", get(audit::export))
        .route("/admin/calendar", post(admin::import_calendar))
        .route("/admin/departments", post(admin::create_department))
        .route("/admin/departments/seal", post(admin::set_department_seal))
        .route("/admin/users", post(admin::create_user))
        .route("/admin/users/password", post(admin::reset_password))
        .route("/admin/items/{code}", get(admin::item))
        .route("/admin/items/{code}/versions", post(admin::publish_version))
        .route("/admin/items/{code}/status", post(admin::item_status))
        .route("/static/app.css", get(assets::css))
        .route("/static/app.js", get(assets::js))
        .fallback(fallback)
}

/// A refusal as the error page (for middleware that runs before any page
/// handler, such as the administration network guard of `zt-web`).
pub fn refusal_page(e: zt_app::AppError) -> Response {
    layout::app_error(e, "/")
}

async fn fallback(uri: Uri) -> Response {
    if uri.path().starts_with("/api/") {
        zt_web::api::not_found().await.into_response()
    } else {
        layout::error_page(
            StatusCode::NOT_FOUND,
            "页面不存在",
            "您访问的页面不存在或已被移除。",
        )
    }
}
