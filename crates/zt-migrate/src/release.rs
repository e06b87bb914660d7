//! `zhengtong migrate-v1 release`: a quarantined row the bureau corrected
//! goes through the same transforms as in the run, from the V1 values the
//! quarantine kept (V1's server may be gone by then). Releasing an account
//! releases its held cases with their materials, logs, licences and
//! evaluations; releasing a material takes the file the bureau found. If the
//! corrected row still fails, nothing changes. The held row stays, marked
//! released, with who, when and why; the corrections are sealed.

use std::collections::BTreeMap;

use serde_json::{json, Value};
use zt_app::App;

use crate::error::{MigrateError, Result};
use crate::phase::cases::{self, FileOf};
use crate::phase::{accounts, lookups};
use crate::run::{ctx_quarantine, Ctx, Options};
use crate::source::{Apply, Children, Citizen, Evaluation, License, Log, Material};
use crate::transform::identity::{normalise_id_card, IdCard};

#[derive(Debug, Clone)]
pub struct Release {
    pub table: String,
    pub id: i64,
    /// Corrections, `field=value` (t_citizen: id_card, real_name, mobile).
    pub set: Vec<(String, String)>,
    /// For a material: the file found for it.
    pub file: Option<std::path::PathBuf>,
    pub operator: String,
    pub note: String,
    /// Check only; change nothing.
    pub dry_run: bool,
}

#[derive(Debug, Default, serde::Serialize)]
pub struct Released {
    pub rows: Vec<(String, i64)>,
}

fn refused(why: impl Into<String>) -> MigrateError {
    MigrateError::Refused(why.into())
}

async fn held_values(
    app: &App,
    conn: &mut zt_store::Conn,
    table: &str,
    id: i64,
) -> Result<Option<(String, Value)>> {
    let row: Option<(String, String)> = sqlx::query_as(
        "SELECT reason, v1_values FROM v1_quarantine WHERE v1_table = $1 AND v1_id = $2 AND status = 'held'",
    )
    .bind(table)
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((reason, sealed)) = row else {
        return Ok(None);
    };
    let text = app.pii.open(&ctx_quarantine(table, id), &sealed)?;
    let v = serde_json::from_str(&text)
        .map_err(|e| MigrateError::Target(format!("{table} {id}: {e}")))?;
    Ok(Some((reason, v)))
}

fn parse<T: serde::de::DeserializeOwned>(table: &str, id: i64, v: Value) -> Result<T> {
    serde_json::from_value(v)
        .map_err(|e| MigrateError::Target(format!("kept values of {table} {id}: {e}")))
}

fn log_from(v: &Value) -> Option<Log> {
    let bytes = |k: &str| v[k].as_str().and_then(|h| hex::decode(h).ok());
    Some(Log {
        log_id: v["log_id"].as_i64()?,
        apply_id: v["apply_id"].as_i64()?,
        node_name: bytes("node_name_hex"),
        user_id: v["user_id"].as_i64(),
        action: bytes("action_hex"),
        opinion: bytes("opinion_hex"),
        action_time: v["action_time"].as_str().map(str::to_string),
    })
}

pub async fn release(app: &App, opts: &Options, r: &Release) -> Result<Released> {
    // A dry run puts no file into the store: a rollback could not take it back.
    let opts = &Options {
        verify_files_only: opts.verify_files_only || r.dry_run,
        ..opts.clone()
    };
    let ctx = Ctx {
        app,
        src: None,
        opts,
        run_id: 0,
        now: zt_store::time::ts(app.clock.now()),
        fingerprint: Value::Null,
    };
    let mut tx = app.db.writer().begin().await?;
    let mut out = Released::default();
    let Some((reason, values)) = held_values(app, &mut tx, &r.table, r.id).await? else {
        return Err(MigrateError::Usage(format!(
            "{} {} 不在隔离中（或已放行） / not a held quarantine row",
            r.table, r.id
        )));
    };
    let sealed_corrections = app.pii.seal(
        &format!("v1_quarantine.corrections:{}:{}", r.table, r.id),
        &json!(r.set.iter().cloned().collect::<BTreeMap<_, _>>()).to_string(),
    );
    match (r.table.as_str(), reason.as_str()) {
        ("t_citizen", "ID_CHECKSUM_INVALID") => {
            let mut c: Citizen = parse(&r.table, r.id, values)?;
            for (k, v) in &r.set {
                match k.as_str() {
                    "id_card" => c.id_card = Some(v.clone()),
                    "real_name" => c.real_name = Some(v.clone()),
                    "mobile" => c.mobile = Some(v.clone()),
                    other => return Err(MigrateError::Usage(format!("--set {other}: 可更正 id_card、real_name、mobile"))),
                }
            }
            if let IdCard::Invalid { reason } = normalise_id_card(c.id_card.as_deref()) {
                return Err(refused(format!("更正后的身份证号码仍未通过 GB 11643 校验（{reason}），未作任何更改")));
            }
            mark(&ctx, &mut tx, "t_citizen", r.id, r, &sealed_corrections).await?;
            accounts::batch(&ctx, &mut tx, std::slice::from_ref(&c), r.id - 1, r.id).await?;
            out.rows.push(("t_citizen".into(), r.id));
            let lk = lookups::load_in(&ctx, &mut tx).await?;
            let held_cases: Vec<(i64, String)> = sqlx::query_as(
                "SELECT v1_id, v1_values FROM v1_quarantine WHERE v1_table = 't_apply' \
                 AND reason = 'APPLICANT_QUARANTINED' AND status = 'held' ORDER BY v1_id",
            )
            .fetch_all(&mut *tx)
            .await?;
            for (apply_id, sealed) in held_cases {
                let v: Value = serde_json::from_str(&app.pii.open(&ctx_quarantine("t_apply", apply_id), &sealed)?)
                    .unwrap_or_default();
                let case: Apply = parse("t_apply", apply_id, v)?;
                if case.citizen_id != r.id {
                    continue;
                }
                let (kids, stored, rows) = held_children(app, &mut tx, apply_id).await?;
                mark(&ctx, &mut tx, "t_apply", apply_id, r, "").await?;
                for (t, id) in &rows {
                    mark(&ctx, &mut tx, t, *id, r, "").await?;
                }
                cases::batch(&ctx, &lk, &mut tx, std::slice::from_ref(&case), kids, apply_id - 1, apply_id, 0, &stored).await?;
                out.rows.push(("t_apply".into(), apply_id));
                out.rows.extend(rows);
            }
        }
        ("t_apply_material", "FILE_MISSING" | "FILE_MD5_MISMATCH") => {
            let m: Material = parse(&r.table, r.id, values)?;
            let Some(path) = &r.file else {
                return Err(MigrateError::Usage("--file PATH：请给出找回的附件文件".into()));
            };
            let bytes = std::fs::read(path).map_err(|e| MigrateError::Io(format!("{}: {e}", path.display())))?;
            let md5 = cases::md5_hex(&bytes);
            if Some(md5.as_str()) != m.file_md5.as_deref().map(str::trim) {
                return Err(refused(format!(
                    "文件的 MD5（{md5}）与原系统记录（{}）不符，未作任何更改",
                    m.file_md5.clone().unwrap_or_default()
                )));
            }
            let case: Option<(i64, String, i64, i64)> = sqlx::query_as(
                "SELECT c.id, c.case_no, c.applicant_id, vi.item_id FROM v1_cases vc JOIN cases c ON c.id = vc.case_id \
                 JOIN v1_items vi ON vi.v2_item_id = c.item_id WHERE vc.apply_id = $1",
            )
            .bind(m.apply_id)
            .fetch_optional(&mut *tx)
            .await?;
            let Some((case_id, case_no, applicant, v1_item)) = case else {
                return Err(refused("材料所属的办件未迁移，请先放行办件"));
            };
            let lk = lookups::load_in(&ctx, &mut tx).await?;
            let code = lk
                .items
                .get(&v1_item)
                .and_then(|i| m.material_name.as_deref().and_then(|n| i.material_codes.get(n)))
                .cloned()
                .unwrap_or_else(|| "v1_other".into());
            let key = cases::material_key(&case_no, m.material_id);
            let sm3 = zt_store::files::sm3_hex(&bytes);
            let size = bytes.len() as i64;
            let mime = zt_app::upload::sniff(&bytes).map(|k| k.mime()).unwrap_or("application/octet-stream");
            if !r.dry_run {
                app.files.put(&key, bytes::Bytes::from(bytes)).await?;
            }
            let (current,): (i64,) = sqlx::query_as(
                "SELECT COUNT(*) FROM case_materials WHERE case_id = $1 AND material_code = $2 AND is_current = 1",
            )
            .bind(case_id)
            .bind(&code)
            .fetch_one(&mut *tx)
            .await?;
            let (cm,): (i64,) = sqlx::query_as(
                "INSERT INTO case_materials (case_id, material_code, file_name, content_type, size_bytes, digest, \
                 storage_key, uploaded_by, uploaded_at, is_current, v1_material_id) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
            )
            .bind(case_id)
            .bind(&code)
            .bind(m.file_name.clone().unwrap_or_else(|| format!("v1-{}", m.material_id)))
            .bind(mime)
            .bind(size)
            .bind(&sm3)
            .bind(&key)
            .bind(applicant)
            .bind(&ctx.now)
            .bind(i64::from(current == 0))
            .bind(m.material_id)
            .fetch_one(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE v1_materials SET outcome = 'migrated', case_material_id = $1, size = $2, md5 = $3, sm3 = $4, \
                 storage_key = $5 WHERE material_id = $6",
            )
            .bind(cm)
            .bind(size)
            .bind(&md5)
            .bind(&sm3)
            .bind(&key)
            .bind(m.material_id)
            .execute(&mut *tx)
            .await?;
            mark(&ctx, &mut tx, "t_apply_material", r.id, r, &sealed_corrections).await?;
            // The case's note goes once no material of it is held any more.
            let (left,): (i64,) = sqlx::query_as(
                "SELECT COUNT(*) FROM v1_quarantine WHERE v1_table = 't_apply_material' AND apply_id = $1 AND status = 'held'",
            )
            .bind(m.apply_id)
            .fetch_one(&mut *tx)
            .await?;
            if left == 0 {
                sqlx::query("DELETE FROM v1_flags WHERE v1_table = 't_apply' AND v1_id = $1 AND flag = 'material_not_transferred'")
                    .bind(m.apply_id)
                    .execute(&mut *tx)
                    .await?;
            }
            out.rows.push(("t_apply_material".into(), r.id));
        }
        (t, reason) => {
            return Err(MigrateError::Usage(format!(
                "{t} 的隔离原因 {reason} 不能单独放行：放行其所属的账号或办件 / release the row it depends on"
            )))
        }
    }
    let origin = zt_app::state::Origin {
        actor_id: None,
        actor_name: format!("zhengtong migrate-v1 release ({})", r.operator),
        client_addr: "cli".into(),
    };
    zt_app::state::audit(
        &mut tx,
        &ctx.now,
        &origin,
        "v1_release",
        &format!("{}/{}", r.table, r.id),
        if r.dry_run { "dry_run" } else { "success" },
        json!({"operator": r.operator, "note": r.note, "rows": out.rows.len(), "fields": r.set.iter().map(|(k, _)| k).collect::<Vec<_>>()}),
    )
    .await?;
    if r.dry_run {
        tx.rollback().await?;
    } else {
        tx.commit().await?;
    }
    Ok(out)
}

async fn mark(
    ctx: &Ctx<'_>,
    tx: &mut zt_store::Conn,
    table: &str,
    id: i64,
    r: &Release,
    corrections: &str,
) -> Result<()> {
    sqlx::query(
        "UPDATE v1_quarantine SET status = 'released', released_at = $1, released_by = $2, release_note = $3, \
         detail = $4 WHERE v1_table = $5 AND v1_id = $6 AND status = 'held'",
    )
    .bind(&ctx.now)
    .bind(&r.operator)
    .bind(&r.note)
    .bind(json!({"released_with": format!("{}/{}", r.table, r.id), "corrections_sealed": corrections}).to_string())
    .bind(table)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

type HeldKids = (
    Children,
    BTreeMap<FileOf, (String, String)>,
    Vec<(String, i64)>,
);

/// A held case's children from the quarantine, with the files kept for
/// them; their ledger rows are removed so the case's batch writes them anew.
async fn held_children(app: &App, tx: &mut zt_store::Conn, apply_id: i64) -> Result<HeldKids> {
    let rows: Vec<(String, i64, String)> = sqlx::query_as(
        "SELECT v1_table, v1_id, v1_values FROM v1_quarantine WHERE apply_id = $1 AND reason = 'CASE_QUARANTINED' \
         AND status = 'held' ORDER BY v1_table, v1_id",
    )
    .bind(apply_id)
    .fetch_all(&mut *tx)
    .await?;
    let mut kids = Children::default();
    let mut ids = Vec::new();
    for (t, id, sealed) in rows {
        let v: Value = serde_json::from_str(&app.pii.open(&ctx_quarantine(&t, id), &sealed)?)
            .unwrap_or_default();
        match t.as_str() {
            "t_apply_material" => kids.materials.push(parse::<Material>(&t, id, v)?),
            "t_approve_log" => kids.logs.push(
                log_from(&v)
                    .ok_or_else(|| MigrateError::Target(format!("kept log {id} unreadable")))?,
            ),
            "t_license" => kids.licences.push(parse::<License>(&t, id, v)?),
            "t_evaluation" => kids.evaluations.push(parse::<Evaluation>(&t, id, v)?),
            _ => continue,
        }
        ids.push((t, id));
    }
    let mut stored = BTreeMap::new();
    for (id, key, sm3) in sqlx::query_as::<_, (i64, Option<String>, Option<String>)>(
        "SELECT material_id, storage_key, sm3 FROM v1_materials WHERE apply_id = $1 AND outcome = 'quarantined'",
    )
    .bind(apply_id)
    .fetch_all(&mut *tx)
    .await?
    {
        if let (Some(k), Some(s)) = (key, sm3) {
            stored.insert(FileOf::Material(id), (k, s));
        }
    }
    for (id, key, sm3) in sqlx::query_as::<_, (i64, Option<String>, Option<String>)>(
        "SELECT license_id, storage_key, sm3 FROM v1_licences WHERE apply_id = $1 AND outcome = 'quarantined'",
    )
    .bind(apply_id)
    .fetch_all(&mut *tx)
    .await?
    {
        if let (Some(k), Some(s)) = (key, sm3) {
            stored.insert(FileOf::Licence(id), (k, s));
        }
    }
    sqlx::query("DELETE FROM v1_materials WHERE apply_id = $1 AND outcome = 'quarantined'")
        .bind(apply_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM v1_licences WHERE apply_id = $1 AND outcome = 'quarantined'")
        .bind(apply_id)
        .execute(&mut *tx)
        .await?;
    Ok((kids, stored, ids))
}
