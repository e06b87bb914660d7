//! Login through the identity platform's CAS 3.0 server, for cities whose
//! platform only offers CAS (`identity_protocol = "cas"`), and its single
//! logout.
//!
//! `GET /auth/cas/login` sends the browser to `{cas_url}/login?service=…`;
//! the platform sends it back to the service URL (`cas_service_url`, this
//! server's `/auth/cas/callback`) with `?ticket=ST-…`, which is validated
//! once at `{cas_url}/p3/serviceValidate`. The released attributes are the
//! same claims as an OpenID Connect login and go through the same
//! [`super::sign_in`]: `sub` is the link key.
//!
//! CAS carries no `state` through the platform, so the login in flight is
//! the browser binding itself: `/auth/cas/login` keeps the SM3 of the
//! binding cookie's value (under `cas:` in `oidc_pending`, ten minutes), and
//! the callback must bring that cookie (once) before its ticket is sent for
//! validation.
//!
//! Single logout: the CAS server POSTs a SAML `LogoutRequest` to the service
//! URL naming the service ticket (`SessionIndex`); the sessions created from
//! that ticket end. The request is not signed: only the SM3 of the
//! (unguessable, single-use) ticket is kept, to find the session by.

use serde_json::json;
use zt_identity::cas::{logout_request_from_form, CasClient};
use zt_identity::{CasErrorCode, IdentityError, Secret};
use zt_store::files::sm3_hex;

use super::{audit_refusal, sign_in, Protocol};
use crate::auth::IdpSession;
use crate::error::{AppError, ErrorKind, Result};
use crate::principal::Principal;
use crate::state::{audit, App, Origin};

/// CAS 3.0 §3.1.1: a service ticket begins with `ST-`; services must
/// accept at least 32 characters and up to 256 are recommended.
const MAX_TICKET: usize = 256;

fn client(app: &App) -> Result<&CasClient> {
    app.cas.as_deref().ok_or_else(super::not_configured)
}

/// The key the platform's subjects are linked under: the CAS base URL
/// (without its trailing `/`).
pub fn provider_of(cas: &CasClient) -> &str {
    cas.base_url().trim_end_matches('/')
}

fn ticket_missing() -> AppError {
    AppError::new(
        ErrorKind::Unauthenticated,
        "SSO_TICKET_MISSING",
        "统一身份认证平台没有返回登录凭证，请重新发起统一身份认证登录。",
    )
}

fn ticket_invalid() -> AppError {
    AppError::new(
        ErrorKind::Unauthenticated,
        "SSO_TICKET_INVALID",
        "登录凭证无效、已过期或已使用过，请重新发起统一身份认证登录。",
    )
}

/// The Chinese message for a failed validation (logged without the ticket).
fn cas_error(e: &IdentityError) -> AppError {
    match e {
        IdentityError::CasFailure { code, .. } => {
            tracing::warn!(cas_code = code.as_str(), "CAS login failed");
            match code {
                CasErrorCode::InternalError => super::identity_unavailable(),
                _ => ticket_invalid(),
            }
        }
        e if e.is_transient() => {
            tracing::warn!(reason = e.code(), "CAS login failed");
            super::identity_unavailable()
        }
        e => {
            tracing::warn!(reason = e.code(), "CAS login failed");
            AppError::new(
                ErrorKind::Unauthenticated,
                "SSO_FAILED",
                "统一身份认证登录未成功，请重新登录。",
            )
        }
    }
}

/// The key of a CAS login in flight: the SM3 of its binding cookie.
fn pending_key(browser_sm3: &str) -> String {
    format!("cas:{browser_sm3}")
}

/// `GET /auth/cas/login`: the CAS login URL for our service URL, and the
/// value of the browser's binding cookie (its SM3 is kept for ten
/// minutes). Refused while the platform's circuit breaker is open.
pub async fn begin(app: &App) -> Result<super::Begun> {
    let url = client(app)?.login_url(&app.settings.cas_service_url);
    super::check_available(app)?;
    let (browser, browser_sm3) = super::new_binding();
    super::keep_pending(app, &pending_key(&browser_sm3), "cas").await?;
    Ok(super::Begun { url, browser })
}

/// Takes the CAS login this browser began (once): refused without one.
async fn take_binding(app: &App, browser: Option<&str>) -> Result<()> {
    let digest = super::binding_sm3(browser).ok_or_else(super::browser_mismatch)?;
    match super::take_pending(app, &pending_key(&digest)).await? {
        Some(_) => Ok(()),
        None => Err(super::browser_mismatch()),
    }
}

/// `GET /auth/cas/callback?ticket=ST-…`: checks that the callback comes
/// from the browser that began the login (`browser`: its binding cookie),
/// validates the ticket (once, for exactly our service URL), signs the
/// person in as an OpenID Connect login would, and keeps the ticket's SM3
/// with the session for single logout. A refusal is audited.
pub async fn finish(
    app: &App,
    query: &str,
    browser: Option<&str>,
    client_addr: &str,
    previous_token: Option<&str>,
) -> Result<(Principal, String)> {
    let mut sub = None;
    let r = finish_cas(app, query, browser, client_addr, previous_token, &mut sub).await;
    audit_refusal(app, Protocol::Cas, client_addr, sub.as_deref(), r).await
}

async fn finish_cas(
    app: &App,
    query: &str,
    browser: Option<&str>,
    client_addr: &str,
    previous_token: Option<&str>,
    sub: &mut Option<String>,
) -> Result<(Principal, String)> {
    let cas = client(app)?;
    crate::auth::check_login_rate(app, client_addr)?;
    take_binding(app, browser).await?;
    let tickets: Vec<String> = super::url_pairs(query.strip_prefix('?').unwrap_or(query))
        .into_iter()
        .filter(|(k, _)| k == "ticket")
        .map(|(_, v)| v)
        .collect();
    let ticket = match tickets.as_slice() {
        [] => return Err(ticket_missing()),
        [t] if t.starts_with("ST-") && t.len() <= MAX_TICKET => Secret::new(t.as_str()),
        _ => return Err(ticket_invalid()),
    };
    let user = crate::integrations::identity_call(
        &app.integrations,
        cas.validate(&app.settings.cas_service_url, ticket.expose()),
    )
    .await
    .map_err(|e| cas_error(&e))?;
    let claims = user.claims().map_err(|e| cas_error(&e))?;
    *sub = Some(claims.sub.clone());
    let idp = IdpSession {
        sid: None,
        sub: None,
        id_token: None,
        cas_ticket: Some(ticket),
    };
    sign_in(
        app,
        Protocol::Cas,
        provider_of(cas),
        &claims,
        client_addr,
        previous_token,
        idp,
    )
    .await
}

/// `POST /auth/cas/callback` with `logoutRequest=…`: the CAS server's single
/// logout. Ends the sessions created from the named service ticket (none
/// for an unknown or repeated request) and returns how many users' sessions
/// ended. A request that is no `LogoutRequest` is refused
/// (`SSO_LOGOUT_INVALID`).
pub async fn single_logout(app: &App, body: &[u8], client_addr: &str) -> Result<usize> {
    client(app)?;
    let request = logout_request_from_form(body).map_err(|e| {
        tracing::warn!(reason = e.code(), "CAS single logout refused");
        super::bad_logout()
    })?;
    let ticket_sm3 = sm3_hex(request.session_index.as_bytes());
    let at = app.now_ts();
    let mut tx = app.begin().await?;
    let users = zt_store::sessions::delete_by_cas_ticket(&mut tx, &ticket_sm3).await?;
    let origin = Origin {
        actor_id: None,
        actor_name: "idp".into(),
        client_addr: client_addr.into(),
    };
    if users.is_empty() {
        audit(
            &mut tx,
            &at,
            &origin,
            "logout",
            "session:-",
            "success",
            json!({"method": "cas_single_logout", "ended": 0}),
        )
        .await?;
    }
    for user_id in &users {
        audit(
            &mut tx,
            &at,
            &origin,
            "logout",
            &format!("user:{user_id}"),
            "success",
            json!({"method": "cas_single_logout"}),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(users.len())
}
