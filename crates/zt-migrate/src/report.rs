//! The migration report and the two canonical listings of README §9, always
//! generated from the V2 database (never from counters of a run), so an
//! interrupted and resumed run reports exactly what an uninterrupted one
//! does, and `migrate-v1 report` can regenerate them at any time.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use zt_app::App;

use crate::error::{MigrateError, Result};
use crate::phase::accounts::ctx_account;
use crate::run::{ctx_quarantine, Options};
use crate::transform::identity::{normalise_id_card, IdCard};

/// V1 status code → the manifest's name (README §3.10).
pub fn status_name(code: &str) -> &'static str {
    match code {
        "00" => "draft",
        "01" => "submitted",
        "02" => "accepted",
        "03" => "in_review",
        "04" => "approved",
        "05" => "rejected",
        "06" => "awaiting_supplement",
        "07" => "withdrawn",
        "09" => "completed",
        "99" => "deleted",
        _ => "unknown",
    }
}

/// The quarantine reasons §9 allows per table, in its order.
pub const REASONS: [(&str, &[&str]); 6] = [
    ("t_citizen", &["ID_CHECKSUM_INVALID"]),
    ("t_apply", &["APPLICANT_QUARANTINED"]),
    (
        "t_apply_material",
        &[
            "ORPHAN_NO_CASE",
            "CASE_QUARANTINED",
            "FILE_MISSING",
            "FILE_MD5_MISMATCH",
        ],
    ),
    ("t_approve_log", &["CASE_QUARANTINED"]),
    ("t_license", &["CASE_QUARANTINED"]),
    ("t_evaluation", &["CASE_QUARANTINED"]),
];

/// The six interpretations README §9 wants listed.
pub const FLAG_CLASSES: [&str; 6] = [
    "reduced_time_precision",
    "unknown_registration_time",
    "recovered_finish_time",
    "lossy_log_text",
    "fee_needs_review",
    "item_moved_to_successor",
];

fn beijing(utc_ms: &str) -> Result<String> {
    let t = zt_store::time::parse_ts(utc_ms)?;
    Ok((t + chrono::Duration::hours(8))
        .format("%Y-%m-%dT%H:%M:%S+08:00")
        .to_string())
}

/// The two listings' line counts and sha256.
#[derive(Debug, Clone)]
pub struct Listings {
    pub cases: (usize, String),
    pub quarantine: (usize, String),
}

/// Streams a listing's lines into its digest and, given a directory, into
/// `NAME.tmp` renamed to `NAME` at the end: memory holds one row, whatever
/// the number of cases.
struct Sink {
    hash: Sha256,
    lines: usize,
    file: Option<(
        std::io::BufWriter<std::fs::File>,
        std::path::PathBuf,
        std::path::PathBuf,
    )>,
}

impl Sink {
    fn new(dir: Option<&Path>, name: &str) -> Result<Self> {
        let file = match dir {
            Some(d) => {
                let path = d.join(name);
                let tmp = d.join(format!("{name}.tmp"));
                Some((
                    std::io::BufWriter::new(std::fs::File::create(&tmp)?),
                    tmp,
                    path,
                ))
            }
            None => None,
        };
        Ok(Self {
            hash: Sha256::new(),
            lines: 0,
            file,
        })
    }

    fn line(&mut self, l: &str) -> Result<()> {
        self.hash.update(l.as_bytes());
        self.lines += 1;
        if let Some((f, _, _)) = &mut self.file {
            f.write_all(l.as_bytes())?;
        }
        Ok(())
    }

    fn finish(self) -> Result<(usize, String)> {
        if let Some((f, tmp, path)) = self.file {
            let f = f
                .into_inner()
                .map_err(|e| MigrateError::Io(e.to_string()))?;
            f.sync_all()?;
            std::fs::rename(tmp, path)?;
        }
        Ok((self.lines, hex::encode(self.hash.finalize())))
    }
}

/// `cases.txt` (`apply_no|status|submitted_at|id_card`, sorted by
/// `apply_no`) and `quarantine.txt` (`table|id|reason` of the rows still
/// held, sorted by table, then id), from the database, in byte order.
pub async fn listings(app: &App, dir: Option<&Path>) -> Result<Listings> {
    use futures::TryStreamExt;
    if let Some(d) = dir {
        std::fs::create_dir_all(d)?;
    }
    let collate = match app.db.backend() {
        zt_store::Backend::Postgres => " COLLATE \"C\"",
        _ => "",
    };
    let mut conn = app.db.reader().acquire().await?;
    let mut out = Sink::new(dir, "cases.txt")?;
    let sql = format!(
        "SELECT c.case_no, vc.v1_status, vc.apply_time, vc.citizen_id, a.id_card_v1 FROM cases c \
         JOIN v1_cases vc ON vc.case_id = c.id JOIN v1_accounts a ON a.citizen_id = vc.citizen_id \
         ORDER BY c.case_no{collate}"
    );
    let mut rows =
        sqlx::query_as::<_, (String, String, String, i64, Option<String>)>(&sql).fetch(&mut *conn);
    while let Some((no, status, at, citizen, id_card)) = rows.try_next().await? {
        let v1 = app
            .pii
            .open_opt(&ctx_account("id_card_v1", citizen), id_card.as_deref())?;
        let number = match normalise_id_card(v1.as_deref()) {
            IdCard::Valid { number, .. } => number,
            IdCard::Invalid { .. } => String::new(),
        };
        out.line(&format!(
            "{no}|{}|{}|{number}\n",
            status_name(&status),
            beijing(&at)?
        ))?;
    }
    drop(rows);
    let cases = out.finish()?;
    let mut out = Sink::new(dir, "quarantine.txt")?;
    let sql = format!(
        "SELECT v1_table, v1_id, reason FROM v1_quarantine WHERE status = 'held' ORDER BY v1_table{collate}, v1_id"
    );
    let mut rows = sqlx::query_as::<_, (String, i64, String)>(&sql).fetch(&mut *conn);
    while let Some((t, id, r)) = rows.try_next().await? {
        out.line(&format!("{t}|{id}|{r}\n"))?;
    }
    drop(rows);
    Ok(Listings {
        cases,
        quarantine: out.finish()?,
    })
}

async fn count(conn: &mut zt_store::Conn, sql: &str) -> Result<i64> {
    let (n,): (i64,) = sqlx::query_as(sql).fetch_one(&mut *conn).await?;
    Ok(n)
}

/// Personal information in the report's V1 values is masked; the full values
/// stay sealed in the database.
fn mask_values(v: &mut Value) {
    let Some(map) = v.as_object_mut() else { return };
    for (k, val) in map.iter_mut() {
        let Some(s) = val.as_str() else { continue };
        let masked = match k.as_str() {
            "id_card" | "holder_id_card" => zt_domain::mask::id_number(s.trim()),
            "mobile" | "phone" => zt_domain::mask::phone(s),
            "real_name" | "holder_name" | "user_name" => zt_domain::mask::person_name(s),
            "email" | "form_data" | "remark" | "opinion" | "opinion_hex" => {
                "（已隐藏 / hidden）".into()
            }
            _ => continue,
        };
        *val = Value::String(masked);
    }
}

pub async fn build(
    app: &App,
    fingerprint: &Value,
    run_id: i64,
    opts: &Options,
    listed: &Listings,
) -> Result<Value> {
    let mut conn = app.db.reader().acquire().await?;
    let q = |t: &str| {
        format!("SELECT COUNT(*) FROM v1_quarantine WHERE status = 'held' AND v1_table = '{t}'")
    };
    let counts: [(&str, &str, &str); 9] = [
        ("sys_dept", "SELECT COUNT(*) FROM v1_departments", ""),
        ("sys_user", "SELECT COUNT(*) FROM v1_staff", ""),
        (
            "t_citizen",
            "SELECT COUNT(*) FROM v1_accounts WHERE outcome = 'migrated'",
            "SELECT COUNT(*) FROM v1_accounts WHERE outcome = 'merged'",
        ),
        ("t_item", "SELECT COUNT(*) FROM v1_items", ""),
        ("t_apply", "SELECT COUNT(*) FROM v1_cases", ""),
        (
            "t_apply_material",
            "SELECT COUNT(*) FROM v1_materials WHERE outcome = 'migrated'",
            "",
        ),
        (
            "t_approve_log",
            "SELECT COUNT(*) FROM case_events WHERE v1_log_id IS NOT NULL",
            "",
        ),
        (
            "t_license",
            "SELECT COUNT(*) FROM v1_licences WHERE outcome = 'migrated'",
            "",
        ),
        (
            "t_evaluation",
            "SELECT COUNT(*) FROM ratings WHERE v1_eval_id IS NOT NULL",
            "",
        ),
    ];
    let mut tables = Map::new();
    for (t, migrated, merged) in counts {
        let migrated = count(&mut conn, migrated).await?;
        let merged = if merged.is_empty() {
            0
        } else {
            count(&mut conn, merged).await?
        };
        let held = count(&mut conn, &q(t)).await?;
        tables.insert(
            t.into(),
            json!({"v1_rows": fingerprint["tables"][t]["rows"], "migrated": migrated,
                   "merged_into_other_row": merged, "quarantined": held}),
        );
    }
    // Held rows per table and reason, in the manifest's shape.
    let held: Vec<(String, i64, String, String, String)> = sqlx::query_as(
        "SELECT v1_table, v1_id, reason, v1_values, detail FROM v1_quarantine WHERE status = 'held' ORDER BY v1_table, v1_id",
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut quarantine = Map::new();
    for (t, reasons) in REASONS {
        let mut m = Map::new();
        for r in reasons {
            let mut ids: Vec<i64> = held
                .iter()
                .filter(|h| h.0 == t && h.2 == *r)
                .map(|h| h.1)
                .collect();
            ids.sort_unstable();
            m.insert((*r).into(), json!(ids));
        }
        quarantine.insert(t.into(), Value::Object(m));
    }
    let mut rows = Vec::new();
    let mut v1_status: BTreeMap<String, i64> = BTreeMap::new();
    for (t, id, reason, values, detail) in &held {
        let mut v: Value = app
            .pii
            .open(&ctx_quarantine(t, *id), values)
            .ok()
            .and_then(|s| serde_json::from_str(&s).ok())
            .unwrap_or(Value::Null);
        mask_values(&mut v);
        let detail: Value = serde_json::from_str(detail).unwrap_or_default();
        if t == "t_apply" {
            if let Some(s) = detail["status"].as_str() {
                *v1_status.entry(s.into()).or_default() += 1;
            }
        }
        rows.push(
            json!({"table": t, "id": id, "reason": reason, "v1_values": v, "detail": detail}),
        );
    }
    let migrated_status: BTreeMap<String, i64> = sqlx::query_as::<_, (String, i64)>(
        "SELECT v1_status, COUNT(*) FROM v1_cases GROUP BY v1_status",
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .collect();
    for (s, n) in &migrated_status {
        *v1_status.entry(s.clone()).or_default() += n;
    }
    let v2_status: BTreeMap<String, i64> = sqlx::query_as::<_, (String, i64)>(
        "SELECT status, COUNT(*) FROM cases WHERE origin = 'v1' GROUP BY status",
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .collect();
    let mut flags = Map::new();
    for c in FLAG_CLASSES {
        flags.insert(c.into(), json!({"count": 0, "rows": []}));
    }
    let mut other = Map::new();
    for (t, id, f, detail) in sqlx::query_as::<_, (String, i64, String, String)>(
        "SELECT v1_table, v1_id, flag, detail FROM v1_flags ORDER BY flag, v1_table, v1_id",
    )
    .fetch_all(&mut *conn)
    .await?
    {
        let detail: Value = serde_json::from_str(&detail).unwrap_or_default();
        let row = json!({"table": t, "id": id, "detail": detail});
        let slot = if FLAG_CLASSES.contains(&f.as_str()) {
            &mut flags
        } else {
            &mut other
        };
        let e = slot
            .entry(f)
            .or_insert_with(|| json!({"count": 0, "rows": []}));
        e["count"] = json!(e["count"].as_i64().unwrap_or(0) + 1);
        if let Some(a) = e["rows"].as_array_mut() {
            a.push(row);
        }
    }
    flags.insert("other".into(), Value::Object(other));
    let merges: Vec<Value> = sqlx::query_as::<_, (i64, i64)>(
        "SELECT s.citizen_id, m.citizen_id FROM v1_accounts m JOIN v1_accounts s ON s.user_id = m.user_id \
         AND s.outcome = 'migrated' WHERE m.outcome = 'merged' ORDER BY s.citizen_id, m.citizen_id",
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|(s, m)| json!({"survivor": s, "merged": m}))
    .collect();
    let deadlines = json!({
        "accepted_cases": count(&mut conn, "SELECT COUNT(*) FROM v1_cases WHERE accept_time IS NOT NULL AND accept_time <> ''").await?,
        "computable": count(&mut conn, "SELECT COUNT(*) FROM v1_cases WHERE official_due_date IS NOT NULL").await?,
        "differs": count(&mut conn, "SELECT COUNT(*) FROM v1_cases WHERE due_date_differs = 1").await?,
        "open_recomputed": count(&mut conn, "SELECT COUNT(*) FROM v1_cases WHERE v1_status IN ('02','03','04') AND official_due_date IS NOT NULL").await?,
        "open_not_recomputed": count(&mut conn, "SELECT COUNT(*) FROM v1_cases WHERE v1_status IN ('02','03','04') AND official_due_date IS NULL AND accept_time IS NOT NULL").await?,
        "note": "V1 的承诺日期未跳过法定节假日、未计调休上班日（README §4）；已结办件保留 V1 日期；日历未覆盖的年份无法重算。",
    });
    let unreferenced: Vec<String> =
        sqlx::query_as::<_, (String,)>("SELECT path FROM v1_unreferenced_files ORDER BY path")
            .fetch_all(&mut *conn)
            .await?
            .into_iter()
            .map(|r| r.0)
            .collect();
    let files = json!({
        "materials_copied": count(&mut conn, "SELECT COUNT(*) FROM v1_materials WHERE outcome = 'migrated'").await?,
        "licences_copied": count(&mut conn, "SELECT COUNT(*) FROM v1_licences WHERE outcome = 'migrated' AND storage_key IS NOT NULL").await?,
        "preserved_quarantined": count(&mut conn, "SELECT COUNT(*) FROM v1_materials WHERE outcome = 'quarantined' AND storage_key IS NOT NULL").await?,
        "unreferenced": unreferenced,
    });
    drop(conn);
    let (cl, cs) = listed.cases.clone();
    let (ql, qs) = listed.quarantine.clone();
    Ok(json!({
        "format": "zhengtong-migrate-v1-report/1",
        "run": {"id": run_id, "tool_version": env!("CARGO_PKG_VERSION"),
                "source": {"fingerprint": fingerprint}, "target": {"backend": app.db.backend().as_str()},
                "files_root": opts.files_root.display().to_string(), "dry_run": opts.verify_files_only,
                "freeze": format!("{}+08:00", opts.freeze.format("%Y-%m-%dT%H:%M:%S"))},
        "tables": tables,
        "status_distribution": {"v1": v1_status, "migrated": migrated_status, "v2": v2_status},
        "quarantine": quarantine,
        "quarantined_rows": rows,
        "flags": flags,
        "merges": merges,
        "deadlines": deadlines,
        "files": files,
        "listings": {"cases": {"lines": cl, "sha256": cs}, "quarantine": {"lines": ql, "sha256": qs}},
    }))
}

/// What the comparison with a manifest found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SelfCheck {
    pub cases: String,
    pub quarantine: String,
    pub tables: String,
    pub differences: Vec<String>,
}

impl SelfCheck {
    pub fn passed(&self) -> bool {
        self.differences.is_empty()
    }
}

fn write_atomic(
    path: &Path,
    write: impl FnOnce(&mut std::fs::File) -> std::io::Result<()>,
) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp)?;
    write(&mut f)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// Writes `report.json` into `dir` and, given the bureau's manifest,
/// compares the listings and counts with it.
/// The listings must have been written into `dir` by [`listings`].
pub async fn write(
    dir: &Path,
    report: &Value,
    manifest: Option<&Path>,
    listed: &Listings,
) -> Result<SelfCheck> {
    std::fs::create_dir_all(dir)?;
    let mut check = SelfCheck {
        cases: "not compared".into(),
        quarantine: "not compared".into(),
        tables: "not compared".into(),
        differences: vec![],
    };
    if let Some(m) = manifest {
        let text = std::fs::read_to_string(m)
            .map_err(|e| MigrateError::Io(format!("{}: {e}", m.display())))?;
        let m: Value = serde_json::from_str(&text)
            .map_err(|e| MigrateError::Usage(format!("manifest: {e}")))?;
        for (key, (n, sha)) in [("cases", &listed.cases), ("quarantine", &listed.quarantine)] {
            let n = *n;
            let ok = m["checksums"][key]["sha256"].as_str() == Some(sha.as_str())
                && m["checksums"][key]["lines"].as_u64() == Some(n as u64);
            let verdict = if ok { "MATCH" } else { "DIFFERENT" };
            if !ok {
                check
                    .differences
                    .push(format!("{key}: {n} lines, sha256 {sha}"));
            }
            match key {
                "cases" => check.cases = verdict.into(),
                _ => check.quarantine = verdict.into(),
            }
        }
        let ok = m["tables"] == report["tables"] && m["quarantine"] == report["quarantine"];
        if !ok {
            check
                .differences
                .push("tables or quarantine counts differ from the manifest".into());
        }
        check.tables = if ok { "MATCH" } else { "DIFFERENT" }.into();
    }
    let mut full = report.clone();
    full["self_check"] = serde_json::to_value(&check).unwrap_or_default();
    write_atomic(&dir.join("report.json"), |f| {
        f.write_all(
            serde_json::to_string_pretty(&full)
                .unwrap_or_default()
                .as_bytes(),
        )
    })?;
    Ok(check)
}
