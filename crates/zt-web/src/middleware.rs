//! Middleware every response passes through: request ids (also in logs and
//! error bodies), security headers, panics turned into plain 500s, and the
//! default body limit; and the guard that keeps administration to the
//! configured client networks.

use std::time::Instant;

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderName, HeaderValue, Response, StatusCode};
use axum::middleware::{from_fn, from_fn_with_state, Next};
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;
use tracing::Instrument;
use zt_app::App;

tokio::task_local! {
    static REQUEST_ID: String;
}

pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// JSON bodies are small; uploads raise their own limit.
pub const DEFAULT_BODY_LIMIT: usize = 256 * 1024;

/// The id of the request being served (empty outside a request).
pub fn current_request_id() -> String {
    REQUEST_ID.try_with(|r| r.clone()).unwrap_or_default()
}

fn acceptable_id(v: &str) -> bool {
    (8..=64).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

async fn request_id(req: Request, next: Next) -> Response<Body> {
    // A proxy's id is kept so that one id follows the request end to end.
    let id = req
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| acceptable_id(v))
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
    let span = tracing::info_span!("http", method = %req.method(), path = %req.uri().path(), request_id = %id);
    let started = Instant::now();
    let mut resp = REQUEST_ID
        .scope(id.clone(), next.run(req))
        .instrument(span.clone())
        .await;
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert(REQUEST_ID_HEADER, v);
    }
    let status = resp.status().as_u16();
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    span.in_scope(|| {
        if status >= 500 {
            tracing::error!(status, latency_ms = ms, "response");
        } else {
            tracing::debug!(status, latency_ms = ms, "response");
        }
    });
    resp
}

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   object-src 'none'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'";

/// [`CSP`], with the identity platform's logout origin allowed in
/// `form-action`: `POST /logout` of a session opened through the platform
/// is redirected there (RP-initiated logout), and Chromium checks the
/// redirects of a form submission against `form-action`.
fn csp(app: &App) -> HeaderValue {
    let extra: Vec<String> = zt_app::sso::logout_origins(app)
        .into_iter()
        .filter(|o| {
            o.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-:/[]".contains(&b))
        })
        .collect();
    if extra.is_empty() {
        return HeaderValue::from_static(CSP);
    }
    let with = CSP.replace(
        "form-action 'self'",
        &format!("form-action 'self' {}", extra.join(" ")),
    );
    HeaderValue::from_str(&with).unwrap_or(HeaderValue::from_static(CSP))
}

/// HSTS for a year, subdomains included; sent only when the platform is
/// reached over TLS (`Settings::hsts`).
pub const HSTS: &str = "max-age=31536000; includeSubDomains";

async fn security_headers(State(app): State<App>, req: Request, next: Next) -> Response<Body> {
    let started = Instant::now();
    let mut resp = next.run(req).await;
    app.metrics.http(resp.status().as_u16(), started.elapsed());
    let h = resp.headers_mut();
    let set = |h: &mut axum::http::HeaderMap, k: HeaderName, v: &'static str| {
        h.entry(k).or_insert(HeaderValue::from_static(v));
    };
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(header::CONTENT_SECURITY_POLICY, csp(&app));
    }
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(h, header::X_FRAME_OPTIONS, "DENY");
    set(h, header::REFERRER_POLICY, "same-origin");
    set(
        h,
        HeaderName::from_static("permissions-policy"),
        "camera=(), microphone=(), geolocation=()",
    );
    if app.settings.hsts {
        set(h, header::STRICT_TRANSPORT_SECURITY, HSTS);
    }
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response<Body> {
    tracing::error!("handler panicked");
    let body = serde_json::json!({
        "code": "INTERNAL_ERROR",
        "message": "系统繁忙，请稍后再试。如问题持续，请凭请求编号联系客服。",
        "field": null,
        "request_id": current_request_id(),
    });
    Response::builder()
        .status(StatusCode::INTERNAL_SERVER_ERROR)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap_or_default()
}

pub fn layer(router: Router<App>, app: App) -> Router<App> {
    router
        .layer(DefaultBodyLimit::max(DEFAULT_BODY_LIMIT))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(from_fn_with_state(
            app.clone(),
            crate::denials::audit_denials,
        ))
        .layer(from_fn_with_state(app, security_headers))
        .layer(from_fn(request_id))
}

/// How a refusal on a page path (not under `/api/`) is shown: the pages
/// crate renders its error page. Without one, page paths get JSON too.
pub type PageRefusal = fn(zt_app::AppError) -> axum::response::Response;

/// The administration surfaces that `admin_allow_networks` guards: the pages
/// under `/admin`, the API under `/api/v1/admin/` and `/api/v1/audit`.
/// Matched by whole path segments (`/administration` is not `/admin`).
pub fn is_admin_surface(path: &str) -> bool {
    let under = |prefix: &str| {
        path.strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    };
    under("/admin") || under("/api/v1/admin") || under("/api/v1/audit")
}

#[derive(Clone)]
struct AdminGuard {
    app: App,
    page: Option<PageRefusal>,
}

/// Refuses administration requests whose TCP peer is outside
/// `Settings::admin_allow_networks` (403 `ADMIN_NETWORK_DENIED`) and audits
/// each refusal as `permission_denied`, with the user when the request
/// carries a valid session. Runs before authentication and before any
/// handler, so nothing behind it is reached. `X-Forwarded-For` is not
/// consulted; without `ConnectInfo` the address is unknown and refused.
async fn admin_networks(
    State(g): State<AdminGuard>,
    req: Request,
    next: Next,
) -> axum::response::Response {
    let allowed = &g.app.settings.admin_allow_networks;
    if allowed.is_empty() || !is_admin_surface(req.uri().path()) {
        return next.run(req).await;
    }
    let peer = req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    if peer.is_some_and(|ip| allowed.contains(ip)) {
        return next.run(req).await;
    }
    // The same text as `ClientAddr`, so records of one client match.
    let addr = peer.map_or_else(|| "unknown".to_string(), |ip| ip.to_string());
    let (parts, _) = req.into_parts();
    let who = match crate::extract::session_token(&parts.headers) {
        Some(token) => zt_app::auth::authenticate(&g.app, &token).await.ok(),
        None => None,
    };
    let path = parts.uri.path();
    tracing::warn!(client_addr = %addr, path, "administration refused: client outside admin_allow_networks");
    let audited = zt_app::network::record_admin_network_denied(
        &g.app,
        who.as_ref(),
        &addr,
        parts.method.as_str(),
        path,
        &current_request_id(),
    )
    .await;
    let e = zt_app::network::admin_network_denied();
    let mut resp = match g.page {
        Some(page) if !path.starts_with("/api/") => page(e),
        _ => axum::response::IntoResponse::into_response(crate::error::ApiError(e)),
    };
    match audited {
        // Recorded here, with the reason: the general refusal audit skips it.
        Ok(()) => {
            resp.extensions_mut().insert(crate::denials::DenialAudited);
        }
        // Refused all the same (and left to the general refusal audit).
        Err(e) => tracing::error!(error = %e, "auditing a refused administration request failed"),
    }
    resp
}

/// Puts the administration network guard around `router` (inside the
/// stack of [`layer`], so refusals carry request ids and security headers).
pub fn admin_network_guard(
    router: Router<App>,
    app: App,
    page: Option<PageRefusal>,
) -> Router<App> {
    router.layer(from_fn_with_state(AdminGuard { app, page }, admin_networks))
}

#[cfg(test)]
mod admin_surface_tests {
    use super::is_admin_surface;

    #[test]
    fn whole_segments_only() {
        for p in [
            "/admin",
            "/admin/",
            "/admin/audit",
            "/admin/audit/export",
            "/api/v1/admin/users",
            "/api/v1/admin",
            "/api/v1/audit",
            "/api/v1/audit/export",
        ] {
            assert!(is_admin_surface(p), "{p}");
        }
        for p in [
            "/",
            "/administration",
            "/adminx/audit",
            "/api/v1/auditing",
            "/api/v1/administrators",
            "/api/v1/cases",
            "/api/v1/session",
            "/account",
            "/static/app.css",
            "/workbench/admin",
        ] {
            assert!(!is_admin_surface(p), "{p}");
        }
    }
}
