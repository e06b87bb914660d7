//! Electronic licences: the row decided at completion and the sealed
//! document's fingerprint once it is stored.

use sqlx::AnyConnection;

use crate::error::Result;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LicenceRow {
    pub id: i64,
    pub licence_no: String,
    pub case_id: i64,
    pub case_no: String,
    pub holder_user_id: i64,
    pub content: String,
    pub status: String,
    pub issue_date: String,
    pub valid_until: Option<String>,
    pub file_key: Option<String>,
    pub document_sm3: Option<String>,
    pub document_bytes: Option<i64>,
    pub seal_code: Option<String>,
    pub signature_id: Option<String>,
    pub signed_at: Option<String>,
    pub cert_serial_hex: Option<String>,
    pub created_at: String,
    pub issued_at: Option<String>,
    pub updated_at: String,
}

const COLS: &str = "id, licence_no, case_id, case_no, holder_user_id, content, status, issue_date, valid_until, \
     file_key, document_sm3, document_bytes, seal_code, signature_id, signed_at, cert_serial_hex, created_at, \
     issued_at, updated_at";

pub struct NewLicence<'a> {
    pub licence_no: &'a str,
    pub case_id: i64,
    pub case_no: &'a str,
    pub holder_user_id: i64,
    pub content: &'a str,
    pub issue_date: &'a str,
    pub valid_until: Option<&'a str>,
    pub now: &'a str,
}

pub async fn insert(conn: &mut AnyConnection, l: &NewLicence<'_>) -> Result<()> {
    sqlx::query(
        "INSERT INTO licences (licence_no, case_id, case_no, holder_user_id, content, status, issue_date, \
         valid_until, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 'pending_seal', $6, $7, $8, $8)",
    )
    .bind(l.licence_no)
    .bind(l.case_id)
    .bind(l.case_no)
    .bind(l.holder_user_id)
    .bind(l.content)
    .bind(l.issue_date)
    .bind(l.valid_until)
    .bind(l.now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn by_no(conn: &mut AnyConnection, licence_no: &str) -> Result<Option<LicenceRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLS} FROM licences WHERE licence_no = $1"
    ))
    .bind(licence_no)
    .fetch_optional(&mut *conn)
    .await?)
}

pub async fn by_case(conn: &mut AnyConnection, case_id: i64) -> Result<Option<LicenceRow>> {
    Ok(
        sqlx::query_as(&format!("SELECT {COLS} FROM licences WHERE case_id = $1"))
            .bind(case_id)
            .fetch_optional(&mut *conn)
            .await?,
    )
}

pub async fn by_case_no(conn: &mut AnyConnection, case_no: &str) -> Result<Option<LicenceRow>> {
    Ok(
        sqlx::query_as(&format!("SELECT {COLS} FROM licences WHERE case_no = $1"))
            .bind(case_no)
            .fetch_optional(&mut *conn)
            .await?,
    )
}

pub struct Sealed<'a> {
    pub file_key: &'a str,
    pub document_sm3: &'a str,
    pub document_bytes: i64,
    pub seal_code: &'a str,
    pub signature_id: &'a str,
    pub signed_at: &'a str,
    pub cert_serial_hex: &'a str,
    pub now: &'a str,
}

/// Records the stored sealed document; only a licence still pending seal
/// changes (0 rows: it was issued by another attempt meanwhile).
pub async fn mark_issued(conn: &mut AnyConnection, id: i64, s: &Sealed<'_>) -> Result<u64> {
    Ok(sqlx::query(
        "UPDATE licences SET status = 'issued', file_key = $1, document_sm3 = $2, document_bytes = $3, \
         seal_code = $4, signature_id = $5, signed_at = $6, cert_serial_hex = $7, issued_at = $8, updated_at = $8 \
         WHERE id = $9 AND status = 'pending_seal'",
    )
    .bind(s.file_key)
    .bind(s.document_sm3)
    .bind(s.document_bytes)
    .bind(s.seal_code)
    .bind(s.signature_id)
    .bind(s.signed_at)
    .bind(s.cert_serial_hex)
    .bind(s.now)
    .bind(id)
    .execute(&mut *conn)
    .await?
    .rows_affected())
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Counts {
    pub pending_seal: i64,
    pub issued: i64,
    pub revoked: i64,
}

pub async fn counts(conn: &mut AnyConnection) -> Result<Counts> {
    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT status, COUNT(*) FROM licences GROUP BY status")
            .fetch_all(&mut *conn)
            .await?;
    let mut c = Counts::default();
    for (s, n) in rows {
        match s.as_str() {
            "pending_seal" => c.pending_seal = n,
            "issued" => c.issued = n,
            "revoked" => c.revoked = n,
            _ => {}
        }
    }
    Ok(c)
}
