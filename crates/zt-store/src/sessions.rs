//! Login sessions. The table holds the SM3 of the cookie value, never the value.

use sqlx::AnyConnection;

use crate::error::Result;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionRow {
    pub id: String,
    pub user_id: i64,
    pub csrf_token: String,
    pub client_addr: String,
    pub created_at: String,
    pub last_seen_at: String,
    pub expires_at: String,
    /// When the second factor was given in this session (None: not yet).
    pub second_factor_at: Option<String>,
    /// The identity platform's session (`sid`) when opened through it.
    pub idp_sid: Option<String>,
    /// The identity platform's subject (`sub`) when opened through it.
    pub idp_sub: Option<String>,
    /// The OpenID Connect ID token of the login (sealed by the caller): the
    /// `id_token_hint` of RP-initiated logout.
    pub idp_id_token: Option<String>,
    /// SM3 (hex) of the CAS service ticket the session was created from.
    pub cas_ticket_sm3: Option<String>,
}

const COLUMNS: &str =
    "id, user_id, csrf_token, client_addr, created_at, last_seen_at, expires_at, \
                       second_factor_at, idp_sid, idp_sub, idp_id_token, cas_ticket_sm3";

pub async fn insert(conn: &mut AnyConnection, s: &SessionRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO sessions (id, user_id, csrf_token, client_addr, created_at, last_seen_at, expires_at, second_factor_at, idp_sid, idp_sub, idp_id_token, cas_ticket_sm3) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(&s.id)
    .bind(s.user_id)
    .bind(&s.csrf_token)
    .bind(&s.client_addr)
    .bind(&s.created_at)
    .bind(&s.last_seen_at)
    .bind(&s.expires_at)
    .bind(&s.second_factor_at)
    .bind(&s.idp_sid)
    .bind(&s.idp_sub)
    .bind(&s.idp_id_token)
    .bind(&s.cas_ticket_sm3)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn get(conn: &mut AnyConnection, id: &str) -> Result<Option<SessionRow>> {
    Ok(
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM sessions WHERE id = $1"))
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?,
    )
}

/// A user's sessions, newest first.
pub async fn for_user(conn: &mut AnyConnection, user_id: i64) -> Result<Vec<SessionRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM sessions WHERE user_id = $1 ORDER BY created_at DESC"
    ))
    .bind(user_id)
    .fetch_all(&mut *conn)
    .await?)
}

/// Marks the session's second factor as given.
pub async fn mark_second_factor(conn: &mut AnyConnection, id: &str, now: &str) -> Result<()> {
    sqlx::query("UPDATE sessions SET second_factor_at = $1 WHERE id = $2")
        .bind(now)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

pub async fn touch(conn: &mut AnyConnection, id: &str, now: &str) -> Result<()> {
    sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE id = $2")
        .bind(now)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

pub async fn delete(conn: &mut AnyConnection, id: &str) -> Result<()> {
    sqlx::query("DELETE FROM sessions WHERE id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

pub async fn delete_for_user(conn: &mut AnyConnection, user_id: i64) -> Result<u64> {
    Ok(sqlx::query("DELETE FROM sessions WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *conn)
        .await?
        .rows_affected())
}

pub async fn delete_expired(conn: &mut AnyConnection, now: &str) -> Result<u64> {
    Ok(sqlx::query("DELETE FROM sessions WHERE expires_at < $1")
        .bind(now)
        .execute(&mut *conn)
        .await?
        .rows_affected())
}

/// Ends the sessions opened through the identity platform's session `sid`.
pub async fn delete_by_idp_sid(conn: &mut AnyConnection, sid: &str) -> Result<u64> {
    Ok(sqlx::query("DELETE FROM sessions WHERE idp_sid = $1")
        .bind(sid)
        .execute(&mut *conn)
        .await?
        .rows_affected())
}

/// Ends every session opened through the identity platform for `sub`.
pub async fn delete_by_idp_sub(conn: &mut AnyConnection, sub: &str) -> Result<u64> {
    Ok(sqlx::query("DELETE FROM sessions WHERE idp_sub = $1")
        .bind(sub)
        .execute(&mut *conn)
        .await?
        .rows_affected())
}

/// Ends the sessions created from a CAS service ticket (by its SM3); returns
/// the users whose sessions ended.
pub async fn delete_by_cas_ticket(conn: &mut AnyConnection, ticket_sm3: &str) -> Result<Vec<i64>> {
    let users: Vec<(i64,)> =
        sqlx::query_as("SELECT DISTINCT user_id FROM sessions WHERE cas_ticket_sm3 = $1")
            .bind(ticket_sm3)
            .fetch_all(&mut *conn)
            .await?;
    sqlx::query("DELETE FROM sessions WHERE cas_ticket_sm3 = $1")
        .bind(ticket_sm3)
        .execute(&mut *conn)
        .await?;
    Ok(users.into_iter().map(|r| r.0).collect())
}

/// The users whose sessions carry the identity platform's `sid` or `sub`.
pub async fn users_by_idp(
    conn: &mut AnyConnection,
    sid: Option<&str>,
    sub: Option<&str>,
) -> Result<Vec<i64>> {
    let rows: Vec<(i64,)> = match sid {
        Some(sid) => {
            sqlx::query_as("SELECT DISTINCT user_id FROM sessions WHERE idp_sid = $1")
                .bind(sid)
                .fetch_all(&mut *conn)
                .await?
        }
        None => {
            sqlx::query_as("SELECT DISTINCT user_id FROM sessions WHERE idp_sub = $1")
                .bind(sub.unwrap_or(""))
                .fetch_all(&mut *conn)
                .await?
        }
    };
    Ok(rows.into_iter().map(|r| r.0).collect())
}
