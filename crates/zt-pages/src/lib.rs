//! Server-rendered pages in Chinese. Placeholder: the pages are being written.

use axum::Router;
use zt_app::App;

pub fn routes() -> Router<App> {
    Router::new().fallback(fallback)
}

async fn fallback(uri: axum::http::Uri) -> axum::response::Response {
    use axum::response::IntoResponse;
    if uri.path().starts_with("/api/") {
        zt_web::api::not_found().await.into_response()
    } else {
        (axum::http::StatusCode::NOT_FOUND, "页面不存在").into_response()
    }
}
