use std::io::Read;
use std::sync::Arc;

use anyhow::{bail, Context};
use clap::Parser;
use zhengtong::cli::{
    AdminCommand, AuditCommand, CalendarCommand, Cli, Command, DbCommand, KeysCommand,
    OutboxCommand, PrivacyCommand,
};
use zhengtong::config::Config;
use zhengtong::{bootstrap, demo, server};
use zt_app::clock::SystemClock;

fn init_tracing(cfg: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("ZT_LOG")
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(&cfg.log))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if cfg.log_format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn new_password() -> anyhow::Result<String> {
    if let Ok(p) = std::env::var("ZT_NEW_PASSWORD") {
        return Ok(p);
    }
    let mut s = String::new();
    std::io::stdin()
        .read_to_string(&mut s)
        .context("reading the password from standard input")?;
    Ok(s.trim_end_matches(['\r', '\n']).to_string())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let mut cfg =
        Config::load(cli.config.as_deref()).map_err(|e| anyhow::anyhow!("configuration: {e}"))?;
    init_tracing(&cfg);
    match cli.command {
        Command::Serve { migrate } => {
            let transport = server::transport(&cfg, &cfg.listen)?;
            let db = bootstrap::connect(&cfg).await?;
            if migrate {
                bootstrap::migrate(&db).await?;
            } else if !db.migrations_current().await? {
                bail!("the database schema is not current: run `zhengtong db migrate` first (or serve --migrate)");
            }
            let app = bootstrap::build_app(&cfg, db, Arc::new(SystemClock), false).await?;
            // Role rows from before integrity tags (a no-op afterwards).
            zt_app::role_tags::tag_existing(&app)
                .await
                .map_err(|e| anyhow::anyhow!("tagging role assignments: {e}"))?;
            server::spawn_audit_anchoring(app.clone(), cfg.audit_anchor_minutes);
            server::spawn_reseal(app.clone());
            server::spawn_outbox(&cfg, &app).await?;
            let listener = server::bind(&cfg.listen).await?;
            server::serve_until(listener, transport, app, server::shutdown_signal()).await
        }
        Command::Demo {
            listen,
            fresh,
            seed_only,
        } => {
            if !Config::database_explicit(cli.config.as_deref()) {
                let path = cfg.data_dir.join("demo.db");
                if fresh {
                    for suffix in ["", "-wal", "-shm"] {
                        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                    }
                }
                cfg.database_url = format!("sqlite://{}", path.display());
            } else if fresh {
                bail!("--fresh only applies to the embedded demo database (unset ZT_DATABASE_URL)");
            }
            // The demo needs no external service: an in-process gxpt
            // receives its case events and an in-process sealer seals its
            // licences, unless real ones are configured.
            if cfg.gxpt_url.is_empty() {
                cfg.gxpt_url = "builtin".into();
            }
            if cfg.eseal_url.is_empty() {
                cfg.eseal_url = "builtin".into();
            }
            let db = bootstrap::connect(&cfg).await?;
            bootstrap::migrate(&db).await?;
            let app = bootstrap::build_app(&cfg, db, Arc::new(SystemClock), true).await?;
            demo::seed_if_empty(&app).await?;
            if seed_only {
                return Ok(());
            }
            server::spawn_audit_anchoring(app.clone(), cfg.audit_anchor_minutes);
            server::spawn_outbox(&cfg, &app).await?;
            let listen = listen.unwrap_or_else(|| cfg.listen.clone());
            let transport = server::transport(&cfg, &listen)?;
            let listener = server::bind(&listen).await?;
            eprintln!(
                "政通演示平台已启动: {}://{listen}/  (演示账号密码 {})",
                transport.scheme(),
                demo::DEMO_PASSWORD
            );
            server::serve_until(listener, transport, app, server::shutdown_signal()).await
        }
        Command::MigrateV1 { run, command } => {
            let code = zhengtong::migrate_v1::main(&cfg, run, command).await;
            std::process::exit(code);
        }
        Command::Db { command } => {
            let db = bootstrap::connect(&cfg).await?;
            match command {
                DbCommand::Migrate => {
                    bootstrap::migrate(&db).await?;
                    // Rows from before encryption are sealed now.
                    let app = bootstrap::build_app(&cfg, db, Arc::new(SystemClock), false).await?;
                    let r = zt_app::pii::reseal(&app)
                        .await
                        .map_err(|e| anyhow::anyhow!("sealing personal information: {e}"))?;
                    let tagged = zt_app::role_tags::tag_existing(&app)
                        .await
                        .map_err(|e| anyhow::anyhow!("tagging role assignments: {e}"))?;
                    if tagged > 0 {
                        println!(
                            "{tagged} role assignments from before integrity tags were tagged"
                        );
                    }
                    println!(
                        "migrations applied; schema is current; personal information sealed ({} accounts, {} cases resealed)",
                        r.users, r.cases
                    );
                }
                DbCommand::Status => {
                    if db.migrations_current().await? {
                        println!("schema is current");
                    } else {
                        println!("migrations pending: run `zhengtong db migrate`");
                        std::process::exit(1);
                    }
                }
            }
            Ok(())
        }
        Command::Outbox { command } => {
            let db = bootstrap::connect(&cfg).await?;
            if !db.migrations_current().await? {
                bail!("the database schema is not current: run `zhengtong db migrate` first");
            }
            if let OutboxCommand::Reconcile { date } = &command {
                let app = bootstrap::build_app(&cfg, db, Arc::new(SystemClock), false).await?;
                let Some(sink) = zhengtong::integrations::gxpt_sink(&cfg, &app).await? else {
                    bail!("gxpt_url is not set (ZT_GXPT_URL): there is nothing to reconcile with");
                };
                return zhengtong::integrations::reconcile_and_repair(&app, &sink, date).await;
            }
            let mut c = db.writer().acquire().await?;
            match command {
                OutboxCommand::Reconcile { .. } => {}
                OutboxCommand::Status => {
                    let mut refused = false;
                    for counterpart in [zt_app::outbox::GXPT, zt_app::licence::ESEAL] {
                        let d = zt_store::outbox::depth(&mut c, counterpart).await?;
                        println!(
                            "{counterpart}: pending {}, failed {}, delivered {}, oldest undelivered {}",
                            d.pending,
                            d.failed,
                            d.delivered,
                            d.oldest_pending_at.as_deref().unwrap_or("-")
                        );
                        refused |= d.failed > 0;
                    }
                    let l = zt_store::licences::counts(&mut c).await?;
                    println!(
                        "licences: issued {}, pending seal {}, revoked {}",
                        l.issued, l.pending_seal, l.revoked
                    );
                    if refused {
                        println!("failed messages were refused by their counterpart (gxpt: e.g. 409 GX_CONFLICT; eseal: a document it cannot seal): fix the cause, then `zhengtong outbox retry`");
                        std::process::exit(1);
                    }
                }
                OutboxCommand::Retry { case_no } => {
                    let now = zt_store::time::ts(zt_app::clock::Clock::now(&SystemClock));
                    let n = zt_store::outbox::requeue_failed(
                        &mut c,
                        zt_app::outbox::GXPT,
                        case_no.as_deref(),
                        &now,
                    )
                    .await?;
                    // A licence's messages are keyed by its number.
                    let licence_no = match case_no.as_deref() {
                        Some(no) => Some(
                            zt_store::licences::by_case_no(&mut c, no)
                                .await?
                                .map(|l| l.licence_no)
                                .unwrap_or_default(),
                        ),
                        None => None,
                    };
                    let m = zt_store::outbox::requeue_failed(
                        &mut c,
                        zt_app::licence::ESEAL,
                        licence_no.as_deref(),
                        &now,
                    )
                    .await?;
                    println!(
                        "{} failed messages queued again ({n} gxpt, {m} eseal)",
                        n + m
                    );
                }
            }
            Ok(())
        }
        Command::Keys { command } => {
            let fail = |e: zt_app::AppError| anyhow::anyhow!("{}: {}", e.code(), e.message());
            if let KeysCommand::Init { out } = &command {
                let path = out.clone().unwrap_or_else(|| cfg.pii_key_path());
                if path.exists() {
                    bail!("{} exists already: it is never overwritten (rotate with `zhengtong keys rotate`)", path.display());
                }
                let p = zt_app::pii::Pii::create_file(&path, "k1").map_err(fail)?;
                println!(
                    "created {} (active key {}); keep it apart from the database and back it up: without it the personal information cannot be read",
                    path.display(),
                    p.active_key_id()
                );
                return Ok(());
            }
            let db = bootstrap::connect(&cfg).await?;
            if !db.migrations_current().await? {
                bail!("the database schema is not current: run `zhengtong db migrate` first");
            }
            let app = bootstrap::build_app(&cfg, db, Arc::new(SystemClock), false).await?;
            match command {
                KeysCommand::Init { .. } => {}
                KeysCommand::Reseal => {
                    let r = zt_app::pii::reseal(&app).await.map_err(fail)?;
                    println!(
                        "resealed {} accounts and {} cases with {}",
                        r.users,
                        r.cases,
                        app.pii.active_key_id()
                    );
                }
                KeysCommand::Status => {
                    println!("active key: {}", app.pii.active_key_id());
                    for (column, kid, n) in zt_app::pii::key_usage(&app).await.map_err(fail)? {
                        println!("{column}\t{kid}\t{n}");
                    }
                }
                KeysCommand::Rotate { new_key_id } => {
                    app.pii.rotate(&new_key_id).map_err(fail)?;
                    println!(
                        "key {new_key_id} added to {} and active",
                        cfg.pii_key_path().display()
                    );
                    let r = zt_app::pii::reseal(&app).await.map_err(fail)?;
                    println!(
                        "resealed {} accounts and {} cases with {new_key_id}",
                        r.users, r.cases
                    );
                    let left: i64 = zt_app::pii::key_usage(&app)
                        .await
                        .map_err(fail)?
                        .iter()
                        .filter(|(_, kid, _)| *kid != new_key_id)
                        .map(|(_, _, n)| n)
                        .sum();
                    if left > 0 {
                        bail!("{left} values are still under older keys: run `zhengtong keys reseal` and check `zhengtong keys status`");
                    }
                    println!("every value is under {new_key_id}; older keys may be removed from the file once backups made with them have expired");
                }
            }
            Ok(())
        }
        Command::Privacy {
            command: PrivacyCommand::Retention { dry_run },
        } => {
            let db = bootstrap::connect(&cfg).await?;
            if !db.migrations_current().await? {
                bail!("the database schema is not current: run `zhengtong db migrate` first");
            }
            let app = bootstrap::build_app(&cfg, db, Arc::new(SystemClock), false).await?;
            let r = zt_app::privacy::retention(&app, &bootstrap::cli_origin(), dry_run)
                .await
                .map_err(|e| anyhow::anyhow!("{}: {}", e.code(), e.message()))?;
            if r.dry_run {
                println!(
                    "dry run: {} accounts would be anonymised and {} case forms masked; \
                     {} accounts wait for unfinished cases (closed before {}, retention {} days); nothing was changed",
                    r.accounts, r.case_forms, r.waiting_for_cases, r.closed_before, r.retention_days
                );
            } else {
                println!(
                    "anonymised {} accounts and masked {} case forms; {} accounts wait for unfinished cases \
                     (closed before {}, retention {} days)",
                    r.accounts, r.case_forms, r.waiting_for_cases, r.closed_before, r.retention_days
                );
            }
            Ok(())
        }
        Command::Audit { command } => {
            let db = bootstrap::connect(&cfg).await?;
            if !db.migrations_current().await? {
                bail!("the database schema is not current: run `zhengtong db migrate` first");
            }
            let app = bootstrap::build_app(&cfg, db, Arc::new(SystemClock), false).await?;
            let fail = |e: zt_app::AppError| anyhow::anyhow!("{}: {}", e.code(), e.message());
            match command {
                AuditCommand::Verify => {
                    let v = zt_app::audit_trail::verify(&app).await.map_err(fail)?;
                    match &v.first_break {
                        None => {
                            println!(
                                "audit chain intact: {} records ({}..{}), {} anchors checked",
                                v.records,
                                v.first_id.unwrap_or(0),
                                v.last_id.unwrap_or(0),
                                v.anchors_checked
                            );
                        }
                        Some(b) => {
                            println!(
                                "AUDIT CHAIN BROKEN at record {}: {}",
                                b.record_id(),
                                b.describe()
                            );
                            println!("{}", serde_json::to_string(b)?);
                            std::process::exit(1);
                        }
                    }
                }
                AuditCommand::Anchor => {
                    match zt_app::audit_trail::anchor(&app).await.map_err(fail)? {
                        Some(a) => println!("anchored record {} ({})", a.record_id, a.record_hash),
                        None => println!("the audit trail is empty; nothing to anchor"),
                    }
                }
                AuditCommand::Archive { before, out } => {
                    match zt_app::audit_trail::archive(
                        &app,
                        &before,
                        &out,
                        cfg.audit_retention_days,
                    )
                    .await
                    .map_err(fail)?
                    {
                        Some(o) => println!(
                            "archived {} records through {} to {} (SM3 {}); removed {}",
                            o.mark.records,
                            o.mark.through_id,
                            o.file.display(),
                            o.mark.file_sm3,
                            o.removed
                        ),
                        None => println!("no records before {before} left to archive"),
                    }
                }
            }
            Ok(())
        }
        Command::Backup { out } => zhengtong::backup::run_backup(&cfg, &out).await,
        Command::Restore { from, force, check } => {
            zhengtong::backup::run_restore(&cfg, &from, force, check).await
        }
        Command::Admin { command } => {
            let db = bootstrap::connect(&cfg).await?;
            if !db.migrations_current().await? {
                bail!("the database schema is not current: run `zhengtong db migrate` first");
            }
            let app = bootstrap::build_app(&cfg, db, Arc::new(SystemClock), false).await?;
            let origin = bootstrap::cli_origin();
            let fail = |e: zt_app::AppError| anyhow::anyhow!("{}: {}", e.code(), e.message());
            match command {
                AdminCommand::CreateUser {
                    username,
                    name,
                    user_type,
                    roles,
                    dept,
                } => {
                    let req = zt_app::admin::NewUserRequest {
                        username: username.clone(),
                        password: new_password()?,
                        display_name: name,
                        user_type,
                        roles,
                        dept_code: dept,
                        must_change_password: true,
                        ..Default::default()
                    };
                    let id = zt_app::admin::create_user(&app, None, &origin, &req)
                        .await
                        .map_err(fail)?;
                    println!("created user {username} (id {id}); the password must be changed at first login");
                }
                AdminCommand::ResetPassword { username } => {
                    zt_app::admin::reset_password(&app, None, &origin, &username, &new_password()?)
                        .await
                        .map_err(fail)?;
                    println!("password of {username} reset; its sessions were ended");
                }
                AdminCommand::ResetSecondFactor { username } => {
                    zt_app::second_factor::reset(&app, None, &origin, &username)
                        .await
                        .map_err(fail)?;
                    println!("second factor of {username} reset; its sessions were ended; it enrols again at the next login");
                }
                AdminCommand::Calendar {
                    command: CalendarCommand::Import { file, source },
                } => {
                    let text = std::fs::read_to_string(&file)
                        .with_context(|| format!("reading {}", file.display()))?;
                    let years = zt_app::admin::import_calendar(&app, None, &origin, &text, &source)
                        .await
                        .map_err(fail)?;
                    println!("imported holiday arrangement for {years:?}");
                }
                AdminCommand::Calendar {
                    command: CalendarCommand::List,
                } => {
                    let mut c = app.db.reader().acquire().await?;
                    for y in zt_store::calendar::years(&mut c).await? {
                        println!("{}\t{}\t{}", y.year, y.imported_at, y.source);
                    }
                }
            }
            Ok(())
        }
    }
}
