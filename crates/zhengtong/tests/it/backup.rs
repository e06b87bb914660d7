//! Backup and restore (数据备份恢复): an online backup taken while the server
//! writes, restored into a brand-new database and data directory, serves the
//! same cases, materials and audit chain; a damaged or incomplete backup, a
//! non-empty target and a missing pg_dump are refused before anything is
//! written.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::Connection;
use zhengtong::backup::{self, BackupError, BackupOptions, BackupOutcome, RestoreOptions};
use zhengtong::config::Config;
use zt_store::Backend;

use crate::both;
use crate::harness::{self, Session, TestApp};

/// A directory removed at the end of the test (also when it fails).
struct Scratch(PathBuf);

impl Scratch {
    fn new(what: &str) -> Self {
        Self(harness::scratch().join(format!("{what}-{}", harness::unique_id())))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An empty place to restore into: a SQLite path that does not exist yet or
/// a new, empty PostgreSQL database (created as the harness does), with a
/// new data directory. Removed on drop unless booted.
struct Target {
    backend: Backend,
    url: String,
    data_dir: PathBuf,
    pg_db: Option<String>,
}

impl Target {
    async fn new(backend: Backend) -> Self {
        let id = harness::unique_id();
        let data_dir = harness::scratch().join(format!("r-{id}"));
        let (url, pg_db) = match backend {
            Backend::Sqlite => (
                format!("sqlite://{}", data_dir.join("zt.db").display()),
                None,
            ),
            Backend::Postgres => {
                let name = format!("zt_t_{id}");
                harness::exec_admin(&format!("CREATE DATABASE {name}")).await;
                (harness::pg_url(&name), Some(name))
            }
        };
        Self {
            backend,
            url,
            data_dir,
            pg_db,
        }
    }

    fn config(&self) -> Config {
        TestApp::config_for(&self.url, &self.data_dir)
    }

    /// Nothing was written: no database file (or no table) and no material.
    async fn assert_untouched(&self) {
        match self.backend {
            Backend::Sqlite => {
                let db = self.data_dir.join("zt.db");
                assert!(!db.exists(), "{} was written", db.display());
            }
            Backend::Postgres => {
                let mut c = sqlx::AnyConnection::connect(&self.url).await.unwrap();
                let (n,): (i64,) = sqlx::query_as(
                    "SELECT COUNT(*) FROM information_schema.tables \
                     WHERE table_schema NOT IN ('pg_catalog', 'information_schema')",
                )
                .fetch_one(&mut c)
                .await
                .unwrap();
                assert_eq!(n, 0, "tables were created in the target database");
            }
        }
        assert_eq!(
            files_under(&self.data_dir.join("files")),
            Vec::<PathBuf>::new()
        );
        assert!(!self.data_dir.join("audit-anchors.jsonl").exists());
    }

    async fn boot(mut self) -> TestApp {
        let (url, data_dir, pg_db) = (
            std::mem::take(&mut self.url),
            std::mem::take(&mut self.data_dir),
            self.pg_db.take(),
        );
        TestApp::boot(self.backend, url, data_dir, pg_db).await
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        if !self.data_dir.as_os_str().is_empty() {
            let _ = std::fs::remove_dir_all(&self.data_dir);
        }
        if let Some(name) = self.pg_db.take() {
            harness::drop_pg_database(name);
        }
    }
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.file_type().unwrap().is_dir() {
                out.extend(files_under(&e.path()));
            } else {
                out.push(e.path());
            }
        }
    }
    out.sort();
    out
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let dst = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dst);
        } else {
            std::fs::copy(e.path(), dst).unwrap();
        }
    }
}

fn flip_byte(path: &Path) {
    let mut data = std::fs::read(path).unwrap();
    let i = data.len() / 2;
    data[i] ^= 0x01;
    std::fs::write(path, data).unwrap();
}

async fn cases_and_statuses(t: &TestApp) -> Vec<(String, String)> {
    let mut c = t.app.db.reader().acquire().await.unwrap();
    sqlx::query_as("SELECT case_no, status FROM cases ORDER BY case_no")
        .fetch_all(&mut *c)
        .await
        .unwrap()
}

async fn audit_head(t: &TestApp) -> (i64, String) {
    let mut c = t.app.db.reader().acquire().await.unwrap();
    zt_store::audit::head(&mut c).await.unwrap()
}

/// Every material of the applicant's cases, downloaded: (case, id, bytes).
async fn downloads(s: &Session, cases: &[String]) -> Vec<(String, i64, Vec<u8>)> {
    let mut out = Vec::new();
    for no in cases {
        let (st, d) = s.get(&format!("/api/v1/cases/{no}")).await;
        assert_eq!(st, StatusCode::OK, "{d}");
        for m in d["materials"].as_array().unwrap() {
            let id = m["id"].as_i64().unwrap();
            let resp = s
                .client
                .get(format!("{}/api/v1/cases/{no}/materials/{id}", s.base))
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), StatusCode::OK, "{no} material {id}");
            out.push((no.clone(), id, resp.bytes().await.unwrap().to_vec()));
        }
    }
    out
}

async fn case_list(s: &Session) -> Vec<(String, String)> {
    let (st, b) = s.get("/api/v1/cases?limit=200").await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let mut v: Vec<(String, String)> = b["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c: &Value| {
            (
                c["case_no"].as_str().unwrap().to_string(),
                c["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

/// The real binary with the test's configuration; returns (exit code, stdout, stderr).
fn zhengtong(cfg: &Config, args: &[&str], extra_env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_zhengtong"));
    cmd.args(args)
        .env_remove("ZT_CONFIG")
        .env("ZT_DATABASE_URL", &cfg.database_url)
        .env("ZT_DATA_DIR", &cfg.data_dir)
        .env("ZT_PII_KEY_FILE", &cfg.pii_key_file)
        .env("ZT_LOG", "warn");
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run zhengtong");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Cases in several states with materials (one replaced), audit records and
/// an anchor in the anchor file.
async fn populate(t: &TestApp) -> Vec<String> {
    let citizen = t.login("citizen").await;
    let clerk = t.login("clerk").await;
    let accepted = citizen.submitted("TEST-TWO").await;
    let (s, b) = clerk
        .act(
            &accepted,
            json!({"action": "accept", "opinion": "予以受理"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let rejected = citizen.submitted("TEST-ANY").await;
    let (s, b) = clerk
        .act(
            &rejected,
            json!({"action": "reject_intake", "opinion": "不属于本机关职权范围"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let draft = citizen.draft("TEST-TWO").await;
    for (code, name, title) in [
        ("site_plan", "平面图.pdf", "plan"),
        ("id_copy", "身份证-新.pdf", "id, again"),
    ] {
        let (s, b) = citizen
            .upload(
                &draft,
                code,
                name,
                zhengtong::demo::sample_pdf(title).to_vec(),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
    }
    zt_app::audit_trail::anchor(&t.app)
        .await
        .unwrap()
        .expect("an anchor");
    assert!(t.data_dir.join("audit-anchors.jsonl").is_file());
    vec![accepted, rejected, draft]
}

both!(backup_while_serving_restores_everything);
async fn backup_while_serving_restores_everything(t: TestApp) {
    let started = std::time::Instant::now();
    let cases = populate(&t).await;
    let citizen = t.login("citizen").await;
    let before_cases = cases_and_statuses(&t).await;
    let before_list = case_list(&citizen).await;
    let before_files = downloads(&citizen, &cases).await;
    assert_eq!(before_files.len(), 5, "three first uploads, two more");
    let (head_before, _) = audit_head(&t).await;

    // The server keeps writing (sign-ins: sessions and audit records) while
    // the backup runs.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (stop, anon) = (stop.clone(), t.anon());
        tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                let _ = anon
                    .post(
                        "/api/v1/session",
                        &json!({"username": "reviewer", "password": harness::PASSWORD}),
                    )
                    .await;
                n += 1;
            }
            n
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let out = Scratch::new("bk");
    let done: BackupOutcome =
        backup::backup(&t.config(), &out.0, &*t.clock, &BackupOptions::default())
            .await
            .unwrap();
    stop.store(true, Ordering::Relaxed);
    let writes = writer.await.unwrap();
    assert!(writes > 0);

    let m = &done.manifest;
    assert_eq!(
        (m.format.as_str(), m.backend.as_str()),
        ("zhengtong-backup", t.backend.as_str())
    );
    assert!(done.dir.join("manifest.json").is_file());
    assert_eq!(
        std::fs::read_dir(&out.0).unwrap().count(),
        1,
        "only the finished backup directory"
    );
    assert!(m.audit_head.last_id >= head_before);
    assert_eq!(m.tables["cases"], before_cases.len() as i64);
    assert_eq!(
        m.tables["case_materials"],
        t.count("SELECT COUNT(*) FROM case_materials").await
    );
    assert_eq!(m.materials().count(), 5);
    assert!(m.anchors().is_some());
    for key in ["case_events", "audit_records", "users", "_sqlx_migrations"] {
        assert!(m.tables[key] > 0, "{key}");
    }
    assert_eq!(m.migration_version, *m.migrations.last().unwrap());

    // The real binary checks the backup and exits 0.
    let (code, stdout, stderr) = zhengtong(
        &t.config(),
        &[
            "restore",
            "--check",
            "--from",
            &done.dir.display().to_string(),
        ],
        &[],
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("is complete"), "{stdout}");

    // Restore into a brand-new database and data directory.
    let target = Target::new(t.backend).await;
    let report = backup::restore(
        &target.config(),
        &done.dir,
        t.clock.clone(),
        &RestoreOptions::default(),
    )
    .await
    .unwrap_or_else(|e| panic!("restore: {e}"));
    let text = report.lines.join("\n");
    assert!(text.contains("audit chain: intact"), "{text}");
    assert!(text.contains("row counts as in the manifest"), "{text}");
    assert!(text.contains("materials: 5 files readable"), "{text}");
    let r = target.boot().await;

    // The same chain, ending where the manifest says, before anyone signs in.
    let v = zt_app::audit_trail::verify(&r.app).await.unwrap();
    assert_eq!(v.first_break, None);
    assert_eq!(v.last_id, Some(m.audit_head.last_id));
    assert_eq!(
        audit_head(&r).await,
        (m.audit_head.last_id, m.audit_head.last_hash.clone())
    );
    assert!(r.data_dir.join("audit-anchors.jsonl").is_file());

    // The same cases, statuses and material bytes, through the API.
    assert_eq!(cases_and_statuses(&r).await, before_cases);
    let citizen = r.login("citizen").await;
    assert_eq!(case_list(&citizen).await, before_list);
    assert_eq!(downloads(&citizen, &cases).await, before_files);

    // The restored platform carries on (identity sequences restored too).
    let reviewer = r.login("reviewer").await;
    let (s, b) = reviewer
        .act(
            &cases[0],
            json!({"action": "approve_step", "opinion": "符合条件"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let fresh = citizen.submitted("TEST-TWO").await;
    assert!(!cases.contains(&fresh));
    let v = zt_app::audit_trail::verify(&r.app).await.unwrap();
    assert_eq!(v.first_break, None);
    assert!(v.last_id.unwrap() > m.audit_head.last_id);
    eprintln!(
        "backup/restore round trip on {} took {:?} ({writes} sign-ins during the backup)",
        t.backend.as_str(),
        started.elapsed()
    );
}

both!(damaged_incomplete_and_occupied_are_refused);
async fn damaged_incomplete_and_occupied_are_refused(t: TestApp) {
    let started = std::time::Instant::now();
    let cfg = t.config();
    populate(&t).await;
    let out = Scratch::new("bk");
    let done = backup::backup(&cfg, &out.0, &*t.clock, &BackupOptions::default())
        .await
        .unwrap();
    let from = done.dir.display().to_string();

    // Into a database that is not empty: refused, with the way out named.
    let e = backup::restore(&cfg, &done.dir, t.clock.clone(), &RestoreOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(e, BackupError::NotEmpty(_)), "{e}");
    assert!(e.to_string().contains("--force"), "{e}");
    let (code, _, stderr) = zhengtong(&cfg, &["restore", "--from", &from], &[]);
    assert_ne!(code, 0);
    assert!(
        stderr.contains("not empty") && stderr.contains("--force"),
        "{stderr}"
    );

    let target = Target::new(t.backend).await;
    let tcfg = target.config();
    // One byte changed in a material, then in the database dump: refused
    // before anything is written, naming the file.
    let material = done.manifest.materials().next().unwrap().path.clone();
    let database = done.manifest.database().unwrap().path.clone();
    for (i, victim) in [&material, &database].into_iter().enumerate() {
        let bad = Scratch::new("bad");
        copy_dir(&done.dir, &bad.0);
        flip_byte(&bad.0.join(victim));
        let e = backup::restore(&tcfg, &bad.0, t.clock.clone(), &RestoreOptions::default())
            .await
            .unwrap_err();
        match &e {
            BackupError::Integrity(problems) => {
                assert_eq!(problems.len(), 1, "{e}");
                assert!(problems[0].starts_with(victim.as_str()), "{e}");
            }
            other => panic!("expected an integrity error, got {other}"),
        }
        target.assert_untouched().await;
        if i == 0 {
            let (code, _, stderr) = zhengtong(
                &tcfg,
                &["restore", "--from", &bad.0.display().to_string()],
                &[],
            );
            assert_ne!(code, 0);
            assert!(
                stderr.contains("SM3") && stderr.contains(victim.as_str()),
                "{stderr}"
            );
            target.assert_untouched().await;
        }
    }

    // Without its manifest a backup is incomplete.
    let partial = Scratch::new("partial");
    copy_dir(&done.dir, &partial.0);
    std::fs::remove_file(partial.0.join("manifest.json")).unwrap();
    let e = backup::restore(
        &tcfg,
        &partial.0,
        t.clock.clone(),
        &RestoreOptions::default(),
    )
    .await
    .unwrap_err();
    assert!(matches!(e, BackupError::Incomplete(_)), "{e}");
    target.assert_untouched().await;

    // Without the personal-information key (never part of a backup).
    let mut nokey = tcfg.clone();
    nokey.pii_key_file = target.data_dir.join("absent.keys").display().to_string();
    let e = backup::restore(
        &nokey,
        &done.dir,
        t.clock.clone(),
        &RestoreOptions::default(),
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("personal-information key"), "{e}");
    target.assert_untouched().await;

    // The target's anchor file knows of records after the backup: restoring
    // would silently lose them, so it is refused (forced or not).
    std::fs::create_dir_all(&target.data_dir).unwrap();
    let anchors = target.data_dir.join("audit-anchors.jsonl");
    let later = done.manifest.audit_head.last_id + 100;
    std::fs::write(
        &anchors,
        format!(
            "{}\n",
            json!({"at": "2025-10-01T00:00:00.000Z", "record_id": later, "record_hash": "ab"})
        ),
    )
    .unwrap();
    let forced = RestoreOptions {
        force: true,
        ..RestoreOptions::default()
    };
    let e = backup::restore(&tcfg, &done.dir, t.clock.clone(), &forced)
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains(&format!("records audit record {later}")),
        "{e}"
    );
    std::fs::remove_file(&anchors).unwrap();
    target.assert_untouched().await;

    // The database step fails after the materials were written: they are
    // removed again.
    let undo = match t.backend {
        Backend::Sqlite => {
            // A directory where the database file should go.
            let blocker = target.data_dir.join("zt.db");
            std::fs::create_dir_all(blocker.join("x")).unwrap();
            let e = backup::restore(&tcfg, &done.dir, t.clock.clone(), &forced)
                .await
                .unwrap_err();
            std::fs::remove_dir_all(&blocker).unwrap();
            e
        }
        Backend::Postgres => backup::restore(
            &tcfg,
            &done.dir,
            t.clock.clone(),
            &RestoreOptions {
                pg_restore: Some(PathBuf::from("/nonexistent/pg_restore")),
                ..RestoreOptions::default()
            },
        )
        .await
        .unwrap_err(),
    };
    assert!(matches!(undo, BackupError::Restore(_)), "{undo}");
    target.assert_untouched().await;
    assert_eq!(
        std::fs::read_dir(&target.data_dir)
            .map(|d| d.count())
            .unwrap_or(0),
        usize::from(target.data_dir.join("files").exists()),
        "only an empty files directory may remain"
    );

    // A first restore succeeds; a second is refused unless forced.
    backup::restore(
        &tcfg,
        &done.dir,
        t.clock.clone(),
        &RestoreOptions::default(),
    )
    .await
    .unwrap_or_else(|e| panic!("restore: {e}"));
    let e = backup::restore(
        &tcfg,
        &done.dir,
        t.clock.clone(),
        &RestoreOptions::default(),
    )
    .await
    .unwrap_err();
    assert!(matches!(e, BackupError::NotEmpty(_)), "{e}");
    let report = backup::restore(&tcfg, &done.dir, t.clock.clone(), &forced)
        .await
        .unwrap_or_else(|e| panic!("forced restore: {e}"));
    assert!(
        report
            .lines
            .iter()
            .any(|l| l.contains("0 written, 5 already present")),
        "{:?}",
        report.lines
    );

    // The binary writes a backup and exits 0; without pg_dump it exits non-zero
    // and leaves nothing that looks like a backup.
    let out2 = Scratch::new("bk2");
    let o2 = out2.0.display().to_string();
    let (code, stdout, stderr) = zhengtong(&cfg, &["backup", "--out", &o2], &[]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("manifest SM3"), "{stdout}");
    let made: Vec<PathBuf> = std::fs::read_dir(&out2.0)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(made.len(), 1, "{made:?}");
    let (m2, _) = backup::check(&made[0]).unwrap();
    assert_eq!(m2.materials().count(), 5);
    if t.backend == Backend::Postgres {
        let out3 = Scratch::new("bk3");
        let e = backup::backup(
            &cfg,
            &out3.0,
            &*t.clock,
            &BackupOptions {
                pg_dump: Some(PathBuf::from("/nonexistent/pg_dump")),
            },
        )
        .await
        .unwrap_err();
        assert!(matches!(e, BackupError::Tool { .. }), "{e}");
        assert!(e.to_string().contains("ZT_PG_DUMP"), "{e}");
        assert_eq!(std::fs::read_dir(&out3.0).unwrap().count(), 0);
        let (code, _, stderr) = zhengtong(
            &cfg,
            &["backup", "--out", &out3.0.display().to_string()],
            &[("ZT_PG_DUMP", "/nonexistent/pg_dump")],
        );
        assert_ne!(code, 0);
        assert!(stderr.contains("/nonexistent/pg_dump"), "{stderr}");
        assert_eq!(std::fs::read_dir(&out3.0).unwrap().count(), 0);
    }
    eprintln!(
        "backup refusals on {} took {:?}",
        t.backend.as_str(),
        started.elapsed()
    );
}

/// Materials restored into an S3-compatible store and backed up from it
/// again, through the real binary (the store is configured by `ZT_FILE_STORE`
/// and the `AWS_*` variables, which only a child process may be given). The
/// test script starts an S3-compatible server and names it in
/// ZT_TEST_S3_ENDPOINT; skipped loudly without one, a failure in CI.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn materials_restore_into_and_back_up_from_s3() {
    let Some(endpoint) = std::env::var("ZT_TEST_S3_ENDPOINT")
        .ok()
        .filter(|e| !e.is_empty())
    else {
        if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
            panic!("ZT_TEST_S3_ENDPOINT is required in CI (scripts/test.sh starts an S3-compatible server)");
        }
        eprintln!("!!!!!!!! SKIPPING the S3 backup test: ZT_TEST_S3_ENDPOINT is not set (scripts/test.sh sets it) !!!!!!!!");
        return;
    };
    let t = TestApp::spawn(Backend::Sqlite).await.expect("sqlite");
    populate(&t).await;
    let out = Scratch::new("bk");
    let done = backup::backup(&t.config(), &out.0, &*t.clock, &BackupOptions::default())
        .await
        .unwrap();
    let target = Target::new(Backend::Sqlite).await;
    let store = format!("s3://zt-test/backup-{}", harness::unique_id());
    let s3 = [
        ("ZT_FILE_STORE", store.as_str()),
        ("AWS_ENDPOINT", endpoint.as_str()),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_DEFAULT_REGION", "cn-north-1"),
    ];
    let (code, stdout, stderr) = zhengtong(
        &target.config(),
        &["restore", "--from", &done.dir.display().to_string()],
        &s3,
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("materials: 5 files readable"), "{stdout}");
    assert_eq!(
        files_under(&target.data_dir.join("files")),
        Vec::<PathBuf>::new(),
        "the materials went to S3"
    );
    let out2 = Scratch::new("bk-s3");
    let (code, stdout, stderr) = zhengtong(
        &target.config(),
        &["backup", "--out", &out2.0.display().to_string()],
        &s3,
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    let dir = std::fs::read_dir(&out2.0)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let (again, _) = backup::check(&dir).unwrap();
    assert_eq!(again.file_store, store);
    let keys = |m: &backup::Manifest| {
        let mut v: Vec<(String, String)> = m
            .materials()
            .map(|f| (f.key.clone().unwrap(), f.sm3.clone()))
            .collect();
        v.sort();
        v
    };
    assert_eq!(keys(&again), keys(&done.manifest));
    assert_eq!(again.audit_head, done.manifest.audit_head);
}
