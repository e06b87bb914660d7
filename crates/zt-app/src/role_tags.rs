//! Integrity of access-control data (GB/T 39786, GB/T 22239 访问控制): each
//! role assignment carries an HMAC-SM3 tag over (user id, role) under the
//! keyed blind-index key, which lives outside the database. A row inserted
//! or changed directly in the database has no valid tag, and the account is
//! refused at login and on every request until a security administrator
//! assigns its roles again through the platform.

use serde_json::json;
use zt_store::{users, Conn};

use crate::error::{AppError, ErrorKind, Result};
use crate::state::{audit, App, Origin};

const DOMAIN: &str = "user_roles";

pub fn tag(app: &App, user_id: i64, role: &str) -> String {
    app.pii.blind_index(DOMAIN, &format!("{user_id}:{role}"))
}

/// Roles with their tags, ready for `users::set_roles`.
pub fn tagged<'a>(app: &App, user_id: i64, roles: &[&'a str]) -> Vec<(&'a str, String)> {
    roles.iter().map(|r| (*r, tag(app, user_id, r))).collect()
}

pub fn integrity_error() -> AppError {
    AppError::new(
        ErrorKind::Forbidden,
        "ROLE_INTEGRITY",
        "账号的权限数据校验未通过，已暂停使用。请联系安全管理员核实并重新授权。",
    )
}

/// The user's role rows split by whether their tags verify: `(good, bad)`.
async fn verified_rows(
    app: &App,
    conn: &mut Conn,
    user_id: i64,
) -> Result<(Vec<String>, Vec<String>)> {
    let (mut good, mut bad) = (Vec::new(), Vec::new());
    for (role, t) in users::roles_tagged(conn, user_id).await? {
        let ok = t
            .as_deref()
            .is_some_and(|t| zt_crypto::ct_eq(t.as_bytes(), tag(app, user_id, &role).as_bytes()));
        if ok {
            good.push(role)
        } else {
            bad.push(role)
        }
    }
    Ok((good, bad))
}

/// The user's role rows whose tags do not verify (empty: all good).
pub async fn bad_rows(app: &App, conn: &mut Conn, user_id: i64) -> Result<Vec<String>> {
    Ok(verified_rows(app, conn, user_id).await?.1)
}

/// Refuses the account when any of its role rows fails the check, and
/// records the refusal (a separate transaction: the request itself fails).
/// Returns the verified role names (sorted, as stored).
pub async fn check(
    app: &App,
    conn: &mut Conn,
    user_id: i64,
    username: &str,
    client_addr: &str,
) -> Result<Vec<String>> {
    let (good, bad) = verified_rows(app, conn, user_id).await?;
    if bad.is_empty() {
        return Ok(good);
    }
    tracing::error!(user_id, roles = ?bad, "role assignments fail their integrity tag: account refused");
    let at = app.now_ts();
    let mut tx = app.begin().await?;
    audit(
        &mut tx,
        &at,
        &Origin {
            actor_id: Some(user_id),
            actor_name: username.to_string(),
            client_addr: client_addr.to_string(),
        },
        "role_integrity_failure",
        &format!("user:{user_id}"),
        "denied",
        json!({"roles": bad}),
    )
    .await?;
    tx.commit().await?;
    Err(integrity_error())
}

/// Tags the assignments that existed before tags did (run by `db migrate`).
pub async fn tag_existing(app: &App) -> Result<u64> {
    let mut tx = app.begin().await?;
    let rows = users::untagged_at_upgrade(&mut tx).await?;
    for (user_id, role) in &rows {
        users::set_role_tag(&mut tx, *user_id, role, &tag(app, *user_id, role)).await?;
    }
    tx.commit().await?;
    Ok(rows.len() as u64)
}
