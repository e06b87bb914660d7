//! Login through the province's unified identity platform (统一身份认证平台):
//! OpenID Connect, or CAS 3.0 where a city's platform only offers CAS
//! (`identity_protocol`, see [`cas`]); logout initiated by the platform
//! (OIDC back-channel logout, CAS single logout) and logout at the platform
//! when our session ends ([`logout`], RP-initiated).
//!
//! An account is found by the platform's `sub` (`identity_links`), never by
//! name or phone number. Citizens and enterprise agents get an applicant
//! account at their first login; staff are only linked to an account an
//! administrator created (same username and department). Roles always come
//! from our own accounts, never from the platform's claims. Both protocols
//! end in [`sign_in`] with the same typed [`Claims`], so the rules are one.
//!
//! A login is tied to the browser that began it (login CSRF): [`begin`] and
//! [`cas::begin`] return a random value for a short-lived cookie
//! ([`Begun::browser`]) and keep only its SM3 with the login in flight; a
//! callback without that cookie, or with another browser's, is refused
//! (`SSO_BROWSER_MISMATCH`) before anything is sent to the platform.
//!
//! Every request to the platform during login and logout (token, userinfo,
//! JWKS, CAS validation) goes through its circuit breaker
//! ([`crate::integrations::identity_call`]); while it is open, logins are
//! refused at once with `IDENTITY_UNAVAILABLE` (503).

pub mod cas;

use chrono::Duration;
use serde::{Deserialize, Serialize};
use serde_json::json;
use zt_domain::role::Role;
use zt_identity::oidc::{logout_token_from_form, LoginState, OidcClient};
use zt_identity::{Claims, IdentityError, UserType};
use zt_store::files::sm3_hex;
use zt_store::identity;
use zt_store::sessions::SessionRow;
use zt_store::time::{parse_ts, ts};
use zt_store::users::{self, NewUser, UserRow};
use zt_store::Conn;

use crate::auth::{open_session, IdpSession};
use crate::error::{AppError, ErrorKind, Result};
use crate::principal::Principal;
use crate::state::{audit, App, Origin};

/// The protocol a login came through: the `method` of its audit records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// OpenID Connect (the default).
    Oidc,
    /// CAS 3.0.
    Cas,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Oidc => "oidc",
            Protocol::Cas => "cas",
        }
    }
}

/// The sealing context of a session's ID token: bound to its session row.
pub fn ctx_session_id_token(session_id: &str) -> String {
    format!("sessions.idp_id_token:{session_id}")
}

/// How long a login may stay at the platform before its callback.
const PENDING_TTL_MINUTES: i64 = 10;

/// How long a logout token's `jti` is remembered (tokens are refused after
/// two minutes by their age anyway).
const JTI_KEEP_HOURS: i64 = 24;

/// How long the cookie that ties a login to its browser lives: as long as
/// the login may take.
pub const BROWSER_COOKIE_MAX_AGE_SECS: i64 = PENDING_TTL_MINUTES * 60;

/// A login sent to the platform.
#[derive(Debug)]
pub struct Begun {
    /// Where the browser goes: the platform's login.
    pub url: String,
    /// The value of the cookie the browser must bring to the callback
    /// (random; only its SM3 is stored).
    pub browser: String,
}

/// A new browser binding: the cookie's value and its SM3.
fn new_binding() -> (String, String) {
    let value = hex::encode(rand::random::<[u8; 32]>());
    let digest = sm3_hex(value.as_bytes());
    (value, digest)
}

/// The SM3 of the binding cookie the callback brought, if it looks like one.
fn binding_sm3(browser: Option<&str>) -> Option<String> {
    browser
        .filter(|v| !v.is_empty() && v.len() <= 128)
        .map(|v| sm3_hex(v.as_bytes()))
}

fn browser_mismatch() -> AppError {
    AppError::new(
        ErrorKind::Unauthenticated,
        "SSO_BROWSER_MISMATCH",
        "登录请求已过期或不是从本浏览器发起，请重新点击“统一身份认证登录”。",
    )
}

/// The platform cannot be reached (5xx, time-out, no connection), or its
/// circuit breaker is open.
pub(crate) fn identity_unavailable() -> AppError {
    AppError::new(
        ErrorKind::Unavailable,
        "IDENTITY_UNAVAILABLE",
        "统一身份认证平台暂时无法访问，请稍后再试；管理员可使用本地账号登录。",
    )
}

/// Refuses to send a browser to the platform while its circuit breaker is
/// open: the login could not be finished. (Only looks: the probe after the
/// cool-down is the callback's request.)
pub(crate) fn check_available(app: &App) -> Result<()> {
    use crate::integrations::{State, IDENTITY};
    let s = app.integrations.breaker(IDENTITY).snapshot();
    if s.state == State::Open && s.retry_at.is_some_and(|at| at > app.clock.now()) {
        return Err(identity_unavailable());
    }
    Ok(())
}

/// Whether a refused callback left this browser's own login in flight
/// alone (its `state` named no login of ours, or the login was another
/// browser's): then the browser keeps its binding cookie. After any other
/// answer the cookie has been used and is cleared.
pub fn leaves_login_in_flight(e: &AppError) -> bool {
    matches!(e.code(), "SSO_STATE_INVALID" | "SSO_BROWSER_MISMATCH")
}

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
        e if e.is_transient() => identity_unavailable(),
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

/// What is kept of an OpenID Connect login in flight (sealed): the login
/// state and the SM3 of its browser's binding cookie.
#[derive(Serialize, Deserialize)]
struct Pending {
    /// Absent in a row written before browsers were bound: refused.
    #[serde(default)]
    browser_sm3: Option<String>,
    #[serde(flatten)]
    login: LoginState,
}

/// Keeps a login in flight under `key` for ten minutes (and forgets older
/// ones).
pub(crate) async fn keep_pending(app: &App, key: &str, data: &str) -> Result<()> {
    let now = app.clock.now();
    let mut tx = app.begin().await?;
    identity::delete_pending_before(&mut tx, &ts(now - Duration::minutes(PENDING_TTL_MINUTES)))
        .await?;
    identity::insert_pending(&mut tx, key, data, &ts(now)).await?;
    tx.commit().await?;
    Ok(())
}

/// Takes the login in flight under `key` (once): its data, or `None` when
/// there is none or it is older than ten minutes.
pub(crate) async fn take_pending(app: &App, key: &str) -> Result<Option<String>> {
    let mut tx = app.begin().await?;
    let row = identity::take_pending(&mut tx, key).await?;
    tx.commit().await?;
    let Some((data, created_at)) = row else {
        return Ok(None);
    };
    if app.clock.now() - parse_ts(&created_at)? > Duration::minutes(PENDING_TTL_MINUTES) {
        return Ok(None);
    }
    Ok(Some(data))
}

/// Starts a login: returns the platform's authorization URL and the value
/// of the browser's binding cookie. The login state (nonce, PKCE verifier)
/// and the cookie's SM3 are kept server-side, sealed, for ten minutes.
/// Refused while the platform's circuit breaker is open.
pub async fn begin(app: &App) -> Result<Begun> {
    let client = client(app)?;
    check_available(app)?;
    let (url, st) = client
        .begin_login(&app.settings.oidc_redirect_uri)
        .map_err(|e| identity_error(&e))?;
    let (browser, browser_sm3) = new_binding();
    let key = st.state.clone();
    let pending = Pending {
        browser_sm3: Some(browser_sm3),
        login: st,
    };
    let data = serde_json::to_string(&pending).map_err(|e| AppError::Internal(e.to_string()))?;
    keep_pending(app, &key, &app.pii.seal(&pending_context(&key), &data)).await?;
    Ok(Begun { url, browser })
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

/// Takes the stored login state for the callback's `state` (once), and
/// checks that the callback comes from the browser that began the login.
async fn take_state(app: &App, query: &str, browser: Option<&str>) -> Result<LoginState> {
    // Our states are base64url; CAS logins in flight are kept under `cas:…`.
    let state = state_of(query)
        .filter(|s| !s.is_empty() && s.len() <= 256 && !s.contains(':'))
        .ok_or_else(state_invalid)?;
    let sealed = take_pending(app, &state).await?.ok_or_else(state_invalid)?;
    let data = app.pii.open(&pending_context(&state), &sealed)?;
    let pending: Pending =
        serde_json::from_str(&data).map_err(|e| AppError::Internal(e.to_string()))?;
    // Both sides are SM3 digests: comparing them reveals nothing.
    match (pending.browser_sm3, binding_sm3(browser)) {
        (Some(kept), Some(brought)) if kept == brought => Ok(pending.login),
        _ => Err(browser_mismatch()),
    }
}

/// Finishes a login at the callback: checks that it comes from the browser
/// that began it (`browser`: its binding cookie), validates the platform's
/// answer, finds (or, for applicants, provisions) the linked account and
/// opens a session. Returns the principal and the session cookie value. A
/// refusal is audited.
pub async fn finish(
    app: &App,
    query: &str,
    browser: Option<&str>,
    client_addr: &str,
    previous_token: Option<&str>,
) -> Result<(Principal, String)> {
    let mut sub = None;
    let r = finish_oidc(app, query, browser, client_addr, previous_token, &mut sub).await;
    audit_refusal(app, Protocol::Oidc, client_addr, sub.as_deref(), r).await
}

async fn finish_oidc(
    app: &App,
    query: &str,
    browser: Option<&str>,
    client_addr: &str,
    previous_token: Option<&str>,
    sub: &mut Option<String>,
) -> Result<(Principal, String)> {
    let client = client(app)?;
    crate::auth::check_login_rate(app, client_addr)?;
    let stored = take_state(app, query, browser).await?;
    let cb = client
        .parse_callback(query)
        .map_err(|e| identity_error(&e))?;
    // Token, JWKS and userinfo requests, through the platform's breaker.
    let login = crate::integrations::identity_call(
        &app.integrations,
        client.finish_login(cb.code.expose(), &cb.state, &stored),
    )
    .await
    .map_err(|e| identity_error(&e))?;
    let claims = login.claims;
    *sub = Some(claims.sub.clone());
    let idp = IdpSession {
        sid: claims.sid.clone(),
        sub: Some(claims.sub.clone()),
        id_token: Some(login.tokens.id_token),
        cas_ticket: None,
    };
    let provider = client.config().issuer.clone();
    sign_in(
        app,
        Protocol::Oidc,
        &provider,
        &claims,
        client_addr,
        previous_token,
        idp,
    )
    .await
}

/// Signs in the person the platform vouched for, whichever the protocol:
/// the account linked to `claims.sub` at `provider` (or, the first time, a
/// new applicant account for a citizen or enterprise agent, or the
/// administrator-created account of a staff member), refused when disabled
/// or its roles fail their integrity check; the platform's
/// `real_name_level` is stored; the session is opened with `idp`.
pub(crate) async fn sign_in(
    app: &App,
    protocol: Protocol,
    provider: &str,
    claims: &Claims,
    client_addr: &str,
    previous_token: Option<&str>,
    idp: IdpSession,
) -> Result<(Principal, String)> {
    let at = app.now_ts();
    let mut tx = app.begin().await?;
    let user_id = match identity::link_of(&mut tx, provider, &claims.sub).await? {
        Some(id) => id,
        None => link_new(app, &mut tx, protocol, provider, claims, &at, client_addr).await?,
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
        idp,
        json!({"method": protocol.as_str()}),
    )
    .await?;
    tx.commit().await?;
    Ok((principal, token))
}

/// Audits a refused login through the platform (`login`, `failure`, with
/// the protocol, the refusal's code and the platform subject when known)
/// and hands the result back. Not audited: a platform that is not
/// configured, the rate limit (no work under a flood) and internal errors.
pub(crate) async fn audit_refusal<T>(
    app: &App,
    protocol: Protocol,
    client_addr: &str,
    sub: Option<&str>,
    r: Result<T>,
) -> Result<T> {
    let Err(e) = r else { return r };
    if matches!(
        e.kind(),
        ErrorKind::NotFound | ErrorKind::TooManyRequests | ErrorKind::Internal
    ) {
        return Err(e);
    }
    let at = app.now_ts();
    let sub: Option<String> = sub.map(|s| s.chars().take(128).collect());
    let written = async {
        let mut tx = app.begin().await?;
        audit(
            &mut tx,
            &at,
            &Origin {
                actor_id: None,
                actor_name: "idp".into(),
                client_addr: client_addr.into(),
            },
            "login",
            &format!("sub:{}", sub.as_deref().unwrap_or("-")),
            "failure",
            json!({"method": protocol.as_str(), "code": e.code()}),
        )
        .await?;
        tx.commit().await?;
        Ok::<(), AppError>(())
    }
    .await;
    if let Err(w) = written {
        tracing::error!(error = %w, "auditing a refused unified identity login failed");
    }
    Err(e)
}

/// Links a `sub` seen for the first time: a new applicant account for a
/// citizen or an enterprise agent, the administrator-created account for
/// staff (or a refusal).
async fn link_new(
    app: &App,
    tx: &mut Conn,
    protocol: Protocol,
    provider: &str,
    claims: &Claims,
    at: &str,
    client_addr: &str,
) -> Result<i64> {
    let v1 = match claims.user_type {
        Some(UserType::Citizen) => v1_person(app, tx, claims).await?,
        _ => None,
    };
    let claimed_v1 = v1.is_some();
    let id = match (claims.user_type, v1) {
        (Some(UserType::Staff), _) => staff_account(tx, claims).await?.id,
        (Some(UserType::Citizen), Some(id)) => {
            users::set_real_name_level(
                tx,
                id,
                claims.real_name_level.map_or("L1", |l| l.as_str()),
                at,
            )
            .await?;
            id
        }
        (Some(t @ (UserType::Citizen | UserType::EnterpriseAgent)), _) => {
            provision_applicant(app, tx, claims, t, at).await?
        }
        (None, _) => {
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
        json!({"method": protocol.as_str(), "user_type": claims.user_type.map(|t| t.as_str()),
               "claimed_v1_account": claimed_v1}),
    )
    .await?;
    Ok(id)
}

/// A citizen's account migrated from V1.0 (issue 6): found by the blind
/// index of the identity number the platform verified (real-name level L2
/// or higher), and not yet linked to a platform subject. V1 never verified
/// who registered, so a lower level does not claim it.
async fn v1_person(app: &App, tx: &mut Conn, claims: &Claims) -> Result<Option<i64>> {
    let (Some(number), Some(level)) = (claims.id_number.as_deref(), claims.real_name_level) else {
        return Ok(None);
    };
    if level.as_str() < "L2" {
        return Ok(None);
    }
    let bidx = app
        .pii
        .blind_index(crate::pii::BIDX_ID_NUMBER, &number.to_ascii_uppercase());
    let found: Option<(i64,)> = sqlx::query_as(
        "SELECT a.user_id FROM v1_accounts a JOIN users u ON u.id = a.user_id \
         WHERE a.id_card_bidx = $1 AND a.outcome = 'migrated' AND a.user_type = '1' AND u.active = 1 \
         AND NOT EXISTS (SELECT 1 FROM identity_links l WHERE l.user_id = a.user_id) \
         ORDER BY a.citizen_id LIMIT 1",
    )
    .bind(bidx)
    .fetch_optional(&mut *tx)
    .await?;
    Ok(found.map(|r| r.0))
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
/// how many sessions ended. A replayed or invalid token is refused; a token
/// whose key could not be fetched because the platform is unavailable (or
/// its breaker open) is `IDENTITY_UNAVAILABLE`, so that it may be sent again.
pub async fn backchannel_logout(app: &App, body: &[u8], client_addr: &str) -> Result<u64> {
    let client = client(app)?;
    let jwt = logout_token_from_form(body).map_err(|e| {
        tracing::warn!(reason = e.code(), "back-channel logout refused");
        bad_logout()
    })?;
    // Only a JWKS fetch goes through the breaker (and only when one is
    // due); the token is then checked against the keys at hand, so one
    // whose key is cached is validated while the platform is down too.
    let fetched = if client.needs_keys_for(&jwt) {
        crate::integrations::identity_call(&app.integrations, client.refresh_keys_for(&jwt)).await
    } else {
        Ok(())
    };
    let event = client
        .validate_logout_token_with_cached_keys(&jwt)
        .map_err(|e| {
            tracing::warn!(reason = e.code(), "back-channel logout refused");
            match (&e, &fetched) {
                (IdentityError::UnknownKey, Err(f)) if f.is_transient() => identity_unavailable(),
                _ => bad_logout(),
            }
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

/// `POST /logout`: ends the signed-in session and returns where the browser
/// goes next to log out at the platform too, for a session opened through
/// it (RP-initiated logout):
///
/// * OpenID Connect: the provider's `end_session_endpoint` with the
///   session's ID token as `id_token_hint`, our `client_id`, and this
///   site's root (the origin of `oidc_redirect_uri`, then `/`) as
///   `post_logout_redirect_uri`;
/// * CAS: `{cas_url}/logout?service=` this site's root (the origin of
///   `cas_service_url`, then `/`).
///
/// `None` for a local (password) session, or when the platform is no longer
/// configured: the browser just goes home. The local session ends first in
/// every case.
pub async fn logout(app: &App, p: &Principal, client_addr: &str) -> Result<Option<String>> {
    let row = {
        let mut c = app.read().await?;
        zt_store::sessions::get(&mut c, &p.session_id).await?
    };
    let protocol = row.as_ref().and_then(protocol_of);
    let to = match (&row, protocol) {
        (Some(row), Some(protocol)) => provider_logout_url(app, row, protocol),
        _ => None,
    };
    let detail = match protocol {
        Some(pr) => json!({"method": pr.as_str(), "at_provider": to.is_some()}),
        None => json!({}),
    };
    crate::auth::end_session(app, p, client_addr, detail).await?;
    Ok(to)
}

/// Through which protocol a session was opened (none: a local login).
fn protocol_of(row: &SessionRow) -> Option<Protocol> {
    if row.cas_ticket_sm3.is_some() {
        Some(Protocol::Cas)
    } else if row.idp_sub.is_some() || row.idp_id_token.is_some() {
        Some(Protocol::Oidc)
    } else {
        None
    }
}

fn provider_logout_url(app: &App, row: &SessionRow, protocol: Protocol) -> Option<String> {
    match protocol {
        Protocol::Cas => {
            let cas = app.cas.as_deref()?;
            Some(cas.logout_url(site_root(&app.settings.cas_service_url).as_deref()))
        }
        Protocol::Oidc => {
            let client = app.oidc.as_deref()?;
            let hint = row.idp_id_token.as_deref().and_then(|sealed| {
                app.pii
                    .open(&ctx_session_id_token(&row.id), sealed)
                    .map_err(|e| tracing::warn!(error = %e, "the session's ID token does not open; logging out without id_token_hint"))
                    .ok()
            });
            let back = site_root(&app.settings.oidc_redirect_uri);
            client
                .logout_url(hint.as_deref(), back.as_deref(), None)
                .map_err(|e| {
                    tracing::warn!(
                        reason = e.code(),
                        "no RP-initiated logout at the identity platform"
                    )
                })
                .ok()
        }
    }
}

/// `scheme://host[:port]` of an absolute http(s) URL.
fn origin_of(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("https://")
        .map(|r| (8, r))
        .or_else(|| url.strip_prefix("http://").map(|r| (7, r)));
    let (scheme_len, rest) = rest?;
    let host_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    (host_len > 0).then(|| &url[..scheme_len + host_len])
}

/// This site's root, `scheme://host[:port]/`, from one of its absolute URLs.
fn site_root(url: &str) -> Option<String> {
    origin_of(url).map(|o| format!("{o}/"))
}

/// The origins a form of ours may be redirected to: the identity platform's
/// logout endpoint (OIDC `end_session_endpoint`, CAS `/logout`). The
/// pages' `form-action` must allow them, or browsers that check redirects
/// after a form submission (Chromium) stop `POST /logout` on its way to
/// the platform.
pub fn logout_origins(app: &App) -> Vec<String> {
    let mut v = Vec::new();
    if let Some(o) = app
        .oidc
        .as_deref()
        .and_then(|c| c.metadata().end_session_endpoint.as_deref())
        .and_then(origin_of)
    {
        v.push(o.to_owned());
    }
    if let Some(o) = app.cas.as_deref().and_then(|c| origin_of(c.base_url())) {
        if !v.iter().any(|x| x == o) {
            v.push(o.to_owned());
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_and_roots() {
        assert_eq!(
            origin_of("http://127.0.0.1:8080/auth/oidc/callback"),
            Some("http://127.0.0.1:8080")
        );
        assert_eq!(
            origin_of("https://zwfw.example.gov.cn"),
            Some("https://zwfw.example.gov.cn")
        );
        assert_eq!(
            origin_of("https://idp.example.gov.cn?x=1"),
            Some("https://idp.example.gov.cn")
        );
        assert_eq!(origin_of("http:///x"), None);
        assert_eq!(origin_of("ftp://x/"), None);
        assert_eq!(
            site_root("http://127.0.0.1:8080/auth/cas/callback").as_deref(),
            Some("http://127.0.0.1:8080/")
        );
    }
}
