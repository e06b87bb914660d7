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
use chrono::Duration;
use serde_json::json;
use zt_domain::role::Role;
use zt_store::files::sm3_hex;
use zt_store::sessions::{self, SessionRow};
use zt_store::time::{parse_ts, ts};
use zt_store::users::{self, UserRow};
use zt_store::Conn;

use crate::error::{AppError, ErrorKind, Result};
use crate::principal::Principal;
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
async fn verify_blocking(password: String, hash: Option<String>) -> bool {
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

/// Local password rules (GB/T 22239 身份鉴别): at least 8 characters of at
/// least three kinds, and not containing the username.
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
    let roles = users::roles(conn, user.id)
        .await?
        .iter()
        .filter_map(|r| Role::parse(r))
        .collect();
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
        session_id: session.map(|s| s.id.clone()).unwrap_or_default(),
        csrf_token: session.map(|s| s.csrf_token.clone()).unwrap_or_default(),
    })
}

/// Checks a username and password and opens a session. Returns the principal
/// and the cookie value. The error never reveals whether the user exists.
pub async fn login(
    app: &App,
    username: &str,
    password: &str,
    client_addr: &str,
) -> Result<(Principal, String)> {
    if !app.login_limiter.allow(
        client_addr,
        app.clock.now(),
        app.settings.login_rate_per_minute,
    ) {
        return Err(AppError::new(
            ErrorKind::TooManyRequests,
            "AUTH_RATE_LIMITED",
            "登录尝试过于频繁，请一分钟后再试。",
        ));
    }
    if username.is_empty() || username.chars().count() > 64 || password.chars().count() > 128 {
        return Err(invalid_credentials());
    }
    let user = {
        let mut c = app.read().await?;
        users::by_username(&mut c, username).await?
    };
    let hash = user
        .as_ref()
        .filter(|u| u.active != 0)
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
    let ok = verify_blocking(password.to_string(), hash).await
        && user.as_ref().is_some_and(|u| u.active != 0)
        && !locked;
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
    let token = random_hex();
    let row = SessionRow {
        id: sm3_hex(token.as_bytes()),
        user_id: user.id,
        csrf_token: random_hex(),
        client_addr: client_addr.into(),
        created_at: at.clone(),
        last_seen_at: at.clone(),
        expires_at: ts(now + app.settings.session_absolute),
    };
    sessions::insert(&mut tx, &row).await?;
    let origin = Origin {
        actor_id: Some(user.id),
        actor_name: user.username.clone(),
        client_addr: client_addr.into(),
    };
    audit(
        &mut tx,
        &at,
        &origin,
        "login",
        &format!("user:{}", user.id),
        "success",
        json!({}),
    )
    .await?;
    let principal = principal_for(&mut tx, &user, Some(&row)).await?;
    tx.commit().await?;
    Ok((principal, token))
}

/// Resolves a session cookie to its principal, enforcing idle and absolute expiry.
pub async fn authenticate(app: &App, token: &str) -> Result<Principal> {
    if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(AppError::unauthenticated());
    }
    let sid = sm3_hex(token.as_bytes());
    let now = app.clock.now();
    let (session, user, principal) = {
        let mut c = app.read().await?;
        let Some(session) = sessions::get(&mut c, &sid).await? else {
            return Err(AppError::unauthenticated());
        };
        let Some(user) = users::by_id(&mut c, session.user_id).await? else {
            return Err(AppError::unauthenticated());
        };
        let principal = principal_for(&mut c, &user, Some(&session)).await?;
        (session, user, principal)
    };
    let last_seen = parse_ts(&session.last_seen_at)?;
    let expired = now >= parse_ts(&session.expires_at)?
        || now - last_seen >= app.settings.session_idle
        || user.active == 0;
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
    Ok(principal)
}

pub async fn logout(app: &App, p: &Principal, client_addr: &str) -> Result<()> {
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
        json!({}),
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
    }

    #[test]
    fn dummy_hash_parses() {
        assert!(PasswordHash::new(DUMMY_HASH).is_ok());
        let h = hash_password("Demo@2026").unwrap();
        assert!(verify_password("Demo@2026", &h));
        assert!(!verify_password("demo@2026", &h));
    }
}
