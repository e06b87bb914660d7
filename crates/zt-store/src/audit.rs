//! Audit records: who did what to which object, from where, with what result.
//! Written in the same transaction as the change they record.

use sqlx::AnyConnection;

use crate::error::Result;

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct AuditRow {
    pub id: i64,
    pub at: String,
    pub actor_id: Option<i64>,
    pub actor_name: String,
    pub client_addr: String,
    pub action: String,
    pub object: String,
    pub result: String,
    pub detail: String,
}

#[derive(Debug, Clone)]
pub struct NewAudit<'a> {
    pub at: &'a str,
    pub actor_id: Option<i64>,
    pub actor_name: &'a str,
    pub client_addr: &'a str,
    pub action: &'a str,
    pub object: &'a str,
    pub result: &'a str,
    pub detail: &'a str,
}

pub async fn insert(conn: &mut AnyConnection, a: &NewAudit<'_>) -> Result<i64> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO audit_records (at, actor_id, actor_name, client_addr, action, object, result, detail) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(a.at)
    .bind(a.actor_id)
    .bind(a.actor_name)
    .bind(a.client_addr)
    .bind(a.action)
    .bind(a.object)
    .bind(a.result)
    .bind(a.detail)
    .fetch_one(&mut *conn)
    .await?;
    Ok(id)
}

pub async fn list(
    conn: &mut AnyConnection,
    object: Option<&str>,
    limit: i64,
) -> Result<Vec<AuditRow>> {
    let sql = "SELECT id, at, actor_id, actor_name, client_addr, action, object, result, detail FROM audit_records";
    Ok(match object {
        Some(o) => {
            sqlx::query_as(&format!(
                "{sql} WHERE object = $1 ORDER BY id DESC LIMIT $2"
            ))
            .bind(o)
            .bind(limit)
            .fetch_all(&mut *conn)
            .await?
        }
        None => {
            sqlx::query_as(&format!("{sql} ORDER BY id DESC LIMIT $1"))
                .bind(limit)
                .fetch_all(&mut *conn)
                .await?
        }
    })
}
