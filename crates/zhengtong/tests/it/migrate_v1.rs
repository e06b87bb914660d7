//! `zhengtong migrate-v1` (issue 6) against data sets of the bureau's kit
//! (`../shared/v1`, README §1, §8, §9, §12): generated once per test process,
//! loaded into MariaDB, migrated into a seeded V2 platform (the V1 history
//! must join a platform that already has content), then checked against the
//! kit's ground truth: the listings and counts (`check_manifest.py`), every
//! defect and trap row of the manifest, a second run, the dry run and a
//! killed-and-resumed run of the binary.

#![allow(clippy::disallowed_methods)] // database names and scratch checks carry the wall-clock time

use std::collections::{BTreeMap, BTreeSet};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use tokio::sync::OnceCell;
use zt_migrate::{Options, Outcome};
use zt_store::Backend;

use crate::harness::{self, TestApp};

// ---------------------------------------------------------------- fixtures

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The kit as CI lays it out: `<repo>/../shared/v1`.
fn kit_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/v1")
}

const MARIADB: [&str; 6] = ["-h", "127.0.0.1", "-P", "3306", "-u", "root"];

fn mariadb() -> Command {
    let mut c = Command::new("mariadb");
    c.args(MARIADB);
    c
}

/// Whether the kit, python3 and MariaDB are there (checked once), the kit's
/// path if so; stale databases of earlier runs are dropped on the way.
fn availability() -> &'static Result<PathBuf, String> {
    static AVAILABLE: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    AVAILABLE.get_or_init(|| {
        let kit = kit_dir()
            .canonicalize()
            .map_err(|e| format!("the kit {} is missing ({e})", kit_dir().display()))?;
        for f in ["generate.py", "check_manifest.py"] {
            if !kit.join(f).is_file() {
                return Err(format!("{} has no {f}", kit.display()));
            }
        }
        match Command::new("python3").arg("--version").output() {
            Ok(o) if o.status.success() => {}
            Ok(o) => return Err(format!("python3 --version failed: {}", o.status)),
            Err(e) => return Err(format!("python3 is missing ({e})")),
        }
        let ping = mariadb()
            .args(["--connect-timeout=5", "-N", "-B", "-e", "SELECT 1"])
            .stdin(Stdio::null())
            .output();
        match ping {
            Ok(o) if o.status.success() => {}
            Ok(o) => {
                return Err(format!(
                    "MariaDB at 127.0.0.1:3306 (root) is unreachable: {}",
                    String::from_utf8_lossy(&o.stderr).trim()
                ))
            }
            Err(e) => return Err(format!("the mariadb client is missing ({e})")),
        }
        drop_stale(unix_now());
        Ok(kit)
    })
}

/// The kit's path, or `None` after a loud banner (a panic in CI).
fn kit() -> Option<&'static Path> {
    match availability() {
        Ok(k) => Some(k.as_path()),
        Err(why) => {
            if in_ci() {
                panic!("the V1 migration tests need MariaDB, python3 and the kit in CI: {why}");
            }
            eprintln!("\n!!!!!!!! SKIPPING V1 migration tests: {why} !!!!!!!!\n");
            None
        }
    }
}

/// Drops `zt_it_v1_<seed>_<cases>_<unix time>_<pid>` databases more than an hour old.
fn drop_stale(now: i64) {
    let Ok(out) = mariadb()
        .args([
            "-N",
            "-B",
            "-e",
            "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE 'zt\\_it\\_v1\\_%'",
        ])
        .output()
    else {
        return;
    };
    for name in String::from_utf8_lossy(&out.stdout).lines() {
        let ts: i64 = name
            .split('_')
            .nth(5)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        if now - ts > 3600 {
            let _ = mariadb()
                .args(["-e", &format!("DROP DATABASE IF EXISTS `{name}`")])
                .output();
        }
    }
}

/// A generated data set, loaded into its own MariaDB database.
pub struct V1Set {
    seed: u64,
    cases: u32,
    kit: PathBuf,
    dir: PathBuf,
    db: String,
    manifest: Value,
}

impl V1Set {
    fn source_url(&self) -> String {
        format!("mysql://root@127.0.0.1:3306/{}", self.db)
    }

    fn files(&self) -> PathBuf {
        self.dir.join("files")
    }

    fn manifest_path(&self) -> PathBuf {
        self.dir.join("manifest.json")
    }

    fn name(&self) -> String {
        format!("seed {} × {} cases", self.seed, self.cases)
    }

    /// `defects[id]` of the manifest.
    fn defect(&self, id: &str) -> &Value {
        self.manifest["defects"]
            .as_array()
            .and_then(|a| a.iter().find(|d| d["id"] == id))
            .unwrap_or_else(|| panic!("{}: the manifest has no defect {id}", self.name()))
    }

    fn trap(&self, id: &str) -> &Value {
        self.manifest["traps"]
            .as_array()
            .and_then(|a| a.iter().find(|d| d["id"] == id))
            .unwrap_or_else(|| panic!("{}: the manifest has no trap {id}", self.name()))
    }

    /// The reason the manifest expects a row to be quarantined with.
    fn expected_reason(&self, table: &str, id: i64) -> Option<String> {
        self.manifest["quarantine"][table]
            .as_object()?
            .iter()
            .find(|(_, ids)| ids.as_array().is_some_and(|a| a.contains(&json!(id))))
            .map(|(r, _)| r.clone())
    }

    /// Runs a query on the V1 database (values tab-separated, raw).
    fn query(&self, sql: &str) -> Vec<Vec<String>> {
        let out = mariadb()
            .args(["-N", "-B", "--raw", "-e", sql, &self.db])
            .output()
            .expect("mariadb");
        assert!(
            out.status.success(),
            "{sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| l.split('\t').map(str::to_string).collect())
            .collect()
    }
}

fn prepare(kit: &Path, seed: u64, cases: u32) -> V1Set {
    let started = Instant::now();
    let dir = harness::scratch().join(format!("v1-set-{seed}-{cases}"));
    let _ = std::fs::remove_dir_all(&dir);
    let out = Command::new("python3")
        .arg(kit.join("generate.py"))
        .args(["--seed", &seed.to_string(), "--cases", &cases.to_string()])
        .arg("--out")
        .arg(&dir)
        .output()
        .expect("python3 generate.py");
    assert!(
        out.status.success(),
        "generate.py --seed {seed} --cases {cases}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let db = format!(
        "zt_it_v1_{seed}_{cases}_{}_{}",
        unix_now(),
        std::process::id()
    );
    let out = mariadb()
        .args([
            "-e",
            &format!(
                "CREATE DATABASE {db} DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci"
            ),
        ])
        .output()
        .expect("mariadb");
    assert!(
        out.status.success(),
        "CREATE DATABASE {db}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dump = std::fs::File::open(dir.join("gov_v1.sql")).expect("gov_v1.sql");
    let out = mariadb()
        .args(["--show-warnings", &db])
        .stdin(dump)
        .output()
        .expect("mariadb < gov_v1.sql");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.trim().is_empty(),
        "loading gov_v1.sql into {db} ({}): {stderr}",
        out.status
    );
    let manifest: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("manifest.json")).expect("manifest.json"),
    )
    .expect("manifest");
    eprintln!(
        "V1 set seed {seed} × {cases}: generated and loaded into {db} in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    V1Set {
        seed,
        cases,
        kit: kit.to_path_buf(),
        dir,
        db,
        manifest,
    }
}

static SET_300: OnceCell<V1Set> = OnceCell::const_new();
static SET_2000_42: OnceCell<V1Set> = OnceCell::const_new();

async fn set(cell: &'static OnceCell<V1Set>, seed: u64, cases: u32) -> Option<&'static V1Set> {
    let kit = kit()?;
    Some(
        cell.get_or_init(
            || async move { tokio::task::block_in_place(|| prepare(kit, seed, cases)) },
        )
        .await,
    )
}

/// Seed 20161101, 300 cases.
async fn set_300() -> Option<&'static V1Set> {
    set(&SET_300, 20161101, 300).await
}

/// Seed 42, 2 000 cases.
async fn set_2000_42() -> Option<&'static V1Set> {
    set(&SET_2000_42, 42, 2000).await
}

// ---------------------------------------------------------------- running

pub struct Run {
    outcome: Outcome,
    report_dir: PathBuf,
    secs: f64,
}

fn report_dir() -> PathBuf {
    harness::scratch().join(format!("v1-report-{}", harness::unique_id()))
}

fn freeze() -> chrono::NaiveDateTime {
    chrono::NaiveDateTime::parse_from_str(zt_migrate::run::DEFAULT_FREEZE, "%Y-%m-%d %H:%M:%S")
        .expect("freeze")
}

/// `zt_migrate::run` in process into `t`, reporting into a fresh directory.
async fn migrate(t: &TestApp, set: &V1Set, extra: impl FnOnce(&mut Options)) -> Run {
    let report_dir = report_dir();
    let mut opts = Options {
        source_url: set.source_url(),
        files_root: set.files(),
        report_dir: Some(report_dir.clone()),
        manifest: Some(set.manifest_path()),
        resume: false,
        verify_files_only: false,
        batch: 1000,
        progress: zt_migrate::progress::Mode::Off,
        freeze: freeze(),
        fault: None,
    };
    extra(&mut opts);
    let started = Instant::now();
    let outcome = zt_migrate::run(&t.app, &opts)
        .await
        .unwrap_or_else(|e| panic!("migrate-v1 of {} (batch {}): {e}", set.name(), opts.batch));
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "migrate-v1 {} on {:?}, batch {}: {secs:.1} s",
        set.name(),
        t.backend,
        opts.batch
    );
    Run {
        outcome,
        report_dir,
        secs,
    }
}

/// `check_manifest.py manifest --cases R/cases.txt --quarantine R/quarantine.txt`
/// exits 0 and says MATCH for both listings.
fn check_manifest(set: &V1Set, dir: &Path) {
    let out = Command::new("python3")
        .arg(set.kit.join("check_manifest.py"))
        .arg(set.manifest_path())
        .arg("--cases")
        .arg(dir.join("cases.txt"))
        .arg("--quarantine")
        .arg(dir.join("quarantine.txt"))
        .output()
        .expect("python3 check_manifest.py");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "check_manifest.py on {} says the listings in {} differ ({}):\n{stdout}\n{}",
        set.name(),
        dir.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let matches = stdout
        .lines()
        .filter(|l| l.trim_end().ends_with("-> MATCH"))
        .count();
    assert_eq!(
        matches, 2,
        "check_manifest.py: two MATCH lines expected:\n{stdout}"
    );
}

/// The acceptance rule of README §9 for one run.
fn assert_accepted(
    set: &V1Set,
    report: &Value,
    self_check: Option<&zt_migrate::report::SelfCheck>,
    dir: &Path,
) {
    let sc = self_check.expect("a self-check (the manifest was given)");
    assert!(
        sc.passed(),
        "{}: the tool's self-check failed: {sc:?}",
        set.name()
    );
    assert_eq!(
        (
            sc.cases.as_str(),
            sc.quarantine.as_str(),
            sc.tables.as_str()
        ),
        ("MATCH", "MATCH", "MATCH"),
        "{}: self-check {sc:?}",
        set.name()
    );
    check_manifest(set, dir);
    let m = &set.manifest;
    assert_eq!(
        report["tables"],
        m["tables"],
        "{}: report.tables",
        set.name()
    );
    assert_eq!(
        report["quarantine"],
        m["quarantine"],
        "{}: report.quarantine",
        set.name()
    );
    for k in ["v1", "migrated"] {
        assert_eq!(
            report["status_distribution"][k],
            m["status_distribution"][k],
            "{}: report.status_distribution.{k}",
            set.name()
        );
    }
}

async fn acceptance(backend: Backend, set: &V1Set, batch: i64) -> Option<f64> {
    let t = TestApp::spawn(backend).await?;
    let r = migrate(&t, set, |o| o.batch = batch).await;
    assert_accepted(
        set,
        &r.outcome.report,
        r.outcome.self_check.as_ref(),
        &r.report_dir,
    );
    // The report on disk is the one returned, with the self-check.
    let on_disk: Value = serde_json::from_str(
        &std::fs::read_to_string(r.report_dir.join("report.json")).expect("report.json"),
    )
    .expect("report.json");
    assert_eq!(on_disk["tables"], r.outcome.report["tables"]);
    assert_eq!(on_disk["self_check"]["tables"], "MATCH");
    Some(r.secs)
}

/// The in-process run of seed 42 × 2 000 on SQLite with batch 250: the
/// acceptance test checks it, `kill_and_resume` compares with it.
pub struct Reference {
    cases: Vec<u8>,
    quarantine: Vec<u8>,
    report: Value,
}

static REFERENCE_42: OnceCell<Reference> = OnceCell::const_new();

async fn reference_42(set: &'static V1Set) -> &'static Reference {
    REFERENCE_42
        .get_or_init(|| async move {
            let t = TestApp::spawn(Backend::Sqlite).await.expect("sqlite");
            let r = migrate(&t, set, |o| o.batch = 250).await;
            assert_accepted(
                set,
                &r.outcome.report,
                r.outcome.self_check.as_ref(),
                &r.report_dir,
            );
            Reference {
                cases: std::fs::read(r.report_dir.join("cases.txt")).expect("cases.txt"),
                quarantine: std::fs::read(r.report_dir.join("quarantine.txt"))
                    .expect("quarantine.txt"),
                report: r.outcome.report,
            }
        })
        .await
}

// ---------------------------------------------------------------- helpers

async fn fetch<T>(t: &TestApp, sql: &str) -> Vec<T>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow> + Send + Unpin,
{
    let mut c = t.app.db.reader().acquire().await.expect("conn");
    sqlx::query_as::<_, T>(sql)
        .fetch_all(&mut *c)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// A UTC-ms timestamp of the database as Beijing time, `yyyy-MM-ddTHH:mm:ss+08:00`.
fn beijing(utc: &str) -> String {
    let t = zt_store::time::parse_ts(utc).unwrap_or_else(|e| panic!("{utc}: {e}"));
    let bj = chrono::FixedOffset::east_opt(8 * 3600).expect("+08:00");
    t.with_timezone(&bj)
        .format("%Y-%m-%dT%H:%M:%S+08:00")
        .to_string()
}

fn ids_of(v: &Value) -> Vec<i64> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_i64).collect())
        .unwrap_or_default()
}

fn rows_map(v: &Value) -> Vec<(i64, &Value)> {
    let mut out: Vec<(i64, &Value)> = v
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| (k.parse().expect("numeric id"), v))
                .collect()
        })
        .unwrap_or_default();
    out.sort_by_key(|r| r.0);
    out
}

/// Every file under `dir`: relative path → SM3.
fn store_listing(dir: &Path) -> BTreeMap<String, String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p
                    .strip_prefix(root)
                    .expect("under root")
                    .to_string_lossy()
                    .replace('\\', "/");
                let bytes = std::fs::read(&p).unwrap_or_default();
                out.insert(rel, zt_store::files::sm3_hex(&bytes));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// Failed checks, collected so that one run reports all of them.
#[derive(Default)]
struct Checks {
    done: usize,
    failed: Vec<String>,
}

impl Checks {
    fn check(&mut self, ok: bool, msg: impl FnOnce() -> String) {
        self.done += 1;
        if !ok {
            self.failed.push(msg());
        }
    }

    fn eq<T: PartialEq + std::fmt::Debug>(
        &mut self,
        what: impl FnOnce() -> String,
        got: T,
        expected: T,
    ) {
        self.done += 1;
        if got != expected {
            self.failed
                .push(format!("{}: expected {expected:?}, got {got:?}", what()));
        }
    }

    fn finish(self, name: &str) {
        eprintln!("{name}: {} checks, {} failed", self.done, self.failed.len());
        if !self.failed.is_empty() {
            let shown: Vec<&String> = self.failed.iter().take(60).collect();
            panic!(
                "{name}: {} of {} checks failed:\n  {}{}",
                self.failed.len(),
                self.done,
                shown
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join("\n  "),
                if self.failed.len() > shown.len() {
                    "\n  …"
                } else {
                    ""
                }
            );
        }
    }
}

// ---------------------------------------------------------------- the binary

fn binary(t: &TestApp, set: &V1Set, report: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_zhengtong"));
    cmd.arg("migrate-v1")
        .arg("--source")
        .arg(set.source_url())
        .arg("--files")
        .arg(set.files())
        .arg("--report")
        .arg(report)
        .arg("--manifest")
        .arg(set.manifest_path())
        .args(["--progress", "plain"])
        .args(args)
        .env_remove("ZT_CONFIG")
        .env_remove("ZT_V1_SOURCE_URL")
        .env_remove("ZT_MIGRATE_V1_FAULT")
        .env("ZT_DATABASE_URL", &t.db_url)
        .env("ZT_DATA_DIR", &t.data_dir)
        .env("ZT_PII_KEY_FILE", harness::pii_key_file())
        .env("ZT_LOG", "warn")
        .stdin(Stdio::null());
    cmd
}

fn output(mut cmd: Command) -> (Option<i32>, String, String) {
    let out = tokio::task::block_in_place(|| cmd.output()).expect("run zhengtong");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

enum Stop {
    /// The line appeared; the process was sent SIGKILL.
    Killed,
    /// The process ended before the line appeared.
    Exited(Option<i32>),
}

/// Runs until a line of stderr contains `want` (then SIGKILL), at most 120 s.
fn run_until(mut cmd: Command, want: &str) -> (Stop, String) {
    tokio::task::block_in_place(|| {
        cmd.stdout(Stdio::null()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn zhengtong");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        let reader = std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut seen = String::new();
        loop {
            match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) => {
                    seen.push_str(&line);
                    seen.push('\n');
                    if line.contains(want) {
                        child.kill().expect("SIGKILL");
                        let _ = child.wait();
                        let _ = reader.join();
                        return (Stop::Killed, seen);
                    }
                }
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    let status = child.wait().expect("wait");
                    let _ = reader.join();
                    return (Stop::Exited(status.code()), seen);
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("no line with {want:?} on stderr within 120 s; stderr so far:\n{seen}");
                }
            }
        }
    })
}

// ---------------------------------------------------------------- acceptance

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acceptance_300_sqlite() {
    let Some(set) = set_300().await else { return };
    acceptance(Backend::Sqlite, set, 1000)
        .await
        .expect("sqlite");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acceptance_300_postgres() {
    let Some(set) = set_300().await else { return };
    acceptance(Backend::Postgres, set, 1000).await;
}

/// Batches of 250: eight case batches, five account batches.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acceptance_2000_seed_42_sqlite() {
    let Some(set) = set_2000_42().await else {
        return;
    };
    reference_42(set).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acceptance_2000_seed_42_postgres() {
    let Some(set) = set_2000_42().await else {
        return;
    };
    acceptance(Backend::Postgres, set, 250).await;
}

// ---------------------------------------------------------------- defects

/// Every defect (D01–D19) and trap (T1–T3) row of the manifest, on one
/// migrated target (batches of 97, so boundaries fall inside groups).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn defects_seed_42() {
    let Some(set) = set_2000_42().await else {
        return;
    };
    let t = TestApp::spawn(Backend::Sqlite).await.expect("sqlite");
    let r = migrate(&t, set, |o| o.batch = 97).await;
    assert_accepted(
        set,
        &r.outcome.report,
        r.outcome.self_check.as_ref(),
        &r.report_dir,
    );
    let pii = &t.app.pii;
    let mut c = Checks::default();

    let held: BTreeMap<(String, i64), String> = fetch::<(String, i64, String)>(
        &t,
        "SELECT v1_table, v1_id, reason FROM v1_quarantine WHERE status = 'held'",
    )
    .await
    .into_iter()
    .map(|(tb, id, r)| ((tb, id), r))
    .collect();
    let held_as = |table: &str, id: i64| held.get(&(table.to_string(), id)).cloned();
    let flags: BTreeSet<(String, i64, String)> =
        fetch::<(String, i64, String)>(&t, "SELECT v1_table, v1_id, flag FROM v1_flags")
            .await
            .into_iter()
            .collect();
    let flagged =
        |table: &str, id: i64, f: &str| flags.contains(&(table.to_string(), id, f.to_string()));
    // A row the manifest expects held (its case's account is quarantined):
    // held as the manifest says, and not checked further.
    let mut skipped_held = 0usize;

    // D01: t_apply.apply_time, normalised, with its precision.
    for (id, row) in rows_map(&set.defect("D01")["rows"]) {
        if let Some(reason) = set.expected_reason("t_apply", id) {
            c.eq(
                || format!("D01 apply {id}: held"),
                held_as("t_apply", id),
                Some(reason),
            );
            skipped_held += 1;
            continue;
        }
        let v1 = row["v1"].as_str();
        let precision = match v1 {
            None | Some("") => "day",
            Some(s) if s.contains('/') => "minute",
            Some(s)
                if s.contains('年') || (s.len() == 8 && s.bytes().all(|b| b.is_ascii_digit())) =>
            {
                "day"
            }
            Some(_) => "second",
        };
        let got: Vec<(String, String)> = fetch(
            &t,
            &format!("SELECT apply_time, apply_time_precision FROM v1_cases WHERE apply_id = {id}"),
        )
        .await;
        match got.as_slice() {
            [(at, p)] => {
                c.eq(
                    || format!("D01 apply {id} ({v1:?}): apply_time"),
                    beijing(at),
                    row["expected"].as_str().unwrap_or("").to_string(),
                );
                c.eq(
                    || format!("D01 apply {id} ({v1:?}): precision"),
                    p.as_str(),
                    precision,
                );
                c.eq(
                    || format!("D01 apply {id} ({v1:?}): flag reduced_time_precision"),
                    flagged("t_apply", id, "reduced_time_precision"),
                    precision != "second",
                );
            }
            _ => c.check(false, || {
                format!("D01 apply {id}: {} v1_cases rows", got.len())
            }),
        }
    }

    // D02: t_citizen.create_time; empty → unknown.
    for (id, row) in rows_map(&set.defect("D02")["rows"]) {
        if let Some(reason) = set.expected_reason("t_citizen", id) {
            c.eq(
                || format!("D02 citizen {id}: held"),
                held_as("t_citizen", id),
                Some(reason),
            );
            skipped_held += 1;
            continue;
        }
        let got: Vec<(Option<String>, String)> = fetch(
            &t,
            &format!("SELECT registered_at, registered_precision FROM v1_accounts WHERE citizen_id = {id}"),
        )
        .await;
        let [(at, precision)] = got.as_slice() else {
            c.check(false, || {
                format!("D02 citizen {id}: {} v1_accounts rows", got.len())
            });
            continue;
        };
        let expected = row["expected"].as_str();
        c.eq(
            || format!("D02 citizen {id} ({:?}): registered_at", row["v1"]),
            at.as_deref().map(beijing),
            expected.map(str::to_string),
        );
        c.eq(
            || {
                format!(
                    "D02 citizen {id} ({:?}): flag unknown_registration_time",
                    row["v1"]
                )
            },
            flagged("t_citizen", id, "unknown_registration_time"),
            expected.is_none(),
        );
        if expected.is_none() {
            c.eq(
                || format!("D02 citizen {id}: precision"),
                precision.as_str(),
                "unknown",
            );
        }
    }

    // D03, D04: the identity number, normalised and sealed on the applicant.
    for d in ["D03", "D04"] {
        for (id, row) in rows_map(&set.defect(d)["rows"]) {
            if let Some(reason) = set.expected_reason("t_citizen", id) {
                c.eq(
                    || format!("{d} citizen {id}: held"),
                    held_as("t_citizen", id),
                    Some(reason),
                );
                skipped_held += 1;
                continue;
            }
            let got: Vec<(String, Option<String>)> = fetch(
                &t,
                &format!(
                    "SELECT u.username, u.id_number FROM v1_accounts a JOIN users u ON u.id = a.user_id WHERE a.citizen_id = {id}"
                ),
            )
            .await;
            let [(username, Some(sealed))] = got.as_slice() else {
                c.check(false, || {
                    format!("{d} citizen {id}: applicant rows {got:?}")
                });
                continue;
            };
            c.check(zt_crypto::is_envelope(sealed), || {
                format!("{d} citizen {id}: users.id_number is not sealed")
            });
            let opened = pii
                .open(&zt_app::pii::ctx_user_id_number(username), sealed)
                .unwrap_or_else(|e| format!("<cannot open: {e}>"));
            c.eq(
                || format!("{d} citizen {id} ({:?}): users.id_number", row["v1"]),
                opened,
                row["expected"].as_str().unwrap_or("").to_string(),
            );
        }
    }

    // D05: wrong check character → the account and its cases are held.
    for (id, row) in rows_map(&set.defect("D05")["rows"]) {
        c.eq(
            || format!("D05 citizen {id}"),
            held_as("t_citizen", id),
            Some("ID_CHECKSUM_INVALID".to_string()),
        );
        let n: Vec<(i64,)> = fetch(
            &t,
            &format!("SELECT COUNT(*) FROM v1_accounts WHERE citizen_id = {id}"),
        )
        .await;
        c.eq(|| format!("D05 citizen {id}: v1_accounts rows"), n[0].0, 0);
        for a in ids_of(&row["apply_ids"]) {
            c.eq(
                || format!("D05 citizen {id}: apply {a}"),
                held_as("t_apply", a),
                Some("APPLICANT_QUARANTINED".to_string()),
            );
            let n: Vec<(i64,)> = fetch(
                &t,
                &format!("SELECT COUNT(*) FROM v1_cases WHERE apply_id = {a}"),
            )
            .await;
            c.eq(
                || format!("D05 citizen {id}: v1_cases rows of apply {a}"),
                n[0].0,
                0,
            );
        }
    }

    // D06: mobile numbers normalised to 11 digits.
    for (id, row) in rows_map(&set.defect("D06")["rows"]) {
        if let Some(reason) = set.expected_reason("t_citizen", id) {
            c.eq(
                || format!("D06 citizen {id}: held"),
                held_as("t_citizen", id),
                Some(reason),
            );
            skipped_held += 1;
            continue;
        }
        let got: Vec<(Option<String>,)> = fetch(
            &t,
            &format!("SELECT mobile FROM v1_accounts WHERE citizen_id = {id}"),
        )
        .await;
        let [(Some(sealed),)] = got.as_slice() else {
            c.check(false, || {
                format!("D06 citizen {id}: v1_accounts.mobile {got:?}")
            });
            continue;
        };
        c.check(zt_crypto::is_envelope(sealed), || {
            format!("D06 citizen {id}: v1_accounts.mobile is not sealed")
        });
        let opened = pii
            .open(
                &zt_migrate::phase::accounts::ctx_account("mobile", id),
                sealed,
            )
            .unwrap_or_else(|e| format!("<cannot open: {e}>"));
        c.eq(
            || format!("D06 citizen {id} ({:?}): mobile", row["v1"]),
            opened,
            row["expected"].as_str().unwrap_or("").to_string(),
        );
    }

    // D07: one person registered twice → one applicant with both histories.
    for g in set.defect("D07")["rows"].as_array().expect("D07 rows") {
        let survivor = g["survivor"].as_i64().expect("survivor");
        let got: Vec<(i64, String)> = fetch(
            &t,
            &format!("SELECT user_id, outcome FROM v1_accounts WHERE citizen_id = {survivor}"),
        )
        .await;
        let [(user, outcome)] = got.as_slice() else {
            c.check(false, || {
                format!("D07 survivor {survivor}: v1_accounts {got:?}")
            });
            continue;
        };
        c.eq(
            || format!("D07 survivor {survivor}: outcome"),
            outcome.as_str(),
            "migrated",
        );
        for m in ids_of(&g["merged"]) {
            let got: Vec<(i64, String)> = fetch(
                &t,
                &format!("SELECT user_id, outcome FROM v1_accounts WHERE citizen_id = {m}"),
            )
            .await;
            c.eq(
                || format!("D07 merged {m} (survivor {survivor}): user and outcome"),
                got,
                vec![(*user, "merged".to_string())],
            );
        }
        for a in ids_of(&g["survivor_apply_ids"])
            .into_iter()
            .chain(ids_of(&g["merged_apply_ids"]))
        {
            let got: Vec<(i64,)> = fetch(
                &t,
                &format!("SELECT c.applicant_id FROM v1_cases v JOIN cases c ON c.id = v.case_id WHERE v.apply_id = {a}"),
            )
            .await;
            c.eq(
                || format!("D07 survivor {survivor}: applicant of apply {a}"),
                got,
                vec![(*user,)],
            );
        }
    }

    // D08: materials of cases that no longer exist.
    for (id, _) in rows_map(&set.defect("D08")["rows"]) {
        c.eq(
            || format!("D08 material {id}"),
            held_as("t_apply_material", id),
            Some("ORPHAN_NO_CASE".to_string()),
        );
    }

    // D09, D10: the material is held, the case migrates and says so.
    for (d, reason) in [("D09", "FILE_MISSING"), ("D10", "FILE_MD5_MISMATCH")] {
        for id in ids_of(&set.defect(d)["rows"]) {
            let expected = set.expected_reason("t_apply_material", id);
            if expected.as_deref() != Some(reason) {
                c.eq(
                    || format!("{d} material {id} (case held)"),
                    held_as("t_apply_material", id),
                    expected,
                );
                skipped_held += 1;
                continue;
            }
            c.eq(
                || format!("{d} material {id}"),
                held_as("t_apply_material", id),
                Some(reason.to_string()),
            );
            let got: Vec<(i64, Option<String>, Option<String>)> = fetch(
                &t,
                &format!(
                    "SELECT apply_id, storage_key, sm3 FROM v1_materials WHERE material_id = {id}"
                ),
            )
            .await;
            let [(apply, key, sm3)] = got.as_slice() else {
                c.check(false, || format!("{d} material {id}: v1_materials {got:?}"));
                continue;
            };
            let n: Vec<(i64,)> = fetch(
                &t,
                &format!("SELECT COUNT(*) FROM v1_cases WHERE apply_id = {apply}"),
            )
            .await;
            c.eq(
                || format!("{d} material {id}: case {apply} migrated"),
                n[0].0,
                1,
            );
            c.check(
                flagged("t_apply", *apply, "material_not_transferred"),
                || {
                    format!(
                        "{d} material {id}: no flag material_not_transferred on t_apply {apply}"
                    )
                },
            );
            if d == "D10" {
                // The damaged file is kept for a release, verified by its SM3.
                match (key, sm3) {
                    (Some(key), Some(sm3)) => {
                        let ok = t.app.files.get_verified(key, sm3).await.is_ok();
                        c.check(ok, || {
                            format!("D10 material {id}: preserved file {key} unreadable")
                        });
                    }
                    _ => c.check(false, || format!("D10 material {id}: no preserved file")),
                }
            }
        }
    }

    // D11: the latin1 table decoded; lossy rows flagged.
    let mut lossy_expected = BTreeSet::new();
    for (id, row) in rows_map(&set.defect("D11")["rows"]) {
        if let Some(reason) = set.expected_reason("t_approve_log", id) {
            c.eq(
                || format!("D11 log {id}: held"),
                held_as("t_approve_log", id),
                Some(reason),
            );
            skipped_held += 1;
            continue;
        }
        let kind = row["kind"].as_str().unwrap_or("");
        if kind == "lossy" {
            lossy_expected.insert(id);
        }
        let got: Vec<(Option<String>, String)> = fetch(
            &t,
            &format!("SELECT opinion, detail FROM case_events WHERE v1_log_id = {id}"),
        )
        .await;
        let [(opinion, detail)] = got.as_slice() else {
            c.check(false, || format!("D11 log {id}: case_events {got:?}"));
            continue;
        };
        let detail: Value = serde_json::from_str(detail).unwrap_or_default();
        c.eq(
            || format!("D11 log {id} ({kind}): opinion"),
            opinion.clone().unwrap_or_default(),
            row["opinion"].as_str().unwrap_or("").to_string(),
        );
        c.eq(
            || format!("D11 log {id} ({kind}): detail.v1.node"),
            &detail["v1"]["node"],
            &row["node_name"],
        );
        c.eq(
            || format!("D11 log {id} ({kind}): detail.v1.action"),
            &detail["v1"]["action"],
            &row["action"],
        );
        c.eq(
            || format!("D11 log {id} ({kind}): flag lossy_log_text"),
            flagged("t_approve_log", id, "lossy_log_text"),
            kind == "lossy",
        );
    }
    let lossy_flagged: BTreeSet<i64> = flags
        .iter()
        .filter(|f| f.0 == "t_approve_log" && f.2 == "lossy_log_text")
        .map(|f| f.1)
        .collect();
    c.eq(
        || "D11: log rows flagged lossy_log_text".into(),
        lossy_flagged,
        lossy_expected,
    );

    // D12: forms with escapes, parsed and sealed.
    for (id, expected) in rows_map(&set.defect("D12")["rows"]) {
        if let Some(reason) = set.expected_reason("t_apply", id) {
            c.eq(
                || format!("D12 apply {id}: held"),
                held_as("t_apply", id),
                Some(reason),
            );
            skipped_held += 1;
            continue;
        }
        let got: Vec<(String, String)> = fetch(
            &t,
            &format!("SELECT c.case_no, c.form FROM v1_cases v JOIN cases c ON c.id = v.case_id WHERE v.apply_id = {id}"),
        )
        .await;
        let [(case_no, sealed)] = got.as_slice() else {
            c.check(false, || format!("D12 apply {id}: cases {got:?}"));
            continue;
        };
        c.check(zt_crypto::is_envelope(sealed), || {
            format!("D12 apply {id}: cases.form is not sealed")
        });
        let form: Value = pii
            .open(&zt_app::pii::ctx_case_form(case_no), sealed)
            .ok()
            .and_then(|s| serde_json::from_str(&s).ok())
            .unwrap_or(Value::Null);
        c.eq(
            || format!("D12 apply {id} ({case_no}): form"),
            &form,
            expected,
        );
    }

    // D13: a completion without its time takes the 办结 log's.
    for (id, expected) in rows_map(&set.defect("D13")["rows"]) {
        if let Some(reason) = set.expected_reason("t_apply", id) {
            c.eq(
                || format!("D13 apply {id}: held"),
                held_as("t_apply", id),
                Some(reason),
            );
            skipped_held += 1;
            continue;
        }
        let got: Vec<(Option<String>, Option<String>)> = fetch(
            &t,
            &format!(
                "SELECT c.completed_at, v.finish_time_source FROM v1_cases v JOIN cases c ON c.id = v.case_id WHERE v.apply_id = {id}"
            ),
        )
        .await;
        let [(at, source)] = got.as_slice() else {
            c.check(false, || format!("D13 apply {id}: cases {got:?}"));
            continue;
        };
        c.eq(
            || format!("D13 apply {id}: completed_at"),
            at.as_deref().map(beijing),
            expected.as_str().map(str::to_string),
        );
        c.eq(
            || format!("D13 apply {id}: finish_time_source"),
            source.as_deref(),
            Some("log"),
        );
        c.check(flagged("t_apply", id, "recovered_finish_time"), || {
            format!("D13 apply {id}: no flag recovered_finish_time")
        });
    }

    // D14: the approval history in chronological order.
    for (id, expected) in rows_map(&set.defect("D14")["rows"]) {
        if let Some(reason) = set.expected_reason("t_apply", id) {
            c.eq(
                || format!("D14 apply {id}: held"),
                held_as("t_apply", id),
                Some(reason),
            );
            skipped_held += 1;
            continue;
        }
        let got: Vec<(i64,)> = fetch(
            &t,
            &format!(
                "SELECT e.v1_log_id FROM case_events e JOIN v1_cases v ON v.case_id = e.case_id \
                 WHERE v.apply_id = {id} AND e.origin = 'v1' ORDER BY e.seq"
            ),
        )
        .await;
        let got: Vec<i64> = got.into_iter().map(|r| r.0).collect();
        c.eq(
            || format!("D14 apply {id}: v1_log_ids by seq"),
            got,
            ids_of(expected),
        );
    }

    // D15: items of abolished departments go to the successor; the old
    // departments stay, inactive, pointing to it.
    let v2_dept = |rows: &[(i64, i64)], v1: i64| rows.iter().find(|r| r.0 == v1).map(|r| r.1);
    let depts: Vec<(i64, i64)> =
        fetch(&t, "SELECT dept_id, department_id FROM v1_departments").await;
    let d15 = set.defect("D15");
    for (id, row) in rows_map(&d15["rows"]) {
        let expected = row["expected_dept_id"]
            .as_i64()
            .and_then(|d| v2_dept(&depts, d));
        c.check(expected.is_some(), || {
            format!(
                "D15 item {id}: expected department {} has no v1_departments row",
                row["expected_dept_id"]
            )
        });
        let got: Vec<(i64, Option<i64>)> = fetch(
            &t,
            &format!("SELECT i.dept_id, v.v1_dept_id FROM v1_items v JOIN items i ON i.id = v.v2_item_id WHERE v.item_id = {id}"),
        )
        .await;
        c.eq(
            || format!("D15 item {id}: (items.dept_id, v1_dept_id)"),
            got.first().copied(),
            expected.map(|e| (e, row["v1_dept_id"].as_i64())),
        );
        c.check(flagged("t_item", id, "item_moved_to_successor"), || {
            format!("D15 item {id}: no flag item_moved_to_successor")
        });
    }
    for (old, new) in rows_map(&d15["successors"]) {
        let got: Vec<(i64, Option<i64>)> = fetch(
            &t,
            &format!(
                "SELECT d.active, d.successor_id FROM v1_departments v JOIN departments d ON d.id = v.department_id WHERE v.dept_id = {old}"
            ),
        )
        .await;
        let new = new.as_i64().and_then(|n| v2_dept(&depts, n));
        c.check(new.is_some(), || {
            format!("D15 department {old}: its successor has no v1_departments row")
        });
        c.eq(
            || format!("D15 department {old}: (active, successor_id)"),
            got.first().copied(),
            Some((0, new)),
        );
    }

    // D16: fees as decimals; no amount → manual review.
    for (id, row) in rows_map(&set.defect("D16")["rows"]) {
        let got: Vec<(Option<String>,)> = fetch(
            &t,
            &format!("SELECT fee_amount FROM v1_items WHERE item_id = {id}"),
        )
        .await;
        let expected = row["expected"].as_str().map(str::to_string);
        c.eq(
            || format!("D16 item {id} ({:?}): fee_amount", row["v1"]),
            got.first().map(|r| r.0.clone()),
            Some(expected.clone()),
        );
        c.eq(
            || format!("D16 item {id} ({:?}): flag fee_needs_review", row["v1"]),
            flagged("t_item", id, "fee_needs_review"),
            expected.is_none(),
        );
    }

    // D17: the materials of every item, from JSON or a JavaScript literal.
    for (id, expected) in rows_map(&set.defect("D17")["rows"]) {
        let got: Vec<(String,)> = fetch(
            &t,
            &format!(
                "SELECT iv.definition FROM v1_items v JOIN item_versions iv ON iv.item_id = v.v2_item_id AND iv.version = 1 WHERE v.item_id = {id}"
            ),
        )
        .await;
        let materials: Value = got
            .first()
            .and_then(|r| serde_json::from_str::<Value>(&r.0).ok())
            .map(|d| {
                d["materials"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .map(|m| json!({"name": m["name"], "required": m["required"]}))
                            .collect()
                    })
                    .unwrap_or(Value::Null)
            })
            .unwrap_or(Value::Null);
        c.eq(|| format!("D17 item {id}: materials"), &materials, expected);
    }

    // D18: Windows separators; the migrated file is byte-identical.
    let d18 = ids_of(&set.defect("D18")["rows"]);
    let paths: BTreeMap<i64, String> = set
        .query(&format!(
            "SELECT material_id, file_path FROM t_apply_material WHERE material_id IN ({})",
            d18.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
        ))
        .into_iter()
        .filter_map(|r| Some((r.first()?.parse().ok()?, r.get(1)?.clone())))
        .collect();
    let mut d18_checked = 0;
    for id in d18 {
        if let Some(reason) = held_as("t_apply_material", id) {
            c.eq(
                || format!("D18 material {id}: held"),
                Some(reason),
                set.expected_reason("t_apply_material", id),
            );
            continue;
        }
        let Some(v1_path) = paths.get(&id) else {
            c.check(false, || format!("D18 material {id}: not in V1"));
            continue;
        };
        c.check(v1_path.contains('\\'), || {
            format!("D18 material {id}: V1 path {v1_path:?} has no backslash")
        });
        let got: Vec<(String, String)> = fetch(
            &t,
            &format!("SELECT storage_key, digest FROM case_materials WHERE v1_material_id = {id}"),
        )
        .await;
        let [(key, digest)] = got.as_slice() else {
            c.check(false, || {
                format!("D18 material {id}: case_materials {got:?}")
            });
            continue;
        };
        let stored = t.app.files.get_verified(key, digest).await;
        let disk = std::fs::read(set.files().join(v1_path.replace('\\', "/")));
        match (stored, disk) {
            (Ok(s), Ok(d)) => c.check(s.as_ref() == d.as_slice(), || {
                format!("D18 material {id}: {key} differs from {v1_path}")
            }),
            (s, d) => c.check(false, || {
                format!("D18 material {id}: store {:?}, disk {:?}", s.err(), d.err())
            }),
        }
        d18_checked += 1;
    }
    c.check(d18_checked > 0, || "D18: no material checked".into());

    // D19: files nobody references are reported, not imported.
    let mut got: Vec<String> = r.outcome.report["files"]["unreferenced"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    got.sort();
    let mut expected: Vec<String> = set.defect("D19")["rows"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    expected.sort();
    c.eq(|| "D19: report files.unreferenced".into(), got, expected);

    // T1, T2: the same id_card, yet different applicants.
    let users: BTreeMap<i64, i64> =
        fetch::<(i64, i64)>(&t, "SELECT citizen_id, user_id FROM v1_accounts")
            .await
            .into_iter()
            .collect();
    for tr in ["T1", "T2"] {
        let groups = set.trap(tr)["rows"].as_array().cloned().unwrap_or_default();
        c.check(!groups.is_empty(), || {
            format!("{tr}: no rows in the manifest")
        });
        for g in groups {
            let ids: Vec<i64> = ids_of(&g)
                .into_iter()
                .filter(|id| held_as("t_citizen", *id).is_none())
                .collect();
            let mapped: Vec<Option<&i64>> = ids.iter().map(|id| users.get(id)).collect();
            let distinct: BTreeSet<Option<&i64>> = mapped.iter().copied().collect();
            c.check(
                mapped.iter().all(Option::is_some) && distinct.len() == ids.len(),
                || format!("{tr} group {g}: applicants {mapped:?} are not all different"),
            );
        }
    }
    // T3: every staff row, disabled and deleted ones too, without a password.
    for id in ids_of(&set.trap("T3")["rows"]) {
        let got: Vec<(i64, Option<String>)> = fetch(
            &t,
            &format!("SELECT u.active, u.password_hash FROM v1_staff s JOIN users u ON u.id = s.v2_user_id WHERE s.user_id = {id}"),
        )
        .await;
        c.eq(
            || format!("T3 staff {id}: (active, password_hash)"),
            got,
            vec![(0, None)],
        );
    }

    eprintln!("defects_seed_42: {skipped_held} defect rows belong to held rows (checked as held)");
    c.finish("defects_seed_42");
}

// ---------------------------------------------------------------- idempotence

const NOT_SNAPSHOT: [&str; 5] = [
    "audit_records",
    "audit_head",
    "audit_anchors",
    "v1_runs",
    "v1_checkpoints",
];

/// Every row of every table (SQLite), rendered with `quote()`, sorted.
async fn snapshot(t: &TestApp) -> BTreeMap<String, Vec<String>> {
    assert_eq!(t.backend, Backend::Sqlite);
    let tables: Vec<(String,)> = fetch(
        t,
        "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name",
    )
    .await;
    let mut out = BTreeMap::new();
    for (name,) in tables {
        if NOT_SNAPSHOT.contains(&name.as_str()) {
            continue;
        }
        let cols: Vec<(String,)> = fetch(
            t,
            &format!("SELECT name FROM pragma_table_info('{name}') ORDER BY cid"),
        )
        .await;
        let expr = cols
            .iter()
            .map(|(c,)| format!("quote(\"{c}\")"))
            .collect::<Vec<_>>()
            .join(" || '|' || ");
        let mut rows: Vec<String> =
            fetch::<(String,)>(t, &format!("SELECT {expr} FROM \"{name}\""))
                .await
                .into_iter()
                .map(|r| r.0)
                .collect();
        if name == "sqlite_sequence" {
            rows.retain(|r| {
                !NOT_SNAPSHOT
                    .iter()
                    .any(|n| r.starts_with(&format!("'{n}'|")))
            });
        }
        rows.sort();
        out.insert(name, rows);
    }
    out
}

fn diff_snapshots(
    a: &BTreeMap<String, Vec<String>>,
    b: &BTreeMap<String, Vec<String>>,
) -> Vec<String> {
    let mut out = Vec::new();
    for (table, rows) in a {
        let other = b.get(table).cloned().unwrap_or_default();
        if *rows != other {
            let before: BTreeSet<&String> = rows.iter().collect();
            let after: BTreeSet<&String> = other.iter().collect();
            let gone: Vec<&&String> = before.difference(&after).take(3).collect();
            let new: Vec<&&String> = after.difference(&before).take(3).collect();
            out.push(format!(
                "{table}: {} rows → {} rows; e.g. gone {gone:?}, new {new:?}",
                rows.len(),
                other.len()
            ));
        }
    }
    out
}

fn without_run(r: &Value) -> Value {
    let mut r = r.clone();
    if let Some(o) = r.as_object_mut() {
        o.remove("run");
    }
    r
}

/// A second run (and a `--resume` of a completed one) writes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_twice_writes_nothing() {
    let Some(set) = set_300().await else { return };
    let t = TestApp::spawn(Backend::Sqlite).await.expect("sqlite");
    let first = migrate(&t, set, |_| {}).await;
    assert_accepted(
        set,
        &first.outcome.report,
        first.outcome.self_check.as_ref(),
        &first.report_dir,
    );
    let files = t.data_dir.join("files");
    let before = snapshot(&t).await;
    let store_before = store_listing(&files);
    assert!(
        store_before.keys().any(|k| k.starts_with("materials/ZW")),
        "the first run stored no material"
    );
    for resume in [false, true] {
        let again = migrate(&t, set, |o| o.resume = resume).await;
        let after = snapshot(&t).await;
        let diff = diff_snapshots(&before, &after);
        assert!(
            diff.is_empty(),
            "run again (resume {resume}) changed rows:\n  {}",
            diff.join("\n  ")
        );
        assert_eq!(
            store_listing(&files),
            store_before,
            "run again (resume {resume}) changed the file store"
        );
        assert_eq!(
            again.outcome.report["listings"], first.outcome.report["listings"],
            "run again (resume {resume}): listings"
        );
        for f in ["cases.txt", "quarantine.txt"] {
            assert_eq!(
                std::fs::read(again.report_dir.join(f)).expect(f),
                std::fs::read(first.report_dir.join(f)).expect(f),
                "run again (resume {resume}): {f}"
            );
        }
        assert_eq!(
            without_run(&again.outcome.report),
            without_run(&first.outcome.report),
            "run again (resume {resume}): the report differs beyond `run`"
        );
    }
    let runs = t
        .count("SELECT COUNT(*) FROM v1_runs WHERE status = 'completed'")
        .await;
    assert_eq!(runs, 3, "three completed runs recorded");
}

// ---------------------------------------------------------------- dry run

fn dry_run_dirs_since(start: SystemTime) -> Vec<PathBuf> {
    std::fs::read_dir(std::env::temp_dir())
        .map(|rd| {
            rd.flatten()
                .filter(|e| {
                    e.file_name()
                        .to_string_lossy()
                        .starts_with("zt-migrate-v1-dry-run-")
                })
                .filter(|e| {
                    e.metadata()
                        .and_then(|m| m.modified())
                        .is_ok_and(|m| m >= start)
                })
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default()
}

/// `--dry-run` reports like a real run and writes nothing into the target.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_writes_nothing() {
    let Some(set) = set_300().await else { return };
    let t = TestApp::spawn(Backend::Sqlite).await.expect("sqlite");
    let start = SystemTime::now() - Duration::from_secs(1);
    let before = snapshot(&t).await;
    let files = t.data_dir.join("files");
    let store_before = store_listing(&files);
    let report = report_dir();
    let started = Instant::now();
    let (code, stdout, stderr) = output(binary(&t, set, &report, &["--dry-run"]));
    eprintln!(
        "dry run of {}: {:.1} s",
        set.name(),
        started.elapsed().as_secs_f64()
    );
    assert_eq!(code, Some(0), "migrate-v1 --dry-run:\n{stdout}\n{stderr}");
    assert!(
        stdout.contains("self-check: cases MATCH, quarantine MATCH, tables MATCH"),
        "{stdout}"
    );
    check_manifest(set, &report);
    let report_json: Value = serde_json::from_str(
        &std::fs::read_to_string(report.join("report.json")).expect("report.json"),
    )
    .expect("json");
    assert_eq!(report_json["run"]["dry_run"], true);
    assert_eq!(report_json["tables"], set.manifest["tables"]);
    for table in ["v1_cases", "v1_runs", "v1_accounts", "v1_quarantine"] {
        assert_eq!(
            t.count(&format!("SELECT COUNT(*) FROM {table}")).await,
            0,
            "{table} of the target"
        );
    }
    let diff = diff_snapshots(&before, &snapshot(&t).await);
    assert!(
        diff.is_empty(),
        "the dry run changed the target:\n  {}",
        diff.join("\n  ")
    );
    let store = store_listing(&files);
    assert_eq!(store, store_before, "the dry run changed the file store");
    assert!(
        !store.keys().any(|k| k.starts_with("materials/ZW")),
        "materials stored by a dry run"
    );
    let left = dry_run_dirs_since(start);
    assert!(
        left.is_empty(),
        "the dry run left its scratch behind: {left:?}"
    );
}

// ---------------------------------------------------------------- kill and resume

/// Every key the migration's rows point to, relative to the store.
async fn referenced_keys(t: &TestApp) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    for sql in [
        "SELECT storage_key FROM case_materials WHERE v1_material_id IS NOT NULL",
        "SELECT file_key FROM licences WHERE v1_license_id IS NOT NULL AND file_key IS NOT NULL",
        "SELECT storage_key FROM v1_materials WHERE storage_key IS NOT NULL",
        "SELECT storage_key FROM v1_licences WHERE storage_key IS NOT NULL",
    ] {
        for (k,) in fetch::<(String,)>(t, sql).await {
            keys.insert(k);
        }
    }
    keys
}

/// The binary, killed (SIGKILL) at fault points in turn and resumed each
/// time, ends exactly where an uninterrupted run does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_and_resume() {
    let Some(set) = set_2000_42().await else {
        return;
    };
    let reference = reference_42(set).await;
    let t = TestApp::spawn(Backend::Sqlite).await.expect("sqlite");
    let files = t.data_dir.join("files");
    let store_before = store_listing(&files);
    let points = [
        "accounts:1:before_commit",
        "cases:0:after_read",
        "cases:2:after_files",
        "cases:3:before_commit",
        "cases:4:after_commit",
    ];
    let started = Instant::now();
    let mut killed = 0usize;
    for point in points {
        let mut args = vec!["--batch", "250"];
        if killed > 0 {
            args.push("--resume");
        }
        let mut cmd = binary(&t, set, &report_dir(), &args);
        cmd.env("ZT_MIGRATE_V1_FAULT", point);
        match run_until(cmd, &format!("FAULT-POINT {point}")) {
            (Stop::Killed, _) => {}
            (Stop::Exited(code), err) => {
                panic!("{point}: the run ended ({code:?}) before the fault point:\n{err}")
            }
        }
        eprintln!("killed at {point}");
        killed += 1;
        if killed == 1 {
            let (code, stdout, stderr) =
                output(binary(&t, set, &report_dir(), &["--batch", "250"]));
            assert_eq!(
                code,
                Some(3),
                "a run without --resume after a kill:\n{stdout}\n{stderr}"
            );
        }
    }
    assert_eq!(killed, points.len(), "the binary was killed at every point");
    let interrupted = t
        .count("SELECT COUNT(*) FROM v1_runs WHERE status <> 'completed'")
        .await;
    assert_eq!(interrupted, 1, "one unfinished run to resume");

    let report = report_dir();
    let (code, stdout, stderr) = output(binary(&t, set, &report, &["--batch", "250", "--resume"]));
    eprintln!(
        "kill_and_resume: {killed} kills and the final resume in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(code, Some(0), "the final --resume:\n{stdout}\n{stderr}");
    let runs = t.count("SELECT COUNT(*) FROM v1_runs").await;
    assert_eq!(runs, 1, "every kill was resumed in the same run");
    assert_eq!(
        std::fs::read(report.join("cases.txt")).expect("cases.txt"),
        reference.cases,
        "cases.txt differs from the uninterrupted run's"
    );
    assert_eq!(
        std::fs::read(report.join("quarantine.txt")).expect("quarantine.txt"),
        reference.quarantine,
        "quarantine.txt differs from the uninterrupted run's"
    );
    check_manifest(set, &report);
    let report_json: Value = serde_json::from_str(
        &std::fs::read_to_string(report.join("report.json")).expect("report.json"),
    )
    .expect("json");
    assert_eq!(
        report_json["tables"], reference.report["tables"],
        "report.json tables"
    );
    assert_eq!(
        report_json["quarantine"], reference.report["quarantine"],
        "report.json quarantine"
    );
    assert_eq!(
        report_json["files"], reference.report["files"],
        "report.json files"
    );
    // The store holds exactly what the rows point to: no copy twice, no staging leftover.
    let store: BTreeSet<String> = store_listing(&files)
        .into_keys()
        .filter(|k| !store_before.contains_key(k))
        .collect();
    let referenced = referenced_keys(&t).await;
    let extra: Vec<&String> = store.difference(&referenced).take(5).collect();
    let missing: Vec<&String> = referenced.difference(&store).take(5).collect();
    assert!(
        extra.is_empty() && missing.is_empty(),
        "file store vs rows: {} stored, {} referenced; unreferenced e.g. {extra:?}, missing e.g. {missing:?}",
        store.len(),
        referenced.len()
    );
}

// ---------------------------------------------------------------- access after migration

/// An SMS sender that keeps what it sent.
#[derive(Default)]
struct KeptSms(std::sync::Mutex<Vec<(String, String)>>);

#[async_trait::async_trait]
impl zt_app::notify::SmsSender for KeptSms {
    async fn send(&self, mobile: &str, text: &str) -> Result<(), String> {
        self.0
            .lock()
            .expect("lock")
            .push((mobile.into(), text.into()));
        Ok(())
    }
}

/// A migrated citizen cannot log in with V1's password (nor its MD5), gets
/// back in by an SMS code after naming the account by name, identity number
/// and mobile number, and then sees the cases of both their V1 accounts
/// (D07) under 我的办件, with V1's history; staff see it marked as migrated,
/// and the administrator sees the migration report.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn citizens_recover_access_and_see_their_v1_cases() {
    let Some(set) = set_300().await else {
        return;
    };
    let t = TestApp::spawn(Backend::Sqlite).await.expect("sqlite");
    migrate(&t, set, |_| {}).await;
    let d07 = set.manifest["defects"]
        .as_array()
        .and_then(|a| a.iter().find(|d| d["id"] == "D07"))
        .expect("D07")["rows"][0]
        .clone();
    let survivor = d07["survivor"].as_i64().expect("survivor");
    let (user_id, username, name, id_sealed): (i64, String, String, String) = fetch(
        &t,
        &format!(
            "SELECT u.id, u.username, u.display_name, u.id_number FROM v1_accounts a JOIN users u ON u.id = a.user_id \
             WHERE a.citizen_id = {survivor}"
        ),
    )
    .await
    .pop()
    .expect("survivor's user");
    let (mobile_sealed,): (String,) = fetch(
        &t,
        &format!("SELECT mobile FROM v1_accounts WHERE citizen_id = {survivor}"),
    )
    .await
    .pop()
    .expect("mobile");
    let id_number = t
        .app
        .pii
        .open(&zt_app::pii::ctx_user_id_number(&username), &id_sealed)
        .expect("id");
    let mobile = t
        .app
        .pii
        .open(&format!("v1_accounts.mobile:{survivor}"), &mobile_sealed)
        .expect("mobile");

    // No password works: V1's password hash was never read.
    let anon = t.anon();
    for pw in ["123456", "e10adc3949ba59abbe56e057f20f883e"] {
        let (st, b) = anon
            .post(
                "/api/v1/session",
                &json!({"username": username, "password": pw}),
            )
            .await;
        assert_eq!(st.as_u16(), 401, "login with {pw}: {b}");
    }
    let (hashes,): (i64,) = fetch(
        &t,
        "SELECT COUNT(*) FROM users u JOIN v1_accounts a ON a.user_id = u.id WHERE u.password_hash IS NOT NULL",
    )
    .await
    .pop()
    .expect("count");
    assert_eq!(hashes, 0, "a migrated account has a usable password");

    // 找回账号: a wrong name sends nothing, the same answer; the right one a code.
    let sms = std::sync::Arc::new(KeptSms::default());
    let app = t.app.clone().with_sms(sms.clone());
    let ask = |real_name: &str| zt_app::recovery::RecoveryRequest {
        real_name: real_name.into(),
        id_number: id_number.clone(),
        mobile: mobile.clone(),
    };
    let wrong = zt_app::recovery::request(&app, &ask("某某某"), "127.0.0.9")
        .await
        .expect("request");
    assert!(
        sms.0.lock().expect("lock").is_empty(),
        "a code for a wrong name"
    );
    let started = zt_app::recovery::request(&app, &ask(&name), "127.0.0.9")
        .await
        .expect("request");
    assert_eq!(
        wrong.message, started.message,
        "the answer tells whether the account matched"
    );
    let (to, text) = sms.0.lock().expect("lock").pop().expect("a code was sent");
    assert_eq!(to, mobile);
    let code: String = text
        .chars()
        .filter(|c| c.is_ascii_digit())
        .take(6)
        .collect();
    let bad = zt_app::recovery::confirm(
        &app,
        &zt_app::recovery::RecoveryConfirmation {
            ticket: started.ticket.clone(),
            code: "000000".into(),
            new_password: "Qinglan#Rain7".into(),
        },
        "127.0.0.9",
    )
    .await;
    assert!(
        bad.is_err() || code == "000000",
        "a wrong code was accepted"
    );
    let done = zt_app::recovery::confirm(
        &app,
        &zt_app::recovery::RecoveryConfirmation {
            ticket: started.ticket.clone(),
            code: code.clone(),
            new_password: "Qinglan#Rain7".into(),
        },
        "127.0.0.9",
    )
    .await
    .expect("confirm");
    assert_eq!(done.username, username);
    let again = zt_app::recovery::confirm(
        &app,
        &zt_app::recovery::RecoveryConfirmation {
            ticket: started.ticket,
            code,
            new_password: "Another#Rain8".into(),
        },
        "127.0.0.9",
    )
    .await;
    assert!(again.is_err(), "a code works twice");

    // 我的办件: the cases of both V1 accounts.
    let mut s = t.anon();
    let (st, body) = s
        .post(
            "/api/v1/session",
            &json!({"username": username, "password": "Qinglan#Rain7"}),
        )
        .await;
    assert_eq!(st.as_u16(), 200, "login after recovery: {body}");
    s.csrf = body["csrf_token"].as_str().expect("csrf").to_string();
    let (st, list) = s.get("/api/v1/cases?limit=100").await;
    assert_eq!(st.as_u16(), 200, "{list}");
    let mine: BTreeSet<String> = list["items"]
        .as_array()
        .or_else(|| list["cases"].as_array())
        .expect("a list")
        .iter()
        .filter_map(|c| c["case_no"].as_str().map(str::to_string))
        .collect();
    let expected_ids: Vec<i64> = d07["survivor_apply_ids"]
        .as_array()
        .into_iter()
        .chain(d07["merged_apply_ids"].as_array())
        .flatten()
        .filter_map(Value::as_i64)
        .collect();
    assert!(!expected_ids.is_empty());
    for apply_id in &expected_ids {
        let (no, status): (String, String) = fetch(
            &t,
            &format!("SELECT c.case_no, c.status FROM v1_cases v JOIN cases c ON c.id = v.case_id WHERE v.apply_id = {apply_id}"),
        )
        .await
        .pop()
        .expect("case");
        if status == "deleted" {
            continue;
        }
        assert!(
            mine.contains(&no),
            "{no} (V1 apply {apply_id}) is not under 我的办件: {mine:?}"
        );
        let (st, detail) = s.get(&format!("/api/v1/cases/{no}")).await;
        assert_eq!(st.as_u16(), 200, "{detail}");
        assert_eq!(detail["v1"]["apply_id"], json!(apply_id), "{detail}");
        let timeline = detail["timeline"].as_array().expect("timeline");
        if status != "draft" {
            assert!(
                timeline.iter().any(|e| e["action_label"]
                    .as_str()
                    .is_some_and(|l| l.contains("原系统"))),
                "no V1 history on {no}: {timeline:?}"
            );
        }
    }
    assert_eq!(
        fetch::<(i64,)>(
            &t,
            &format!(
                "SELECT COUNT(*) FROM users WHERE id = {user_id} AND password_hash IS NOT NULL"
            )
        )
        .await
        .pop()
        .expect("count")
        .0,
        1
    );

    // Staff of the department, a V1 leader re-enabled for the test, see a
    // migrated case with its V1 history marked as such.
    let (no, staff_id, staff_name): (String, i64, String) = fetch(
        &t,
        "SELECT c.case_no, u.id, u.username FROM cases c JOIN users u ON u.dept_id = c.dept_id \
         JOIN user_roles r ON r.user_id = u.id AND r.role = 'approver' JOIN v1_staff s ON s.v2_user_id = u.id \
         WHERE c.origin = 'v1' AND c.status = 'completed' ORDER BY c.case_no LIMIT 1",
    )
    .await
    .pop()
    .expect("a completed V1 case and a V1 leader of its department");
    {
        let mut c = t.app.db.writer().acquire().await.expect("conn");
        let hash = zt_app::auth::hash_password("Qinglan#Rain7").expect("hash");
        zt_store::users::set_password(&mut c, staff_id, &hash, false, "2025-09-30T00:00:00.000Z")
            .await
            .expect("password");
        sqlx::query("UPDATE users SET active = 1 WHERE id = $1")
            .bind(staff_id)
            .execute(&mut *c)
            .await
            .expect("activate");
    }
    let mut staff = t.anon();
    let (st, body) = staff
        .post(
            "/api/v1/session",
            &json!({"username": staff_name, "password": "Qinglan#Rain7"}),
        )
        .await;
    assert_eq!(st.as_u16(), 200, "V1 leader login: {body}");
    staff.csrf = body["csrf_token"].as_str().unwrap_or("").to_string();
    let (st, detail) = staff.get(&format!("/api/v1/cases/{no}")).await;
    assert_eq!(st.as_u16(), 200, "{detail}");
    assert!(detail["v1"]["apply_id"].is_i64(), "{detail}");
    let html = staff
        .client
        .get(format!("{}/workbench/cases/{no}", t.base))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(
        html.contains("V1 迁移") && html.contains("原系统记录"),
        "the workbench page of {no}: {html}"
    );

    // The administrator's report page.
    let admin = t.login("sysadmin").await;
    let html = admin
        .client
        .get(format!("{}/admin/migration-v1", t.base))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(
        html.contains("历史数据迁移")
            && html.contains("t_apply_material")
            && html.contains("ID_CHECKSUM_INVALID"),
        "{html}"
    );
    assert!(
        !html.contains(&id_number),
        "the report page shows an identity number in full"
    );
}

// ---------------------------------------------------------------- release

/// A subcommand of `zhengtong migrate-v1` against `t`'s database and file
/// store. No run arguments (`--source`, `--files`, …): they conflict with
/// the subcommands.
fn subcommand(t: &TestApp, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_zhengtong"));
    cmd.arg("migrate-v1")
        .args(args)
        .env_remove("ZT_CONFIG")
        .env_remove("ZT_V1_SOURCE_URL")
        .env_remove("ZT_MIGRATE_V1_FAULT")
        .env("ZT_DATABASE_URL", &t.db_url)
        .env("ZT_DATA_DIR", &t.data_dir)
        .env("ZT_PII_KEY_FILE", harness::pii_key_file())
        .env("ZT_LOG", "warn")
        .stdin(Stdio::null());
    cmd
}

fn lines_of(path: &Path) -> BTreeSet<String> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(str::to_string)
        .collect()
}

const HELD: &str = "SELECT COUNT(*) FROM v1_quarantine WHERE status = 'held'";
const RELEASES: &str = "SELECT COUNT(*) FROM audit_records WHERE action = 'v1_release'";

/// A D05 account (wrong check character) with a case: a release with a
/// number that still fails GB 11643 and a dry run change nothing; the real
/// release brings the account, its cases and their children out of the
/// quarantine, the regenerated listings say so, the materials are V1's
/// bytes; a second release of the same row is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn release_of_a_corrected_account() {
    let Some(set) = set_300().await else { return };
    let started = Instant::now();
    let t = TestApp::spawn(Backend::Sqlite).await.expect("sqlite");
    let run = migrate(&t, set, |_| {}).await;
    let files = t.data_dir.join("files");
    let (citizen, row) = rows_map(&set.defect("D05")["rows"])
        .into_iter()
        .find(|(_, r)| !ids_of(&r["apply_ids"]).is_empty())
        .expect("a D05 account with cases");
    let apply_ids = ids_of(&row["apply_ids"]);
    let in_applies = apply_ids
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let v1 = row["v1"]
        .as_str()
        .expect("D05 v1")
        .trim()
        .to_ascii_uppercase();
    let first17: String = v1.chars().take(17).collect();
    let check = zt_domain::ids::id_number_check_char(&first17).expect("17 digits");
    let right = format!("{first17}{check}");
    assert_ne!(right, v1, "the V1 number of D05 citizen {citizen} is valid");
    let wrong_char = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9', 'X']
        .into_iter()
        .find(|c| *c != check && !v1.ends_with(*c))
        .expect("another check character");
    let wrong = format!("{first17}{wrong_char}");
    let id = citizen.to_string();
    let release = |number: &str, dry_run: bool| {
        let set_arg = format!("id_card={number}");
        let mut args = vec![
            "release",
            "--table",
            "t_citizen",
            "--id",
            id.as_str(),
            "--set",
            set_arg.as_str(),
            "--operator",
            "测试",
            "--note",
            "核验",
        ];
        if dry_run {
            args.push("--dry-run");
        }
        output(subcommand(&t, &args))
    };

    // The rows the release is to bring out: the account, its cases, and
    // the cases' children.
    let released_rows: BTreeSet<(String, i64)> = fetch::<(String, i64)>(
        &t,
        &format!(
            "SELECT v1_table, v1_id FROM v1_quarantine WHERE status = 'held' AND \
             ((v1_table = 't_citizen' AND v1_id = {citizen}) OR (v1_table = 't_apply' AND v1_id IN ({in_applies})) \
             OR (reason = 'CASE_QUARANTINED' AND apply_id IN ({in_applies})))"
        ),
    )
    .await
    .into_iter()
    .collect();
    let v1_children: BTreeSet<(String, i64)> = [
        ("t_apply_material", "material_id"),
        ("t_approve_log", "log_id"),
        ("t_license", "license_id"),
        ("t_evaluation", "eval_id"),
    ]
    .into_iter()
    .flat_map(|(table, key)| {
        set.query(&format!(
            "SELECT {key} FROM {table} WHERE apply_id IN ({in_applies})"
        ))
        .into_iter()
        .filter_map(move |r| Some((table.to_string(), r.first()?.parse().ok()?)))
    })
    .collect();
    let mut expected_rows: BTreeSet<(String, i64)> = v1_children.clone();
    expected_rows.insert(("t_citizen".into(), citizen));
    for a in &apply_ids {
        expected_rows.insert(("t_apply".into(), *a));
    }
    assert_eq!(
        released_rows, expected_rows,
        "held rows of D05 citizen {citizen} (applies {apply_ids:?}) vs V1's"
    );
    let materials: Vec<i64> = v1_children
        .iter()
        .filter(|(t, _)| t == "t_apply_material")
        .map(|r| r.1)
        .collect();
    assert!(
        !materials.is_empty(),
        "the cases {apply_ids:?} have no material"
    );

    let held = t.count(HELD).await;
    let before = snapshot(&t).await;
    let store_before = store_listing(&files);
    let mut c = Checks::default();

    // a. A number that still fails GB 11643: refused, nothing changes.
    let (code, stdout, stderr) = release(&wrong, false);
    c.eq(
        || format!("release with {wrong}: exit code ({stdout}{stderr})"),
        code,
        Some(1),
    );
    c.eq(
        || "after the refused release: held rows".into(),
        t.count(HELD).await,
        held,
    );
    c.eq(
        || "after the refused release: v1_accounts row".into(),
        t.count(&format!(
            "SELECT COUNT(*) FROM v1_accounts WHERE citizen_id = {citizen}"
        ))
        .await,
        0,
    );
    let diff = diff_snapshots(&before, &snapshot(&t).await);
    c.check(diff.is_empty(), || {
        format!(
            "the refused release changed rows:\n    {}",
            diff.join("\n    ")
        )
    });
    c.eq(
        || "the refused release: v1_release audited".into(),
        t.count(RELEASES).await,
        0,
    );
    c.check(store_listing(&files) == store_before, || {
        "the refused release changed the file store".into()
    });

    // b. The dry run with the right number: exit 0, nothing changes.
    let (code, stdout, stderr) = release(&right, true);
    c.eq(
        || format!("dry-run release with {right}: exit code ({stdout}{stderr})"),
        code,
        Some(0),
    );
    c.check(
        stdout.contains(&format!("would release t_citizen {citizen}")),
        || format!("dry-run release: stdout {stdout:?}"),
    );
    c.eq(
        || "after the dry run: held rows".into(),
        t.count(HELD).await,
        held,
    );
    c.eq(
        || "after the dry run: v1_accounts row".into(),
        t.count(&format!(
            "SELECT COUNT(*) FROM v1_accounts WHERE citizen_id = {citizen}"
        ))
        .await,
        0,
    );
    let diff = diff_snapshots(&before, &snapshot(&t).await);
    c.check(diff.is_empty(), || {
        format!(
            "the dry-run release changed rows:\n    {}",
            diff.join("\n    ")
        )
    });
    c.eq(
        || "the dry run: v1_release audited".into(),
        t.count(RELEASES).await,
        0,
    );
    let store_after_dry = store_listing(&files);
    let added: Vec<&String> = store_after_dry
        .keys()
        .filter(|k| !store_before.contains_key(*k))
        .collect();
    // A dry run puts no file into the store: its rollback could not take
    // one back.
    c.check(store_after_dry == store_before, || {
        format!("the dry-run release changed the file store; new files {added:?}")
    });

    // c. The release.
    let (code, stdout, stderr) = release(&right, false);
    c.eq(
        || format!("release with {right}: exit code ({stdout}{stderr})"),
        code,
        Some(0),
    );
    let report = report_dir();
    let report_arg = report.display().to_string();
    let (code, stdout, stderr) = output(subcommand(&t, &["report", "--report", &report_arg]));
    c.eq(
        || format!("migrate-v1 report: exit code ({stdout}{stderr})"),
        code,
        Some(0),
    );
    // cases.txt: one more line per released case, with the corrected number.
    let cases_before = lines_of(&run.report_dir.join("cases.txt"));
    let cases_after = lines_of(&report.join("cases.txt"));
    let gone: Vec<&String> = cases_before.difference(&cases_after).collect();
    let new: Vec<&String> = cases_after.difference(&cases_before).collect();
    c.check(gone.is_empty(), || {
        format!("cases.txt lost lines after the release: {gone:?}")
    });
    c.eq(|| "cases.txt: new lines".into(), new.len(), apply_ids.len());
    for a in &apply_ids {
        let apply_no = set
            .query(&format!(
                "SELECT apply_no FROM t_apply WHERE apply_id = {a}"
            ))
            .first()
            .and_then(|r| r.first().cloned())
            .expect("apply_no");
        let line = new.iter().find(|l| l.starts_with(&format!("{apply_no}|")));
        c.check(
            line.is_some_and(|l| l.ends_with(&format!("|{right}"))),
            || {
                format!(
                    "cases.txt: the line of {apply_no} (apply {a}) is {line:?}, expected …|{right}"
                )
            },
        );
    }
    // quarantine.txt: none of the released rows.
    let quarantine_after = lines_of(&report.join("quarantine.txt"));
    for (table, id) in &released_rows {
        let left: Vec<&String> = quarantine_after
            .iter()
            .filter(|l| l.starts_with(&format!("{table}|{id}|")))
            .collect();
        c.check(left.is_empty(), || {
            format!("quarantine.txt still lists {left:?} after the release")
        });
    }
    let quarantine_before = lines_of(&run.report_dir.join("quarantine.txt"));
    c.eq(
        || "quarantine.txt: lines removed".into(),
        quarantine_before.len() - quarantine_after.len().min(quarantine_before.len()),
        released_rows.len(),
    );
    // The ledger rows.
    type Mark = (String, i64, String, Option<String>, Option<String>);
    let marks: Vec<Mark> = fetch(
        &t,
        &format!(
            "SELECT v1_table, v1_id, status, released_by, release_note FROM v1_quarantine WHERE \
             (v1_table = 't_citizen' AND v1_id = {citizen}) OR (v1_table = 't_apply' AND v1_id IN ({in_applies})) \
             OR apply_id IN ({in_applies}) ORDER BY v1_table, v1_id"
        ),
    )
    .await;
    for (table, id) in &released_rows {
        let m = marks.iter().find(|m| &m.0 == table && m.1 == *id);
        c.check(
            m.is_some_and(|m| {
                m.2 == "released"
                    && m.3.as_deref() == Some("测试")
                    && m.4.as_deref() == Some("核验")
            }),
            || format!("v1_quarantine {table} {id}: {m:?}"),
        );
    }
    c.eq(
        || format!("v1_accounts of citizen {citizen}"),
        fetch::<(String,)>(
            &t,
            &format!("SELECT outcome FROM v1_accounts WHERE citizen_id = {citizen}"),
        )
        .await,
        vec![("migrated".to_string(),)],
    );
    for a in &apply_ids {
        c.eq(
            || format!("v1_cases of apply {a}"),
            t.count(&format!(
                "SELECT COUNT(*) FROM v1_cases WHERE apply_id = {a}"
            ))
            .await,
            1,
        );
    }
    for (table, id) in &v1_children {
        if table == "t_approve_log" {
            c.eq(
                || format!("case_events of V1 log {id}"),
                t.count(&format!(
                    "SELECT COUNT(*) FROM case_events WHERE v1_log_id = {id}"
                ))
                .await,
                1,
            );
        }
    }
    // The materials: in case_materials, V1's bytes.
    for m in &materials {
        let ledger: Vec<(String, Option<String>)> = fetch(
            &t,
            &format!("SELECT outcome, path FROM v1_materials WHERE material_id = {m}"),
        )
        .await;
        let got: Vec<(String, String)> = fetch(
            &t,
            &format!("SELECT storage_key, digest FROM case_materials WHERE v1_material_id = {m}"),
        )
        .await;
        let ([(outcome, Some(path))], [(key, digest)]) = (ledger.as_slice(), got.as_slice()) else {
            c.check(false, || {
                format!("material {m}: v1_materials {ledger:?}, case_materials {got:?}")
            });
            continue;
        };
        c.eq(
            || format!("material {m}: v1_materials.outcome"),
            outcome.as_str(),
            "migrated",
        );
        let stored = t.app.files.get_verified(key, digest).await;
        let disk = std::fs::read(set.files().join(path.replace('\\', "/")));
        match (stored, disk) {
            (Ok(s), Ok(d)) => c.check(s.as_ref() == d.as_slice(), || {
                format!("material {m}: {key} differs from V1's {path}")
            }),
            (s, d) => c.check(false, || {
                format!("material {m}: store {:?}, disk {:?}", s.err(), d.err())
            }),
        }
    }
    c.eq(
        || format!("audit v1_release of t_citizen/{citizen}"),
        t.count(&format!(
            "SELECT COUNT(*) FROM audit_records WHERE action = 'v1_release' AND object = 't_citizen/{citizen}' \
             AND result = 'success' AND detail LIKE '%测试%'"
        ))
        .await,
        1,
    );

    // d. The same row again: not held any more, refused, nothing changes.
    let held = t.count(HELD).await;
    let audits = t.count(RELEASES).await;
    let before = snapshot(&t).await;
    let store_before = store_listing(&files);
    let (code, stdout, stderr) = release(&right, false);
    c.check(code.is_some_and(|c| c != 0), || {
        format!("the second release: exit code {code:?} ({stdout}{stderr})")
    });
    c.eq(
        || "after the second release: held rows".into(),
        t.count(HELD).await,
        held,
    );
    let diff = diff_snapshots(&before, &snapshot(&t).await);
    c.check(diff.is_empty(), || {
        format!(
            "the second release changed rows:\n    {}",
            diff.join("\n    ")
        )
    });
    c.eq(
        || "the second release: v1_release audited".into(),
        t.count(RELEASES).await,
        audits,
    );
    c.check(store_listing(&files) == store_before, || {
        "the second release changed the file store".into()
    });
    eprintln!(
        "release_of_a_corrected_account: citizen {citizen}, applies {apply_ids:?}, {} rows, {:.1} s",
        released_rows.len(),
        started.elapsed().as_secs_f64()
    );
    c.finish("release_of_a_corrected_account");
}

// ---------------------------------------------------------------- real-name login

/// The case numbers `GET /api/v1/cases` lists for a session cookie.
async fn listed_cases(t: &TestApp, cookie: &str) -> BTreeSet<String> {
    let resp = crate::sso::browser()
        .get(format!("{}/api/v1/cases?limit=200", t.base))
        .header("cookie", cookie)
        .send()
        .await
        .expect("GET /api/v1/cases");
    let status = resp.status();
    let list: Value = resp.json().await.unwrap_or(Value::Null);
    assert_eq!(status.as_u16(), 200, "GET /api/v1/cases: {list}");
    list["items"]
        .as_array()
        .or_else(|| list["cases"].as_array())
        .unwrap_or_else(|| panic!("a list: {list}"))
        .iter()
        .filter_map(|c| c["case_no"].as_str().map(str::to_string))
        .collect()
}

/// A D07 survivor's account: (user id, username, identity number).
async fn v1_person_of(t: &TestApp, citizen: i64) -> (i64, String, String) {
    let (user_id,): (i64,) = fetch(
        t,
        &format!("SELECT user_id FROM v1_accounts WHERE citizen_id = {citizen}"),
    )
    .await
    .pop()
    .unwrap_or_else(|| panic!("no v1_accounts row for citizen {citizen}"));
    let (username, sealed): (String, String) = fetch(
        t,
        &format!("SELECT username, id_number FROM users WHERE id = {user_id}"),
    )
    .await
    .pop()
    .expect("the account");
    let number = t
        .app
        .pii
        .open(&zt_app::pii::ctx_user_id_number(&username), &sealed)
        .expect("users.id_number opens");
    (user_id, username, number)
}

fn v1_citizen_claims(sub: &str, id_number: &str, level: &str) -> zt_identity::double::TestUser {
    let mut u = zt_identity::double::TestUser::citizen();
    u.sub = sub.to_string();
    u.preferred_username = None;
    u.phone_number = None;
    u.birthdate = None;
    u.id_number = Some(id_number.to_string());
    u.real_name_level = Some(level.to_string());
    u.user_type = Some("citizen".into());
    u
}

/// A citizen logging in through the unified identity platform at real-name
/// level L2 with the identity number of a migrated V1 account is linked to
/// that account and sees its V1 cases (both accounts' of D07); at L1 the
/// same kind of claim gets a new account.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_name_login_claims_the_v1_account() {
    let Some(set) = set_300().await else { return };
    let started = Instant::now();
    let (t, fake) = crate::sso::setup(Backend::Sqlite).await.expect("sqlite");
    migrate(&t, set, |_| {}).await;
    let d07 = set.defect("D07")["rows"].as_array().expect("D07 rows");
    assert!(d07.len() >= 2, "two D07 groups needed: {d07:?}");
    let group = &d07[0];
    let survivor = group["survivor"].as_i64().expect("survivor");
    let (user_id, username, number) = v1_person_of(&t, survivor).await;
    let sso_users = "SELECT COUNT(*) FROM users WHERE username LIKE 'sso-%'";
    let sso_before = t.count(sso_users).await;
    let users_before = t.count("SELECT COUNT(*) FROM users").await;

    // L2 with the V1 number: the V1 account.
    let sub = format!("U-V1-{}", harness::unique_id());
    fake.set_user(v1_citizen_claims(&sub, &number, "L2"));
    let cookie = crate::sso::sso_login(&t, &fake)
        .await
        .unwrap_or_else(|(s, page)| panic!("L2 login: {s} {page}"));
    let linked: Vec<(i64,)> = fetch(
        &t,
        &format!("SELECT user_id FROM identity_links WHERE sub = '{sub}'"),
    )
    .await;
    assert_eq!(
        linked,
        vec![(user_id,)],
        "the L2 login of D07 survivor {survivor} ({username}) is linked to another account"
    );
    let (s, me) = crate::sso::me(&t, &cookie).await;
    assert_eq!(s.as_u16(), 200, "{me}");
    assert_eq!(me["user"]["user_id"].as_i64(), Some(user_id), "{me}");
    assert_eq!(
        t.count(sso_users).await,
        sso_before,
        "an sso-… account was provisioned"
    );
    assert_eq!(t.count("SELECT COUNT(*) FROM users").await, users_before);
    let (level,): (String,) = fetch(
        &t,
        &format!("SELECT real_name_level FROM users WHERE id = {user_id}"),
    )
    .await
    .pop()
    .expect("user");
    assert_eq!(level, "L2");
    let details: Vec<(String,)> = fetch(
        &t,
        &format!(
            "SELECT detail FROM audit_records WHERE action = 'identity_link' AND object = 'user:{user_id}'"
        ),
    )
    .await;
    assert!(
        details.len() == 1 && details[0].0.contains("\"claimed_v1_account\":true"),
        "identity_link audit of user {user_id}: {details:?}"
    );

    // 我的办件: the cases of both V1 accounts.
    let mine = listed_cases(&t, &cookie).await;
    let mut deleted_listed = Vec::new();
    let mut deleted_unlisted = Vec::new();
    let mut checked = 0usize;
    for a in ids_of(&group["survivor_apply_ids"])
        .into_iter()
        .chain(ids_of(&group["merged_apply_ids"]))
    {
        let (no, status): (String, String) = fetch(
            &t,
            &format!(
                "SELECT c.case_no, c.status FROM v1_cases v JOIN cases c ON c.id = v.case_id WHERE v.apply_id = {a}"
            ),
        )
        .await
        .pop()
        .unwrap_or_else(|| panic!("V1 apply {a} has no case"));
        if status == "deleted" {
            if mine.contains(&no) {
                deleted_listed.push(no);
            } else {
                deleted_unlisted.push(no);
            }
            continue;
        }
        assert!(
            mine.contains(&no),
            "{no} (V1 apply {a}, {status}) is not listed for the linked account: {mine:?}"
        );
        checked += 1;
    }
    assert!(checked > 0, "no V1 case checked");
    eprintln!(
        "real_name_login_claims_the_v1_account: survivor {survivor}: {checked} cases listed; \
         deleted cases listed {deleted_listed:?}, not listed {deleted_unlisted:?}"
    );

    // L1 with another V1 account's number: a new account, the V1 one untouched.
    let other = d07[1]["survivor"].as_i64().expect("survivor");
    let (other_id, _, other_number) = v1_person_of(&t, other).await;
    let (other_level,): (String,) = fetch(
        &t,
        &format!("SELECT real_name_level FROM users WHERE id = {other_id}"),
    )
    .await
    .pop()
    .expect("user");
    let sub_l1 = format!("U-V1-{}", harness::unique_id());
    fake.set_user(v1_citizen_claims(&sub_l1, &other_number, "L1"));
    let cookie_l1 = crate::sso::sso_login(&t, &fake)
        .await
        .unwrap_or_else(|(s, page)| panic!("L1 login: {s} {page}"));
    let linked: Vec<(i64, String)> = fetch(
        &t,
        &format!(
            "SELECT l.user_id, u.username FROM identity_links l JOIN users u ON u.id = l.user_id WHERE l.sub = '{sub_l1}'"
        ),
    )
    .await;
    assert_eq!(
        linked.iter().map(|r| r.1.clone()).collect::<Vec<_>>(),
        vec![format!("sso-{sub_l1}")],
        "the L1 login with D07 survivor {other}'s number (account {other_id})"
    );
    assert_ne!(linked[0].0, other_id);
    assert_eq!(t.count(sso_users).await, sso_before + 1);
    assert_eq!(
        t.count(&format!(
            "SELECT COUNT(*) FROM identity_links WHERE user_id = {other_id}"
        ))
        .await,
        0,
        "the V1 account was linked by an L1 login"
    );
    let (after_level,): (String,) = fetch(
        &t,
        &format!("SELECT real_name_level FROM users WHERE id = {other_id}"),
    )
    .await
    .pop()
    .expect("user");
    assert_eq!(after_level, other_level, "the V1 account's level changed");
    let details: Vec<(String,)> = fetch(
        &t,
        &format!(
            "SELECT detail FROM audit_records WHERE action = 'identity_link' AND object = 'user:{}'",
            linked[0].0
        ),
    )
    .await;
    assert!(
        details.len() == 1 && details[0].0.contains("\"claimed_v1_account\":false"),
        "identity_link audit of the new account: {details:?}"
    );
    let theirs = listed_cases(&t, &cookie_l1).await;
    assert!(
        theirs.is_empty(),
        "the new L1 account sees cases: {theirs:?}"
    );

    // A V1 case with status 'deleted' (V1 `99`): claimed the same way, its
    // holder must not see it (design migration-v1.md §8 Q2, Appendix B:
    // "applicant lists exclude `deleted`"). Checked last, after the claim.
    let (citizen, user, case_no): (i64, i64, String) = fetch(
        &t,
        "SELECT a.citizen_id, a.user_id, c.case_no FROM v1_accounts a JOIN cases c ON c.applicant_id = a.user_id \
         WHERE c.status = 'deleted' AND c.origin = 'v1' AND a.outcome = 'migrated' AND a.user_type = '1' \
         AND NOT EXISTS (SELECT 1 FROM identity_links l WHERE l.user_id = a.user_id) \
         ORDER BY a.citizen_id, c.case_no LIMIT 1",
    )
    .await
    .pop()
    .expect("an unlinked V1 person account with a deleted case");
    let (_, _, number) = v1_person_of(&t, citizen).await;
    let sub = format!("U-V1-{}", harness::unique_id());
    fake.set_user(v1_citizen_claims(&sub, &number, "L2"));
    let cookie = crate::sso::sso_login(&t, &fake)
        .await
        .unwrap_or_else(|(s, page)| panic!("L2 login of citizen {citizen}: {s} {page}"));
    let (_, me) = crate::sso::me(&t, &cookie).await;
    assert_eq!(
        me["user"]["user_id"].as_i64(),
        Some(user),
        "the L2 login with citizen {citizen}'s number: {me}"
    );
    let listed = listed_cases(&t, &cookie).await;
    eprintln!(
        "real_name_login_claims_the_v1_account: {:.1} s",
        started.elapsed().as_secs_f64()
    );
    // A case a V1 administrator deleted is not in the applicant's list.
    assert!(
        !listed.contains(&case_no),
        "the deleted V1 case {case_no} (citizen {citizen}) is listed to its applicant under \
         GET /api/v1/cases; the design (migration-v1.md §8 Q2, Appendix B) hides it from applicants' lists"
    );
}

/// The citizen's pages of 找回账号: linked from the login page; step one
/// answers the same whether or not the details matched and moves to step
/// two; a wrong code is refused with the field marked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovery_pages() {
    let t = TestApp::spawn(Backend::Sqlite).await.expect("sqlite");
    let c = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let login = c
        .get(format!("{}/login", t.base))
        .send()
        .await
        .expect("login")
        .text()
        .await
        .expect("html");
    assert!(
        login.contains("href=\"/recover\""),
        "the login page does not lead to 找回账号"
    );
    let form = c
        .get(format!("{}/recover", t.base))
        .send()
        .await
        .expect("form");
    assert_eq!(form.status().as_u16(), 200);
    let html = form.text().await.expect("html");
    assert!(
        html.contains("name=\"id_number\"") && html.contains("获取验证码"),
        "{html}"
    );
    let step2 = c
        .post(format!("{}/recover", t.base))
        .form(&[
            ("real_name", "张三"),
            ("id_number", "439902197901011236"),
            ("mobile", "13800138000"),
        ])
        .send()
        .await
        .expect("start");
    assert_eq!(step2.status().as_u16(), 200);
    let html = step2.text().await.expect("html");
    assert!(
        html.contains("验证码已发送") && html.contains("name=\"ticket\""),
        "{html}"
    );
    let bad = c
        .post(format!("{}/recover", t.base))
        .form(&[
            ("real_name", "张三"),
            ("id_number", "43990219790101123X"),
            ("mobile", "13800138000"),
        ])
        .send()
        .await
        .expect("bad number");
    assert_eq!(bad.status().as_u16(), 422);
    assert!(bad.text().await.expect("html").contains("18位公民身份号码"));
    let ticket = html
        .split("name=\"ticket\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("ticket")
        .to_string();
    let wrong = c
        .post(format!("{}/recover/confirm", t.base))
        .form(&[
            ("ticket", ticket.as_str()),
            ("code", "123456"),
            ("new_password", "Qinglan#Rain7"),
            ("new_password_again", "Qinglan#Rain7"),
        ])
        .send()
        .await
        .expect("confirm");
    assert_eq!(wrong.status().as_u16(), 422);
    let html = wrong.text().await.expect("html");
    assert!(
        html.contains("验证码错误或已过期") && html.contains("aria-invalid=\"true\""),
        "{html}"
    );
}
