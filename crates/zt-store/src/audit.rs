//! Audit records: who did what to which object, from where, with what result.
//! Written in the same transaction as the change they record.
//!
//! The records form an SM3 hash chain. Each record's `hash` covers its id, its
//! content and its predecessor's hash, so altering, deleting or reordering a
//! record breaks the chain at that record. Writers serialise on the single
//! `audit_head` row, which is what gives the chain one order when PostgreSQL
//! commits transactions concurrently; ids are assigned under that lock.

use serde::Serialize;
use sqlx::AnyConnection;

use crate::error::{Result, StoreError};
use crate::files::sm3_hex;

/// The predecessor of the first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

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
    pub prev_hash: String,
    pub hash: String,
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

/// The hash of a record: SM3 over a JSON array of its fields, which encodes
/// every field unambiguously (no separator can be forged inside a value).
fn record_hash(id: i64, a: &NewAudit<'_>, prev_hash: &str) -> String {
    let canonical = serde_json::json!([
        id,
        a.at,
        a.actor_id,
        a.actor_name,
        a.client_addr,
        a.action,
        a.object,
        a.result,
        a.detail,
        prev_hash
    ]);
    sm3_hex(canonical.to_string().as_bytes())
}

impl AuditRow {
    fn content(&self) -> NewAudit<'_> {
        NewAudit {
            at: &self.at,
            actor_id: self.actor_id,
            actor_name: &self.actor_name,
            client_addr: &self.client_addr,
            action: &self.action,
            object: &self.object,
            result: &self.result,
            detail: &self.detail,
        }
    }

    /// What the record's hash should be, given its stored content.
    pub fn expected_hash(&self) -> String {
        record_hash(self.id, &self.content(), &self.prev_hash)
    }
}

/// Locks the chain's head for the rest of the transaction and returns it.
async fn lock_head(conn: &mut AnyConnection) -> Result<(i64, String)> {
    // An UPDATE takes the row lock on PostgreSQL (SELECT … FOR UPDATE is not
    // portable to SQLite, whose single writer needs no lock).
    sqlx::query("UPDATE audit_head SET last_id = last_id WHERE id = 1")
        .execute(&mut *conn)
        .await?;
    Ok(
        sqlx::query_as("SELECT last_id, last_hash FROM audit_head WHERE id = 1")
            .fetch_one(&mut *conn)
            .await?,
    )
}

async fn set_head(conn: &mut AnyConnection, id: i64, hash: &str) -> Result<()> {
    sqlx::query("UPDATE audit_head SET last_id = $1, last_hash = $2 WHERE id = 1")
        .bind(id)
        .bind(hash)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

pub async fn insert(conn: &mut AnyConnection, a: &NewAudit<'_>) -> Result<i64> {
    let (last_id, last_hash) = lock_head(conn).await?;
    let id = last_id + 1;
    let hash = record_hash(id, a, &last_hash);
    sqlx::query(
        "INSERT INTO audit_records (id, at, actor_id, actor_name, client_addr, action, object, result, detail, prev_hash, hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(id)
    .bind(a.at)
    .bind(a.actor_id)
    .bind(a.actor_name)
    .bind(a.client_addr)
    .bind(a.action)
    .bind(a.object)
    .bind(a.result)
    .bind(a.detail)
    .bind(&last_hash)
    .bind(&hash)
    .execute(&mut *conn)
    .await?;
    set_head(conn, id, &hash).await?;
    Ok(id)
}

const COLUMNS: &str =
    "id, at, actor_id, actor_name, client_addr, action, object, result, detail, prev_hash, hash";

/// Chains records written before the chain existed (they have an empty hash),
/// in id order. Run by `migrate`; a no-op once everything is sealed.
pub async fn seal_unsealed(conn: &mut AnyConnection) -> Result<u64> {
    let (mut last_id, mut last_hash) = lock_head(conn).await?;
    let rows: Vec<AuditRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM audit_records WHERE hash = '' ORDER BY id"
    ))
    .fetch_all(&mut *conn)
    .await?;
    let n = rows.len() as u64;
    for mut r in rows {
        if r.id <= last_id {
            return Err(StoreError::Corrupt(format!(
                "unsealed audit record {} precedes the chain's head {last_id}",
                r.id
            )));
        }
        // `verify` expects dense ids (a gap is a deleted record), and the
        // old identity column left gaps at rolled-back inserts: renumber.
        let new_id = last_id + 1;
        r.prev_hash = last_hash.clone();
        let hash = record_hash(new_id, &r.content(), &r.prev_hash);
        sqlx::query("UPDATE audit_records SET id = $1, prev_hash = $2, hash = $3 WHERE id = $4")
            .bind(new_id)
            .bind(&r.prev_hash)
            .bind(&hash)
            .bind(r.id)
            .execute(&mut *conn)
            .await?;
        last_id = new_id;
        last_hash = hash;
    }
    set_head(conn, last_id, &last_hash).await?;
    Ok(n)
}

/// The chain's end as the head row records it.
pub async fn head(conn: &mut AnyConnection) -> Result<(i64, String)> {
    Ok(
        sqlx::query_as("SELECT last_id, last_hash FROM audit_head WHERE id = 1")
            .fetch_one(&mut *conn)
            .await?,
    )
}

/// A copy of the head kept apart from the chain, so that rewriting the chain
/// from some record onwards (recomputing every later hash) is still detected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, sqlx::FromRow)]
pub struct Anchor {
    pub at: String,
    pub record_id: i64,
    pub record_hash: String,
}

/// Records the current head as an anchor; `None` while the trail is empty.
pub async fn anchor(conn: &mut AnyConnection, at: &str) -> Result<Option<Anchor>> {
    let (record_id, record_hash) = head(conn).await?;
    if record_id == 0 {
        return Ok(None);
    }
    let a = Anchor {
        at: at.into(),
        record_id,
        record_hash,
    };
    sqlx::query("INSERT INTO audit_anchors (at, record_id, record_hash) VALUES ($1, $2, $3)")
        .bind(&a.at)
        .bind(a.record_id)
        .bind(&a.record_hash)
        .execute(&mut *conn)
        .await?;
    Ok(Some(a))
}

pub async fn anchors(conn: &mut AnyConnection) -> Result<Vec<Anchor>> {
    Ok(sqlx::query_as(
        "SELECT at, record_id, record_hash FROM audit_anchors ORDER BY record_id, id",
    )
    .fetch_all(&mut *conn)
    .await?)
}

/// Where the chain in the table begins: after the last archived record.
#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct ArchiveMark {
    pub at: String,
    pub through_id: i64,
    pub through_hash: String,
    pub records: i64,
    pub file_name: String,
    pub file_sm3: String,
}

pub async fn last_archive(conn: &mut AnyConnection) -> Result<Option<ArchiveMark>> {
    Ok(sqlx::query_as(
        "SELECT at, through_id, through_hash, records, file_name, file_sm3 FROM audit_archives \
         ORDER BY through_id DESC LIMIT 1",
    )
    .fetch_optional(&mut *conn)
    .await?)
}

/// What is wrong with the chain, at the first record where it goes wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Break {
    /// Records from `id` up to the next present one are gone.
    Missing { id: i64, next_present: Option<i64> },
    /// The record does not follow its predecessor: a record before it was
    /// removed or the order was changed.
    Unlinked { id: i64 },
    /// The record's content is not what was hashed when it was written.
    Altered { id: i64 },
    /// An anchor names a record the table no longer holds, or holds with a
    /// different hash: the chain was cut or rewritten after the anchor.
    AnchorMismatch { id: i64, anchored_hash: String },
    /// The head row does not name the last record.
    HeadMismatch { head_id: i64, last_id: i64 },
}

impl Break {
    pub fn record_id(&self) -> i64 {
        match self {
            Break::Missing { id, .. }
            | Break::Unlinked { id }
            | Break::Altered { id }
            | Break::AnchorMismatch { id, .. } => *id,
            Break::HeadMismatch { last_id, .. } => *last_id + 1,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Break::Missing { id, next_present: Some(n) } => {
                format!("records {id}..{} are missing (deleted)", n - 1)
            }
            Break::Missing { id, next_present: None } => {
                format!("records from {id} on are missing (deleted)")
            }
            Break::Unlinked { id } => format!(
                "record {id} does not follow its predecessor (a record was removed or the order changed)"
            ),
            Break::Altered { id } => format!("record {id} was altered after it was written"),
            Break::AnchorMismatch { id, .. } => format!(
                "record {id} differs from its anchored hash (the chain was cut or rewritten)"
            ),
            Break::HeadMismatch { head_id, last_id } => format!(
                "the chain ends at record {last_id} but its head names record {head_id} (records at the end were deleted)"
            ),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    pub records: u64,
    pub first_id: Option<i64>,
    pub last_id: Option<i64>,
    pub anchors_checked: usize,
    pub first_break: Option<Break>,
}

/// Walks the chain from the archive mark (or the beginning) in id order and
/// checks it against the given anchors (from the table and from outside the
/// database). Reports the first break.
pub async fn verify(conn: &mut AnyConnection, extra_anchors: &[Anchor]) -> Result<Verification> {
    const BATCH: i64 = 5_000;
    let (mut prev_id, mut prev_hash) = match last_archive(conn).await? {
        Some(m) => (m.through_id, m.through_hash),
        None => (0, GENESIS.to_string()),
    };
    let base_id = prev_id;
    let mut anchors = anchors(conn).await?;
    anchors.extend_from_slice(extra_anchors);
    anchors.sort_by_key(|a| a.record_id);
    anchors.retain(|a| a.record_id > base_id);
    let anchors_checked = anchors.len();
    let mut pending = anchors.iter().peekable();
    let mut v = Verification {
        records: 0,
        first_id: None,
        last_id: None,
        anchors_checked,
        first_break: None,
    };
    let mut breaks: Vec<Break> = Vec::new();
    'walk: loop {
        let rows: Vec<AuditRow> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM audit_records WHERE id > $1 ORDER BY id LIMIT $2"
        ))
        .bind(prev_id)
        .bind(BATCH)
        .fetch_all(&mut *conn)
        .await?;
        if rows.is_empty() {
            break;
        }
        for r in rows {
            v.records += 1;
            v.first_id.get_or_insert(r.id);
            v.last_id = Some(r.id);
            // Anchors for records that should have come before this one.
            while let Some(a) = pending.next_if(|a| a.record_id < r.id) {
                breaks.push(Break::AnchorMismatch {
                    id: a.record_id,
                    anchored_hash: a.record_hash.clone(),
                });
            }
            if r.id != prev_id + 1 {
                breaks.push(Break::Missing {
                    id: prev_id + 1,
                    next_present: Some(r.id),
                });
            } else if r.prev_hash != prev_hash {
                breaks.push(Break::Unlinked { id: r.id });
            } else if r.expected_hash() != r.hash {
                breaks.push(Break::Altered { id: r.id });
            }
            while let Some(a) = pending.next_if(|a| a.record_id == r.id) {
                if a.record_hash != r.hash {
                    breaks.push(Break::AnchorMismatch {
                        id: r.id,
                        anchored_hash: a.record_hash.clone(),
                    });
                }
            }
            if !breaks.is_empty() {
                break 'walk;
            }
            prev_id = r.id;
            prev_hash = r.hash;
        }
    }
    if breaks.is_empty() && pending.next().is_some() {
        breaks.push(Break::Missing {
            id: prev_id + 1,
            next_present: None,
        });
    }
    if breaks.is_empty() {
        let (head_id, _) = head(conn).await?;
        if head_id != prev_id {
            breaks.push(Break::HeadMismatch {
                head_id,
                last_id: prev_id,
            });
        }
    }
    v.first_break = breaks.into_iter().min_by_key(Break::record_id);
    Ok(v)
}

/// Filters for the audit administrator's search.
#[derive(Debug, Clone, Default)]
pub struct Search {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub object: Option<String>,
    pub result: Option<String>,
    /// Inclusive lower and exclusive upper bound on `at` (RFC 3339 UTC).
    pub from: Option<String>,
    pub until: Option<String>,
    /// Only records older than this id (paging backwards).
    pub before_id: Option<i64>,
}

/// Newest first.
pub async fn search(conn: &mut AnyConnection, s: &Search, limit: i64) -> Result<Vec<AuditRow>> {
    let mut sql = format!("SELECT {COLUMNS} FROM audit_records WHERE 1 = 1");
    let mut binds: Vec<String> = Vec::new();
    let mut push = |sql: &mut String, clause: &str, v: String| {
        binds.push(v);
        sql.push_str(&clause.replace('?', &format!("${}", binds.len())));
    };
    if let Some(v) = &s.actor {
        push(&mut sql, " AND actor_name = ?", v.clone());
    }
    if let Some(v) = &s.action {
        push(&mut sql, " AND action = ?", v.clone());
    }
    if let Some(v) = &s.object {
        push(&mut sql, " AND object = ?", v.clone());
    }
    if let Some(v) = &s.result {
        push(&mut sql, " AND result = ?", v.clone());
    }
    if let Some(v) = &s.from {
        push(&mut sql, " AND at >= ?", v.clone());
    }
    if let Some(v) = &s.until {
        push(&mut sql, " AND at < ?", v.clone());
    }
    let n = binds.len();
    if s.before_id.is_some() {
        sql.push_str(&format!(" AND id < ${}", n + 1));
    }
    sql.push_str(&format!(
        " ORDER BY id DESC LIMIT ${}",
        n + 1 + usize::from(s.before_id.is_some())
    ));
    let mut q = sqlx::query_as::<_, AuditRow>(&sql);
    for b in &binds {
        q = q.bind(b);
    }
    if let Some(id) = s.before_id {
        q = q.bind(id);
    }
    Ok(q.bind(limit).fetch_all(&mut *conn).await?)
}

pub async fn list(
    conn: &mut AnyConnection,
    object: Option<&str>,
    limit: i64,
) -> Result<Vec<AuditRow>> {
    search(
        conn,
        &Search {
            object: object.map(str::to_string),
            ..Search::default()
        },
        limit,
    )
    .await
}

/// Records with ids up to `through`, oldest first (for an archive file).
pub async fn through(conn: &mut AnyConnection, after: i64, through: i64) -> Result<Vec<AuditRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM audit_records WHERE id > $1 AND id <= $2 ORDER BY id"
    ))
    .bind(after)
    .bind(through)
    .fetch_all(&mut *conn)
    .await?)
}

/// The last record written before `before` (RFC 3339 UTC).
pub async fn last_before(conn: &mut AnyConnection, before: &str) -> Result<Option<(i64, String)>> {
    Ok(sqlx::query_as(
        "SELECT id, hash FROM audit_records WHERE id = (SELECT MAX(id) FROM audit_records WHERE at < $1)",
    )
    .bind(before)
    .fetch_optional(&mut *conn)
    .await?)
}

/// Records the archive mark, then removes the archived records (the delete
/// trigger allows exactly the records at or below the newest mark).
pub async fn remove_archived(conn: &mut AnyConnection, mark: &ArchiveMark) -> Result<u64> {
    sqlx::query(
        "INSERT INTO audit_archives (at, through_id, through_hash, records, file_name, file_sm3) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&mark.at)
    .bind(mark.through_id)
    .bind(&mark.through_hash)
    .bind(mark.records)
    .bind(&mark.file_name)
    .bind(&mark.file_sm3)
    .execute(&mut *conn)
    .await?;
    Ok(sqlx::query("DELETE FROM audit_records WHERE id <= $1")
        .bind(mark.through_id)
        .execute(&mut *conn)
        .await?
        .rows_affected())
}
