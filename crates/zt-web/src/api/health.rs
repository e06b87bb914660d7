//! Probes for the orchestrator: alive, and ready (database reachable and
//! every migration applied). The counterparts (gxpt, eseal, identity,
//! clamd) and the outbox are reported too, but never decide readiness: the
//! platform takes applications while they are down, and restarting it would
//! not bring them back.

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
    let backlogs = match zt_app::integrations::outbox_backlogs(&app).await {
        Ok(b) => Some(b),
        Err(e) => {
            tracing::warn!(error = %e, "readiness: outbox depth unknown");
            None
        }
    };
    let outbox = match &backlogs {
        Some(b) => Value::Object(b.iter().map(|(n, d)| (n.clone(), json!(d))).collect()),
        None => Value::Null,
    };
    // No URLs and no error texts: this answers anyone. The administration
    // page (/admin/integrations) shows them.
    let integrations: serde_json::Map<String, Value> = app
        .integrations
        .status()
        .iter()
        .map(|s| {
            let mut v = s.public_json();
            if let Some((_, b)) = backlogs.iter().flatten().find(|(n, _)| *n == s.name) {
                v["outbox"] = json!(b);
            }
            if matches!(s.state_str(), "open" | "half_open") {
                v["warning"] = json!(format!(
                    "{}暂时不可用，相关调用暂停，恢复后自动继续。",
                    zt_app::integrations::label_zh(&s.name)
                ));
            }
            (s.name.clone(), v)
        })
        .collect();
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
            "integrations": integrations,
        })),
    )
}

/// Prometheus metrics: calls, errors and latency per counterpart and per
/// HTTP status class, each counterpart's circuit breaker, and the outbox
/// depth per counterpart. Answered only to loopback clients and to the
/// networks of `admin_allow_networks`.
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
    let mut extra = app.integrations.metric_lines();
    if let Ok(backlogs) = zt_app::integrations::outbox_backlogs(&app).await {
        let now = app.clock.now();
        for (name, b) in backlogs {
            let label = format!("counterpart=\"{name}\"");
            extra.push(("zt_outbox_pending".into(), label.clone(), b.pending as f64));
            extra.push(("zt_outbox_failed".into(), label.clone(), b.failed as f64));
            let age = b
                .oldest_pending_at
                .as_deref()
                .and_then(|t| zt_store::time::parse_ts(t).ok())
                .map_or(0, |t| (now - t).num_seconds().max(0));
            extra.push((
                "zt_outbox_oldest_pending_age_seconds".into(),
                label,
                age as f64,
            ));
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
