//! Accounts: applicants, staff and administrators, and their roles.

use sqlx::AnyConnection;

use crate::error::Result;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRow {
    pub id: i64,
    pub username: String,
    pub password_hash: Option<String>,
    pub display_name: String,
    pub user_type: String,
    pub id_number: Option<String>,
    pub mobile: Option<String>,
    pub org_uscc: Option<String>,
    pub org_name: Option<String>,
    pub dept_id: Option<i64>,
    pub real_name_level: String,
    pub active: i64,
    pub must_change_password: i64,
    pub password_changed_at: Option<String>,
    pub created_at: String,
    pub failed_logins: i64,
    pub locked_until: Option<String>,
    pub id_number_bidx: Option<String>,
    pub mobile_bidx: Option<String>,
}

/// Identity and mobile numbers as stored: sealed envelopes (the application
/// seals them; this layer never sees the plaintext) and their blind indexes.
#[derive(Debug, Clone, Default)]
pub struct Personal {
    pub id_number: Option<String>,
    pub id_number_bidx: Option<String>,
    pub mobile: Option<String>,
    pub mobile_bidx: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct NewUser {
    pub username: String,
    pub password_hash: Option<String>,
    pub display_name: String,
    pub user_type: String,
    pub personal: Personal,
    pub org_uscc: Option<String>,
    pub org_name: Option<String>,
    pub dept_id: Option<i64>,
    pub real_name_level: String,
    pub must_change_password: bool,
}

const COLS: &str = "id, username, password_hash, display_name, user_type, id_number, mobile, org_uscc, \
     org_name, dept_id, real_name_level, active, must_change_password, password_changed_at, created_at, \
     failed_logins, locked_until, id_number_bidx, mobile_bidx";

pub async fn insert(conn: &mut AnyConnection, u: &NewUser, now: &str) -> Result<i64> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO users (username, password_hash, display_name, user_type, id_number, mobile, org_uscc, \
         org_name, dept_id, real_name_level, must_change_password, password_changed_at, created_at, updated_at, \
         id_number_bidx, mobile_bidx) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12, $12, $13, $14) RETURNING id",
    )
    .bind(&u.username)
    .bind(&u.password_hash)
    .bind(&u.display_name)
    .bind(&u.user_type)
    .bind(&u.personal.id_number)
    .bind(&u.personal.mobile)
    .bind(&u.org_uscc)
    .bind(&u.org_name)
    .bind(u.dept_id)
    .bind(&u.real_name_level)
    .bind(i64::from(u.must_change_password))
    .bind(now)
    .bind(&u.personal.id_number_bidx)
    .bind(&u.personal.mobile_bidx)
    .fetch_one(&mut *conn)
    .await?;
    Ok(id)
}

pub async fn by_username(conn: &mut AnyConnection, username: &str) -> Result<Option<UserRow>> {
    Ok(
        sqlx::query_as(&format!("SELECT {COLS} FROM users WHERE username = $1"))
            .bind(username)
            .fetch_optional(&mut *conn)
            .await?,
    )
}

/// Accounts whose identity number has this blind index.
pub async fn by_id_number_bidx(conn: &mut AnyConnection, bidx: &str) -> Result<Vec<UserRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLS} FROM users WHERE id_number_bidx = $1 ORDER BY id"
    ))
    .bind(bidx)
    .fetch_all(&mut *conn)
    .await?)
}

/// Replaces the stored identity and mobile numbers (sealing, resealing).
pub async fn set_personal(conn: &mut AnyConnection, user_id: i64, p: &Personal) -> Result<()> {
    sqlx::query(
        "UPDATE users SET id_number = $1, id_number_bidx = $2, mobile = $3, mobile_bidx = $4 WHERE id = $5",
    )
    .bind(&p.id_number)
    .bind(&p.id_number_bidx)
    .bind(&p.mobile)
    .bind(&p.mobile_bidx)
    .bind(user_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn by_id(conn: &mut AnyConnection, id: i64) -> Result<Option<UserRow>> {
    Ok(
        sqlx::query_as(&format!("SELECT {COLS} FROM users WHERE id = $1"))
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?,
    )
}

pub async fn list(conn: &mut AnyConnection, limit: i64, offset: i64) -> Result<Vec<UserRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLS} FROM users ORDER BY id LIMIT $1 OFFSET $2"
    ))
    .bind(limit)
    .bind(offset)
    .fetch_all(&mut *conn)
    .await?)
}

pub async fn roles(conn: &mut AnyConnection, user_id: i64) -> Result<Vec<String>> {
    let rows: Vec<(String,)> =
        sqlx::query_as("SELECT role FROM user_roles WHERE user_id = $1 ORDER BY role")
            .bind(user_id)
            .fetch_all(&mut *conn)
            .await?;
    Ok(rows.into_iter().map(|(r,)| r).collect())
}

/// Replaces a user's roles; each comes with its integrity tag.
pub async fn set_roles(
    conn: &mut AnyConnection,
    user_id: i64,
    roles: &[(&str, String)],
) -> Result<()> {
    sqlx::query("DELETE FROM user_roles WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
    for (r, tag) in roles {
        sqlx::query("INSERT INTO user_roles (user_id, role, tag) VALUES ($1, $2, $3)")
            .bind(user_id)
            .bind(*r)
            .bind(tag)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// A user's role rows with their stored integrity tags.
pub async fn roles_tagged(
    conn: &mut AnyConnection,
    user_id: i64,
) -> Result<Vec<(String, Option<String>)>> {
    Ok(
        sqlx::query_as("SELECT role, tag FROM user_roles WHERE user_id = $1 ORDER BY role")
            .bind(user_id)
            .fetch_all(&mut *conn)
            .await?,
    )
}

/// The assignments that existed when tags were introduced, still to be tagged.
pub async fn untagged_at_upgrade(conn: &mut AnyConnection) -> Result<Vec<(i64, String)>> {
    Ok(sqlx::query_as(
        "SELECT u.user_id, u.role FROM user_roles_untagged u \
         JOIN user_roles r ON r.user_id = u.user_id AND r.role = u.role WHERE r.tag IS NULL",
    )
    .fetch_all(&mut *conn)
    .await?)
}

pub async fn set_role_tag(
    conn: &mut AnyConnection,
    user_id: i64,
    role: &str,
    tag: &str,
) -> Result<()> {
    sqlx::query("UPDATE user_roles SET tag = $1 WHERE user_id = $2 AND role = $3")
        .bind(tag)
        .bind(user_id)
        .bind(role)
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM user_roles_untagged WHERE user_id = $1 AND role = $2")
        .bind(user_id)
        .bind(role)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

pub async fn set_password(
    conn: &mut AnyConnection,
    user_id: i64,
    hash: &str,
    must_change: bool,
    now: &str,
) -> Result<()> {
    sqlx::query(
        "UPDATE users SET password_hash = $1, must_change_password = $2, password_changed_at = $3, updated_at = $3 \
         WHERE id = $4",
    )
    .bind(hash)
    .bind(i64::from(must_change))
    .bind(now)
    .bind(user_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The real-name level the identity platform last vouched for.
pub async fn set_real_name_level(
    conn: &mut AnyConnection,
    user_id: i64,
    level: &str,
    now: &str,
) -> Result<()> {
    sqlx::query("UPDATE users SET real_name_level = $1, updated_at = $2 WHERE id = $3")
        .bind(level)
        .bind(now)
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

pub async fn set_active(
    conn: &mut AnyConnection,
    user_id: i64,
    active: bool,
    now: &str,
) -> Result<()> {
    sqlx::query("UPDATE users SET active = $1, updated_at = $2 WHERE id = $3")
        .bind(i64::from(active))
        .bind(now)
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Staff of a department holding a role (for notifications and the queue).
pub async fn count(conn: &mut AnyConnection) -> Result<i64> {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users")
        .fetch_one(&mut *conn)
        .await?;
    Ok(n)
}

/// Records a failed login; at `threshold` consecutive failures the account is
/// locked until `lock_until` and the count starts again. Returns whether this
/// failure locked the account.
pub async fn record_failure(
    conn: &mut AnyConnection,
    user_id: i64,
    threshold: i64,
    lock_until: &str,
) -> Result<bool> {
    let (n,): (i64,) = sqlx::query_as(
        "UPDATE users SET failed_logins = failed_logins + 1 WHERE id = $1 RETURNING failed_logins",
    )
    .bind(user_id)
    .fetch_one(&mut *conn)
    .await?;
    if n < threshold {
        return Ok(false);
    }
    sqlx::query("UPDATE users SET failed_logins = 0, locked_until = $1 WHERE id = $2")
        .bind(lock_until)
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
    Ok(true)
}

/// A successful login clears the failure count and any expired lock.
pub async fn record_success(conn: &mut AnyConnection, user_id: i64) -> Result<()> {
    sqlx::query("UPDATE users SET failed_logins = 0, locked_until = NULL WHERE id = $1")
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}
