//! `zhengtong migrate-v1`: the command around `zt_migrate`. The target is the
//! configured platform (database, file store, keys), built exactly as the
//! server builds it, so migrated rows are sealed with the server's keys. A dry
//! run migrates into a throw-away SQLite database and key file that are
//! removed afterwards, and puts no file anywhere.

use std::sync::Arc;

use anyhow::Context;
use zt_app::clock::SystemClock;
use zt_migrate::progress::Mode;

use crate::bootstrap;
use crate::cli::{MigrateV1Args, MigrateV1Command};
use crate::config::Config;

/// Exit code and message: 0 done and consistent, 1 self-check failed,
/// 2 refused (pre-flight or usage), 3 interrupted run, 4 source/target failure.
pub async fn main(cfg: &Config, args: MigrateV1Args, command: Option<MigrateV1Command>) -> i32 {
    match dispatch(cfg, args, command).await {
        Ok(code) => code,
        Err(e) => {
            let code = e
                .downcast_ref::<zt_migrate::MigrateError>()
                .map(|m| m.exit_code())
                .unwrap_or(4);
            eprintln!("migrate-v1: {e:#}");
            code
        }
    }
}

async fn dispatch(
    cfg: &Config,
    args: MigrateV1Args,
    command: Option<MigrateV1Command>,
) -> anyhow::Result<i32> {
    match command {
        Some(MigrateV1Command::Report { report, manifest }) => {
            let app = target(cfg).await?;
            let fp = last_fingerprint(&app).await?;
            let opts = options_for_report(&args)?;
            let listed = zt_migrate::report::listings(&app, Some(&report)).await?;
            let r = zt_migrate::report::build(&app, &fp, 0, &opts, &listed).await?;
            let check =
                zt_migrate::report::write(&report, &r, manifest.as_deref(), &listed).await?;
            print_summary(&r, Some(&check));
            Ok(if check.passed() { 0 } else { 1 })
        }
        Some(MigrateV1Command::Status) => {
            let app = target(cfg).await?;
            let mut conn = app.db.reader().acquire().await?;
            let runs: Vec<(i64, String, String, Option<String>)> = sqlx::query_as(
                "SELECT id, status, started_at, finished_at FROM v1_runs ORDER BY id",
            )
            .fetch_all(&mut *conn)
            .await?;
            for (id, status, started, finished) in runs {
                println!(
                    "run {id}: {status}, started {started}, finished {}",
                    finished.unwrap_or_else(|| "-".into())
                );
            }
            let cps: Vec<(String, String, i64, i64)> = sqlx::query_as(
                "SELECT phase, last_key, rows_done, done FROM v1_checkpoints ORDER BY phase",
            )
            .fetch_all(&mut *conn)
            .await?;
            for (phase, key, rows, done) in cps {
                println!(
                    "  {phase}: {rows} rows, last key {key}{}",
                    if done == 1 { ", done" } else { "" }
                );
            }
            Ok(0)
        }
        Some(MigrateV1Command::Release {
            table,
            id,
            set,
            file,
            operator,
            note,
            dry_run,
        }) => {
            let mut pairs = Vec::new();
            for s in set {
                let Some((k, v)) = s.split_once('=') else {
                    return Err(zt_migrate::MigrateError::Usage(format!(
                        "--set {s:?}: FIELD=VALUE"
                    ))
                    .into());
                };
                pairs.push((k.trim().to_string(), v.trim().to_string()));
            }
            if operator.trim().is_empty() || note.trim().is_empty() {
                return Err(zt_migrate::MigrateError::Usage(
                    "--operator 与 --note 不能为空".into(),
                )
                .into());
            }
            let app = target(cfg).await?;
            let opts = options_for_report(&args)?;
            let r = zt_migrate::release::release(
                &app,
                &opts,
                &zt_migrate::release::Release {
                    table,
                    id,
                    set: pairs,
                    file,
                    operator,
                    note,
                    dry_run,
                },
            )
            .await?;
            for (t, id) in &r.rows {
                println!(
                    "{} {t} {id}",
                    if dry_run { "would release" } else { "released" }
                );
            }
            println!("run `zhengtong migrate-v1 report --report DIR` to regenerate the listings");
            Ok(0)
        }
        None => run(cfg, args).await,
    }
}

fn options_for_report(args: &MigrateV1Args) -> anyhow::Result<zt_migrate::Options> {
    Ok(zt_migrate::Options {
        source_url: args.source.clone().unwrap_or_default(),
        files_root: args.files.clone().unwrap_or_default(),
        report_dir: args.report.clone(),
        manifest: args.manifest.clone(),
        resume: args.resume,
        verify_files_only: args.dry_run,
        batch: args.batch.clamp(1, 20_000),
        progress: Mode::parse(&args.progress).ok_or_else(|| {
            zt_migrate::MigrateError::Usage(format!(
                "--progress {:?}: auto | bar | plain | off",
                args.progress
            ))
        })?,
        freeze: chrono::NaiveDateTime::parse_from_str(&args.freeze, "%Y-%m-%d %H:%M:%S").map_err(
            |e| zt_migrate::MigrateError::Usage(format!("--freeze {:?}: {e}", args.freeze)),
        )?,
        fault: std::env::var("ZT_MIGRATE_V1_FAULT")
            .ok()
            .filter(|f| !f.is_empty()),
    })
}

async fn target(cfg: &Config) -> anyhow::Result<zt_app::App> {
    let db = bootstrap::connect(cfg).await?;
    bootstrap::build_app(cfg, db, Arc::new(SystemClock), false).await
}

async fn last_fingerprint(app: &zt_app::App) -> anyhow::Result<serde_json::Value> {
    let mut conn = app.db.reader().acquire().await?;
    let fp: Option<(String,)> =
        sqlx::query_as("SELECT source_fingerprint FROM v1_runs ORDER BY id DESC LIMIT 1")
            .fetch_optional(&mut *conn)
            .await?;
    Ok(fp
        .and_then(|(s,)| serde_json::from_str(&s).ok())
        .unwrap_or_default())
}

async fn run(cfg: &Config, args: MigrateV1Args) -> anyhow::Result<i32> {
    let mut opts = options_for_report(&args)?;
    opts.source_url = args
        .source
        .clone()
        .ok_or_else(|| zt_migrate::MigrateError::Usage("--source mysql://… is required".into()))?;
    opts.files_root = args
        .files
        .clone()
        .ok_or_else(|| zt_migrate::MigrateError::Usage("--files DIR is required".into()))?;
    let scratch;
    let app = if args.dry_run {
        scratch = tempdir()?;
        let mut c = cfg.clone();
        c.database_url = format!("sqlite://{}/dry-run.db", scratch.display());
        c.data_dir = scratch.clone();
        c.file_store = String::new();
        c.pii_keys = crate::config::Secret(String::new());
        c.pii_key_file = String::new();
        c.signing_key_file = String::new();
        let db = bootstrap::connect(&c).await?;
        bootstrap::migrate(&db).await?;
        bootstrap::build_app(&c, db, Arc::new(SystemClock), false).await?
    } else {
        scratch = std::path::PathBuf::new();
        target(cfg).await?
    };
    let result = zt_migrate::run(&app, &opts).await;
    app.db.close().await;
    if args.dry_run {
        let _ = std::fs::remove_dir_all(&scratch);
    }
    let outcome = result?;
    print_summary(&outcome.report, outcome.self_check.as_ref());
    Ok(match &outcome.self_check {
        Some(c) if !c.passed() => 1,
        _ => 0,
    })
}

fn tempdir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!(
        "zt-migrate-v1-dry-run-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

fn print_summary(r: &serde_json::Value, check: Option<&zt_migrate::report::SelfCheck>) {
    println!(
        "{:<18}{:>10}{:>10}{:>8}{:>13}",
        "table", "V1 rows", "migrated", "merged", "quarantined"
    );
    if let Some(t) = r["tables"].as_object() {
        for (name, c) in t {
            println!(
                "{name:<18}{:>10}{:>10}{:>8}{:>13}",
                c["v1_rows"].as_i64().unwrap_or(0),
                c["migrated"].as_i64().unwrap_or(0),
                c["merged_into_other_row"].as_i64().unwrap_or(0),
                c["quarantined"].as_i64().unwrap_or(0)
            );
        }
    }
    println!(
        "listings: cases {} lines sha256 {}; quarantine {} lines sha256 {}",
        r["listings"]["cases"]["lines"],
        r["listings"]["cases"]["sha256"].as_str().unwrap_or(""),
        r["listings"]["quarantine"]["lines"],
        r["listings"]["quarantine"]["sha256"].as_str().unwrap_or("")
    );
    if let Some(c) = check {
        println!(
            "self-check: cases {}, quarantine {}, tables {}",
            c.cases, c.quarantine, c.tables
        );
        for d in &c.differences {
            println!("  DIFFERENT: {d}");
        }
    }
}
