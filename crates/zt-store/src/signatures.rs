//! SM2 signatures over decisions, stored beside the case.

use sqlx::AnyConnection;

use crate::error::Result;

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct SignatureRow {
    pub id: i64,
    pub case_id: i64,
    pub case_no: String,
    pub event_seq: i64,
    pub decision: String,
    pub payload: String,
    pub signature: String,
    pub key_id: String,
    pub signed_at: String,
}

pub struct NewSignature<'a> {
    pub case_id: i64,
    pub case_no: &'a str,
    pub event_seq: i64,
    pub decision: &'a str,
    pub payload: &'a str,
    pub signature: &'a str,
    pub key_id: &'a str,
    pub signed_at: &'a str,
}

pub async fn insert(conn: &mut AnyConnection, s: &NewSignature<'_>) -> Result<()> {
    sqlx::query(
        "INSERT INTO decision_signatures (case_id, case_no, event_seq, decision, payload, signature, key_id, signed_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(s.case_id)
    .bind(s.case_no)
    .bind(s.event_seq)
    .bind(s.decision)
    .bind(s.payload)
    .bind(s.signature)
    .bind(s.key_id)
    .bind(s.signed_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

const COLS: &str =
    "id, case_id, case_no, event_seq, decision, payload, signature, key_id, signed_at";

pub async fn for_case(conn: &mut AnyConnection, case_id: i64) -> Result<Vec<SignatureRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLS} FROM decision_signatures WHERE case_id = $1 ORDER BY event_seq"
    ))
    .bind(case_id)
    .fetch_all(&mut *conn)
    .await?)
}

/// A page of all signatures in id order (for verifying them all).
pub async fn page(
    conn: &mut AnyConnection,
    after_id: i64,
    limit: i64,
) -> Result<Vec<SignatureRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLS} FROM decision_signatures WHERE id > $1 ORDER BY id LIMIT $2"
    ))
    .bind(after_id)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?)
}
