//! Probes for the orchestrator: alive, and ready (database reachable and
//! every migration applied).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};
use zt_app::App;

/// Days before the end of the loaded holiday arrangement at which `/readyz`
/// starts warning.
const CALENDAR_HORIZON_DAYS: i64 = 60;

/// The process is alive.
#[utoipa::path(get, path = "/healthz", tag = "ops", responses((status = 200, description = "alive")))]
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// The database answers and its schema is current.
#[utoipa::path(get, path = "/readyz", tag = "ops", responses((status = 200, description = "ready"), (status = 503, description = "not ready")))]
pub async fn readyz(State(app): State<App>) -> (StatusCode, Json<Value>) {
    let db = match app.db.ping().await {
        Ok(()) => "ok",
        Err(e) => {
            tracing::warn!(error = %e, "readiness: database unreachable");
            "unreachable"
        }
    };
    let migrations = match app.db.migrations_current().await {
        Ok(true) => "current",
        Ok(false) => "pending",
        Err(_) => "unknown",
    };
    let years: Vec<i32> = app.calendar().years().map(|(y, _)| y).collect();
    // Long time limits reach into the next year: warn operators well before
    // acceptance starts failing for lack of the next arrangement.
    let ends = years
        .last()
        .and_then(|y| chrono::NaiveDate::from_ymd_opt(*y, 12, 31));
    let today = app.clock.today();
    let horizon_warning = match ends {
        Some(end) if end < today + chrono::Duration::days(CALENDAR_HORIZON_DAYS) => Some(format!(
            "节假日安排只导入到 {end}，请尽快导入下一年度安排，否则期限跨年的办件将无法受理。"
        )),
        None => Some("尚未导入任何节假日安排。".to_string()),
        _ => None,
    };
    // The scanner does not decide readiness (the rest of the platform works
    // without it) but uploads are refused while a configured clamd is down.
    let scanner = match app.scanner.clamd() {
        None => json!({"builtin": "ok", "clamd": "not_configured"}),
        Some(_) => match app.scanner.ready().await {
            Ok(()) => json!({"builtin": "ok", "clamd": "ok"}),
            Err(e) => {
                tracing::warn!(error = %e, "readiness: clamd does not answer; uploads are refused");
                json!({"builtin": "ok", "clamd": "unavailable", "warning": "病毒扫描服务不可用，材料上传暂时无法办理。"})
            }
        },
    };
    let outbox = match app.read().await {
        Ok(mut c) => zt_store::outbox::depth(&mut c, zt_app::outbox::GXPT)
            .await
            .map(|d| json!({"gxpt": d}))
            .unwrap_or(Value::Null),
        Err(_) => Value::Null,
    };
    let ready = db == "ok" && migrations == "current";
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({
            "status": if ready { "ready" } else { "not_ready" },
            "database": {"backend": app.db.backend().as_str(), "state": db, "migrations": migrations},
            "calendar_years": years,
            "calendar": {"ends": ends.map(|d| d.to_string()), "warning": horizon_warning},
            "scanner": scanner,
            "outbox": outbox,
        })),
    )
}

/// Prometheus metrics: calls, errors and latency per counterpart and per
/// HTTP status class, and the outbox depth. Answered only to loopback
/// clients and to the networks of `admin_allow_networks`.
#[utoipa::path(get, path = "/metrics", tag = "ops",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain"), (status = 403, description = "not from an allowed network")))]
pub async fn metrics(
    State(app): State<App>,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<std::net::SocketAddr>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let ip = peer.ip();
    let allowed = ip.is_loopback()
        || (!app.settings.admin_allow_networks.is_empty()
            && app.settings.admin_allow_networks.contains(ip));
    if !allowed {
        return crate::error::ApiError(zt_app::network::admin_network_denied()).into_response();
    }
    let mut extra = Vec::new();
    if let Ok(mut c) = app.read().await {
        if let Ok(d) = zt_store::outbox::depth(&mut c, zt_app::outbox::GXPT).await {
            for (k, v) in [
                ("pending", d.pending),
                ("failed", d.failed),
                ("delivered", d.delivered),
            ] {
                extra.push((
                    format!("zt_outbox_{k}"),
                    "counterpart=\"gxpt\"".to_string(),
                    v as f64,
                ));
            }
        }
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        app.metrics.render(&extra),
    )
        .into_response()
}
