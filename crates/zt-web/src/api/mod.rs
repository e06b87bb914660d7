//! The REST API under `/api/v1`. Handlers only translate HTTP to use cases.

pub mod admin;
pub mod audit;
pub mod cases;
pub mod health;
pub mod items;
pub mod licences;
pub mod me;
pub mod second_factor;
pub mod session;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use zt_app::App;

/// Multipart uploads: the largest material limit plus room for the form.
pub const UPLOAD_BODY_LIMIT: usize = 64 * 1024 * 1024;

pub fn routes() -> Router<App> {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .route("/api/openapi.json", get(crate::openapi::document))
        .route(
            "/api/v1/session",
            post(session::login)
                .delete(session::logout)
                .get(session::me),
        )
        .route("/api/v1/session/password", post(session::change_password))
        .route("/api/v1/session/second-factor", post(second_factor::verify))
        .route("/api/v1/me/second-factor", get(second_factor::status))
        .route(
            "/api/v1/me/second-factor/enrolment",
            post(second_factor::start),
        )
        .route(
            "/api/v1/me/second-factor/enrolment/confirm",
            post(second_factor::confirm),
        )
        .route(
            "/api/v1/me/second-factor/removal",
            post(second_factor::remove),
        )
        .route(
            "/api/v1/admin/users/{username}/second-factor/reset",
            post(second_factor::reset),
        )
        .route(
            "/api/v1/sessions",
            get(session::list_sessions).delete(session::end_all_sessions),
        )
        .route(
            "/api/v1/sessions/{handle}",
            axum::routing::delete(session::end_session),
        )
        .route("/api/v1/privacy-notice", get(me::notice))
        .route("/api/v1/registrations", post(me::register))
        .route("/api/v1/account-recovery", post(me::recovery_request))
        .route(
            "/api/v1/account-recovery/confirm",
            post(me::recovery_confirm),
        )
        .route(
            "/api/v1/me/personal-information",
            get(me::personal_information),
        )
        .route(
            "/api/v1/me/profile",
            axum::routing::put(me::correct_profile),
        )
        .route("/api/v1/me/export", get(me::export))
        .route("/api/v1/me/deletion", post(me::request_deletion))
        .route("/api/v1/items", get(items::list))
        .route("/api/v1/items/{code}", get(items::get))
        .route("/api/v1/departments", get(items::departments))
        .route("/api/v1/calendar/due", get(items::due))
        .route("/api/v1/cases", post(cases::create).get(cases::list))
        .route("/api/v1/cases/{case_no}", get(cases::get))
        .route(
            "/api/v1/cases/{case_no}/form",
            axum::routing::put(cases::update_form),
        )
        .route(
            "/api/v1/cases/{case_no}/materials",
            post(cases::upload).layer(DefaultBodyLimit::max(UPLOAD_BODY_LIMIT)),
        )
        .route(
            "/api/v1/cases/{case_no}/materials/{id}",
            get(cases::download),
        )
        .route("/api/v1/cases/{case_no}/submit", post(cases::submit))
        .route(
            "/api/v1/cases/{case_no}/personal-information",
            post(cases::reveal),
        )
        .route("/api/v1/cases/{case_no}/signatures", get(cases::signatures))
        .route("/api/v1/cases/{case_no}/licence", get(licences::of_case))
        .route(
            "/api/v1/cases/{case_no}/licence/document",
            get(licences::document),
        )
        .route(
            "/api/v1/licences/{licence_no}/verification",
            get(licences::verification)
                .post(licences::check_file)
                .layer(DefaultBodyLimit::max(UPLOAD_BODY_LIMIT)),
        )
        .route(
            "/api/v1/admin/departments/{code}/seal",
            axum::routing::put(licences::set_seal),
        )
        .route("/api/v1/signing-key", get(cases::signing_key))
        .route("/api/v1/cases/{case_no}/actions", post(cases::action))
        .route("/api/v1/cases/{case_no}/rating", post(cases::rate))
        .route("/api/v1/notifications", get(cases::notifications))
        .route(
            "/api/v1/notifications/read",
            post(cases::notifications_read),
        )
        .route("/api/v1/rectifications", get(cases::rectifications))
        .route(
            "/api/v1/rectifications/{id}/answer",
            post(cases::answer_rectification),
        )
        .route(
            "/api/v1/admin/users",
            post(admin::create_user).get(admin::list_users),
        )
        .route(
            "/api/v1/admin/users/{username}/password",
            post(admin::reset_password),
        )
        .route(
            "/api/v1/admin/users/{username}/roles",
            axum::routing::put(admin::set_roles),
        )
        .route(
            "/api/v1/admin/users/{username}/active",
            axum::routing::put(admin::set_active),
        )
        .route("/api/v1/admin/departments", post(admin::create_department))
        .route("/api/v1/admin/items", post(admin::create_item))
        .route(
            "/api/v1/admin/items/{code}/versions",
            post(admin::publish_version).get(admin::versions),
        )
        .route(
            "/api/v1/admin/items/{code}/status",
            post(admin::set_item_status),
        )
        .route("/api/v1/audit", get(audit::search))
        .route("/api/v1/audit/export", get(audit::export))
        .route("/api/v1/audit/verify", get(audit::verify))
        .route(
            "/api/v1/admin/calendar",
            post(admin::import_calendar).get(admin::calendar_years),
        )
}

/// The answer to an unknown `/api/` path (the pages crate owns the fallback
/// and calls this for API paths, so that API clients always get JSON).
pub async fn not_found() -> crate::error::ApiError {
    crate::error::ApiError(zt_app::AppError::new(
        zt_app::ErrorKind::NotFound,
        "NOT_FOUND",
        "您访问的地址不存在。",
    ))
}
