//! The audit trail as the audit administrator and the operator see it:
//! search and export (audit administrator only, and each export is itself
//! audited), chain verification, anchors kept outside the database, and the
//! archive of records past the retention period.

use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{Duration, NaiveDate, NaiveTime, TimeZone};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use zt_domain::role::Role;
use zt_store::audit::{self, Anchor, ArchiveMark, AuditRow, Search, Verification};
use zt_store::files::sm3_hex;
use zt_store::time::ts;

use crate::error::{AppError, ErrorKind, Result};
use crate::principal::Principal;
use crate::state::{audit as record, App, Origin};

/// 网络安全法 art. 21: network logs are kept for no less than six months.
pub const MIN_RETENTION_DAYS: i64 = 183;

#[derive(Debug, Clone, Default, Deserialize, IntoParams, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Username of the actor.
    pub actor: Option<String>,
    /// e.g. `login`, `case_accept`, `permission_denied`.
    pub action: Option<String>,
    /// e.g. `case:440300…`, `user:12`.
    pub object: Option<String>,
    /// `success` | `failure` | `denied`
    pub result: Option<String>,
    /// First day (Beijing time), `YYYY-MM-DD`.
    pub from: Option<String>,
    /// Last day (Beijing time), inclusive.
    pub to: Option<String>,
    pub before_id: Option<i64>,
    pub limit: Option<i64>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuditEntry {
    pub id: i64,
    pub at: String,
    pub actor_id: Option<i64>,
    pub actor_name: String,
    pub client_addr: String,
    pub action: String,
    pub object: String,
    pub result: String,
    pub detail: serde_json::Value,
    pub hash: String,
}

impl From<AuditRow> for AuditEntry {
    fn from(r: AuditRow) -> Self {
        Self {
            id: r.id,
            at: r.at,
            actor_id: r.actor_id,
            actor_name: r.actor_name,
            client_addr: r.client_addr,
            action: r.action,
            object: r.object,
            result: r.result,
            detail: serde_json::from_str(&r.detail).unwrap_or(serde_json::Value::Null),
            hash: r.hash,
        }
    }
}

fn day_start_utc(field: &'static str, d: &str) -> Result<String> {
    let day = NaiveDate::parse_from_str(d, "%Y-%m-%d").map_err(|_| {
        AppError::new(
            ErrorKind::Unprocessable,
            "DATE_INVALID",
            "日期格式应为YYYY-MM-DD。",
        )
        .with_field(field)
    })?;
    let bj =
        chrono::FixedOffset::east_opt(8 * 3600).ok_or_else(|| AppError::Internal("tz".into()))?;
    let t = bj
        .from_local_datetime(&day.and_time(NaiveTime::MIN))
        .single()
        .ok_or_else(|| AppError::Internal("tz".into()))?;
    Ok(ts(t.with_timezone(&chrono::Utc)))
}

fn to_search(q: &AuditQuery) -> Result<Search> {
    let clean = |v: &Option<String>| {
        v.as_ref()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    };
    let until = match clean(&q.to) {
        Some(d) => {
            let start = day_start_utc("to", &d)?;
            let next = zt_store::time::parse_ts(&start)? + Duration::days(1);
            Some(ts(next))
        }
        None => None,
    };
    Ok(Search {
        actor: clean(&q.actor),
        action: clean(&q.action),
        object: clean(&q.object),
        result: clean(&q.result),
        from: clean(&q.from)
            .map(|d| day_start_utc("from", &d))
            .transpose()?,
        until,
        before_id: q.before_id,
    })
}

fn require_auditor(p: &Principal) -> Result<()> {
    if p.has(Role::Auditor) {
        Ok(())
    } else {
        Err(AppError::forbidden())
    }
}

/// Search, newest first (audit administrator only).
pub async fn search(app: &App, p: &Principal, q: &AuditQuery) -> Result<Vec<AuditEntry>> {
    require_auditor(p)?;
    let s = to_search(q)?;
    let limit = q.limit.unwrap_or(100).clamp(1, 500);
    let mut c = app.read().await?;
    Ok(audit::search(&mut c, &s, limit)
        .await?
        .into_iter()
        .map(AuditEntry::from)
        .collect())
}

/// The most records one export may carry; narrower filters export the rest.
pub const EXPORT_LIMIT: i64 = 50_000;

/// Exports the matching records as CSV (UTF-8 with BOM, so that spreadsheet
/// programs on Chinese Windows open it correctly). The export is audited.
pub async fn export_csv(
    app: &App,
    p: &Principal,
    client_addr: &str,
    q: &AuditQuery,
) -> Result<Vec<u8>> {
    require_auditor(p)?;
    let s = to_search(q)?;
    let rows = {
        let mut c = app.read().await?;
        audit::search(&mut c, &s, EXPORT_LIMIT).await?
    };
    let mut out = Vec::with_capacity(rows.len() * 160 + 3);
    out.extend_from_slice("\u{feff}".as_bytes());
    out.extend_from_slice(
        "id,time,actor,client_addr,action,object,result,detail,hash\r\n".as_bytes(),
    );
    for r in &rows {
        let fields = [
            r.id.to_string(),
            r.at.clone(),
            r.actor_name.clone(),
            r.client_addr.clone(),
            r.action.clone(),
            r.object.clone(),
            r.result.clone(),
            r.detail.clone(),
            r.hash.clone(),
        ];
        let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        out.extend_from_slice(line.join(",").as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    let at = app.now_ts();
    let mut tx = app.begin().await?;
    record(
        &mut tx,
        &at,
        &Origin::of(p, client_addr),
        "audit_export",
        "audit_records",
        "success",
        json!({"records": rows.len(), "filter": format!("{q:?}")}),
    )
    .await?;
    tx.commit().await?;
    Ok(out)
}

/// RFC 4180 quoting; a leading formula character is neutralised so that a
/// crafted actor name cannot run as a spreadsheet formula (CSV injection).
fn csv_field(v: &str) -> String {
    let v = if v.starts_with(['=', '+', '-', '@']) {
        format!("'{v}")
    } else {
        v.to_string()
    };
    if v.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v
    }
}

/// Anchors kept outside the database: one JSON line per anchor.
pub fn read_anchor_file(path: &Path) -> Result<Vec<Anchor>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(AppError::Internal(format!("{}: {e}", path.display()))),
    };
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str(l)
                .map_err(|e| AppError::Internal(format!("{} line {}: {e}", path.display(), i + 1)))
        })
        .collect()
}

/// Copies the chain's head into the anchor table and, when configured, the
/// anchor file (appended and synced: the copy an attacker with only database
/// access cannot rewrite).
pub async fn anchor(app: &App) -> Result<Option<Anchor>> {
    let at = app.now_ts();
    let mut tx = app.begin().await?;
    let a = audit::anchor(&mut tx, &at).await?;
    if let (Some(a), Some(path)) = (&a, &app.settings.audit_anchor_file) {
        append_anchor(path, a)?;
    }
    tx.commit().await?;
    Ok(a)
}

fn append_anchor(path: &Path, a: &Anchor) -> Result<()> {
    let io = |e: std::io::Error| AppError::Internal(format!("{}: {e}", path.display()));
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(io)?;
    let line = serde_json::to_string(a).map_err(|e| AppError::Internal(e.to_string()))?;
    writeln!(f, "{line}").map_err(io)?;
    f.sync_all().map_err(io)
}

/// Walks the whole chain against the anchors of the table and the file.
pub async fn verify(app: &App) -> Result<Verification> {
    let extra = match &app.settings.audit_anchor_file {
        Some(p) => read_anchor_file(p)?,
        None => Vec::new(),
    };
    let mut c = app.read().await?;
    Ok(audit::verify(&mut c, &extra).await?)
}

/// Verification on request of the audit administrator.
pub async fn verify_as(app: &App, p: &Principal) -> Result<Verification> {
    require_auditor(p)?;
    verify(app).await
}

#[derive(Debug, Clone, Serialize)]
pub struct ArchiveOutcome {
    pub file: PathBuf,
    pub mark: ArchiveMark,
    pub removed: u64,
}

/// Moves records older than `before` (a Beijing date) to a JSON-lines file in
/// `dir` and removes them from the table, leaving a mark from which
/// verification continues. Refuses anything younger than the retention period
/// and refuses to archive a chain that does not verify.
pub async fn archive(
    app: &App,
    before: &str,
    dir: &Path,
    retention_days: i64,
) -> Result<Option<ArchiveOutcome>> {
    let retention = retention_days.max(MIN_RETENTION_DAYS);
    let cutoff = day_start_utc("before", before)?;
    let newest_allowed = app.clock.now() - Duration::days(retention);
    if zt_store::time::parse_ts(&cutoff)? > newest_allowed {
        return Err(AppError::new(
            ErrorKind::Unprocessable,
            "AUDIT_RETENTION",
            format!("审计记录至少保存{retention}天，不能归档该日期之后的记录。"),
        )
        .with_field("before"));
    }
    let v = verify(app).await?;
    if let Some(b) = v.first_break {
        return Err(AppError::new(
            ErrorKind::Conflict,
            "AUDIT_CHAIN_BROKEN",
            format!("审计记录链校验未通过，不能归档：{}", b.describe()),
        ));
    }
    let (after, through) = {
        let mut c = app.read().await?;
        let after = audit::last_archive(&mut c)
            .await?
            .map_or(0, |m| m.through_id);
        match audit::last_before(&mut c, &cutoff).await? {
            Some((id, hash)) if id > after => (after, (id, hash)),
            _ => return Ok(None),
        }
    };
    let rows = {
        let mut c = app.read().await?;
        audit::through(&mut c, after, through.0).await?
    };
    let io = |e: std::io::Error| AppError::Internal(format!("{}: {e}", dir.display()));
    std::fs::create_dir_all(dir).map_err(io)?;
    let name = format!("audit-{:012}-{:012}.jsonl", after + 1, through.0);
    let path = dir.join(&name);
    let mut body = Vec::new();
    for r in &rows {
        serde_json::to_writer(&mut body, r).map_err(|e| AppError::Internal(e.to_string()))?;
        body.push(b'\n');
    }
    {
        let mut f = std::fs::File::create(&path).map_err(io)?;
        f.write_all(&body).map_err(io)?;
        f.sync_all().map_err(io)?;
    }
    let mark = ArchiveMark {
        at: app.now_ts(),
        through_id: through.0,
        through_hash: through.1,
        records: rows.len() as i64,
        file_name: name,
        file_sm3: sm3_hex(&body),
    };
    let mut tx = app.begin().await?;
    let removed = audit::remove_archived(&mut tx, &mark).await?;
    record(
        &mut tx,
        &mark.at,
        &Origin {
            actor_id: None,
            actor_name: "operator".into(),
            client_addr: "local".into(),
        },
        "audit_archive",
        "audit_records",
        "success",
        json!({"through_id": mark.through_id, "records": mark.records, "file": mark.file_name, "sm3": mark.file_sm3}),
    )
    .await?;
    tx.commit().await?;
    Ok(Some(ArchiveOutcome {
        file: path,
        mark,
        removed,
    }))
}

#[cfg(test)]
mod tests {
    use super::csv_field;

    #[test]
    fn csv_fields_are_quoted_and_defused() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=cmd|' /C calc'!A0"), "'=cmd|' /C calc'!A0");
    }
}
