//! The HTTP server loop with graceful shutdown.

use std::net::SocketAddr;

use anyhow::Context;
use axum::Router;
use tokio::net::TcpListener;
use zt_app::App;

/// The whole HTTP surface: API, pages, middleware.
pub fn router(app: App) -> Router {
    zt_web::finish(zt_web::api_router().merge(zt_pages::routes()), app)
}

/// Anchors the audit chain every `minutes` (and once at start), so that a
/// rewrite of the chain inside the database is caught against the copy
/// outside it. A failure is logged and retried at the next tick.
pub fn spawn_audit_anchoring(app: App, minutes: u64) {
    if minutes == 0 {
        return;
    }
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(minutes * 60));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match zt_app::audit_trail::anchor(&app).await {
                Ok(Some(a)) => tracing::info!(record = a.record_id, "audit chain anchored"),
                Ok(None) => {}
                Err(e) => tracing::error!(error = %e, "audit anchor failed; will retry"),
            }
        }
    });
}

/// Seals personal information still in plaintext or under an older key, in
/// the background (a no-op when every row is current).
pub fn spawn_reseal(app: App) {
    tokio::spawn(async move {
        match zt_app::pii::reseal(&app).await {
            Ok(r) if r.users + r.cases > 0 => {
                tracing::info!(
                    users = r.users,
                    cases = r.cases,
                    "personal information resealed"
                )
            }
            Ok(_) => {}
            Err(e) => {
                tracing::error!(error = %e, "resealing personal information failed; run `zhengtong keys status`")
            }
        }
    });
}

pub async fn bind(listen: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))
}

pub async fn serve(listener: TcpListener, app: App) -> anyhow::Result<()> {
    let addr = listener.local_addr()?;
    tracing::info!(%addr, backend = app.db.backend().as_str(), "zhengtong listening");
    axum::serve(
        listener,
        router(app.clone()).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await
    .context("server error")?;
    app.db.close().await;
    tracing::info!("zhengtong stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutdown signal received");
}
