//! The outbox: messages for other systems, written with the change they
//! report and delivered by a worker.

use sqlx::AnyConnection;

use crate::error::Result;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OutboxRow {
    pub id: i64,
    pub counterpart: String,
    pub kind: String,
    pub aggregate: String,
    pub seq: i64,
    pub event_date: String,
    pub payload: String,
    pub content_sm3: String,
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: String,
    pub last_error: Option<String>,
    pub receipt: Option<String>,
    pub created_at: String,
    pub delivered_at: Option<String>,
}

const COLS: &str =
    "id, counterpart, kind, aggregate, seq, event_date, payload, content_sm3, status, attempts, \
                    next_attempt_at, last_error, receipt, created_at, delivered_at";

pub struct NewMessage<'a> {
    pub counterpart: &'a str,
    pub kind: &'a str,
    pub aggregate: &'a str,
    pub seq: i64,
    pub event_date: &'a str,
    pub payload: &'a str,
    pub content_sm3: &'a str,
    pub now: &'a str,
}

/// The next sequence number of an aggregate at a counterpart.
pub async fn next_seq(conn: &mut AnyConnection, counterpart: &str, aggregate: &str) -> Result<i64> {
    let (n,): (i64,) = sqlx::query_as(
        "SELECT COALESCE(MAX(seq), 0) + 1 FROM outbox WHERE counterpart = $1 AND aggregate = $2",
    )
    .bind(counterpart)
    .bind(aggregate)
    .fetch_one(&mut *conn)
    .await?;
    Ok(n)
}

pub async fn insert(conn: &mut AnyConnection, m: &NewMessage<'_>) -> Result<()> {
    sqlx::query(
        "INSERT INTO outbox (counterpart, kind, aggregate, seq, event_date, payload, content_sm3, status, attempts, \
         next_attempt_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', 0, $8, $8)",
    )
    .bind(m.counterpart)
    .bind(m.kind)
    .bind(m.aggregate)
    .bind(m.seq)
    .bind(m.event_date)
    .bind(m.payload)
    .bind(m.content_sm3)
    .bind(m.now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Messages due now whose predecessors in their aggregate are all delivered
/// (per-aggregate order), oldest first.
pub async fn due(
    conn: &mut AnyConnection,
    counterpart: &str,
    now: &str,
    limit: i64,
) -> Result<Vec<OutboxRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLS} FROM outbox o WHERE o.counterpart = $1 AND o.status = 'pending' AND o.next_attempt_at <= $2 \
         AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.counterpart = o.counterpart AND p.aggregate = o.aggregate \
                         AND p.seq < o.seq AND p.status <> 'delivered') \
         ORDER BY o.id LIMIT $3"
    ))
    .bind(counterpart)
    .bind(now)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?)
}

pub async fn mark_delivered(
    conn: &mut AnyConnection,
    id: i64,
    receipt: &str,
    now: &str,
) -> Result<()> {
    sqlx::query(
        "UPDATE outbox SET status = 'delivered', receipt = $1, delivered_at = $2, attempts = attempts + 1, \
         last_error = NULL WHERE id = $3",
    )
    .bind(receipt)
    .bind(now)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn mark_retry(
    conn: &mut AnyConnection,
    id: i64,
    error: &str,
    next_at: &str,
) -> Result<()> {
    sqlx::query(
        "UPDATE outbox SET attempts = attempts + 1, last_error = $1, next_attempt_at = $2 WHERE id = $3",
    )
    .bind(error)
    .bind(next_at)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn mark_failed(conn: &mut AnyConnection, id: i64, error: &str) -> Result<()> {
    sqlx::query(
        "UPDATE outbox SET status = 'failed', attempts = attempts + 1, last_error = $1 WHERE id = $2",
    )
    .bind(error)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Puts failed messages (all, or one aggregate's) back in the queue.
pub async fn requeue_failed(
    conn: &mut AnyConnection,
    counterpart: &str,
    aggregate: Option<&str>,
    now: &str,
) -> Result<u64> {
    let q = match aggregate {
        Some(a) => sqlx::query(
            "UPDATE outbox SET status = 'pending', next_attempt_at = $1 WHERE counterpart = $2 AND status = 'failed' \
             AND aggregate = $3",
        )
        .bind(now)
        .bind(counterpart)
        .bind(a),
        None => sqlx::query(
            "UPDATE outbox SET status = 'pending', next_attempt_at = $1 WHERE counterpart = $2 AND status = 'failed'",
        )
        .bind(now)
        .bind(counterpart),
    };
    Ok(q.execute(&mut *conn).await?.rows_affected())
}

/// Marks a delivered message to be sent again (reconciliation found it missing).
pub async fn requeue(
    conn: &mut AnyConnection,
    counterpart: &str,
    aggregate: &str,
    seq: i64,
    now: &str,
) -> Result<u64> {
    Ok(sqlx::query(
        "UPDATE outbox SET status = 'pending', next_attempt_at = $1 WHERE counterpart = $2 AND aggregate = $3 AND seq = $4 \
         AND status <> 'pending'",
    )
    .bind(now)
    .bind(counterpart)
    .bind(aggregate)
    .bind(seq)
    .execute(&mut *conn)
    .await?
    .rows_affected())
}

/// Every message of a counterpart for a Beijing date (for reconciliation).
pub async fn for_date(
    conn: &mut AnyConnection,
    counterpart: &str,
    date: &str,
) -> Result<Vec<OutboxRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLS} FROM outbox WHERE counterpart = $1 AND event_date = $2 ORDER BY id"
    ))
    .bind(counterpart)
    .bind(date)
    .fetch_all(&mut *conn)
    .await?)
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Depth {
    pub pending: i64,
    pub failed: i64,
    pub delivered: i64,
    /// Creation time of the oldest message not yet delivered.
    pub oldest_pending_at: Option<String>,
}

pub async fn depth(conn: &mut AnyConnection, counterpart: &str) -> Result<Depth> {
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT status, COUNT(*) FROM outbox WHERE counterpart = $1 GROUP BY status",
    )
    .bind(counterpart)
    .fetch_all(&mut *conn)
    .await?;
    let mut d = Depth::default();
    for (s, n) in rows {
        match s.as_str() {
            "pending" => d.pending = n,
            "failed" => d.failed = n,
            "delivered" => d.delivered = n,
            _ => {}
        }
    }
    let (oldest,): (Option<String>,) = sqlx::query_as(
        "SELECT MIN(created_at) FROM outbox WHERE counterpart = $1 AND status <> 'delivered'",
    )
    .bind(counterpart)
    .fetch_one(&mut *conn)
    .await?;
    d.oldest_pending_at = oldest;
    Ok(d)
}

/// Marks every message of an aggregate delivered (the licence it seals was
/// issued).
pub async fn mark_delivered_aggregate(
    conn: &mut AnyConnection,
    counterpart: &str,
    aggregate: &str,
    receipt: &str,
    now: &str,
) -> Result<u64> {
    Ok(sqlx::query(
        "UPDATE outbox SET status = 'delivered', receipt = $1, delivered_at = $2, attempts = attempts + 1, \
         last_error = NULL WHERE counterpart = $3 AND aggregate = $4 AND status <> 'delivered'",
    )
    .bind(receipt)
    .bind(now)
    .bind(counterpart)
    .bind(aggregate)
    .execute(&mut *conn)
    .await?
    .rows_affected())
}

/// The status and last error of an aggregate's first undelivered message,
/// if any.
pub async fn undelivered(
    conn: &mut AnyConnection,
    counterpart: &str,
    aggregate: &str,
) -> Result<Option<(String, Option<String>)>> {
    Ok(sqlx::query_as(
        "SELECT status, last_error FROM outbox WHERE counterpart = $1 AND aggregate = $2 AND status <> 'delivered' \
         ORDER BY seq LIMIT 1",
    )
    .bind(counterpart)
    .bind(aggregate)
    .fetch_optional(&mut *conn)
    .await?)
}

/// Makes every pending message of a counterpart due now (the cause of their
/// wait was just corrected).
pub async fn release_waiting(
    conn: &mut AnyConnection,
    counterpart: &str,
    now: &str,
) -> Result<u64> {
    Ok(sqlx::query(
        "UPDATE outbox SET next_attempt_at = $1 WHERE counterpart = $2 AND status = 'pending' AND next_attempt_at > $1",
    )
    .bind(now)
    .bind(counterpart)
    .execute(&mut *conn)
    .await?
    .rows_affected())
}

/// What still waits at a counterpart: the part of [`Depth`] a probe needs.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Backlog {
    pub pending: i64,
    pub failed: i64,
    /// Creation time of the oldest message not yet delivered.
    pub oldest_pending_at: Option<String>,
}

/// The pending and failed messages of a counterpart. Cheap enough for every
/// `/readyz` and `/metrics` probe: it reads only the `(counterpart, status)`
/// ranges of the `outbox_due` index, never the delivered rows, which grow
/// without bound.
pub async fn backlog(conn: &mut AnyConnection, counterpart: &str) -> Result<Backlog> {
    let rows: Vec<(String, i64, Option<String>)> = sqlx::query_as(
        "SELECT status, COUNT(*), MIN(created_at) FROM outbox \
         WHERE counterpart = $1 AND status IN ('pending', 'failed') GROUP BY status",
    )
    .bind(counterpart)
    .fetch_all(&mut *conn)
    .await?;
    let mut b = Backlog::default();
    for (status, n, oldest) in rows {
        match status.as_str() {
            "pending" => b.pending = n,
            "failed" => b.failed = n,
            _ => continue,
        }
        if oldest.is_some() && (b.oldest_pending_at.is_none() || oldest < b.oldest_pending_at) {
            b.oldest_pending_at = oldest;
        }
    }
    Ok(b)
}

/// The counterparts that have messages in the table, in name order. A loose
/// index scan (one index probe per counterpart, on SQLite and PostgreSQL
/// alike) rather than `SELECT DISTINCT`, which would read every row.
pub async fn counterparts(conn: &mut AnyConnection) -> Result<Vec<String>> {
    let rows: Vec<(Option<String>,)> = sqlx::query_as(
        "WITH RECURSIVE c(name) AS ( \
           SELECT MIN(counterpart) FROM outbox \
           UNION ALL \
           SELECT (SELECT MIN(o.counterpart) FROM outbox o WHERE o.counterpart > c.name) \
           FROM c WHERE c.name IS NOT NULL \
         ) SELECT name FROM c WHERE name IS NOT NULL",
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows.into_iter().filter_map(|(n,)| n).collect())
}
