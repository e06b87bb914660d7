//! Results of reconciliations with a counterpart, newest last written.

use sqlx::AnyConnection;

use crate::error::Result;

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct ReconciliationRow {
    pub id: i64,
    pub counterpart: String,
    pub event_date: String,
    pub ran_at: String,
    pub local_count: i64,
    pub remote_count: i64,
    pub equal: i64,
    pub repushed: i64,
    pub conflicts: String,
    pub pending: i64,
    pub error: Option<String>,
}

const COLS: &str =
    "id, counterpart, event_date, ran_at, local_count, remote_count, equal, repushed, \
     conflicts, pending, error";

pub struct NewReconciliation<'a> {
    pub counterpart: &'a str,
    pub event_date: &'a str,
    pub ran_at: &'a str,
    pub local_count: i64,
    pub remote_count: i64,
    pub equal: bool,
    pub repushed: i64,
    pub conflicts: &'a str,
    pub pending: i64,
    pub error: Option<&'a str>,
}

pub async fn insert(conn: &mut AnyConnection, r: &NewReconciliation<'_>) -> Result<()> {
    sqlx::query(
        "INSERT INTO reconciliations (counterpart, event_date, ran_at, local_count, remote_count, equal, \
         repushed, conflicts, pending, error) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(r.counterpart)
    .bind(r.event_date)
    .bind(r.ran_at)
    .bind(r.local_count)
    .bind(r.remote_count)
    .bind(i64::from(r.equal))
    .bind(r.repushed)
    .bind(r.conflicts)
    .bind(r.pending)
    .bind(r.error)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The newest results, newest first.
pub async fn latest(
    conn: &mut AnyConnection,
    counterpart: &str,
    limit: i64,
) -> Result<Vec<ReconciliationRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLS} FROM reconciliations WHERE counterpart = $1 ORDER BY id DESC LIMIT $2"
    ))
    .bind(counterpart)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?)
}

/// Whether a day was reconciled with nothing left over (equal, no conflict,
/// nothing pending).
pub async fn settled(conn: &mut AnyConnection, counterpart: &str, date: &str) -> Result<bool> {
    let (n,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM reconciliations WHERE counterpart = $1 AND event_date = $2 AND equal = 1 \
         AND conflicts = '[]' AND pending = 0 AND error IS NULL",
    )
    .bind(counterpart)
    .bind(date)
    .fetch_one(&mut *conn)
    .await?;
    Ok(n > 0)
}
