//! CSS and JavaScript compiled into the binary, with a content hash in their
//! URLs so that they can be cached for a year and still change with a release.

use std::sync::OnceLock;

use axum::http::header;
use axum::response::IntoResponse;
use sm3::{Digest, Sm3};

const CSS: &str = include_str!("../static/app.css");
const JS: &str = include_str!("../static/app.js");

fn version(content: &str) -> String {
    hex::encode(Sm3::digest(content.as_bytes()))[..12].to_string()
}

pub fn css_url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| format!("/static/app.css?v={}", version(CSS)))
}

pub fn js_url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| format!("/static/app.js?v={}", version(JS)))
}

const IMMUTABLE: &str = "public, max-age=31536000, immutable";

pub async fn css() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, IMMUTABLE),
        ],
        CSS,
    )
}

pub async fn js() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, IMMUTABLE),
        ],
        JS,
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn versions_are_stable_and_short() {
        assert_eq!(super::css_url(), super::css_url());
        assert!(super::css_url().starts_with("/static/app.css?v="));
        assert_eq!(super::js_url().len(), "/static/app.js?v=".len() + 12);
    }
}
