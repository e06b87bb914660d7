//! The run: pre-flight, the phases in order, checkpoints, the report. A run
//! is recorded in `v1_runs`; each phase records how far it got in
//! `v1_checkpoints`, in the same transaction as the rows of the batch, so a
//! kill at any moment leaves the data and the checkpoint in step.

use std::path::PathBuf;

use serde_json::{json, Value};
use sqlx::Row;
use zt_app::App;
use zt_store::Conn;

use crate::error::{MigrateError, Result};
use crate::progress::Mode;
use crate::source::Source;

/// V1 was frozen at 2026-10-31 18:00 Beijing time (README, §2).
pub const DEFAULT_FREEZE: &str = "2026-10-31 18:00:00";

#[derive(Debug, Clone)]
pub struct Options {
    pub source_url: String,
    pub files_root: PathBuf,
    pub report_dir: Option<PathBuf>,
    pub manifest: Option<PathBuf>,
    pub resume: bool,
    /// Read, transform and write into the (throw-away) target, but put no
    /// file into the store: the dry run.
    pub verify_files_only: bool,
    pub batch: i64,
    pub progress: Mode,
    /// Beijing local time of V1's freeze.
    pub freeze: chrono::NaiveDateTime,
    /// Test hook (design §4.4): `<phase>:<batch>:<point>`.
    pub fault: Option<String>,
}

pub struct Ctx<'a> {
    pub app: &'a App,
    /// V1's database; none for a release, which works from the values the
    /// quarantine kept.
    pub src: Option<&'a Source>,
    pub opts: &'a Options,
    pub run_id: i64,
    /// UTC-ms text of the run's start: when rows were quarantined.
    pub now: String,
    pub fingerprint: Value,
}

impl Ctx<'_> {
    pub fn src(&self) -> Result<&Source> {
        self.src
            .ok_or_else(|| MigrateError::Usage("this step needs V1's database (--source)".into()))
    }

    /// V1's row count of a table, for progress.
    pub fn rows(&self, table: &str) -> u64 {
        self.fingerprint["tables"][table]["rows"]
            .as_u64()
            .unwrap_or(0)
    }

    /// Stops here (printing the point and sleeping) when the fault hook names it.
    pub fn fault_point(&self, phase: &str, batch: u64, point: &str) {
        if let Some(f) = &self.opts.fault {
            if *f == format!("{phase}:{batch}:{point}") {
                eprintln!("FAULT-POINT {f}");
                std::thread::sleep(std::time::Duration::from_secs(3600));
            }
        }
    }
}

pub const PHASES: [&str; 6] = [
    "departments",
    "staff",
    "items",
    "accounts",
    "cases",
    "unreferenced_files",
];

/// The outcome of a run, for the command to print.
#[derive(Debug)]
pub struct Outcome {
    pub report: Value,
    pub self_check: Option<crate::report::SelfCheck>,
}

pub async fn run(app: &App, opts: &Options) -> Result<Outcome> {
    if !app.db.migrations_current().await? {
        return Err(MigrateError::Usage(
            "目标数据库结构不是最新版本：请先运行 zhengtong db migrate / the target schema is not current".into(),
        ));
    }
    if !opts.files_root.is_dir() {
        return Err(MigrateError::Preflight(vec![format!(
            "附件根目录不存在或不可读 / --files {} is not a readable directory",
            opts.files_root.display()
        )]));
    }
    let src = Source::connect(&opts.source_url).await?;
    let result = run_with(app, &src, opts).await;
    src.close().await;
    result
}

async fn run_with(app: &App, src: &Source, opts: &Options) -> Result<Outcome> {
    let fingerprint = src.fingerprint().await?;
    preflight(src).await?;
    let run_id = start_run(app, opts, &fingerprint).await?;
    let ctx = Ctx {
        app,
        src: Some(src),
        opts,
        run_id,
        now: zt_store::time::ts(app.clock.now()),
        fingerprint: fingerprint.clone(),
    };
    let done = phases_done(app).await?;
    for phase in PHASES {
        if done.iter().any(|d| d == phase) {
            continue;
        }
        match phase {
            "departments" => crate::phase::org::departments(&ctx).await?,
            "staff" => crate::phase::org::staff(&ctx).await?,
            "items" => crate::phase::org::items(&ctx).await?,
            "accounts" => crate::phase::accounts::run(&ctx).await?,
            "cases" => crate::phase::cases::run(&ctx).await?,
            _ => crate::phase::unreferenced::run(&ctx).await?,
        }
        audit_phase(&ctx, phase).await?;
    }
    let listed = crate::report::listings(app, opts.report_dir.as_deref()).await?;
    let report = crate::report::build(app, &fingerprint, run_id, opts, &listed).await?;
    let self_check = match &opts.report_dir {
        Some(dir) => {
            Some(crate::report::write(dir, &report, opts.manifest.as_deref(), &listed).await?)
        }
        None => None,
    };
    let mut conn = app.db.writer().acquire().await?;
    sqlx::query("UPDATE v1_runs SET status = 'completed', finished_at = $1, heartbeat_at = $1, report = $2 WHERE id = $3")
        .bind(zt_store::time::ts(app.clock.now()))
        .bind(report.to_string())
        .bind(run_id)
        .execute(&mut *conn)
        .await?;
    Ok(Outcome { report, self_check })
}

async fn preflight(src: &Source) -> Result<()> {
    let mut problems = src.preflight_problems().await?;
    let cols = src.latin1_log_columns().await?;
    if cols.len() != 3 || cols.iter().any(|(_, cs)| cs.as_deref() != Some("latin1")) {
        problems.push(format!(
            "t_approve_log 的文本列不是 latin1，GBK 解码规则不适用 / t_approve_log text columns are not latin1: {cols:?}"
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(MigrateError::Preflight(problems))
    }
}

/// A new run, or (with `--resume`) the unfinished one, which must have read
/// the same source with the same options that change outcomes.
async fn start_run(app: &App, opts: &Options, fingerprint: &Value) -> Result<i64> {
    let now = zt_store::time::ts(app.clock.now());
    let options = json!({
        "files": opts.files_root.display().to_string(),
        "freeze": opts.freeze.to_string(),
        "verify_files_only": opts.verify_files_only,
    });
    let mut tx = app.db.writer().begin().await?;
    let last = sqlx::query(
        "SELECT id, status, source_fingerprint, options FROM v1_runs ORDER BY id DESC LIMIT 1",
    )
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(row) = last {
        let (id, status): (i64, String) = (row.try_get(0)?, row.try_get(1)?);
        if status != "completed" {
            if !opts.resume {
                return Err(MigrateError::Interrupted(format!(
                    "上一次迁移（第 {id} 次）没有完成：请加 --resume 续跑 / run {id} did not finish; continue it with --resume"
                )));
            }
            let fp: String = row.try_get(2)?;
            let op: String = row.try_get(3)?;
            if serde_json::from_str::<Value>(&fp).ok().as_ref() != Some(fingerprint) {
                return Err(MigrateError::Interrupted(format!(
                    "V1 数据与第 {id} 次迁移开始时不同，不能续跑 / the source differs from the one run {id} read"
                )));
            }
            if serde_json::from_str::<Value>(&op).ok().as_ref() != Some(&options) {
                return Err(MigrateError::Interrupted(format!(
                    "选项与第 {id} 次迁移不同（--files、--freeze、--dry-run），不能续跑 / options differ from run {id}: {op}"
                )));
            }
            sqlx::query("UPDATE v1_runs SET heartbeat_at = $1 WHERE id = $2")
                .bind(&now)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            return Ok(id);
        }
    }
    // A new run reads everything again; the V1 keys make it write nothing
    // that is already there.
    sqlx::query("DELETE FROM v1_checkpoints")
        .execute(&mut *tx)
        .await?;
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO v1_runs (started_at, status, heartbeat_at, source_fingerprint, options, tool_version) \
         VALUES ($1, 'running', $1, $2, $3, $4) RETURNING id",
    )
    .bind(&now)
    .bind(fingerprint.to_string())
    .bind(options.to_string())
    .bind(env!("CARGO_PKG_VERSION"))
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(id)
}

async fn phases_done(app: &App) -> Result<Vec<String>> {
    let mut conn = app.db.reader().acquire().await?;
    Ok(
        sqlx::query_as::<_, (String,)>("SELECT phase FROM v1_checkpoints WHERE done = 1")
            .fetch_all(&mut *conn)
            .await?
            .into_iter()
            .map(|r| r.0)
            .collect(),
    )
}

/// Where a batched phase stands: the last key committed and rows done.
pub async fn checkpoint_of(app: &App, phase: &str) -> Result<(i64, i64)> {
    let mut conn = app.db.reader().acquire().await?;
    let row: Option<(String, i64)> =
        sqlx::query_as("SELECT last_key, rows_done FROM v1_checkpoints WHERE phase = $1")
            .bind(phase)
            .fetch_optional(&mut *conn)
            .await?;
    Ok(match row {
        Some((k, n)) => (k.parse().unwrap_or(i64::MIN), n),
        None => (i64::MIN, 0),
    })
}

pub async fn checkpoint(
    conn: &mut Conn,
    ctx: &Ctx<'_>,
    phase: &str,
    last_key: &str,
    rows_done: i64,
    done: bool,
) -> Result<()> {
    let now = zt_store::time::ts(ctx.app.clock.now());
    sqlx::query(
        "INSERT INTO v1_checkpoints (phase, run_id, last_key, rows_done, done, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (phase) DO UPDATE SET run_id = $2, last_key = $3, \
         rows_done = $4, done = $5, updated_at = $6",
    )
    .bind(phase)
    .bind(ctx.run_id)
    .bind(last_key)
    .bind(rows_done)
    .bind(i64::from(done))
    .bind(&now)
    .execute(&mut *conn)
    .await?;
    sqlx::query("UPDATE v1_runs SET heartbeat_at = $1 WHERE id = $2")
        .bind(&now)
        .bind(ctx.run_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The V1 values of a held row, sealed: they hold personal information.
pub fn ctx_quarantine(table: &str, id: i64) -> String {
    format!("v1_quarantine.v1_values:{table}:{id}")
}

/// Holds a V1 row back (quarantine), with its V1 values sealed, in the
/// batch's rows.
#[allow(clippy::too_many_arguments)]
pub fn hold(
    ctx: &Ctx<'_>,
    out: &mut crate::sink::Pending,
    table: &'static str,
    id: i64,
    reason: &str,
    apply_id: Option<i64>,
    values: &Value,
    detail: Value,
) {
    let sealed = ctx
        .app
        .pii
        .seal(&ctx_quarantine(table, id), &values.to_string());
    out.push(
        "v1_quarantine",
        "v1_table, v1_id, reason, apply_id, v1_values, detail, quarantined_at",
        true,
        vec![
            table.into(),
            id.into(),
            reason.into(),
            apply_id.into(),
            sealed.into(),
            detail.to_string().into(),
            ctx.now.clone().into(),
        ],
    );
}

/// Records an interpretation of a V1 row (v1_flags) in the batch's rows.
pub fn note(
    out: &mut crate::sink::Pending,
    table: &'static str,
    id: i64,
    flag: &str,
    detail: Value,
) {
    out.push(
        "v1_flags",
        "v1_table, v1_id, flag, detail",
        true,
        vec![
            table.into(),
            id.into(),
            flag.into(),
            detail.to_string().into(),
        ],
    );
}

pub async fn flag(conn: &mut Conn, table: &str, id: i64, flag: &str, detail: &Value) -> Result<()> {
    sqlx::query(
        "INSERT INTO v1_flags (v1_table, v1_id, flag, detail) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
    )
    .bind(table)
    .bind(id)
    .bind(flag)
    .bind(detail.to_string())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn audit_phase(ctx: &Ctx<'_>, phase: &str) -> Result<()> {
    let mut tx = ctx.app.db.writer().begin().await?;
    let origin = zt_app::state::Origin {
        actor_id: None,
        actor_name: "zhengtong migrate-v1".into(),
        client_addr: "cli".into(),
    };
    zt_app::state::audit(
        &mut tx,
        &zt_store::time::ts(ctx.app.clock.now()),
        &origin,
        "v1_migration_phase",
        &format!("v1_runs/{}", ctx.run_id),
        "ok",
        json!({"phase": phase}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
