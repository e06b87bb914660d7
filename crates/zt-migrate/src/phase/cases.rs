//! `t_apply` with everything that hangs on it, in batches of `apply_id`
//! ranges: a batch's cases and every material, log, licence and evaluation
//! whose `apply_id` falls in its range (orphans included) are written in one
//! transaction with the checkpoint. Files are copied and verified before the
//! rows that point to them commit, under keys derived from V1 ids, so a
//! repeated batch writes the same bytes to the same keys.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDateTime;
use serde_json::{json, Map, Value};
use zt_domain::case::CaseStatus;
use zt_store::Conn;

use crate::error::{MigrateError, Result};
use crate::phase::lookups::{self, Lookups};
use crate::progress::Progress;
use crate::replay::{self, CaseFacts, LogEntry, Origin as EvOrigin};
use crate::run::{checkpoint, checkpoint_of, hold, note, Ctx};
use crate::sink::{Pending, Val};
use crate::source::{Apply, Children, Evaluation, License, Log, Material};
use crate::transform::{deadline, form, identity, paths, text_gbk, time};

pub const PHASE: &str = "cases";

pub fn ctx_case_remark(case_no: &str) -> String {
    format!("v1_cases.remark:{case_no}")
}

pub fn ctx_licence_holder(license_id: i64) -> String {
    format!("v1_licences.holder_id_card_v1:{license_id}")
}

pub fn material_key(case_no: &str, material_id: i64) -> String {
    format!("materials/{case_no}/v1-{material_id}")
}

pub fn licence_key(licence_no: &str) -> String {
    format!("licences/{licence_no}/v1.pdf")
}

pub fn preserved_key(table: &str, id: i64) -> String {
    format!("v1-quarantine/{table}/{id}")
}

/// What the file stage found for one material or licence file: read,
/// measured and (unless the run only verifies) put under `key`.
#[derive(Debug, Clone, Default)]
pub struct FileFacts {
    /// Normalised path (D18); None when V1 had none or it was refused.
    pub path: Option<String>,
    pub present: bool,
    pub size: i64,
    pub md5: String,
    pub sm3: String,
    pub mime: &'static str,
    /// Where the bytes were put (a case's key, or the quarantine's).
    pub key: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FileOf {
    Material(i64),
    Licence(i64),
}

struct FileJob {
    of: FileOf,
    v1_path: Option<String>,
    /// V1's MD5 (materials): the key used depends on whether it matches.
    md5_v1: Option<String>,
    /// The key when the file is what V1 says it is.
    good_key: String,
    /// The key for a file kept as evidence (quarantined rows).
    held_key: String,
    /// A release reads the file the quarantine kept (key, SM3), not V1's.
    stored: Option<(String, String)>,
}

/// Reads, checks and stores the batch's files, several at a time (they are
/// I/O bound); only the facts are kept, never the bytes of many files.
async fn file_stage(ctx: &Ctx<'_>, jobs: Vec<FileJob>) -> Result<BTreeMap<FileOf, FileFacts>> {
    use futures::StreamExt;
    let root = ctx.opts.files_root.clone();
    let results: Vec<Result<(FileOf, FileFacts)>> = futures::stream::iter(jobs)
        .map(|job| {
            let root = root.clone();
            async move {
                let path = job
                    .v1_path
                    .as_deref()
                    .and_then(|p| paths::normalise_v1_path(p).ok());
                let read = match (&job.stored, path.clone()) {
                    (Some((key, sm3)), _) => Some(
                        ctx.app
                            .files
                            .get_verified(key, sm3)
                            .await
                            .map_err(|e| MigrateError::Target(format!("kept file {key}: {e}")))?
                            .to_vec(),
                    ),
                    (None, Some(p)) => {
                        tokio::task::spawn_blocking(move || std::fs::read(root.join(p)).ok())
                            .await
                            .map_err(|e| MigrateError::Io(e.to_string()))?
                    }
                    (None, None) => None,
                };
                let mut facts = FileFacts {
                    path,
                    ..FileFacts::default()
                };
                if let Some(bytes) = read {
                    facts.present = true;
                    facts.size = bytes.len() as i64;
                    facts.md5 = md5_hex(&bytes);
                    facts.sm3 = zt_store::files::sm3_hex(&bytes);
                    facts.mime = zt_app::upload::sniff(&bytes)
                        .map(|k| k.mime())
                        .unwrap_or("application/octet-stream");
                    let good = match job.of {
                        FileOf::Material(_) => {
                            job.md5_v1.as_deref().map(str::trim) == Some(facts.md5.as_str())
                        }
                        FileOf::Licence(_) => true,
                    };
                    let key = if good { job.good_key } else { job.held_key };
                    put(ctx, &key, bytes).await?;
                    facts.key = Some(key);
                }
                Ok((job.of, facts))
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    results.into_iter().collect()
}

struct Account {
    user_id: i64,
    user_type: String,
    name: String,
    org_name: Option<String>,
    org_uscc: Option<String>,
}

pub async fn run(ctx: &Ctx<'_>) -> Result<()> {
    let lk = lookups::load(ctx).await?;
    let total = ctx.rows("t_apply");
    let (mut after, mut done) = if ctx.opts.resume {
        checkpoint_of(ctx.app, PHASE).await?
    } else {
        (i64::MIN, 0)
    };
    let mut progress = Progress::new(ctx.opts.progress, "t_apply", total);
    // Batches are numbered from the phase's start, across resumptions.
    let mut batch_no = u64::try_from(done / ctx.opts.batch.max(1)).unwrap_or(0);
    // The next batch is read from V1 while this one is written: MariaDB's
    // work and ours overlap on the two cores.
    let mut next = read_batch(ctx, after).await?;
    loop {
        let (page, hi, children) = next;
        let last = hi == i64::MAX;
        ctx.fault_point(PHASE, batch_no, "after_read");
        let write = async {
            let mut tx = ctx.app.db.writer().begin().await?;
            batch(
                ctx,
                &lk,
                &mut tx,
                &page,
                children,
                after,
                hi,
                batch_no,
                &BTreeMap::new(),
            )
            .await?;
            checkpoint(
                &mut tx,
                ctx,
                PHASE,
                &hi.to_string(),
                done + page.len() as i64,
                last,
            )
            .await?;
            ctx.fault_point(PHASE, batch_no, "before_commit");
            tx.commit().await?;
            ctx.fault_point(PHASE, batch_no, "after_commit");
            Ok::<_, MigrateError>(())
        };
        let read = async {
            if last {
                Ok(None)
            } else {
                read_batch(ctx, hi).await.map(Some)
            }
        };
        let (written, read) = tokio::join!(write, read);
        written?;
        done += page.len() as i64;
        progress.set(done as u64);
        batch_no += 1;
        match read? {
            Some(n) => next = n,
            None => break,
        }
        after = hi;
    }
    progress.finish();
    Ok(())
}

/// A page of cases after `after`, the upper end of its range (the largest
/// id, or `i64::MAX` for the last page, so that orphans beyond the last case
/// are read too) and the children in the range.
async fn read_batch(ctx: &Ctx<'_>, after: i64) -> Result<(Vec<Apply>, i64, Children)> {
    let page = ctx.src()?.cases_after(after, ctx.opts.batch).await?;
    let full = page.len() as i64 == ctx.opts.batch;
    let hi = match page.last() {
        Some(c) if full => c.apply_id,
        _ => i64::MAX,
    };
    let children = ctx.src()?.children(after, hi).await?;
    Ok((page, hi, children))
}

fn in_list(ids: impl Iterator<Item = i64>) -> String {
    let v: Vec<String> = ids.map(|i| i.to_string()).collect();
    if v.is_empty() {
        "NULL".into()
    } else {
        v.join(",")
    }
}

/// One batch: the cases of `page` and every child with `lo < apply_id <=
/// hi`. `stored`: files a release takes from the quarantine's keeping.
#[allow(clippy::too_many_arguments)]
pub async fn batch(
    ctx: &Ctx<'_>,
    lk: &Lookups,
    tx: &mut Conn,
    page: &[Apply],
    ch: Children,
    lo: i64,
    hi: i64,
    batch_no: u64,
    stored: &BTreeMap<FileOf, (String, String)>,
) -> Result<()> {
    let done: BTreeSet<i64> = sqlx::query_as::<_, (i64,)>(
        "SELECT apply_id FROM v1_cases WHERE apply_id > $1 AND apply_id <= $2 \
         UNION SELECT v1_id FROM v1_quarantine WHERE v1_table = 't_apply' AND status = 'held' AND v1_id > $1 AND v1_id <= $2",
    )
    .bind(lo)
    .bind(hi)
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .map(|r| r.0)
    .collect();
    let materials_done: BTreeSet<i64> = sqlx::query_as::<_, (i64,)>(
        "SELECT material_id FROM v1_materials WHERE apply_id > $1 AND apply_id <= $2",
    )
    .bind(lo)
    .bind(hi)
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .map(|r| r.0)
    .collect();
    let citizens = in_list(page.iter().map(|c| c.citizen_id));
    let accounts: BTreeMap<i64, Account> =
        sqlx::query_as::<_, (i64, i64, String, String, Option<String>, Option<String>)>(&format!(
            "SELECT a.citizen_id, a.user_id, a.user_type, u.display_name, u.org_name, u.org_uscc \
             FROM v1_accounts a JOIN users u ON u.id = a.user_id WHERE a.citizen_id IN ({citizens})"
        ))
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(|(cid, user_id, user_type, name, org_name, org_uscc)| {
            (
                cid,
                Account {
                    user_id,
                    user_type,
                    name,
                    org_name,
                    org_uscc,
                },
            )
        })
        .collect();
    let held: BTreeSet<i64> = sqlx::query_as::<_, (i64,)>(&format!(
        "SELECT v1_id FROM v1_quarantine WHERE v1_table = 't_citizen' AND status = 'held' AND v1_id IN ({citizens})"
    ))
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .map(|r| r.0)
    .collect();

    let mut by_case: BTreeMap<i64, Children> = BTreeMap::new();
    let case_ids: BTreeSet<i64> = page
        .iter()
        .filter(|c| !done.contains(&c.apply_id))
        .map(|c| c.apply_id)
        .collect();
    let all_ids: BTreeSet<i64> = page.iter().map(|c| c.apply_id).collect();
    let mut orphans = Children::default();
    for m in ch.materials {
        if materials_done.contains(&m.material_id) {
            continue;
        }
        if case_ids.contains(&m.apply_id) {
            by_case.entry(m.apply_id).or_default().materials.push(m);
        } else if !all_ids.contains(&m.apply_id) {
            orphans.materials.push(m);
        }
    }
    for l in ch.logs {
        if case_ids.contains(&l.apply_id) {
            by_case.entry(l.apply_id).or_default().logs.push(l);
        } else if !all_ids.contains(&l.apply_id) {
            orphans.logs.push(l);
        }
    }
    for l in ch.licences {
        if case_ids.contains(&l.apply_id) {
            by_case.entry(l.apply_id).or_default().licences.push(l);
        } else if !all_ids.contains(&l.apply_id) {
            orphans.licences.push(l);
        }
    }
    for e in ch.evaluations {
        if case_ids.contains(&e.apply_id) {
            by_case.entry(e.apply_id).or_default().evaluations.push(e);
        } else if !all_ids.contains(&e.apply_id) {
            orphans.evaluations.push(e);
        }
    }
    let migrating =
        |c: &Apply| accounts.contains_key(&c.citizen_id) && !held.contains(&c.citizen_id);

    // Files first, several at a time; rows only point to stored files.
    let mut jobs = Vec::new();
    for c in page.iter().filter(|c| case_ids.contains(&c.apply_id)) {
        let ok = migrating(c);
        if let Some(kids) = by_case.get(&c.apply_id) {
            for m in &kids.materials {
                jobs.push(FileJob {
                    of: FileOf::Material(m.material_id),
                    v1_path: m.file_path.clone(),
                    md5_v1: if ok { m.file_md5.clone() } else { None },
                    good_key: material_key(&c.apply_no, m.material_id),
                    held_key: preserved_key("t_apply_material", m.material_id),
                    stored: stored.get(&FileOf::Material(m.material_id)).cloned(),
                });
            }
            for l in &kids.licences {
                jobs.push(FileJob {
                    of: FileOf::Licence(l.license_id),
                    v1_path: l.file_path.clone(),
                    md5_v1: None,
                    good_key: if ok {
                        licence_key(&l.license_no)
                    } else {
                        preserved_key("t_license", l.license_id)
                    },
                    held_key: preserved_key("t_license", l.license_id),
                    stored: stored.get(&FileOf::Licence(l.license_id)).cloned(),
                });
            }
        }
    }
    for m in &orphans.materials {
        jobs.push(FileJob {
            of: FileOf::Material(m.material_id),
            v1_path: m.file_path.clone(),
            md5_v1: None,
            good_key: preserved_key("t_apply_material", m.material_id),
            held_key: preserved_key("t_apply_material", m.material_id),
            stored: None,
        });
    }
    for l in &orphans.licences {
        jobs.push(FileJob {
            of: FileOf::Licence(l.license_id),
            v1_path: l.file_path.clone(),
            md5_v1: None,
            good_key: preserved_key("t_license", l.license_id),
            held_key: preserved_key("t_license", l.license_id),
            stored: None,
        });
    }
    let files = file_stage(ctx, jobs).await?;
    ctx.fault_point(PHASE, batch_no, "after_files");

    let mut out = Pending::default();
    for c in page {
        if !case_ids.contains(&c.apply_id) {
            continue;
        }
        let kids = by_case.remove(&c.apply_id).unwrap_or_default();
        match accounts.get(&c.citizen_id) {
            Some(a) if !held.contains(&c.citizen_id) => {
                migrate_case(ctx, lk, &mut out, &files, c, a, kids).await?
            }
            _ => {
                let v = serde_json::to_value(c).unwrap_or_default();
                hold(
                    ctx,
                    &mut out,
                    "t_apply",
                    c.apply_id,
                    "APPLICANT_QUARANTINED",
                    Some(c.apply_id),
                    &v,
                    json!({"citizen_id": c.citizen_id, "status": c.status}),
                );
                hold_children(ctx, &mut out, &files, kids, "CASE_QUARANTINED");
            }
        }
    }
    hold_children(ctx, &mut out, &files, orphans, "ORPHAN_NO_CASE");
    out.flush(tx, ctx.app.db.backend()).await?;
    // The ledgers point to the rows made from them.
    sqlx::query(
        "UPDATE v1_materials SET case_material_id = (SELECT cm.id FROM case_materials cm \
         WHERE cm.v1_material_id = v1_materials.material_id) \
         WHERE apply_id > $1 AND apply_id <= $2 AND outcome = 'migrated' AND case_material_id IS NULL",
    )
    .bind(lo)
    .bind(hi)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "UPDATE v1_licences SET licence_id = (SELECT l.id FROM licences l WHERE l.v1_license_id = v1_licences.license_id) \
         WHERE apply_id > $1 AND apply_id <= $2 AND outcome = 'migrated' AND licence_id IS NULL",
    )
    .bind(lo)
    .bind(hi)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

fn log_values(l: &Log) -> Value {
    let d = text_gbk::decode_log_row(
        l.node_name.as_deref(),
        l.action.as_deref(),
        l.opinion.as_deref(),
    );
    json!({
        "log_id": l.log_id, "apply_id": l.apply_id, "user_id": l.user_id, "action_time": l.action_time,
        "node_name": d.node, "action": d.action, "opinion": d.opinion, "encoding": d.encoding.as_str(),
        "node_name_hex": l.node_name.as_deref().map(hex::encode),
        "action_hex": l.action.as_deref().map(hex::encode),
        "opinion_hex": l.opinion.as_deref().map(hex::encode),
    })
}

/// Every child of a held case (or an orphan) is held with the reason given;
/// a material's file was kept (verified or not) so that a release needs
/// nothing from V1's store.
fn hold_children(
    ctx: &Ctx<'_>,
    out: &mut Pending,
    files: &BTreeMap<FileOf, FileFacts>,
    kids: Children,
    reason: &str,
) {
    for m in kids.materials {
        let f = files
            .get(&FileOf::Material(m.material_id))
            .cloned()
            .unwrap_or_default();
        let v = serde_json::to_value(&m).unwrap_or_default();
        hold(
            ctx,
            out,
            "t_apply_material",
            m.material_id,
            reason,
            Some(m.apply_id),
            &v,
            json!({}),
        );
        ledger(out, &m, "quarantined", &f);
    }
    for l in kids.logs {
        hold(
            ctx,
            out,
            "t_approve_log",
            l.log_id,
            reason,
            Some(l.apply_id),
            &log_values(&l),
            json!({}),
        );
    }
    for l in kids.licences {
        let f = files
            .get(&FileOf::Licence(l.license_id))
            .cloned()
            .unwrap_or_default();
        let v = serde_json::to_value(&l).unwrap_or_default();
        hold(
            ctx,
            out,
            "t_license",
            l.license_id,
            reason,
            Some(l.apply_id),
            &v,
            json!({}),
        );
        licence_ledger(ctx, out, &l, "quarantined", &f);
    }
    for e in kids.evaluations {
        let v = serde_json::to_value(&e).unwrap_or_default();
        hold(
            ctx,
            out,
            "t_evaluation",
            e.eval_id,
            reason,
            Some(e.apply_id),
            &v,
            json!({}),
        );
    }
}

async fn put(ctx: &Ctx<'_>, key: &str, bytes: Vec<u8>) -> Result<()> {
    if ctx.opts.verify_files_only {
        return Ok(());
    }
    ctx.app
        .files
        .put(key, bytes::Bytes::from(bytes))
        .await
        .map_err(|e| MigrateError::Target(format!("file store {key}: {e}")))
}

pub fn md5_hex(b: &[u8]) -> String {
    use md5::{Digest, Md5};
    hex::encode(Md5::digest(b))
}

const LEDGER_COLS: &str =
    "material_id, apply_id, outcome, path, size_v1, md5_v1, size, md5, sm3, storage_key, dir";

fn ledger(out: &mut Pending, m: &Material, outcome: &str, f: &FileFacts) {
    let present = f.present;
    out.push(
        "v1_materials",
        LEDGER_COLS,
        false,
        vec![
            m.material_id.into(),
            m.apply_id.into(),
            outcome.into(),
            f.path.clone().into(),
            m.file_size.into(),
            m.file_md5.clone().into(),
            present.then_some(f.size).into(),
            present.then(|| f.md5.clone()).into(),
            present.then(|| f.sm3.clone()).into(),
            f.key.clone().into(),
            f.path.as_deref().map(dir_of).into(),
        ],
    );
}

pub fn dir_of(path: &str) -> &str {
    path.rsplit_once('/').map(|(d, _)| d).unwrap_or("")
}

fn licence_ledger(ctx: &Ctx<'_>, out: &mut Pending, l: &License, outcome: &str, f: &FileFacts) {
    let holder = l
        .holder_id_card
        .as_deref()
        .map(|v| ctx.app.pii.seal(&ctx_licence_holder(l.license_id), v));
    out.push(
        "v1_licences",
        "license_id, apply_id, outcome, path, holder_id_card_v1, issue_dept_id, size, sm3, storage_key, dir",
        // An orphan licence is met again by every run; a migrated one only
        // with its case, which a second run skips.
        true,
        vec![
            l.license_id.into(),
            l.apply_id.into(),
            outcome.into(),
            f.path.clone().into(),
            holder.into(),
            l.issue_dept_id.into(),
            f.present.then_some(f.size).into(),
            f.present.then(|| f.sm3.clone()).into(),
            f.key.clone().into(),
            f.path.as_deref().map(dir_of).into(),
        ],
    );
}

fn ts(t: NaiveDateTime) -> String {
    zt_store::time::ts(
        time::V1Time {
            local: t,
            precision: time::Precision::Second,
        }
        .to_utc(),
    )
}

fn parse_dt(s: Option<&str>) -> Option<NaiveDateTime> {
    time::datetime(s).map(|t| t.local)
}

fn parse_day(s: Option<&str>) -> Option<chrono::NaiveDate> {
    chrono::NaiveDate::parse_from_str(s?.trim(), "%Y-%m-%d").ok()
}

#[allow(clippy::too_many_arguments)]
async fn migrate_case(
    ctx: &Ctx<'_>,
    lk: &Lookups,
    out: &mut Pending,
    files: &BTreeMap<FileOf, FileFacts>,
    c: &Apply,
    acct: &Account,
    kids: Children,
) -> Result<()> {
    let item = lk.items.get(&c.item_id).ok_or_else(|| {
        MigrateError::Preflight(vec![format!(
            "办件 {} 的事项 {} 未迁移 / item not migrated",
            c.apply_id, c.item_id
        )])
    })?;
    let case_no = c.apply_no.as_str();
    // D01: the submission time, normalised, with its precision.
    let filed = time::apply_time(c.apply_time.as_deref(), case_no).ok_or_else(|| {
        MigrateError::Preflight(vec![format!(
            "办件 {} 的申报时间与编号都无法解析 / no time",
            c.apply_id
        )])
    })?;
    if filed.time.precision != time::Precision::Second
        || filed.source != time::ApplyTimeSource::Parsed
    {
        note(
            out,
            "t_apply",
            c.apply_id,
            "reduced_time_precision",
            json!({
                "precision": filed.time.precision.as_str(),
                "source": match filed.source { time::ApplyTimeSource::Parsed => "apply_time", time::ApplyTimeSource::CaseNo => "case_no", time::ApplyTimeSource::Unparsed => "case_no_unparsed" },
            }),
        );
    }
    let filed_at = zt_store::time::ts(filed.time.to_utc());
    // The approval history in chronological order (D14), decoded (D11).
    let mut logs = kids.logs;
    logs.sort_by(|a, b| {
        (a.action_time.as_deref(), a.log_id).cmp(&(b.action_time.as_deref(), b.log_id))
    });
    let mut entries = Vec::with_capacity(logs.len());
    let mut decoded = Vec::with_capacity(logs.len());
    for l in &logs {
        let d = text_gbk::decode_log_row(
            l.node_name.as_deref(),
            l.action.as_deref(),
            l.opinion.as_deref(),
        );
        if d.damaged {
            note(
                out,
                "t_approve_log",
                l.log_id,
                "lossy_log_text",
                json!({"apply_id": c.apply_id}),
            );
        }
        let at = match parse_dt(l.action_time.as_deref()) {
            Some(t) => t,
            None => {
                note(
                    out,
                    "t_approve_log",
                    l.log_id,
                    "log_time_missing",
                    json!({}),
                );
                filed.time.local
            }
        };
        entries.push(LogEntry {
            log_id: l.log_id,
            at,
            node: d.node.clone(),
            action: d.action.clone(),
            opinion: d.opinion.clone(),
            user_id: l.user_id,
        });
        decoded.push(d);
    }
    // D13: a completion without its time takes the 办结 log's.
    let mut finished = parse_dt(c.finish_time.as_deref());
    let mut finish_source = finished.map(|_| "v1");
    if c.status == "09" && finished.is_none() {
        finished = entries
            .iter()
            .rev()
            .find(|e| e.action == "办结")
            .map(|e| e.at);
        if let Some(t) = finished {
            finish_source = Some("log");
            note(
                out,
                "t_apply",
                c.apply_id,
                "recovered_finish_time",
                json!({"finish_time": time::V1Time { local: t, precision: time::Precision::Second }.rfc3339_beijing()}),
            );
        } else {
            note(out, "t_apply", c.apply_id, "finish_time_unknown", json!({}));
        }
    }
    let updated = parse_dt(c.update_time.as_deref());
    let r = replay::replay(
        &CaseFacts {
            v1_status: c.status.clone(),
            submitted_at: filed.time.local,
            finished_at: finished,
            updated_at: updated,
            levels: item.levels,
        },
        &entries,
    );
    if let Some((replayed, v1)) = r.mismatch {
        note(
            out,
            "t_apply",
            c.apply_id,
            "status_replay_mismatch",
            json!({"replayed": replayed.as_str(), "v1": v1.as_str()}),
        );
    }
    // Deadlines (README §4): V1's promise for closed cases; the official
    // calendar's for accepted cases still open.
    let accepted_on = parse_dt(c.accept_time.as_deref()).map(|t| t.date());
    let promise = parse_day(c.promise_date.as_deref());
    let cal = ctx.app.calendar();
    let official =
        accepted_on.and_then(|d| deadline::official_due_date(&cal, d, item.promise_days));
    let statutory = accepted_on
        .and_then(|d| deadline::official_due_date(&cal, d, item.legal_days.max(item.promise_days)));
    let open_accepted = matches!(c.status.as_str(), "02" | "03" | "04");
    let due = if open_accepted {
        if official.is_none() {
            note(
                out,
                "t_apply",
                c.apply_id,
                "due_date_not_recomputed",
                json!({"accepted_on": accepted_on.map(|d| d.to_string())}),
            );
        }
        official.or(promise)
    } else {
        promise
    };
    let differs = match (official, promise) {
        (Some(o), Some(p)) => Some(i64::from(o != p)),
        _ => None,
    };
    // D12: the form, parsed with its escapes, sealed like V2's own.
    let parsed = form::parse_form_data(c.form_data.as_deref().unwrap_or(""));
    if parsed.lenient {
        note(out, "t_apply", c.apply_id, "form_lenient_parse", json!({}));
    }
    let mut form_map = Map::new();
    for (k, v) in parsed.pairs {
        form_map.insert(k, Value::String(v));
    }
    let form_sealed = ctx.app.pii.seal(
        &zt_app::pii::ctx_case_form(case_no),
        &Value::Object(form_map).to_string(),
    );
    let organisation = acct.user_type == "2";
    let (applicant_name, kind, org_uscc, org_name) = if organisation {
        (
            acct.org_name.clone().unwrap_or_default(),
            "organisation",
            acct.org_uscc.clone(),
            acct.org_name.clone(),
        )
    } else {
        (acct.name.clone(), "person", None, None)
    };
    let supplement = r.supplement.map(|i| {
        let e = &entries[i];
        json!({"items": [if e.opinion.is_empty() { "请按窗口意见补正材料".to_string() } else { e.opinion.clone() }],
               "opinion": e.opinion, "requested_at": ts(e.at), "by": staff_name(lk, e.user_id)})
        .to_string()
    });
    let completed_at = match r.status {
        CaseStatus::Completed => finished.map(ts),
        _ => None,
    };
    let submitted_at = (c.status != "00").then(|| filed_at.clone());
    let day = |d: Option<chrono::NaiveDate>| d.map(zt_store::time::day);
    // Written with the batch's other cases; children refer to it by number.
    let case_id = Val::CaseId(case_no.to_string());
    out.push(
        "cases",
        "case_no, item_id, item_version, dept_id, applicant_id, applicant_name, applicant_kind, org_uscc, org_name, \
         status, accepted, step, signatures, form, supplement, accepted_on, due_date, statutory_due_date, \
         paused_days, submitted_at, decided_at, completed_at, created_at, updated_at, version, origin, filed_precision",
        false,
        vec![
            case_no.into(),
            item.v2_id.into(),
            1i64.into(),
            item.dept_id.into(),
            acct.user_id.into(),
            applicant_name.clone().into(),
            kind.into(),
            org_uscc.clone().into(),
            org_name.clone().into(),
            r.status.as_str().into(),
            i64::from(r.accepted).into(),
            r.step.into(),
            "[]".into(),
            form_sealed.into(),
            supplement.into(),
            day(accepted_on.filter(|_| r.accepted)).into(),
            day(due.filter(|_| r.accepted || !open_accepted)).into(),
            day(statutory.filter(|_| open_accepted)).into(),
            0i64.into(),
            submitted_at.into(),
            r.decided_at.map(ts).into(),
            completed_at.into(),
            filed_at.clone().into(),
            updated.map(ts).unwrap_or_else(|| filed_at.clone()).into(),
            0i64.into(),
            "v1".into(),
            (filed.time.precision != time::Precision::Second)
                .then(|| filed.time.precision.as_str())
                .into(),
        ],
    );
    let handler = c
        .handler_user_id
        .and_then(|u| lk.staff.get(&u))
        .map(|s| s.user_id);
    if c.handler_user_id.is_some() && handler.is_none() {
        note(
            out,
            "t_apply",
            c.apply_id,
            "unknown_staff_reference",
            json!({"handler_user_id": c.handler_user_id}),
        );
    }
    out.push(
        "v1_cases",
        "case_id, apply_id, citizen_id, v1_status, apply_time, apply_time_precision, apply_time_v1, accept_time, \
         promise_date, official_due_date, due_date_differs, finish_time, finish_time_source, result_type, \
         handler_user_id, source_channel, remark, update_time",
        false,
        vec![
            case_id.clone(),
            c.apply_id.into(),
            c.citizen_id.into(),
            c.status.clone().into(),
            filed_at.clone().into(),
            filed.time.precision.as_str().into(),
            c.apply_time.clone().into(),
            c.accept_time.clone().into(),
            c.promise_date.clone().into(),
            day(official).into(),
            differs.into(),
            finished.map(ts).into(),
            finish_source.into(),
            c.result_type.clone().into(),
            handler.into(),
            match c.source_channel.as_deref() {
                Some("2") => Some("window"),
                Some("3") => Some("mobile"),
                Some("1") => Some("web"),
                _ => None,
            }
            .into(),
            c.remark.as_deref().map(|r| ctx.app.pii.seal(&ctx_case_remark(case_no), r)).into(),
            c.update_time.clone().into(),
        ],
    );

    // The timeline.
    for (i, e) in r.events.iter().enumerate() {
        let (actor_id, actor_name, role) = match (&e.origin, e.log) {
            (EvOrigin::Log(_), Some(li)) => match entries[li].user_id {
                Some(u) => match lk.staff.get(&u) {
                    Some(s) => (Some(s.user_id), s.name.clone(), e.role),
                    None => (None, format!("V1 工作人员 {u}"), e.role),
                },
                None => (Some(acct.user_id), applicant_name.clone(), "applicant"),
            },
            _ if e.role == "applicant" => (Some(acct.user_id), applicant_name.clone(), "applicant"),
            _ if e.action == "v1_delete" => (None, "V1 系统管理员".to_string(), "sysadmin"),
            _ => (None, "V1 系统".to_string(), e.role),
        };
        let (origin, v1_log_id, opinion, detail) = match (&e.origin, e.log) {
            (EvOrigin::Log(id), Some(li)) => {
                let d = &decoded[li];
                (
                    "v1",
                    Some(*id),
                    Some(d.opinion.clone()),
                    json!({"v1": {"node": d.node, "action": d.action, "encoding": d.encoding.as_str(), "text_damaged": d.damaged}}),
                )
            }
            (EvOrigin::Derived(why), _) => ("v1_derived", None, None, json!({"v1_derived": why})),
            _ => ("v1_derived", None, None, json!({})),
        };
        out.push(
            "case_events",
            "case_id, seq, action, from_status, to_status, actor_id, actor_name, actor_role, opinion, detail, at, \
             origin, v1_log_id",
            false,
            vec![
                case_id.clone(),
                (i as i64 + 1).into(),
                e.action.into(),
                e.from.map(|s| s.as_str()).into(),
                e.to.as_str().into(),
                actor_id.into(),
                actor_name.into(),
                role.into(),
                opinion.into(),
                detail.to_string().into(),
                ts(e.at).into(),
                origin.into(),
                v1_log_id.into(),
            ],
        );
    }

    // Materials (D09, D10, D18): verified against V1's size and MD5.
    let mut latest: BTreeMap<String, (Option<String>, i64)> = BTreeMap::new();
    for m in &kids.materials {
        let code = material_code(item, m);
        let k = (m.upload_time.clone(), m.material_id);
        let e = latest.entry(code).or_insert(k.clone());
        if k > *e {
            *e = k;
        }
    }
    for m in &kids.materials {
        let f = files
            .get(&FileOf::Material(m.material_id))
            .cloned()
            .unwrap_or_default();
        let v = serde_json::to_value(m).unwrap_or_default();
        if !f.present {
            hold(
                ctx,
                out,
                "t_apply_material",
                m.material_id,
                "FILE_MISSING",
                Some(c.apply_id),
                &v,
                json!({"path": f.path, "path_refused": f.path.is_none() && m.file_path.is_some()}),
            );
            ledger(out, m, "quarantined", &f);
            note(
                out,
                "t_apply",
                c.apply_id,
                "material_not_transferred",
                json!({"material_id": m.material_id, "reason": "FILE_MISSING"}),
            );
            continue;
        }
        if Some(f.md5.as_str()) != m.file_md5.as_deref().map(str::trim) {
            hold(
                ctx,
                out,
                "t_apply_material",
                m.material_id,
                "FILE_MD5_MISMATCH",
                Some(c.apply_id),
                &v,
                json!({"expected_md5": m.file_md5, "actual_md5": f.md5, "expected_size": m.file_size, "actual_size": f.size}),
            );
            ledger(out, m, "quarantined", &f);
            note(
                out,
                "t_apply",
                c.apply_id,
                "material_not_transferred",
                json!({"material_id": m.material_id, "reason": "FILE_MD5_MISMATCH"}),
            );
            continue;
        }
        let code = material_code(item, m);
        let current = latest.get(&code) == Some(&(m.upload_time.clone(), m.material_id));
        let uploaded = parse_dt(m.upload_time.as_deref())
            .map(ts)
            .unwrap_or_else(|| filed_at.clone());
        let name: String = m
            .file_name
            .clone()
            .unwrap_or_default()
            .chars()
            .filter(|c| !c.is_control())
            .collect();
        out.push(
            "case_materials",
            "case_id, material_code, file_name, content_type, size_bytes, digest, storage_key, uploaded_by, \
             uploaded_at, is_current, v1_material_id",
            false,
            vec![
                case_id.clone(),
                code.into(),
                (if name.is_empty() { format!("v1-{}", m.material_id) } else { name }).into(),
                f.mime.into(),
                f.size.into(),
                f.sm3.clone().into(),
                f.key.clone().unwrap_or_else(|| material_key(case_no, m.material_id)).into(),
                acct.user_id.into(),
                uploaded.into(),
                i64::from(current).into(),
                m.material_id.into(),
            ],
        );
        ledger(out, m, "migrated", &f);
    }

    for l in &kids.licences {
        let f = files
            .get(&FileOf::Licence(l.license_id))
            .cloned()
            .unwrap_or_default();
        licence(ctx, lk, out, c, &case_id, acct, organisation, l, &f)?;
    }
    for e in &kids.evaluations {
        rating(out, &case_id, acct.user_id, e, &filed_at);
    }
    Ok(())
}

fn staff_name(lk: &Lookups, user: Option<i64>) -> String {
    user.and_then(|u| lk.staff.get(&u))
        .map(|s| s.name.clone())
        .unwrap_or_default()
}

fn material_code(item: &lookups::ItemRef, m: &Material) -> String {
    m.material_name
        .as_deref()
        .and_then(|n| item.material_codes.get(n))
        .cloned()
        .unwrap_or_else(|| "v1_other".into())
}

#[allow(clippy::too_many_arguments)]
fn licence(
    ctx: &Ctx<'_>,
    lk: &Lookups,
    out: &mut Pending,
    c: &Apply,
    case_id: &Val,
    acct: &Account,
    organisation: bool,
    l: &License,
    f: &FileFacts,
) -> Result<()> {
    if !f.present {
        note(
            out,
            "t_license",
            l.license_id,
            "licence_file_missing",
            json!({"path": f.path}),
        );
    }
    let holder_id = match (organisation, l.holder_id_card.as_deref()) {
        (true, Some(u)) => u.trim().to_string(),
        (_, v) => match identity::normalise_id_card(v) {
            identity::IdCard::Valid { number, .. } => zt_domain::mask::id_number(&number),
            identity::IdCard::Invalid { .. } => {
                note(
                    out,
                    "t_license",
                    l.license_id,
                    "licence_holder_id_unnormalised",
                    json!({}),
                );
                zt_domain::mask::id_number(v.unwrap_or("").trim())
            }
        },
    };
    let content = zt_app::licence::Content {
        title: l.license_name.clone().unwrap_or_default(),
        holder_kind: if organisation {
            "organisation"
        } else {
            "person"
        }
        .into(),
        holder: l.holder_name.clone().unwrap_or_default(),
        holder_id,
        issuing_department: l
            .issue_dept_id
            .and_then(|d| lk.depts.get(&d))
            .map(|d| d.name.clone())
            .unwrap_or_default(),
        issue_date: l.issue_date.clone().unwrap_or_default(),
        valid_until: l.valid_until.clone(),
        details: vec![],
    };
    let sealed = ctx.app.pii.seal(
        &zt_app::licence::ctx_content(&l.license_no),
        &serde_json::to_string(&content).map_err(|e| MigrateError::Target(e.to_string()))?,
    );
    let created = parse_dt(l.create_time.as_deref())
        .map(ts)
        .unwrap_or_else(|| ctx.now.clone());
    out.push(
        "licences",
        "licence_no, case_id, case_no, holder_user_id, content, status, issue_date, valid_until, file_key, \
         document_sm3, document_bytes, created_at, issued_at, updated_at, origin, v1_license_id",
        false,
        vec![
            l.license_no.clone().into(),
            case_id.clone(),
            c.apply_no.clone().into(),
            acct.user_id.into(),
            sealed.into(),
            "issued".into(),
            l.issue_date.clone().unwrap_or_default().into(),
            l.valid_until.clone().into(),
            f.key.clone().into(),
            f.present.then(|| f.sm3.clone()).into(),
            f.present.then_some(f.size).into(),
            created.clone().into(),
            created.clone().into(),
            created.into(),
            "v1".into(),
            l.license_id.into(),
        ],
    );
    licence_ledger(ctx, out, l, "migrated", f);
    Ok(())
}

fn rating(out: &mut Pending, case_id: &Val, applicant: i64, e: &Evaluation, fallback: &str) {
    let channel = match e.eval_channel.as_deref() {
        Some("2") => "mobile",
        Some("3") => "sms",
        Some("4") => "window_device",
        _ => "web",
    };
    out.push(
        "ratings",
        "case_id, applicant_id, score, comment, created_at, channel, v1_eval_id",
        false,
        vec![
            case_id.clone(),
            applicant.into(),
            e.score.into(),
            e.content.clone().unwrap_or_default().into(),
            parse_dt(e.eval_time.as_deref())
                .map(ts)
                .unwrap_or_else(|| fallback.to_string())
                .into(),
            channel.into(),
            e.eval_id.into(),
        ],
    );
}
