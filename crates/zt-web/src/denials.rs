//! Every refused request (403) is a security event (GB/T 22239 安全审计):
//! this layer writes a `permission_denied` audit record with the caller (when
//! signed in), the client address, the method and the path.
//!
//! The caller is only known once an extractor has authenticated the request,
//! deep inside the handler; the layer hands the request a slot that
//! `extract::session_principal` fills, and reads it when the response
//! comes back.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{Response, StatusCode};
use axum::middleware::Next;
use serde_json::json;
use zt_app::state::{audit, Origin};
use zt_app::App;

/// Who the request turned out to be, filled in by authentication.
#[derive(Clone, Default)]
pub struct CallerSlot(Arc<Mutex<Option<(i64, String)>>>);

impl CallerSlot {
    pub fn set(&self, user_id: i64, username: &str) {
        if let Ok(mut g) = self.0.lock() {
            *g = Some((user_id, username.to_string()));
        }
    }

    fn get(&self) -> Option<(i64, String)> {
        self.0.lock().ok().and_then(|g| g.clone())
    }
}

/// Marks a response whose refusal was audited already (by the layer that
/// refused it), so that it is not recorded twice.
#[derive(Clone, Copy)]
pub struct DenialAudited;

pub async fn audit_denials(State(app): State<App>, mut req: Request, next: Next) -> Response<Body> {
    let slot = CallerSlot::default();
    req.extensions_mut().insert(slot.clone());
    let method = req.method().to_string();
    let path = req.uri().path().chars().take(200).collect::<String>();
    let addr = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_else(|| "unknown".into());
    let resp = next.run(req).await;
    if resp.status() == StatusCode::FORBIDDEN && resp.extensions().get::<DenialAudited>().is_none()
    {
        let origin = match slot.get() {
            Some((id, name)) => Origin {
                actor_id: Some(id),
                actor_name: name,
                client_addr: addr,
            },
            None => Origin::anonymous(&addr),
        };
        let at = app.now_ts();
        let written = async {
            let mut tx = app.begin().await?;
            audit(
                &mut tx,
                &at,
                &origin,
                "permission_denied",
                &format!("{method} {path}"),
                "denied",
                json!({"status": 403, "request_id": crate::middleware::current_request_id()}),
            )
            .await?;
            tx.commit().await?;
            Ok::<(), zt_app::AppError>(())
        }
        .await;
        if let Err(e) = written {
            tracing::error!(error = %e, "could not audit a refused request");
        }
    }
    resp
}
