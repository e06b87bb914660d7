//! 站内信: in-app messages to applicants.

use sqlx::AnyConnection;

use crate::error::Result;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct NotificationRow {
    pub id: i64,
    pub user_id: i64,
    pub case_no: Option<String>,
    pub title: String,
    pub body: String,
    pub created_at: String,
    pub read_at: Option<String>,
}

pub async fn insert(
    conn: &mut AnyConnection,
    user_id: i64,
    case_id: Option<i64>,
    title: &str,
    body: &str,
    now: &str,
) -> Result<i64> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO notifications (user_id, case_id, title, body, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(user_id)
    .bind(case_id)
    .bind(title)
    .bind(body)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    Ok(id)
}

pub async fn list(
    conn: &mut AnyConnection,
    user_id: i64,
    limit: i64,
) -> Result<Vec<NotificationRow>> {
    Ok(sqlx::query_as(
        "SELECT n.id, n.user_id, c.case_no, n.title, n.body, n.created_at, n.read_at FROM notifications n \
         LEFT JOIN cases c ON c.id = n.case_id WHERE n.user_id = $1 ORDER BY n.id DESC LIMIT $2",
    )
    .bind(user_id)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?)
}

pub async fn unread_count(conn: &mut AnyConnection, user_id: i64) -> Result<i64> {
    let (n,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM notifications WHERE user_id = $1 AND read_at IS NULL")
            .bind(user_id)
            .fetch_one(&mut *conn)
            .await?;
    Ok(n)
}

pub async fn mark_all_read(conn: &mut AnyConnection, user_id: i64, now: &str) -> Result<u64> {
    Ok(
        sqlx::query("UPDATE notifications SET read_at = $1 WHERE user_id = $2 AND read_at IS NULL")
            .bind(now)
            .bind(user_id)
            .execute(&mut *conn)
            .await?
            .rows_affected(),
    )
}
