//! Cases (办件), their materials and their timeline.

use sqlx::AnyConnection;

use crate::error::{changed, Result};
use crate::items::escape_like;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CaseRow {
    pub id: i64,
    pub case_no: String,
    pub item_id: i64,
    pub item_code: String,
    pub item_name: String,
    pub item_version: i64,
    pub dept_id: i64,
    pub dept_name: String,
    pub applicant_id: i64,
    pub applicant_name: String,
    pub applicant_kind: String,
    pub org_uscc: Option<String>,
    pub org_name: Option<String>,
    pub status: String,
    pub accepted: i64,
    pub step: i64,
    pub signatures: String,
    pub form: String,
    pub supplement: Option<String>,
    pub accepted_on: Option<String>,
    pub due_date: Option<String>,
    pub statutory_due_date: Option<String>,
    pub paused_days: i64,
    pub paused_since: Option<String>,
    pub submitted_at: Option<String>,
    pub decided_at: Option<String>,
    pub completed_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub version: i64,
}

const SELECT: &str = "SELECT c.id, c.case_no, c.item_id, i.code AS item_code, i.name AS item_name, c.item_version, \
     c.dept_id, d.name AS dept_name, c.applicant_id, c.applicant_name, c.applicant_kind, c.org_uscc, c.org_name, \
     c.status, c.accepted, c.step, c.signatures, c.form, c.supplement, c.accepted_on, c.due_date, \
     c.statutory_due_date, c.paused_days, c.paused_since, c.submitted_at, c.decided_at, c.completed_at, \
     c.created_at, c.updated_at, c.version \
     FROM cases c JOIN items i ON i.id = c.item_id JOIN departments d ON d.id = c.dept_id";

/// Draws the next number of a daily, per-region sequence inside the caller's
/// transaction (an upsert, so concurrent filers never get the same number).
pub async fn next_sequence(conn: &mut AnyConnection, key: &str) -> Result<i64> {
    let (v,): (i64,) = sqlx::query_as(
        "INSERT INTO case_no_counters (counter_key, last_value) VALUES ($1, 1) \
         ON CONFLICT (counter_key) DO UPDATE SET last_value = case_no_counters.last_value + 1 \
         RETURNING last_value",
    )
    .bind(key)
    .fetch_one(&mut *conn)
    .await?;
    Ok(v)
}

#[derive(Debug, Clone)]
pub struct NewCase<'a> {
    pub case_no: &'a str,
    pub item_id: i64,
    pub item_version: i64,
    pub dept_id: i64,
    pub applicant_id: i64,
    pub applicant_name: &'a str,
    pub applicant_kind: &'a str,
    pub org_uscc: Option<&'a str>,
    pub org_name: Option<&'a str>,
    pub form: &'a str,
    pub now: &'a str,
}

pub async fn insert(conn: &mut AnyConnection, c: &NewCase<'_>) -> Result<i64> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO cases (case_no, item_id, item_version, dept_id, applicant_id, applicant_name, applicant_kind, \
         org_uscc, org_name, status, form, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'draft', $10, $11, $11) RETURNING id",
    )
    .bind(c.case_no)
    .bind(c.item_id)
    .bind(c.item_version)
    .bind(c.dept_id)
    .bind(c.applicant_id)
    .bind(c.applicant_name)
    .bind(c.applicant_kind)
    .bind(c.org_uscc)
    .bind(c.org_name)
    .bind(c.form)
    .bind(c.now)
    .fetch_one(&mut *conn)
    .await?;
    Ok(id)
}

pub async fn by_case_no(conn: &mut AnyConnection, case_no: &str) -> Result<Option<CaseRow>> {
    Ok(sqlx::query_as(&format!("{SELECT} WHERE c.case_no = $1"))
        .bind(case_no)
        .fetch_optional(&mut *conn)
        .await?)
}

/// The state written by a transition. `expected_version` is the version the
/// decision was taken on: if another writer got there first, nothing is
/// written and the caller gets `Conflict`.
#[derive(Debug, Clone)]
pub struct StateUpdate<'a> {
    pub status: &'a str,
    pub accepted: bool,
    pub step: i64,
    pub signatures: &'a str,
    pub supplement: Option<&'a str>,
    pub accepted_on: Option<&'a str>,
    pub due_date: Option<&'a str>,
    pub statutory_due_date: Option<&'a str>,
    pub paused_days: i64,
    pub paused_since: Option<&'a str>,
    pub submitted_at: Option<&'a str>,
    pub decided_at: Option<&'a str>,
    pub completed_at: Option<&'a str>,
    pub now: &'a str,
}

pub async fn update_state(
    conn: &mut AnyConnection,
    id: i64,
    expected_version: i64,
    u: &StateUpdate<'_>,
) -> Result<i64> {
    changed(sqlx::query(
        "UPDATE cases SET status = $1, accepted = $2, step = $3, signatures = $4, supplement = $5, accepted_on = $6, \
         due_date = $7, statutory_due_date = $8, paused_days = $9, paused_since = $10, submitted_at = $11, \
         decided_at = $12, completed_at = $13, updated_at = $14, version = version + 1 \
         WHERE id = $15 AND version = $16",
    )
    .bind(u.status)
    .bind(i64::from(u.accepted))
    .bind(u.step)
    .bind(u.signatures)
    .bind(u.supplement)
    .bind(u.accepted_on)
    .bind(u.due_date)
    .bind(u.statutory_due_date)
    .bind(u.paused_days)
    .bind(u.paused_since)
    .bind(u.submitted_at)
    .bind(u.decided_at)
    .bind(u.completed_at)
    .bind(u.now)
    .bind(id)
    .bind(expected_version)
    .execute(&mut *conn)
    .await?
    .rows_affected())?;
    Ok(expected_version + 1)
}

/// Replaces the form of a case (drafts and cases awaiting correction only;
/// the caller decides) under the same optimistic lock.
pub async fn update_form(
    conn: &mut AnyConnection,
    id: i64,
    expected_version: i64,
    form: &str,
    now: &str,
) -> Result<()> {
    changed(sqlx::query("UPDATE cases SET form = $1, updated_at = $2, version = version + 1 WHERE id = $3 AND version = $4")
        .bind(form)
        .bind(now)
        .bind(id)
        .bind(expected_version)
        .execute(&mut *conn)
        .await?
        .rows_affected())?;
    Ok(())
}

/// Takes the optimistic lock without changing anything else, so that a write
/// beside the case (a material) conflicts with a concurrent transition.
pub async fn bump_version(
    conn: &mut AnyConnection,
    id: i64,
    expected_version: i64,
    now: &str,
) -> Result<()> {
    changed(sqlx::query(
        "UPDATE cases SET updated_at = $1, version = version + 1 WHERE id = $2 AND version = $3",
    )
    .bind(now)
    .bind(id)
    .bind(expected_version)
    .execute(&mut *conn)
    .await?
    .rows_affected())?;
    Ok(())
}

/// Who may see which cases. Exactly one scope applies to a query.
#[derive(Debug, Clone)]
pub enum Scope {
    /// An applicant: their own cases, and those of the organisation they act for.
    Applicant {
        user_id: i64,
        org_uscc: Option<String>,
    },
    /// Staff: the cases of their department and of the departments under it.
    Departments(Vec<i64>),
}

#[derive(Debug, Clone, Default)]
pub struct CaseFilter {
    pub statuses: Vec<String>,
    pub item_code: Option<String>,
    /// Matches the case number or the applicant's name.
    pub q: Option<String>,
    /// Due on or before this date (yellow and red cases).
    pub due_by: Option<String>,
    /// Due strictly before this date (red cases).
    pub due_before: Option<String>,
    pub limit: i64,
    pub offset: i64,
}

fn push_filter(sql: &mut String, args: &mut Vec<Arg>, scope: &Scope, f: &CaseFilter) {
    match scope {
        Scope::Applicant { user_id, org_uscc } => {
            args.push(Arg::I(*user_id));
            let n = args.len();
            match org_uscc {
                Some(uscc) => {
                    args.push(Arg::S(uscc.clone()));
                    sql.push_str(&format!(
                        " AND (c.applicant_id = ${n} OR c.org_uscc = ${})",
                        args.len()
                    ));
                }
                None => sql.push_str(&format!(" AND c.applicant_id = ${n}")),
            }
            // V1 cases an administrator deleted (status 99) stay for staff
            // and the record, not in the applicant's 我的办件.
            sql.push_str(" AND c.status <> 'deleted'");
        }
        Scope::Departments(depts) => {
            let mut marks = Vec::new();
            for d in depts {
                args.push(Arg::I(*d));
                marks.push(format!("${}", args.len()));
            }
            if marks.is_empty() {
                sql.push_str(" AND 1 = 0");
            } else {
                sql.push_str(&format!(
                    " AND c.dept_id IN ({}) AND c.status <> 'draft'",
                    marks.join(", ")
                ));
            }
        }
    }
    if !f.statuses.is_empty() {
        let mut marks = Vec::new();
        for s in &f.statuses {
            args.push(Arg::S(s.clone()));
            marks.push(format!("${}", args.len()));
        }
        sql.push_str(&format!(" AND c.status IN ({})", marks.join(", ")));
    }
    if let Some(code) = &f.item_code {
        args.push(Arg::S(code.clone()));
        sql.push_str(&format!(" AND i.code = ${}", args.len()));
    }
    if let Some(q) = f.q.as_deref().filter(|q| !q.is_empty()) {
        args.push(Arg::S(format!("%{}%", escape_like(q))));
        let n = args.len();
        sql.push_str(&format!(
            " AND (c.case_no LIKE ${n} ESCAPE '\\' OR c.applicant_name LIKE ${n} ESCAPE '\\')"
        ));
    }
    if let Some(d) = &f.due_by {
        args.push(Arg::S(d.clone()));
        sql.push_str(&format!(" AND c.due_date <= ${}", args.len()));
    }
    if let Some(d) = &f.due_before {
        args.push(Arg::S(d.clone()));
        sql.push_str(&format!(" AND c.due_date < ${}", args.len()));
    }
}

enum Arg {
    I(i64),
    S(String),
}

/// Lists cases in a scope, most urgent first: running cases by due date, then
/// the intake queue by submission time, then the rest by last change.
pub async fn list(conn: &mut AnyConnection, scope: &Scope, f: &CaseFilter) -> Result<Vec<CaseRow>> {
    let mut sql = format!("{SELECT} WHERE 1 = 1");
    let mut args = Vec::new();
    push_filter(&mut sql, &mut args, scope, f);
    sql.push_str(&format!(
        " ORDER BY CASE WHEN c.status = 'in_review' THEN 0 WHEN c.status = 'submitted' THEN 1 ELSE 2 END, \
         c.due_date, c.submitted_at, c.updated_at DESC, c.id DESC LIMIT {} OFFSET {}",
        f.limit.clamp(1, 200),
        f.offset.max(0)
    ));
    let mut q = sqlx::query_as(&sql);
    for a in args {
        q = match a {
            Arg::I(v) => q.bind(v),
            Arg::S(v) => q.bind(v),
        };
    }
    Ok(q.fetch_all(&mut *conn).await?)
}

pub async fn count(conn: &mut AnyConnection, scope: &Scope, f: &CaseFilter) -> Result<i64> {
    let mut sql =
        "SELECT COUNT(*) FROM cases c JOIN items i ON i.id = c.item_id WHERE 1 = 1".to_string();
    let mut args = Vec::new();
    push_filter(&mut sql, &mut args, scope, f);
    let mut q = sqlx::query_as::<_, (i64,)>(&sql);
    for a in args {
        q = match a {
            Arg::I(v) => q.bind(v),
            Arg::S(v) => q.bind(v),
        };
    }
    Ok(q.fetch_one(&mut *conn).await?.0)
}

// ---- materials ----------------------------------------------------------

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MaterialRow {
    pub id: i64,
    pub case_id: i64,
    pub material_code: String,
    pub file_name: String,
    pub content_type: String,
    pub size_bytes: i64,
    pub digest: String,
    pub storage_key: String,
    pub uploaded_by: i64,
    pub uploaded_at: String,
    pub is_current: i64,
}

const MAT_COLS: &str =
    "id, case_id, material_code, file_name, content_type, size_bytes, digest, storage_key, uploaded_by, uploaded_at, is_current";

/// Records an uploaded file as the current one for its material, keeping the
/// file it replaces for the record.
pub async fn insert_material(conn: &mut AnyConnection, m: &MaterialRow) -> Result<i64> {
    sqlx::query(
        "UPDATE case_materials SET is_current = 0 WHERE case_id = $1 AND material_code = $2",
    )
    .bind(m.case_id)
    .bind(&m.material_code)
    .execute(&mut *conn)
    .await?;
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO case_materials (case_id, material_code, file_name, content_type, size_bytes, digest, \
         storage_key, uploaded_by, uploaded_at, is_current) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 1) RETURNING id",
    )
    .bind(m.case_id)
    .bind(&m.material_code)
    .bind(&m.file_name)
    .bind(&m.content_type)
    .bind(m.size_bytes)
    .bind(&m.digest)
    .bind(&m.storage_key)
    .bind(m.uploaded_by)
    .bind(&m.uploaded_at)
    .fetch_one(&mut *conn)
    .await?;
    Ok(id)
}

pub async fn materials(conn: &mut AnyConnection, case_id: i64) -> Result<Vec<MaterialRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {MAT_COLS} FROM case_materials WHERE case_id = $1 ORDER BY id"
    ))
    .bind(case_id)
    .fetch_all(&mut *conn)
    .await?)
}

pub async fn material(
    conn: &mut AnyConnection,
    case_id: i64,
    id: i64,
) -> Result<Option<MaterialRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {MAT_COLS} FROM case_materials WHERE case_id = $1 AND id = $2"
    ))
    .bind(case_id)
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?)
}

// ---- timeline -------------------------------------------------------------

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EventRow {
    pub id: i64,
    pub case_id: i64,
    pub seq: i64,
    pub action: String,
    pub from_status: Option<String>,
    pub to_status: String,
    pub actor_id: Option<i64>,
    pub actor_name: String,
    pub actor_role: String,
    pub opinion: Option<String>,
    pub detail: String,
    pub at: String,
}

#[derive(Debug, Clone)]
pub struct NewEvent<'a> {
    pub case_id: i64,
    pub action: &'a str,
    pub from_status: Option<&'a str>,
    pub to_status: &'a str,
    pub actor_id: Option<i64>,
    pub actor_name: &'a str,
    pub actor_role: &'a str,
    pub opinion: Option<&'a str>,
    pub detail: &'a str,
    pub at: &'a str,
}

/// Appends to a case's timeline; `seq` is gap-free per case because it is
/// drawn inside the transaction that holds the case's optimistic lock.
pub async fn append_event(conn: &mut AnyConnection, e: &NewEvent<'_>) -> Result<i64> {
    let (seq,): (i64,) =
        sqlx::query_as("SELECT COALESCE(MAX(seq), 0) + 1 FROM case_events WHERE case_id = $1")
            .bind(e.case_id)
            .fetch_one(&mut *conn)
            .await?;
    sqlx::query(
        "INSERT INTO case_events (case_id, seq, action, from_status, to_status, actor_id, actor_name, actor_role, \
         opinion, detail, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(e.case_id)
    .bind(seq)
    .bind(e.action)
    .bind(e.from_status)
    .bind(e.to_status)
    .bind(e.actor_id)
    .bind(e.actor_name)
    .bind(e.actor_role)
    .bind(e.opinion)
    .bind(e.detail)
    .bind(e.at)
    .execute(&mut *conn)
    .await?;
    Ok(seq)
}

pub async fn events(conn: &mut AnyConnection, case_id: i64) -> Result<Vec<EventRow>> {
    Ok(sqlx::query_as(
        "SELECT id, case_id, seq, action, from_status, to_status, actor_id, actor_name, actor_role, opinion, detail, at \
         FROM case_events WHERE case_id = $1 ORDER BY seq",
    )
    .bind(case_id)
    .fetch_all(&mut *conn)
    .await?)
}

/// What a case migrated from V1.0 keeps of V1 (issue 6).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct V1CaseRow {
    pub apply_id: i64,
    pub v1_status: String,
    pub apply_time_precision: String,
    pub promise_date: Option<String>,
    pub official_due_date: Option<String>,
    pub source_channel: Option<String>,
}

pub async fn v1_record(conn: &mut AnyConnection, case_id: i64) -> Result<Option<V1CaseRow>> {
    Ok(sqlx::query_as(
        "SELECT apply_id, v1_status, apply_time_precision, promise_date, official_due_date, source_channel \
         FROM v1_cases WHERE case_id = $1",
    )
    .bind(case_id)
    .fetch_optional(&mut *conn)
    .await?)
}

/// The migration's notes on a V1 case: (flag, detail JSON).
pub async fn v1_case_flags(
    conn: &mut AnyConnection,
    apply_id: i64,
) -> Result<Vec<(String, String)>> {
    Ok(sqlx::query_as(
        "SELECT flag, detail FROM v1_flags WHERE v1_table = 't_apply' AND v1_id = $1 ORDER BY flag",
    )
    .bind(apply_id)
    .fetch_all(&mut *conn)
    .await?)
}
