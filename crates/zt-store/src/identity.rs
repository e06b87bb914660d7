//! Accounts linked to the unified identity platform, logins in flight and the
//! back-channel logout tokens already seen.

use sqlx::AnyConnection;

use crate::error::Result;

/// The local user linked to the platform's `sub`.
pub async fn link_of(conn: &mut AnyConnection, provider: &str, sub: &str) -> Result<Option<i64>> {
    let row: Option<(i64,)> =
        sqlx::query_as("SELECT user_id FROM identity_links WHERE provider = $1 AND sub = $2")
            .bind(provider)
            .bind(sub)
            .fetch_optional(&mut *conn)
            .await?;
    Ok(row.map(|r| r.0))
}

/// The platform subjects linked to a local user.
pub async fn links_of_user(
    conn: &mut AnyConnection,
    user_id: i64,
) -> Result<Vec<(String, String)>> {
    Ok(
        sqlx::query_as("SELECT provider, sub FROM identity_links WHERE user_id = $1")
            .bind(user_id)
            .fetch_all(&mut *conn)
            .await?,
    )
}

pub async fn insert_link(
    conn: &mut AnyConnection,
    provider: &str,
    sub: &str,
    user_id: i64,
    now: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO identity_links (provider, sub, user_id, created_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(provider)
    .bind(sub)
    .bind(user_id)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Keeps a login in flight (`data` sealed by the caller).
pub async fn insert_pending(
    conn: &mut AnyConnection,
    state: &str,
    data: &str,
    now: &str,
) -> Result<()> {
    sqlx::query("INSERT INTO oidc_pending (state, data, created_at) VALUES ($1, $2, $3)")
        .bind(state)
        .bind(data)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Takes a login in flight: returns its data and created_at, and deletes it.
pub async fn take_pending(
    conn: &mut AnyConnection,
    state: &str,
) -> Result<Option<(String, String)>> {
    let row: Option<(String, String)> =
        sqlx::query_as("SELECT data, created_at FROM oidc_pending WHERE state = $1")
            .bind(state)
            .fetch_optional(&mut *conn)
            .await?;
    if row.is_some() {
        sqlx::query("DELETE FROM oidc_pending WHERE state = $1")
            .bind(state)
            .execute(&mut *conn)
            .await?;
    }
    Ok(row)
}

/// Forgets logins begun before `before`.
pub async fn delete_pending_before(conn: &mut AnyConnection, before: &str) -> Result<u64> {
    Ok(
        sqlx::query("DELETE FROM oidc_pending WHERE created_at < $1")
            .bind(before)
            .execute(&mut *conn)
            .await?
            .rows_affected(),
    )
}

/// Records a logout token's `jti`; false if it was seen before (a replay).
pub async fn record_logout_jti(conn: &mut AnyConnection, jti: &str, now: &str) -> Result<bool> {
    let seen: Option<(String,)> = sqlx::query_as("SELECT jti FROM oidc_logout_jti WHERE jti = $1")
        .bind(jti)
        .fetch_optional(&mut *conn)
        .await?;
    if seen.is_some() {
        return Ok(false);
    }
    sqlx::query("INSERT INTO oidc_logout_jti (jti, seen_at) VALUES ($1, $2)")
        .bind(jti)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    Ok(true)
}

/// Forgets logout token ids seen before `before` (older tokens are refused
/// by their age anyway).
pub async fn delete_logout_jti_before(conn: &mut AnyConnection, before: &str) -> Result<u64> {
    Ok(
        sqlx::query("DELETE FROM oidc_logout_jti WHERE seen_at < $1")
            .bind(before)
            .execute(&mut *conn)
            .await?
            .rows_affected(),
    )
}
