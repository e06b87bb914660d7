//! The HTTP surface of Zhengtong: the JSON REST API under `/api/v1` with its
//! OpenAPI document, health probes, and the middleware every response passes
//! through (request ids, security headers, body limits, error mapping). The
//! server-rendered pages live in `zt-pages` and share these extractors.

pub mod api;
pub mod denials;
pub mod error;
pub mod extract;
pub mod middleware;
pub mod openapi;

use axum::Router;
use zt_app::App;

pub use error::ApiError;

/// The API and probes, without middleware.
pub fn api_router() -> Router<App> {
    api::routes()
}

/// Wraps a router with the middleware stack and binds the application state.
pub fn finish(router: Router<App>, app: App) -> Router {
    let router = middleware::admin_network_guard(router, app.clone(), None);
    middleware::layer(router, app.clone()).with_state(app)
}

/// [`finish`] for a router that also serves pages: a refusal of the
/// administration network guard on a page path is shown by `refuse_page`.
pub fn finish_with_pages(
    router: Router<App>,
    app: App,
    refuse_page: middleware::PageRefusal,
) -> Router {
    let router = middleware::admin_network_guard(router, app.clone(), Some(refuse_page));
    middleware::layer(router, app.clone()).with_state(app)
}
