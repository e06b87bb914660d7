//! Login through the province's unified identity platform (统一身份认证平台,
//! OpenID Connect), and its back-channel logout.
//!
//! An account is found by the platform's `sub` (`identity_links`), never by
//! name or phone number. Citizens and enterprise agents get an applicant
//! account at their first login; staff are only linked to an account an
//! administrator created (same username and department). Roles always come
//! from our own accounts, never from the platform's claims.

use chrono::Duration;
use serde_json::json;
use zt_domain::role::Role;
use zt_identity::oidc::{logout_token_from_form, LoginState, OidcClient};
use zt_identity::{Claims, IdentityError, UserType};
use zt_store::identity;
use zt_store::time::{parse_ts, ts};
use zt_store::users::{self, NewUser, UserRow};
use zt_store::Conn;

use crate::auth::{open_session, IdpSession};
use crate::error::{AppError, ErrorKind, Result};
use crate::principal::Principal;
use crate::state::{audit, App, Origin};

/// How long a login may stay at the platform before its callback.
const PENDING_TTL_MINUTES: i64 = 10;

/// How long a logout token's `jti` is remembered (tokens are refused after
/// two minutes by their age anyway).
const JTI_KEEP_HOURS: i64 = 24;

fn not_configured() -> AppError {
    AppError::new(
        ErrorKind::NotFound,
        "SSO_NOT_CONFIGURED",
        "本平台未启用统一身份认证登录。",
    )
}

fn client(app: &App) -> Result<&OidcClient> {
    app.oidc.as_deref().ok_or_else(not_configured)
}

fn state_invalid() -> AppError {
    AppError::new(
        ErrorKind::Unauthenticated,
        "SSO_STATE_INVALID",
        "登录请求已失效或不匹配，请重新发起统一身份认证登录。",
    )
}

/// The Chinese message for a failed login (the error itself is logged, it
/// carries no token or secret).
fn identity_error(e: &IdentityError) -> AppError {
    tracing::warn!(reason = e.code(), "unified identity login failed");
    match e {
        IdentityError::StateMismatch | IdentityError::LoginExpired => state_invalid(),
        e if e.is_transient() => AppError::new(
            ErrorKind::Unavailable,
            "SSO_UNAVAILABLE",
            "统一身份认证平台暂时无法访问，请稍后再试。",
        ),
        _ => AppError::new(
            ErrorKind::Unauthenticated,
            "SSO_FAILED",
            "统一身份认证登录未成功，请重新登录。",
        ),
    }
}

fn staff_not_provisioned() -> AppError {
    AppError::new(
        ErrorKind::Forbidden,
        "SSO_STAFF_NOT_PROVISIONED",
        "统一身份认证账号尚未关联本平台工作人员账号，请联系系统管理员。",
    )
}

fn account_disabled() -> AppError {
    AppError::new(
        ErrorKind::Forbidden,
        "SSO_ACCOUNT_DISABLED",
        "关联的本平台账号已停用，请联系系统管理员。",
    )
}

fn pending_context(state: &str) -> String {
    format!("oidc_pending:{state}")
}

/// Starts a login: returns the platform's authorization URL. The login state
/// (nonce, PKCE verifier) is kept server-side, sealed, for ten minutes.
pub async fn begin(app: &App) -> Result<(String, LoginState)> {
    let client = client(app)?;
    let (url, st) = client
        .begin_login(&app.settings.oidc_redirect_uri)
        .map_err(|e| identity_error(&e))?;
    let data = serde_json::to_string(&st).map_err(|e| AppError::Internal(e.to_string()))?;
    let sealed = app.pii.seal(&pending_context(&st.state), &data);
    let now = app.clock.now();
    let mut tx = app.begin().await?;
    identity::delete_pending_before(&mut tx, &ts(now - Duration::minutes(PENDING_TTL_MINUTES)))
        .await?;
    identity::insert_pending(&mut tx, &st.state, &sealed, &ts(now)).await?;
    tx.commit().await?;
    Ok((url, st))
}

/// The `state` parameter of a callback query.
fn state_of(query: &str) -> Option<String> {
    url_pairs(query)
        .into_iter()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v)
}

fn url_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter_map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            Some((decode(k)?, decode(v)?))
        })
        .collect()
}

fn decode(s: &str) -> Option<String> {
    let s = s.replace('+', " ");
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let h = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(h, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Takes the stored login state for the callback's `state` (once).
async fn take_state(app: &App, query: &str) -> Result<LoginState> {
    let state = state_of(query)
        .filter(|s| !s.is_empty() && s.len() <= 256)
        .ok_or_else(state_invalid)?;
    let mut tx = app.begin().await?;
    let row = identity::take_pending(&mut tx, &state).await?;
    tx.commit().await?;
    let (sealed, created_at) = row.ok_or_else(state_invalid)?;
    if app.clock.now() - parse_ts(&created_at)? > Duration::minutes(PENDING_TTL_MINUTES) {
        return Err(state_invalid());
    }
    let data = app.pii.open(&pending_context(&state), &sealed)?;
    serde_json::from_str(&data).map_err(|e| AppError::Internal(e.to_string()))
}

/// Finishes a login at the callback: validates the platform's answer, finds
/// (or, for applicants, provisions) the linked account and opens a session.
/// Returns the principal and the session cookie value.
pub async fn finish(
    app: &App,
    query: &str,
    client_addr: &str,
    previous_token: Option<&str>,
) -> Result<(Principal, String)> {
    let client = client(app)?;
    crate::auth::check_login_rate(app, client_addr)?;
    let stored = take_state(app, query).await?;
    let login = client
        .finish_login_from_callback(query, &stored)
        .await
        .map_err(|e| identity_error(&e))?;
    let claims = login.claims;
    let provider = client.config().issuer.clone();
    let at = app.now_ts();
    let mut tx = app.begin().await?;
    let user_id = match identity::link_of(&mut tx, &provider, &claims.sub).await? {
        Some(id) => id,
        None => link_new(app, &mut tx, &provider, &claims, &at, client_addr).await?,
    };
    let mut user = users::by_id(&mut tx, user_id)
        .await?
        .ok_or_else(AppError::unauthenticated)?;
    if user.active == 0 {
        return Err(account_disabled());
    }
    if !crate::role_tags::bad_rows(app, &mut tx, user.id)
        .await?
        .is_empty()
    {
        // The refusal is audited in a transaction of its own: let go of the
        // writer first (SQLite has one).
        drop(tx);
        let mut c = app.read().await?;
        crate::role_tags::check(app, &mut c, user.id, &user.username, client_addr).await?;
        return Err(crate::role_tags::integrity_error());
    }
    if let Some(level) = claims.real_name_level.map(|l| l.as_str()) {
        if user.real_name_level != level {
            users::set_real_name_level(&mut tx, user.id, level, &at).await?;
            user.real_name_level = level.to_string();
        }
    }
    let (principal, token) = open_session(
        app,
        &mut tx,
        &user,
        client_addr,
        previous_token,
        IdpSession {
            sid: claims.sid.clone(),
            sub: Some(claims.sub.clone()),
        },
        json!({"method": "oidc"}),
    )
    .await?;
    tx.commit().await?;
    Ok((principal, token))
}

/// Links a `sub` seen for the first time: a new applicant account for a
/// citizen or an enterprise agent, the administrator-created account for
/// staff (or a refusal).
async fn link_new(
    app: &App,
    tx: &mut Conn,
    provider: &str,
    claims: &Claims,
    at: &str,
    client_addr: &str,
) -> Result<i64> {
    let id = match claims.user_type {
        Some(UserType::Staff) => staff_account(tx, claims).await?.id,
        Some(t @ (UserType::Citizen | UserType::EnterpriseAgent)) => {
            provision_applicant(app, tx, claims, t, at).await?
        }
        None => {
            return Err(AppError::new(
                ErrorKind::Forbidden,
                "SSO_USER_TYPE_MISSING",
                "统一身份认证平台未提供用户类型，无法登录本平台。",
            ))
        }
    };
    identity::insert_link(tx, provider, &claims.sub, id, at).await?;
    audit(
        tx,
        at,
        &Origin {
            actor_id: Some(id),
            actor_name: format!("user:{id}"),
            client_addr: client_addr.into(),
        },
        "identity_link",
        &format!("user:{id}"),
        "success",
        json!({"method": "oidc", "user_type": claims.user_type.map(|t| t.as_str())}),
    )
    .await?;
    Ok(id)
}

/// The staff account an administrator created for this person: the same
/// username as the platform's login name, in the department the platform
/// names.
async fn staff_account(tx: &mut Conn, claims: &Claims) -> Result<UserRow> {
    let (Some(username), Some(dept_code)) = (
        claims
            .preferred_username
            .as_deref()
            .filter(|s| !s.is_empty()),
        claims.dept_code.as_deref().filter(|s| !s.is_empty()),
    ) else {
        return Err(staff_not_provisioned());
    };
    let Some(user) = users::by_username(tx, username).await? else {
        return Err(staff_not_provisioned());
    };
    if user.user_type != "staff" {
        return Err(staff_not_provisioned());
    }
    let dept = match user.dept_id {
        Some(d) => zt_store::departments::by_id(tx, d).await?,
        None => None,
    };
    if dept.is_none_or(|d| d.code != dept_code) {
        return Err(staff_not_provisioned());
    }
    // An account already linked to another platform subject is not taken over.
    if !identity::links_of_user(tx, user.id).await?.is_empty() {
        return Err(staff_not_provisioned());
    }
    Ok(user)
}

async fn provision_applicant(
    app: &App,
    tx: &mut Conn,
    claims: &Claims,
    user_type: UserType,
    at: &str,
) -> Result<i64> {
    let agent = user_type == UserType::EnterpriseAgent;
    if agent && (claims.org_uscc.is_none() || claims.org_name.is_none()) {
        return Err(AppError::new(
            ErrorKind::Forbidden,
            "SSO_ORG_MISSING",
            "统一身份认证平台未提供经办单位信息，无法以法人经办人身份登录。",
        ));
    }
    let username = format!("sso-{}", claims.sub);
    let display_name: String = claims
        .name
        .as_deref()
        .filter(|n| !n.trim().is_empty())
        .unwrap_or(&username)
        .trim()
        .chars()
        .take(50)
        .collect();
    let id = users::insert(
        tx,
        &NewUser {
            username: username.clone(),
            password_hash: None,
            display_name,
            user_type: if agent { "agent" } else { "person" }.into(),
            personal: crate::pii::sealed_personal(
                &app.pii,
                &username,
                claims.id_number.as_deref(),
                claims.phone_number.as_deref(),
            ),
            org_uscc: claims.org_uscc.clone().filter(|_| agent),
            org_name: claims.org_name.clone().filter(|_| agent),
            dept_id: None,
            real_name_level: claims
                .real_name_level
                .map_or("L1", |l| l.as_str())
                .to_string(),
            must_change_password: false,
        },
        at,
    )
    .await?;
    users::set_roles(
        tx,
        id,
        &crate::role_tags::tagged(app, id, &[Role::Applicant.as_str()]),
    )
    .await?;
    Ok(id)
}

fn bad_logout() -> AppError {
    AppError::new(
        ErrorKind::BadRequest,
        "SSO_LOGOUT_INVALID",
        "注销通知无效。",
    )
}

/// A back-channel logout from the platform (the body of its POST): ends the
/// sessions of the named platform session, or all of the subject's. Returns
/// how many sessions ended. A replayed or invalid token is refused.
pub async fn backchannel_logout(app: &App, body: &[u8], client_addr: &str) -> Result<u64> {
    let client = client(app)?;
    let jwt = logout_token_from_form(body).map_err(|e| {
        tracing::warn!(reason = e.code(), "back-channel logout refused");
        bad_logout()
    })?;
    let event = client.validate_logout_token(&jwt).await.map_err(|e| {
        tracing::warn!(reason = e.code(), "back-channel logout refused");
        bad_logout()
    })?;
    let now = app.clock.now();
    let at = ts(now);
    let mut tx = app.begin().await?;
    identity::delete_logout_jti_before(&mut tx, &ts(now - Duration::hours(JTI_KEEP_HOURS))).await?;
    if !identity::record_logout_jti(&mut tx, &event.jti, &at).await? {
        tracing::warn!("back-channel logout token replayed");
        return Err(bad_logout());
    }
    let affected =
        zt_store::sessions::users_by_idp(&mut tx, event.sid.as_deref(), event.sub.as_deref())
            .await?;
    let ended = match (event.sid.as_deref(), event.sub.as_deref()) {
        (Some(sid), _) => zt_store::sessions::delete_by_idp_sid(&mut tx, sid).await?,
        (None, Some(sub)) => zt_store::sessions::delete_by_idp_sub(&mut tx, sub).await?,
        (None, None) => return Err(bad_logout()),
    };
    let origin = Origin {
        actor_id: None,
        actor_name: "idp".into(),
        client_addr: client_addr.into(),
    };
    if affected.is_empty() {
        audit(
            &mut tx,
            &at,
            &origin,
            "logout",
            "session:-",
            "success",
            json!({"method": "backchannel", "ended": 0}),
        )
        .await?;
    }
    for user_id in affected {
        audit(
            &mut tx,
            &at,
            &origin,
            "logout",
            &format!("user:{user_id}"),
            "success",
            json!({"method": "backchannel", "ended": ended}),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(ended)
}
