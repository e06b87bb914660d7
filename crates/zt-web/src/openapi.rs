//! The OpenAPI 3 document, generated from the handlers' annotations and the
//! types they exchange, served at `/api/openapi.json`.

use axum::Json;
use utoipa::OpenApi;

use crate::api;

#[derive(OpenApi)]
#[openapi(
    info(title = "政通 Zhengtong 政务服务平台 API", version = "1",
         description = "一网通办 REST API. Errors are JSON {code, message, field, request_id}. State-changing calls made with the session cookie must send X-CSRF-Token."),
    paths(
        api::health::healthz, api::health::readyz, api::health::metrics,
        api::session::login, api::session::me, api::session::logout, api::session::change_password,
        api::second_factor::verify, api::second_factor::status, api::second_factor::start,
        api::second_factor::confirm, api::second_factor::remove, api::second_factor::reset,
        api::session::list_sessions, api::session::end_all_sessions, api::session::end_session,
        api::me::notice, api::me::register, api::me::personal_information, api::me::correct_profile,
        api::me::export, api::me::request_deletion, api::me::recovery_request, api::me::recovery_confirm,
        api::items::list, api::items::get, api::items::departments, api::items::due,
        api::cases::create, api::cases::list, api::cases::get, api::cases::update_form, api::cases::upload,
        api::cases::download, api::cases::submit, api::cases::reveal, api::cases::signatures, api::cases::signing_key, api::cases::action, api::cases::rate,
        api::cases::notifications, api::cases::notifications_read, api::cases::rectifications, api::cases::answer_rectification,
        api::admin::create_user, api::admin::list_users, api::admin::reset_password, api::admin::set_roles, api::admin::set_active, api::admin::create_department,
        api::admin::create_item, api::admin::publish_version, api::admin::versions, api::admin::set_item_status,
        api::admin::import_calendar, api::admin::calendar_years,
        api::audit::search, api::audit::export, api::audit::verify,
        api::licences::of_case, api::licences::document, api::licences::verification,
        api::licences::check_file, api::licences::set_seal,
    ),
    tags((name = "session"), (name = "catalogue"), (name = "cases"), (name = "calendar"), (name = "notifications"),
         (name = "ratings"), (name = "admin"), (name = "audit"), (name = "ops"),
         (name = "privacy"), (name = "licences"))
)]
pub struct ApiDoc;

pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
