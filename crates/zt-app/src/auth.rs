//! Login, sessions and passwords.
//!
//! A session is a random 256-bit token in an HttpOnly cookie; the database
//! holds only its SM3, so a leaked table yields no usable cookie. Each session
//! has its own CSRF token, and expires after an idle period and an absolute
//! lifetime, both counted on the injected clock.

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use serde_json::json;
use zt_domain::role::Role;
use zt_store::files::sm3_hex;
use zt_store::sessions::{self, SessionRow};
use zt_store::time::{parse_ts, ts};
use zt_store::users::{self, UserRow};
use zt_store::Conn;

use crate::error::{AppError, ErrorKind, Result};
use crate::principal::{Principal, Restriction};
use crate::state::{audit, App, Origin};

/// Only touch `last_seen_at` this often: a write per request would serialise
/// every page view behind SQLite's single writer.
const TOUCH_EVERY: i64 = 60;

pub fn hash_password(password: &str) -> Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AppError::Internal(format!("argon2: {e}")))
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// Argon2id costs ~19 MiB and tens of milliseconds per call by design. A
/// burst of 500 logins must queue here rather than start 500 blocking threads
/// holding 10 GB between them.
static HASHING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(4);

/// Runs a password hash or verification off the async workers, a few at a time.
pub async fn hashing<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    let _permit = HASHING
        .acquire()
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?;
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| AppError::Internal(e.to_string()))
}

/// Hashes a new password on the bounded hashing pool.
pub async fn hash_password_off_thread(password: &str) -> Result<String> {
    let password = password.to_string();
    hashing(move || hash_password(&password)).await?
}

/// Hashing is deliberately slow: keep it off the async workers.
pub(crate) async fn verify_blocking(password: String, hash: Option<String>) -> bool {
    hashing(move || match hash {
        Some(h) => verify_password(&password, &h),
        None => {
            // Same work for an unknown user, so timing does not reveal it.
            let _ = verify_password(&password, DUMMY_HASH);
            false
        }
    })
    .await
    .unwrap_or(false)
}

const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$0DXjXXl9KXuK4YV1h/pGcC4s8R2o9oZ1BoaZ0Wf7l/I";

/// Passwords that pass the length and character-class rules but are among
/// the first an attacker tries (one per line, compared case-insensitively).
const COMMON_PASSWORDS: &str = include_str!("../data/common-passwords.txt");

/// Words that, followed only by digits and symbols, make a guessable
/// password whatever the digits (`Password2026!`, `Admin@123456`).
const GUESSABLE_STEMS: &[&str] = &[
    "password",
    "passw0rd",
    "p@ssw0rd",
    "p@ssword",
    "admin",
    "administrator",
    "root",
    "qwerty",
    "welcome",
    "zhengtong",
    "woaini",
    "iloveyou",
    "abc",
    "abcd",
    "test",
    "user",
    "guest",
    "china",
    "letmein",
    "qwer",
    "asdf",
    "zxcv",
    "aa",
    "qq",
];

fn is_common_password(password: &str) -> bool {
    let lower = password.to_lowercase();
    if COMMON_PASSWORDS
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .any(|l| l.eq_ignore_ascii_case(&lower))
    {
        return true;
    }
    let stem = lower.trim_end_matches(|c: char| c.is_ascii_digit() || !c.is_alphanumeric());
    GUESSABLE_STEMS.contains(&stem)
}

/// Local password rules (GB/T 22239 身份鉴别): at least 8 characters of at
/// least three kinds, not containing the username, not a common password.
pub fn check_password_policy(username: &str, password: &str) -> Result<()> {
    let weak = |msg: &str| {
        Err(AppError::new(ErrorKind::Unprocessable, "PASSWORD_WEAK", msg).with_field("password"))
    };
    let n = password.chars().count();
    if !(8..=128).contains(&n) {
        return weak("密码长度应为8至128位。");
    }
    let kinds = [
        password.chars().any(|c| c.is_ascii_uppercase()),
        password.chars().any(|c| c.is_ascii_lowercase()),
        password.chars().any(|c| c.is_ascii_digit()),
        password.chars().any(|c| !c.is_ascii_alphanumeric()),
    ];
    if kinds.iter().filter(|k| **k).count() < 3 {
        return weak("密码应至少包含大写字母、小写字母、数字、符号中的三类。");
    }
    if !username.is_empty() && password.to_lowercase().contains(&username.to_lowercase()) {
        return weak("密码不能包含用户名。");
    }
    if is_common_password(password) {
        return weak("该密码过于常见，容易被猜中，请换一个。");
    }
    Ok(())
}

/// A department and all departments below it.
pub fn dept_subtree(all: &[zt_store::departments::DeptRow], root: i64) -> Vec<i64> {
    let mut out = vec![root];
    let mut i = 0;
    while i < out.len() {
        let parent = out[i];
        for d in all.iter().filter(|d| d.parent_id == Some(parent)) {
            if !out.contains(&d.id) {
                out.push(d.id);
            }
        }
        i += 1;
    }
    out
}

fn random_hex() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

fn invalid_credentials() -> AppError {
    AppError::new(
        ErrorKind::Unauthenticated,
        "AUTH_INVALID_CREDENTIALS",
        "用户名或密码错误；连续多次错误后账号将被临时锁定，请稍后再试。",
    )
}

pub async fn principal_for(
    conn: &mut Conn,
    user: &UserRow,
    session: Option<&SessionRow>,
) -> Result<Principal> {
    let roles = users::roles(conn, user.id).await?;
    principal_with_roles(conn, user, session, &roles).await
}

/// The principal of a user whose role names have been read already.
async fn principal_with_roles(
    conn: &mut Conn,
    user: &UserRow,
    session: Option<&SessionRow>,
    role_names: &[String],
) -> Result<Principal> {
    let roles = role_names.iter().filter_map(|r| Role::parse(r)).collect();
    let dept_scope = match user.dept_id {
        Some(d) => dept_subtree(&zt_store::departments::list(conn).await?, d),
        None => Vec::new(),
    };
    Ok(Principal {
        user_id: user.id,
        username: user.username.clone(),
        display_name: user.display_name.clone(),
        user_type: user.user_type.clone(),
        roles,
        dept_id: user.dept_id,
        dept_scope,
        org_uscc: user.org_uscc.clone(),
        org_name: user.org_name.clone(),
        real_name_level: user.real_name_level.clone(),
        must_change_password: user.must_change_password != 0,
        restriction: None,
        session_id: session.map(|s| s.id.clone()).unwrap_or_default(),
        csrf_token: session.map(|s| s.csrf_token.clone()).unwrap_or_default(),
    })
}

/// What the user must do before anything else, at `now`. Demo mode shares one
/// published password among its accounts on purpose and enforces neither.
fn restriction_of(
    app: &App,
    user: &UserRow,
    now: DateTime<Utc>,
    session: &SessionRow,
    totp: Option<&zt_store::second_factor::TotpRow>,
    roles: &[Role],
) -> Option<Restriction> {
    let enrolled = totp.is_some_and(|t| t.confirmed());
    if enrolled && session.second_factor_at.is_none() {
        return Some(Restriction::SecondFactor);
    }
    if let Some(r) = password_restriction(app, user, now) {
        return Some(r);
    }
    if !enrolled && crate::second_factor::required(app, roles) {
        return Some(Restriction::SecondFactorEnrolment);
    }
    None
}

fn password_restriction(app: &App, user: &UserRow, now: DateTime<Utc>) -> Option<Restriction> {
    if app.settings.demo {
        return None;
    }
    if user.must_change_password != 0 {
        return Some(Restriction::PasswordChange);
    }
    let staff = matches!(user.user_type.as_str(), "staff" | "admin");
    let changed = user
        .password_changed_at
        .as_deref()
        .unwrap_or(&user.created_at);
    match (staff, app.settings.password_max_age, parse_ts(changed)) {
        (true, Some(max), Ok(at)) if now - at >= max => Some(Restriction::PasswordExpired),
        _ => None,
    }
}

fn restrict(mut p: Principal, r: Option<Restriction>) -> Principal {
    p.must_change_password = matches!(
        r,
        Some(Restriction::PasswordChange | Restriction::PasswordExpired)
    );
    p.restriction = r;
    p
}

/// The per-address login rate (password and unified-identity logins alike),
/// checked before any expensive work.
pub(crate) fn check_login_rate(app: &App, client_addr: &str) -> Result<()> {
    if app.login_limiter.allow(
        client_addr,
        app.clock.now(),
        app.settings.login_rate_per_minute,
    ) {
        Ok(())
    } else {
        Err(AppError::new(
            ErrorKind::TooManyRequests,
            "AUTH_RATE_LIMITED",
            "登录尝试过于频繁，请一分钟后再试。",
        ))
    }
}

/// Checks a username and password and opens a session. Returns the principal
/// and the cookie value. The error never reveals whether the user exists.
///
/// A session the browser already had (`previous_token`) ends here: the new
/// session always has a new id, so a planted cookie is worth nothing.
pub async fn login(
    app: &App,
    username: &str,
    password: &str,
    client_addr: &str,
    previous_token: Option<&str>,
) -> Result<(Principal, String)> {
    check_login_rate(app, client_addr)?;
    if username.is_empty() || username.chars().count() > 64 || password.chars().count() > 128 {
        return Err(invalid_credentials());
    }
    let user = {
        let mut c = app.read().await?;
        users::by_username(&mut c, username).await?
    };
    // An account its owner closed (注销) is checked against its password
    // too, so that the owner — and only the owner — learns why it is refused.
    let closed_at = match user.as_ref().filter(|u| u.active == 0) {
        Some(u) => crate::privacy::closed_at(app, u.id).await?,
        None => None,
    };
    let hash = user
        .as_ref()
        .filter(|u| u.active != 0 || closed_at.is_some())
        .and_then(|u| u.password_hash.clone());
    let now = app.clock.now();
    let at = ts(now);
    // A locked account fails like a wrong password: the answer must not tell
    // whether the account exists, nor whether it is locked.
    let locked = user
        .as_ref()
        .and_then(|u| u.locked_until.as_deref())
        .and_then(|t| parse_ts(t).ok())
        .is_some_and(|until| until > now);
    let password_ok = verify_blocking(password.to_string(), hash).await;
    if let (true, false, Some(u), Some(closed)) =
        (password_ok, locked, user.as_ref(), closed_at.as_deref())
    {
        return Err(crate::privacy::closed_login(app, u, closed, client_addr).await?);
    }
    let ok = password_ok && user.as_ref().is_some_and(|u| u.active != 0) && !locked;
    if let (true, Some(u)) = (ok, user.as_ref()) {
        let mut c = app.read().await?;
        crate::role_tags::check(app, &mut c, u.id, &u.username, client_addr).await?;
    }
    let mut tx = app.begin().await?;
    let Some(user) = user.filter(|_| ok) else {
        let origin = Origin {
            actor_id: None,
            actor_name: username.chars().take(64).collect(),
            client_addr: client_addr.into(),
        };
        // The audit head is locked last in every transaction (here after the
        // user row), so that two transactions never wait on each other.
        let mut locked_now = None;
        if let Some(u) = users::by_username(&mut tx, username)
            .await?
            .filter(|_| !locked)
        {
            let threshold = i64::from(app.settings.lockout_threshold.max(1));
            let until = ts(now + app.settings.lockout);
            if users::record_failure(&mut tx, u.id, threshold, &until).await? {
                locked_now = Some((u.id, until));
            }
        }
        audit(
            &mut tx,
            &at,
            &origin,
            "login",
            &format!("user:{}", origin.actor_name),
            "failure",
            json!({"locked": locked}),
        )
        .await?;
        if let Some((id, until)) = locked_now {
            audit(
                &mut tx,
                &at,
                &origin,
                "lockout",
                &format!("user:{id}"),
                "success",
                json!({"until": until}),
            )
            .await?;
        }
        tx.commit().await?;
        return Err(invalid_credentials());
    };
    users::record_success(&mut tx, user.id).await?;
    let (principal, token) = open_session(
        app,
        &mut tx,
        &user,
        client_addr,
        previous_token,
        IdpSession::default(),
        json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok((principal, token))
}

/// The identity platform's session a local session was opened through.
#[derive(Debug, Clone, Default)]
pub struct IdpSession {
    /// OpenID Connect: the provider's session (`sid`), which a back-channel
    /// logout names.
    pub sid: Option<String>,
    /// OpenID Connect: the subject.
    pub sub: Option<String>,
    /// OpenID Connect: the ID token, kept sealed for RP-initiated logout.
    pub id_token: Option<zt_identity::Secret>,
    /// CAS: the service ticket the session is created from (only its SM3 is
    /// kept), which a single-logout request names.
    pub cas_ticket: Option<zt_identity::Secret>,
}

/// Opens a session for a user who has authenticated, in the caller's
/// transaction: ends the browser's previous session, stores the new one,
/// audits `login` with `detail`. Returns the principal and the cookie value.
pub(crate) async fn open_session(
    app: &App,
    tx: &mut Conn,
    user: &UserRow,
    client_addr: &str,
    previous_token: Option<&str>,
    idp: IdpSession,
    detail: serde_json::Value,
) -> Result<(Principal, String)> {
    let now = app.clock.now();
    let at = ts(now);
    if let Some(old) = previous_token.filter(|t| is_token(t)) {
        sessions::delete(tx, &sm3_hex(old.as_bytes())).await?;
    }
    let token = random_hex();
    let id = sm3_hex(token.as_bytes());
    let idp_id_token = idp.id_token.as_ref().map(|t| {
        app.pii
            .seal(&crate::sso::ctx_session_id_token(&id), t.expose())
    });
    let cas_ticket_sm3 = idp
        .cas_ticket
        .as_ref()
        .map(|t| sm3_hex(t.expose().as_bytes()));
    let row = SessionRow {
        id,
        user_id: user.id,
        csrf_token: random_hex(),
        client_addr: client_addr.into(),
        created_at: at.clone(),
        last_seen_at: at.clone(),
        expires_at: ts(now + app.settings.session_absolute),
        second_factor_at: None,
        idp_sid: idp.sid,
        idp_sub: idp.sub,
        idp_id_token,
        cas_ticket_sm3,
    };
    sessions::insert(tx, &row).await?;
    let totp = zt_store::second_factor::get(tx, user.id).await?;
    let origin = Origin {
        actor_id: Some(user.id),
        actor_name: user.username.clone(),
        client_addr: client_addr.into(),
    };
    audit(
        tx,
        &at,
        &origin,
        "login",
        &format!("user:{}", user.id),
        "success",
        detail,
    )
    .await?;
    let principal = principal_for(tx, user, Some(&row)).await?;
    let r = restriction_of(app, user, now, &row, totp.as_ref(), &principal.roles);
    Ok((restrict(principal, r), token))
}

/// Resolves a session cookie to its principal, enforcing idle and absolute expiry.
pub async fn authenticate(app: &App, token: &str) -> Result<Principal> {
    if !is_token(token) {
        return Err(AppError::unauthenticated());
    }
    let sid = sm3_hex(token.as_bytes());
    let now = app.clock.now();
    let (session, user, principal, totp) = {
        let mut c = app.read().await?;
        let Some(session) = sessions::get(&mut c, &sid).await? else {
            return Err(AppError::unauthenticated());
        };
        let Some(user) = users::by_id(&mut c, session.user_id).await? else {
            return Err(AppError::unauthenticated());
        };
        // The verified roles serve the principal too: one read per request.
        let roles =
            crate::role_tags::check(app, &mut c, user.id, &user.username, &session.client_addr)
                .await?;
        let principal = principal_with_roles(&mut c, &user, Some(&session), &roles).await?;
        let totp = zt_store::second_factor::get(&mut c, user.id).await?;
        (session, user, principal, totp)
    };
    let last_seen = parse_ts(&session.last_seen_at)?;
    let expired = session_expired(app, &session, now)? || user.active == 0;
    if expired {
        let mut tx = app.begin().await?;
        sessions::delete(&mut tx, &sid).await?;
        tx.commit().await?;
        return Err(AppError::new(
            ErrorKind::Unauthenticated,
            "SESSION_EXPIRED",
            "登录已超时，请重新登录。",
        ));
    }
    if now - last_seen >= Duration::seconds(TOUCH_EVERY) {
        let mut tx = app.begin().await?;
        sessions::touch(&mut tx, &sid, &ts(now)).await?;
        tx.commit().await?;
    }
    let r = restriction_of(app, &user, now, &session, totp.as_ref(), &principal.roles);
    Ok(restrict(principal, r))
}

/// Past its absolute lifetime or idle for too long.
fn session_expired(app: &App, s: &SessionRow, now: DateTime<Utc>) -> Result<bool> {
    Ok(now >= parse_ts(&s.expires_at)?
        || now - parse_ts(&s.last_seen_at)? >= app.settings.session_idle)
}

fn is_token(t: &str) -> bool {
    t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit())
}

/// One of a user's sessions as they see it in their account page.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SessionInfo {
    /// A public name for the session (not its secret), to end it by.
    pub handle: String,
    pub created_at: String,
    pub last_seen_at: String,
    pub client_addr: String,
    /// The session of this request.
    pub current: bool,
}

/// The public handle of a session: derived from the stored id, so the id
/// itself (which would let a reader of the page act as that session) is
/// never shown.
fn handle_of(session_id: &str) -> String {
    sm3_hex(format!("handle:{session_id}").as_bytes())[..16].to_string()
}

/// The user's live sessions, newest first.
pub async fn sessions_of(app: &App, p: &Principal) -> Result<Vec<SessionInfo>> {
    let now = app.clock.now();
    let mut c = app.read().await?;
    let rows = sessions::for_user(&mut c, p.user_id).await?;
    Ok(rows
        .into_iter()
        .filter(|s| !session_expired(app, s, now).unwrap_or(true))
        .map(|s| SessionInfo {
            handle: handle_of(&s.id),
            current: s.id == p.session_id,
            created_at: s.created_at,
            last_seen_at: s.last_seen_at,
            client_addr: s.client_addr,
        })
        .collect())
}

/// Which of one's sessions to end.
pub enum Ending<'a> {
    /// Every session, this one included ("log out everywhere").
    All,
    /// One session by its handle.
    One(&'a str),
}

/// Ends sessions of the signed-in user. Returns how many ended.
pub async fn end_sessions(
    app: &App,
    p: &Principal,
    which: Ending<'_>,
    client_addr: &str,
) -> Result<u64> {
    let at = app.now_ts();
    let mut tx = app.begin().await?;
    let (n, what) = match which {
        Ending::All => (
            sessions::delete_for_user(&mut tx, p.user_id).await?,
            "all".to_string(),
        ),
        Ending::One(handle) => {
            let target = sessions::for_user(&mut tx, p.user_id)
                .await?
                .into_iter()
                .find(|s| handle_of(&s.id) == handle)
                .ok_or_else(|| AppError::not_found("SESSION_NOT_FOUND", "该登录会话"))?;
            sessions::delete(&mut tx, &target.id).await?;
            (1, handle.to_string())
        }
    };
    audit(
        &mut tx,
        &at,
        &Origin::of(p, client_addr),
        "logout_sessions",
        &format!("user:{}", p.user_id),
        "success",
        json!({"which": what, "ended": n}),
    )
    .await?;
    tx.commit().await?;
    Ok(n)
}

pub async fn logout(app: &App, p: &Principal, client_addr: &str) -> Result<()> {
    end_session(app, p, client_addr, json!({})).await
}

/// Ends the principal's session and audits `logout` with `detail`.
pub(crate) async fn end_session(
    app: &App,
    p: &Principal,
    client_addr: &str,
    detail: serde_json::Value,
) -> Result<()> {
    let at = app.now_ts();
    let mut tx = app.begin().await?;
    sessions::delete(&mut tx, &p.session_id).await?;
    let origin = Origin::of(p, client_addr);
    audit(
        &mut tx,
        &at,
        &origin,
        "logout",
        &format!("user:{}", p.user_id),
        "success",
        detail,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Changes one's own password; every session of the user ends.
pub async fn change_password(
    app: &App,
    p: &Principal,
    old: &str,
    new: &str,
    client_addr: &str,
) -> Result<()> {
    let user = {
        let mut c = app.read().await?;
        users::by_id(&mut c, p.user_id)
            .await?
            .ok_or_else(AppError::unauthenticated)?
    };
    if !verify_blocking(old.to_string(), user.password_hash.clone()).await {
        return Err(
            AppError::new(ErrorKind::Unprocessable, "PASSWORD_WRONG", "原密码不正确。")
                .with_field("old_password"),
        );
    }
    check_password_policy(&user.username, new)?;
    let hash = hash_password_off_thread(new).await?;
    let at = app.now_ts();
    let mut tx = app.begin().await?;
    users::set_password(&mut tx, p.user_id, &hash, false, &at).await?;
    sessions::delete_for_user(&mut tx, p.user_id).await?;
    let origin = Origin::of(p, client_addr);
    audit(
        &mut tx,
        &at,
        &origin,
        "password_change",
        &format!("user:{}", p.user_id),
        "success",
        json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_policy() {
        assert!(check_password_policy("citizen", "Demo@2026").is_ok());
        assert!(check_password_policy("citizen", "short1A").is_err());
        assert!(check_password_policy("citizen", "alllowercase1").is_err());
        assert!(check_password_policy("citizen", "Citizen@2026").is_err());
        for common in [
            "P@ssw0rd",
            "Aa123456",
            "1qaz@WSX",
            "Password2026!",
            "Admin@123456",
            "QWER1234!",
        ] {
            let e = check_password_policy("citizen", common).unwrap_err();
            assert_eq!(e.code(), "PASSWORD_WEAK", "{common}");
        }
        assert!(check_password_policy("citizen", "Qinglan#Rain7").is_ok());
    }

    #[test]
    fn dummy_hash_parses() {
        assert!(PasswordHash::new(DUMMY_HASH).is_ok());
        let h = hash_password("Demo@2026").unwrap();
        assert!(verify_password("Demo@2026", &h));
        assert!(!verify_password("demo@2026", &h));
    }
}
