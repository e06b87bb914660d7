//! TOTP enrolments and recovery codes. The secret arrives sealed; recovery
//! codes arrive as fingerprints. This layer never sees either in clear.

use sqlx::AnyConnection;

use crate::error::Result;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TotpRow {
    pub user_id: i64,
    pub secret: String,
    pub confirmed_at: Option<String>,
    pub last_step: Option<i64>,
    pub created_at: String,
}

impl TotpRow {
    pub fn confirmed(&self) -> bool {
        self.confirmed_at.is_some()
    }
}

pub async fn get(conn: &mut AnyConnection, user_id: i64) -> Result<Option<TotpRow>> {
    Ok(sqlx::query_as(
        "SELECT user_id, secret, confirmed_at, last_step, created_at FROM user_totp WHERE user_id = $1",
    )
    .bind(user_id)
    .fetch_optional(&mut *conn)
    .await?)
}

/// Starts (or restarts) an enrolment that is not confirmed yet.
pub async fn put_pending(
    conn: &mut AnyConnection,
    user_id: i64,
    sealed_secret: &str,
    now: &str,
) -> Result<()> {
    sqlx::query("DELETE FROM user_totp WHERE user_id = $1 AND confirmed_at IS NULL")
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO user_totp (user_id, secret, confirmed_at, last_step, created_at) VALUES ($1, $2, NULL, NULL, $3)",
    )
    .bind(user_id)
    .bind(sealed_secret)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Records an accepted code's time step; false when a code of that step or a
/// later one was already accepted (a replay, or a concurrent use).
pub async fn use_step(
    conn: &mut AnyConnection,
    user_id: i64,
    step: i64,
    confirm_at: Option<&str>,
) -> Result<bool> {
    let n = sqlx::query(
        "UPDATE user_totp SET last_step = $1, confirmed_at = COALESCE(confirmed_at, $2) \
         WHERE user_id = $3 AND (last_step IS NULL OR last_step < $1)",
    )
    .bind(step)
    .bind(confirm_at)
    .bind(user_id)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// Removes the enrolment and every recovery code.
pub async fn remove(conn: &mut AnyConnection, user_id: i64) -> Result<u64> {
    sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
    Ok(sqlx::query("DELETE FROM user_totp WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *conn)
        .await?
        .rows_affected())
}

/// Replaces the user's recovery codes.
pub async fn set_recovery_codes(
    conn: &mut AnyConnection,
    user_id: i64,
    fingerprints: &[String],
    now: &str,
) -> Result<()> {
    sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
    for f in fingerprints {
        sqlx::query(
            "INSERT INTO recovery_codes (user_id, fingerprint, created_at) VALUES ($1, $2, $3)",
        )
        .bind(user_id)
        .bind(f)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Uses up a recovery code; false when there is no such unused code.
pub async fn use_recovery_code(
    conn: &mut AnyConnection,
    user_id: i64,
    fingerprint: &str,
    now: &str,
) -> Result<bool> {
    Ok(sqlx::query(
        "UPDATE recovery_codes SET used_at = $1 WHERE user_id = $2 AND fingerprint = $3 AND used_at IS NULL",
    )
    .bind(now)
    .bind(user_id)
    .bind(fingerprint)
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1)
}

pub async fn unused_recovery_codes(conn: &mut AnyConnection, user_id: i64) -> Result<i64> {
    let (n,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL",
    )
    .bind(user_id)
    .fetch_one(&mut *conn)
    .await?;
    Ok(n)
}
