//! Backup and restore (数据备份恢复, GB/T 22239-2019 等保 2.0): `zhengtong backup`
//! and `zhengtong restore`.
//!
//! A backup is one directory, `<out>/zt-backup-<UTC time>/`:
//!
//! ```text
//! database.sqlite | database.pgdump   the database (see below)
//! files/materials/<case_no>/<key>     every stored material, by its storage key
//! files/licences/<licence_no>/<key>   every sealed licence document
//! anchors/audit-anchors.jsonl         the audit anchor file, when there is one
//! manifest.json                       written last: what the backup holds, with
//!                                     the SM3 of every file
//! ```
//!
//! It is written as `zt-backup-<time>.partial/` and renamed only once the
//! manifest is in place (itself written to a temporary name and renamed), so
//! a directory without a manifest, or still named `.partial`, is recognisably
//! incomplete; on an error the partial directory is removed.
//!
//! **Consistency.** The manifest (table counts, audit head, the list of
//! materials) is read from exactly the snapshot that is saved:
//!
//! * SQLite: `VACUUM INTO` writes a consistent copy of the live database from
//!   one read transaction. Under WAL it neither blocks the server's writer nor
//!   waits for it, and unlike copying the file (which may miss or tear pages
//!   still in `-wal`) it yields one self-contained, defragmented file. (The
//!   online-backup API would do as well, but sqlx does not expose it; `VACUUM
//!   INTO` is plain SQL.) The manifest is then read from the copy itself.
//! * PostgreSQL: a `REPEATABLE READ` transaction exports its snapshot
//!   (`pg_export_snapshot()`), the manifest is read in that transaction, and
//!   `pg_dump --format=custom --snapshot=…` dumps the very same snapshot.
//!
//! Materials are read through the [`FileStore`] API (so a local directory and
//! an S3 bucket are backed up alike), each checked against the SM3 digest the
//! snapshot records for it. Files are only ever added by the platform before
//! their row commits (and removed only when that row never committed), so
//! every file a snapshot names exists. The anchor file is copied *before* the
//! database snapshot: anchors only grow, so every anchor in the copy names a
//! record the snapshot holds.
//!
//! Not in a backup: the personal-information key file (kept apart from the
//! database on purpose; back it up separately), audit archives written by
//! `audit archive --out` (files of their own, each with its SM3 recorded in
//! the database), files in the store that no row names (left by crashes).
//!
//! **Restore** checks every file against the manifest before it changes
//! anything, refuses a target that is not empty unless forced, writes the
//! materials first (removing them again if a later step fails), then the
//! database in one step (an atomic rename on SQLite, one transaction of
//! `pg_restore` on PostgreSQL), and finally verifies the result against the
//! manifest.

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sm3::{Digest, Sm3};
use sqlx::{AnyConnection, Connection, Executor};
use zt_domain::time::Clock;
use zt_store::files::FileStore;
use zt_store::Backend;

use crate::config::Config;

/// `manifest.json`'s `format`.
pub const FORMAT: &str = "zhengtong-backup";
/// The layout this binary writes and the newest it can restore.
pub const FORMAT_VERSION: u32 = 1;
pub const MANIFEST: &str = "manifest.json";
const SQLITE_FILE: &str = "database.sqlite";
const PG_FILE: &str = "database.pgdump";
const ANCHOR_FILE: &str = "anchors/audit-anchors.jsonl";
const FILES_DIR: &str = "files";
const PARTIAL: &str = ".partial";

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The configuration or the command line asks for something impossible.
    #[error("{0}")]
    Config(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("database: {0}")]
    Db(#[from] zt_store::StoreError),
    #[error("{0}")]
    App(String),
    /// pg_dump / pg_restore is missing or failed.
    #[error("{program}: {message}")]
    Tool { program: String, message: String },
    /// Stored materials that could not be read or do not match their digest
    /// (the backup was not written).
    #[error("the file store holds damaged or missing materials; no backup was written:\n{}", list(.0))]
    Materials(Vec<String>),
    /// The directory is not a finished backup.
    #[error("not a complete backup: {0}")]
    Incomplete(String),
    #[error("{path}: {message}")]
    Manifest { path: PathBuf, message: String },
    /// Files of the backup do not match its manifest (nothing was restored).
    #[error("the backup does not match its manifest; nothing was restored:\n{}", list(.0))]
    Integrity(Vec<String>),
    /// The target is not empty and `--force` was not given.
    #[error("refusing to restore: {0}")]
    NotEmpty(String),
    /// Restoring failed; what had been written was removed again.
    #[error("restore failed, nothing was kept: {0}")]
    Restore(String),
    /// The restored data differs from the manifest.
    #[error("the backup was restored, but the result does not match the manifest:\n{}", list(.0))]
    Verification(Vec<String>),
}

fn list(items: &[String]) -> String {
    items
        .iter()
        .map(|i| format!("  - {i}"))
        .collect::<Vec<_>>()
        .join("\n")
}

impl From<sqlx::Error> for BackupError {
    fn from(e: sqlx::Error) -> Self {
        Self::Db(e.into())
    }
}

impl From<zt_app::AppError> for BackupError {
    fn from(e: zt_app::AppError) -> Self {
        Self::App(format!("{}: {}", e.code(), e.message()))
    }
}

pub type Result<T, E = BackupError> = std::result::Result<T, E>;

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BackupError + '_ {
    move |source| BackupError::Io {
        path: path.to_path_buf(),
        source,
    }
}

// ---------------------------------------------------------------------------
// The manifest
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always [`FORMAT`].
    pub format: String,
    pub format_version: u32,
    /// RFC 3339 UTC.
    pub created_at: String,
    pub zhengtong_version: String,
    /// `sqlite` | `postgres`: a backup restores into the same backend.
    pub backend: String,
    /// How the database file was made, e.g. `sqlite VACUUM INTO` or
    /// `pg_dump --format=custom (server 15.20)`.
    pub database_format: String,
    /// The newest applied migration.
    pub migration_version: i64,
    /// Every applied migration.
    pub migrations: Vec<i64>,
    /// Rows per table in the snapshot (every table of the schema).
    pub tables: BTreeMap<String, i64>,
    /// The audit chain's head in the snapshot.
    pub audit_head: AuditHead,
    /// Where the materials came from (`local:<dir>` or an `s3://` URL).
    pub file_store: String,
    /// Every file of the backup but the manifest.
    pub files: Vec<FileEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditHead {
    pub last_id: i64,
    pub last_hash: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileKind {
    Database,
    Material,
    Anchors,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Relative to the backup directory, `/`-separated.
    pub path: String,
    pub kind: FileKind,
    pub size: u64,
    /// SM3 of the content, lowercase hex. For a material it equals the digest
    /// in `case_materials.digest`.
    pub sm3: String,
    /// A material's storage key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case_no: Option<String>,
}

impl Manifest {
    pub fn database(&self) -> Option<&FileEntry> {
        self.files.iter().find(|f| f.kind == FileKind::Database)
    }

    pub fn materials(&self) -> impl Iterator<Item = &FileEntry> {
        self.files.iter().filter(|f| f.kind == FileKind::Material)
    }

    pub fn anchors(&self) -> Option<&FileEntry> {
        self.files.iter().find(|f| f.kind == FileKind::Anchors)
    }
}

// ---------------------------------------------------------------------------
// Small helpers: paths, hashing, tools
// ---------------------------------------------------------------------------

fn backend_of(cfg: &Config) -> Result<Backend> {
    Backend::from_url(&cfg.database_url).ok_or_else(|| {
        BackupError::Config(format!(
            "unsupported database URL {}",
            zt_store::db::redact(&cfg.database_url)
        ))
    })
}

/// The file of a `sqlite://` URL.
fn sqlite_path(url: &str) -> Result<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    let p = rest.split('?').next().unwrap_or("");
    if p.is_empty() || p.contains(":memory:") {
        return Err(BackupError::Config(format!(
            "{url} is not a database file: an in-memory database cannot be backed up or restored"
        )));
    }
    Ok(PathBuf::from(p))
}

/// Opens an existing SQLite file (never creates one).
async fn open_sqlite(path: &Path) -> Result<AnyConnection> {
    sqlx::any::install_default_drivers();
    let mut c = AnyConnection::connect(&format!("sqlite://{}?mode=rw", path.display())).await?;
    c.execute("PRAGMA busy_timeout = 5000").await?;
    Ok(c)
}

async fn open_pg(url: &str) -> Result<AnyConnection> {
    sqlx::any::install_default_drivers();
    AnyConnection::connect(url).await.map_err(|e| {
        BackupError::Config(format!(
            "cannot connect to {}: {e}",
            zt_store::db::redact(url)
        ))
    })
}

/// A relative path inside the backup directory, refusing anything that could
/// leave it (`..`, absolute paths) or that the platform never generates.
fn inside(dir: &Path, rel: &str) -> Option<PathBuf> {
    let ok_chars = rel
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '-' | '_' | '.'));
    let p = Path::new(rel);
    let ok_parts = !rel.is_empty()
        && p.components().all(|c| matches!(c, Component::Normal(_)))
        && !rel
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == "..");
    (ok_chars && ok_parts).then(|| dir.join(p))
}

/// Size and SM3 of a file, streamed.
fn hash_file(path: &Path) -> Result<(u64, String)> {
    let mut f = std::fs::File::open(path).map_err(io(path))?;
    let mut h = Sm3::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut n = 0u64;
    loop {
        let k = f.read(&mut buf).map_err(io(path))?;
        if k == 0 {
            break;
        }
        h.update(&buf[..k]);
        n += k as u64;
    }
    Ok((n, hex::encode(h.finalize())))
}

/// Copies `src` to a new file `dst` (which must not exist), hashing what is
/// written, and syncs it.
fn copy_hashed(src: &Path, dst: &Path) -> Result<(u64, String)> {
    let mut r = std::fs::File::open(src).map_err(io(src))?;
    if let Some(parent) = dst.parent() {
        std::fs::create_dir_all(parent).map_err(io(parent))?;
    }
    let mut w = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(dst)
        .map_err(io(dst))?;
    let mut h = Sm3::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut n = 0u64;
    loop {
        let k = r.read(&mut buf).map_err(io(src))?;
        if k == 0 {
            break;
        }
        h.update(&buf[..k]);
        w.write_all(&buf[..k]).map_err(io(dst))?;
        n += k as u64;
    }
    w.sync_all().map_err(io(dst))?;
    Ok((n, hex::encode(h.finalize())))
}

fn write_synced(path: &Path, data: &[u8]) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io(parent))?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(io(path))?;
    f.write_all(data).map_err(io(path))?;
    f.sync_all().map_err(io(path))
}

/// Makes a rename or a new entry in `dir` durable.
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| BackupError::App(format!("background task: {e}")))?
}

/// The program named by an option, else by an environment variable, else the
/// default on PATH.
fn program(explicit: Option<&Path>, var: &str, default: &str) -> PathBuf {
    explicit
        .map(Path::to_path_buf)
        .or_else(|| {
            std::env::var_os(var)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        })
        .unwrap_or_else(|| PathBuf::from(default))
}

/// A PostgreSQL URL without its password, and the password (for
/// `PGPASSWORD`, so that it never appears in the process list).
fn libpq_target(url: &str) -> (String, Option<String>) {
    if let (Some(s), Some(at)) = (url.find("://"), url.rfind('@')) {
        if at > s {
            let creds = &url[s + 3..at];
            if let Some(c) = creds.find(':') {
                return (
                    format!("{}{}{}", &url[..s + 3], &creds[..c], &url[at..]),
                    Some(percent_decode(&creds[c + 1..])),
                );
            }
        }
    }
    (url.to_string(), None)
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            if let Some(v) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Runs pg_dump or pg_restore against `url`; a missing program or a non-zero
/// exit is an error naming the program and quoting its complaint.
async fn run_tool(prog: &Path, var: &str, url: &str, args: &[String]) -> Result<()> {
    let (target, password) = libpq_target(url);
    let mut cmd = tokio::process::Command::new(prog);
    cmd.args(args)
        .arg(format!("--dbname={target}"))
        .env("PGCONNECT_TIMEOUT", "10")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(p) = password {
        cmd.env("PGPASSWORD", p);
    }
    let name = prog.display().to_string();
    let out = cmd.output().await.map_err(|e| BackupError::Tool {
        program: name.clone(),
        message: if e.kind() == std::io::ErrorKind::NotFound {
            format!(
                "not found: install the PostgreSQL client programs of the server's major version \
                 (e.g. Debian package postgresql-client-15) or set {var} to the program's path"
            )
        } else {
            format!("could not be started: {e}")
        },
    })?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(BackupError::Tool {
            program: name,
            message: format!("failed ({}): {}", out.status, stderr.trim()),
        });
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// What a snapshot holds
// ---------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Material {
    case_no: String,
    key: String,
    digest: String,
    size: i64,
}

#[derive(Debug, Clone)]
struct Snapshot {
    migration_version: i64,
    migrations: Vec<i64>,
    tables: BTreeMap<String, i64>,
    audit_head: AuditHead,
    materials: Vec<Material>,
}

async fn table_names(c: &mut AnyConnection, backend: Backend) -> Result<Vec<String>> {
    let sql = match backend {
        Backend::Sqlite => {
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
        }
        Backend::Postgres => {
            "SELECT table_name::TEXT FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name"
        }
    };
    let rows: Vec<(String,)> = sqlx::query_as(sql).fetch_all(&mut *c).await?;
    Ok(rows.into_iter().map(|(n,)| n).collect())
}

async fn snapshot(c: &mut AnyConnection, backend: Backend) -> Result<Snapshot> {
    let names = table_names(c, backend).await?;
    for needed in ["_sqlx_migrations", "audit_head", "cases", "case_materials"] {
        if !names.iter().any(|n| n == needed) {
            return Err(BackupError::Config(format!(
                "the database has no table {needed}: it is not a migrated Zhengtong database \
                 (run `zhengtong db migrate` first)"
            )));
        }
    }
    let mut tables = BTreeMap::new();
    for n in names {
        let sql = format!("SELECT COUNT(*) FROM \"{}\"", n.replace('"', "\"\""));
        let (count,): (i64,) = sqlx::query_as(&sql).fetch_one(&mut *c).await?;
        tables.insert(n, count);
    }
    let migrations: Vec<(i64,)> = sqlx::query_as(
        "SELECT version FROM _sqlx_migrations WHERE success = TRUE ORDER BY version",
    )
    .fetch_all(&mut *c)
    .await?;
    let migrations: Vec<i64> = migrations.into_iter().map(|(v,)| v).collect();
    let (last_id, last_hash) = zt_store::audit::head(c).await?;
    // Materials, then the sealed licences: every file the database names.
    let materials: Vec<(String, String, String, i64)> = sqlx::query_as(
        "SELECT case_no, storage_key, digest, size_bytes FROM ( \
           SELECT 0 AS k, m.id AS id, c.case_no, m.storage_key, m.digest, m.size_bytes FROM case_materials m \
           JOIN cases c ON c.id = m.case_id \
           UNION ALL \
           SELECT 1 AS k, l.id AS id, l.case_no, l.file_key, l.document_sm3, l.document_bytes FROM licences l \
           WHERE l.file_key IS NOT NULL) f ORDER BY k, id",
    )
    .fetch_all(&mut *c)
    .await?;
    Ok(Snapshot {
        migration_version: migrations.last().copied().unwrap_or(0),
        migrations,
        tables,
        audit_head: AuditHead { last_id, last_hash },
        materials: materials
            .into_iter()
            .map(|(case_no, key, digest, size)| Material {
                case_no,
                key,
                digest,
                size,
            })
            .collect(),
    })
}

fn file_store_label(cfg: &Config) -> String {
    if cfg.file_store.is_empty() || cfg.file_store == "local" {
        format!("local:{}", cfg.data_dir.join("files").display())
    } else {
        cfg.file_store.clone()
    }
}

fn open_files(cfg: &Config) -> Result<FileStore> {
    FileStore::open(&cfg.file_store, &cfg.data_dir.join("files")).map_err(BackupError::Db)
}

// ---------------------------------------------------------------------------
// Backup
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Default)]
pub struct BackupOptions {
    /// The pg_dump program; `None`: `ZT_PG_DUMP`, else `pg_dump` on PATH.
    pub pg_dump: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct BackupOutcome {
    /// The finished backup directory.
    pub dir: PathBuf,
    pub manifest: Manifest,
    /// SM3 of `manifest.json` (record it apart from the backup to detect a
    /// manifest rewritten together with the files).
    pub manifest_sm3: String,
}

/// Writes a new backup directory under `out` (created when missing) while the
/// server may be running. On any error nothing is left behind.
pub async fn backup(
    cfg: &Config,
    out: &Path,
    clock: &dyn Clock,
    opts: &BackupOptions,
) -> Result<BackupOutcome> {
    let backend = backend_of(cfg)?;
    let now = clock.now();
    let name = format!("zt-backup-{}", now.format("%Y%m%dT%H%M%SZ"));
    std::fs::create_dir_all(out).map_err(io(out))?;
    let dir = out.join(&name);
    if dir.exists() {
        return Err(BackupError::Config(format!(
            "{} already exists (one backup per second)",
            dir.display()
        )));
    }
    let work = out.join(format!("{name}{PARTIAL}"));
    // create_dir (not _all): a second backup started in the same second fails here.
    std::fs::create_dir(&work).map_err(io(&work))?;
    let result = async {
        // Personal data and identity documents: for the owner only.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&work, std::fs::Permissions::from_mode(0o700))
                .map_err(io(&work))?;
        }
        let manifest = write_backup(cfg, backend, &work, zt_store::time::ts(now), opts).await?;
        let manifest_sm3 = hash_file(&work.join(MANIFEST))?.1;
        std::fs::rename(&work, &dir).map_err(io(&dir))?;
        sync_dir(out);
        Ok(BackupOutcome {
            dir: dir.clone(),
            manifest,
            manifest_sm3,
        })
    }
    .await;
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&work);
    }
    result
}

async fn write_backup(
    cfg: &Config,
    backend: Backend,
    work: &Path,
    created_at: String,
    opts: &BackupOptions,
) -> Result<Manifest> {
    let mut files = Vec::new();
    // 1. The anchor file, before the snapshot (see the module comment).
    let anchor_src = cfg.audit_anchor_path();
    if anchor_src.is_file() {
        // Only whole lines: the server may be appending one right now.
        let mut text = std::fs::read(&anchor_src).map_err(io(&anchor_src))?;
        text.truncate(text.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1));
        write_synced(&work.join(ANCHOR_FILE), &text)?;
        files.push(FileEntry {
            path: ANCHOR_FILE.into(),
            kind: FileKind::Anchors,
            size: text.len() as u64,
            sm3: zt_store::files::sm3_hex(&text),
            key: None,
            case_no: None,
        });
    }

    // 2. The database and, from the same snapshot, what it holds.
    let (db_file, database_format, snap) = match backend {
        Backend::Sqlite => {
            let src = sqlite_path(&cfg.database_url)?;
            if !src.is_file() {
                return Err(BackupError::Config(format!(
                    "there is no SQLite database at {}",
                    src.display()
                )));
            }
            let dst = work.join(SQLITE_FILE);
            let mut c = open_sqlite(&src).await?;
            sqlx::query("VACUUM INTO $1")
                .bind(dst.display().to_string())
                .execute(&mut c)
                .await?;
            c.close().await?;
            // The copy: a self-contained file (no -wal) that is checked
            // before it is described.
            let mut c = open_sqlite(&dst).await?;
            c.execute("PRAGMA journal_mode = DELETE").await?;
            let (check,): (String,) = sqlx::query_as("PRAGMA quick_check")
                .fetch_one(&mut c)
                .await?;
            if check != "ok" {
                return Err(BackupError::Db(zt_store::StoreError::Corrupt(format!(
                    "the copy of the database fails SQLite's quick_check: {check}"
                ))));
            }
            let snap = snapshot(&mut c, backend).await?;
            c.close().await?;
            (SQLITE_FILE, "sqlite VACUUM INTO".to_string(), snap)
        }
        Backend::Postgres => {
            let prog = program(opts.pg_dump.as_deref(), "ZT_PG_DUMP", "pg_dump");
            let mut c = open_pg(&cfg.database_url).await?;
            c.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                .await?;
            let (snapshot_id, server): (String, String) =
                sqlx::query_as("SELECT pg_export_snapshot(), current_setting('server_version')")
                    .fetch_one(&mut c)
                    .await?;
            let snap = snapshot(&mut c, backend).await?;
            let dump = work.join(PG_FILE);
            let args = vec![
                "--format=custom".to_string(),
                format!("--snapshot={snapshot_id}"),
                "--no-password".to_string(),
                "--lock-wait-timeout=120s".to_string(),
                format!("--file={}", dump.display()),
            ];
            // The exporting transaction stays open until pg_dump is done.
            let dumped = run_tool(&prog, "ZT_PG_DUMP", &cfg.database_url, &args).await;
            let _ = c.execute("COMMIT").await;
            let _ = c.close().await;
            dumped?;
            if !dump.is_file() {
                return Err(BackupError::Tool {
                    program: prog.display().to_string(),
                    message: "exited successfully but wrote no dump file".into(),
                });
            }
            (
                PG_FILE,
                format!("pg_dump --format=custom (server {server})"),
                snap,
            )
        }
    };
    let db_path = work.join(db_file);
    let (size, sm3) = blocking(move || hash_file(&db_path)).await?;
    files.insert(
        0,
        FileEntry {
            path: db_file.into(),
            kind: FileKind::Database,
            size,
            sm3,
            key: None,
            case_no: None,
        },
    );

    // 3. Every material the snapshot names, checked against its digest.
    let store = open_files(cfg)?;
    let mut problems = Vec::new();
    let mut seen: HashMap<String, String> = HashMap::new();
    for m in &snap.materials {
        let rel = format!("{FILES_DIR}/{}", m.key);
        let Some(dst) = inside(work, &rel) else {
            problems.push(format!(
                "case {}: storage key {:?} is not one the platform generates",
                m.case_no, m.key
            ));
            continue;
        };
        if let Some(d) = seen.get(&m.key) {
            if *d != m.digest {
                problems.push(format!(
                    "case {}: storage key {} is recorded twice with different digests",
                    m.case_no, m.key
                ));
            }
            continue;
        }
        match store.get_verified(&m.key, &m.digest).await {
            Ok(data) if data.len() as i64 == m.size => {
                write_synced(&dst, &data)?;
                seen.insert(m.key.clone(), m.digest.clone());
                files.push(FileEntry {
                    path: rel,
                    kind: FileKind::Material,
                    size: data.len() as u64,
                    sm3: m.digest.clone(),
                    key: Some(m.key.clone()),
                    case_no: Some(m.case_no.clone()),
                });
            }
            Ok(data) => problems.push(format!(
                "case {}: material {} has {} bytes, the database records {}",
                m.case_no,
                m.key,
                data.len(),
                m.size
            )),
            Err(zt_store::StoreError::Corrupt(_)) => problems.push(format!(
                "case {}: material {} does not match its SM3 digest {} (damaged or altered)",
                m.case_no, m.key, m.digest
            )),
            Err(e) => problems.push(format!(
                "case {}: material {} cannot be read: {e}",
                m.case_no, m.key
            )),
        }
    }
    if !problems.is_empty() {
        return Err(BackupError::Materials(problems));
    }

    // 4. The manifest, last and atomically.
    let manifest = Manifest {
        format: FORMAT.into(),
        format_version: FORMAT_VERSION,
        created_at,
        zhengtong_version: env!("CARGO_PKG_VERSION").into(),
        backend: backend.as_str().into(),
        database_format,
        migration_version: snap.migration_version,
        migrations: snap.migrations,
        tables: snap.tables,
        audit_head: snap.audit_head,
        file_store: file_store_label(cfg),
        files,
    };
    let text = serde_json::to_vec_pretty(&manifest)
        .map_err(|e| BackupError::App(format!("manifest: {e}")))?;
    let tmp = work.join(format!("{MANIFEST}.tmp"));
    write_synced(&tmp, &text)?;
    let path = work.join(MANIFEST);
    std::fs::rename(&tmp, &path).map_err(io(&path))?;
    sync_dir(work);
    Ok(manifest)
}

// ---------------------------------------------------------------------------
// Checking a backup
// ---------------------------------------------------------------------------

/// Reads a backup's manifest and checks every file it lists (presence, size,
/// SM3). Touches nothing. Returns the manifest and the SM3 of manifest.json.
pub fn check(dir: &Path) -> Result<(Manifest, String)> {
    let path = dir.join(MANIFEST);
    if !dir.is_dir() {
        return Err(BackupError::Incomplete(format!(
            "{} is not a directory",
            dir.display()
        )));
    }
    if !path.is_file() {
        let mut why = format!(
            "{} has no {MANIFEST}: the backup did not finish (the manifest is written last)",
            dir.display()
        );
        let inner: Vec<String> = std::fs::read_dir(dir)
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.starts_with("zt-backup-") && !n.ends_with(PARTIAL))
                    .collect()
            })
            .unwrap_or_default();
        if let Some(last) = inner.iter().max() {
            why.push_str(&format!(
                "; it contains backups: did you mean --from {}?",
                dir.join(last).display()
            ));
        }
        return Err(BackupError::Incomplete(why));
    }
    let bad = |message: String| BackupError::Manifest {
        path: path.clone(),
        message,
    };
    let text = std::fs::read(&path).map_err(io(&path))?;
    let manifest_sm3 = zt_store::files::sm3_hex(&text);
    let m: Manifest = serde_json::from_slice(&text).map_err(|e| bad(format!("unreadable: {e}")))?;
    if m.format != FORMAT {
        return Err(bad(format!(
            "not a Zhengtong backup (format {:?})",
            m.format
        )));
    }
    if m.format_version > FORMAT_VERSION {
        return Err(bad(format!(
            "format version {} was written by a newer Zhengtong; this binary reads up to {FORMAT_VERSION}",
            m.format_version
        )));
    }
    if m.files
        .iter()
        .filter(|f| f.kind == FileKind::Database)
        .count()
        != 1
    {
        return Err(bad("it must list exactly one database file".into()));
    }
    let mut problems = Vec::new();
    let mut keys = std::collections::HashSet::new();
    for f in &m.files {
        let Some(p) = inside(dir, &f.path) else {
            problems.push(format!("{:?}: not a path inside the backup", f.path));
            continue;
        };
        if f.kind == FileKind::Material {
            match &f.key {
                Some(k) if f.path == format!("{FILES_DIR}/{k}") => {
                    if !keys.insert(k.clone()) {
                        problems.push(format!("{}: listed twice", f.path));
                    }
                }
                _ => problems.push(format!(
                    "{}: the storage key does not match the path",
                    f.path
                )),
            }
        }
        match hash_file(&p) {
            Err(BackupError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                problems.push(format!("{}: missing", f.path));
            }
            Err(e) => problems.push(format!("{}: {e}", f.path)),
            Ok((size, sm3)) if sm3 != f.sm3 || size != f.size => problems.push(format!(
                "{}: SM3 {sm3} ({size} bytes), the manifest records {} ({} bytes): the file was altered or damaged",
                f.path, f.sm3, f.size
            )),
            Ok(_) => {}
        }
    }
    if problems.is_empty() {
        Ok((m, manifest_sm3))
    } else {
        Err(BackupError::Integrity(problems))
    }
}

// ---------------------------------------------------------------------------
// Restore
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Default)]
pub struct RestoreOptions {
    /// Replace a target database / file store that is not empty.
    pub force: bool,
    /// The pg_restore program; `None`: `ZT_PG_RESTORE`, else `pg_restore` on PATH.
    pub pg_restore: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct RestoreReport {
    pub manifest: Manifest,
    pub manifest_sm3: String,
    /// What was restored and verified, one line each (for the operator).
    pub lines: Vec<String>,
}

/// What the target holds before a restore.
struct Target {
    tables: Vec<String>,
    /// Files in the local store (`None` for S3, which is not listed).
    local_files: Option<usize>,
}

fn count_files(dir: &Path) -> usize {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    rd.filter_map(|e| e.ok())
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => count_files(&e.path()),
            Ok(_) => 1,
            Err(_) => 0,
        })
        .sum()
}

async fn inspect_target(cfg: &Config, backend: Backend) -> Result<Target> {
    let tables = match backend {
        Backend::Sqlite => {
            let path = sqlite_path(&cfg.database_url)?;
            if path.is_file() {
                let mut c = open_sqlite(&path).await?;
                let t = table_names(&mut c, backend).await?;
                c.close().await?;
                t
            } else {
                Vec::new()
            }
        }
        Backend::Postgres => {
            let mut c = open_pg(&cfg.database_url).await.map_err(|e| {
                BackupError::Config(format!(
                    "{e}; create the (empty) target database first, e.g. `createdb -U postgres zt`"
                ))
            })?;
            let rows: Vec<(String,)> = sqlx::query_as(
                "SELECT table_schema::TEXT || '.' || table_name::TEXT FROM information_schema.tables \
                 WHERE table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1",
            )
            .fetch_all(&mut c)
            .await?;
            let _ = c.close().await;
            rows.into_iter().map(|(n,)| n).collect()
        }
    };
    let local_files = (cfg.file_store.is_empty() || cfg.file_store == "local")
        .then(|| count_files(&cfg.data_dir.join("files")));
    Ok(Target {
        tables,
        local_files,
    })
}

/// Restores a backup into the configured database and file store, then
/// verifies the result. The server must be stopped.
pub async fn restore(
    cfg: &Config,
    from: &Path,
    clock: Arc<dyn Clock>,
    opts: &RestoreOptions,
) -> Result<RestoreReport> {
    let backend = backend_of(cfg)?;
    // 1. The backup, entirely, before anything is touched.
    let (manifest, manifest_sm3) = check(from)?;
    if manifest.backend != backend.as_str() {
        return Err(BackupError::Config(format!(
            "this is a {} backup and the configured database is {}: restore into the same kind of database \
             (to move between them, restore into a {0} database and migrate the data with your own tools)",
            manifest.backend,
            backend.as_str()
        )));
    }
    // 2. The target.
    let target = inspect_target(cfg, backend).await?;
    let db_label = zt_store::db::redact(&cfg.database_url);
    if !opts.force {
        let mut why = Vec::new();
        if !target.tables.is_empty() {
            let some: Vec<&str> = target.tables.iter().take(5).map(String::as_str).collect();
            why.push(format!(
                "the target database {db_label} is not empty ({} tables, e.g. {})",
                target.tables.len(),
                some.join(", ")
            ));
        }
        if let Some(n) = target.local_files.filter(|n| *n > 0) {
            why.push(format!(
                "the file store {} already holds {n} files",
                cfg.data_dir.join("files").display()
            ));
        }
        if !why.is_empty() {
            return Err(BackupError::NotEmpty(format!(
                "{}. Restore only into an empty database and data directory, or pass --force to replace \
                 the database's contents with the backup's (SQLite: the database file is replaced; \
                 PostgreSQL: the backup's objects are dropped and recreated in one transaction) and to add \
                 the backup's materials to the existing files. Stop the server first.",
                why.join("; ")
            )));
        }
    }
    // The anchor file is evidence kept outside the database: a restore that
    // would contradict it is refused, forced or not.
    let anchor_dst = cfg.audit_anchor_path();
    let existing_anchors = zt_app::audit_trail::read_anchor_file(&anchor_dst)?;
    if let Some(a) = existing_anchors
        .iter()
        .filter(|a| a.record_id > manifest.audit_head.last_id)
        .max_by_key(|a| a.record_id)
    {
        return Err(BackupError::NotEmpty(format!(
            "the audit anchor file {} records audit record {} ({}), but this backup's chain ends at record {}: \
             restoring it would lose records {}..{}. If that loss is accepted, move the anchor file aside \
             (keep it: it is the evidence that those records existed) and run the restore again",
            anchor_dst.display(),
            a.record_id,
            a.at,
            manifest.audit_head.last_id,
            manifest.audit_head.last_id + 1,
            a.record_id
        )));
    }
    // The personal-information key is not in a backup; without it the
    // restored data cannot be read (and starting the platform would create
    // a new, wrong key).
    let pii_key = cfg.pii_key_path();
    if cfg.pii_keys.0.trim().is_empty() && !pii_key.is_file() {
        return Err(BackupError::Config(format!(
            "the personal-information key file {} is not in place (nor ZT_PII_KEYS set): it is not part of \
             a backup; restore it from where it is kept apart from the database first",
            pii_key.display()
        )));
    }

    // 3. Materials, then the anchor file, then the database; undone on failure.
    let store = open_files(cfg)?;
    let mut written: Vec<String> = Vec::new();
    let mut anchor_written = false;
    let result: Result<()> = async {
        for f in manifest.materials() {
            let (Some(key), Some(src)) = (f.key.as_deref(), inside(from, &f.path)) else {
                continue; // check() refused these already
            };
            let data = std::fs::read(&src).map_err(io(&src))?;
            if zt_store::files::sm3_hex(&data) != f.sm3 {
                return Err(BackupError::Integrity(vec![format!(
                    "{}: changed while the restore was running",
                    f.path
                )]));
            }
            if store.get_verified(key, &f.sm3).await.is_ok() {
                continue; // already there, identical (a forced restore)
            }
            store
                .put(key, bytes::Bytes::from(data))
                .await
                .map_err(BackupError::Db)?;
            written.push(key.to_string());
        }
        if let (Some(f), false) = (manifest.anchors(), anchor_dst.exists()) {
            if let Some(src) = inside(from, &f.path) {
                let tmp = anchor_dst.with_extension("jsonl.restore-tmp");
                let _ = std::fs::remove_file(&tmp);
                let (_, sm3) = copy_hashed(&src, &tmp)?;
                if sm3 != f.sm3 {
                    let _ = std::fs::remove_file(&tmp);
                    return Err(BackupError::Integrity(vec![format!(
                        "{}: changed while the restore was running",
                        f.path
                    )]));
                }
                std::fs::rename(&tmp, &anchor_dst).map_err(io(&anchor_dst))?;
                anchor_written = true;
            }
        }
        restore_database(
            cfg,
            backend,
            from,
            &manifest,
            !target.tables.is_empty(),
            opts,
        )
        .await
    }
    .await;
    if let Err(e) = result {
        for key in &written {
            if let Err(d) = store.delete(key).await {
                tracing::warn!(key, error = %d, "could not remove a restored material");
            }
        }
        if anchor_written {
            let _ = std::fs::remove_file(&anchor_dst);
        }
        return Err(match e {
            e @ (BackupError::Integrity(_) | BackupError::Restore(_)) => e,
            other => BackupError::Restore(other.to_string()),
        });
    }

    // 4. Verification of what is now in place.
    let mut lines = vec![format!(
        "restored {} ({} backup of {}, manifest SM3 {manifest_sm3})",
        from.display(),
        manifest.backend,
        manifest.created_at
    )];
    lines.push(format!(
        "materials: {} written, {} already present",
        written.len(),
        manifest.materials().count() - written.len()
    ));
    lines.extend(verify_restored(cfg, &manifest, clock).await?);
    Ok(RestoreReport {
        manifest,
        manifest_sm3,
        lines,
    })
}

async fn restore_database(
    cfg: &Config,
    backend: Backend,
    from: &Path,
    manifest: &Manifest,
    replace: bool,
    opts: &RestoreOptions,
) -> Result<()> {
    let entry = manifest
        .database()
        .ok_or_else(|| BackupError::Integrity(vec!["no database file listed".into()]))?;
    let src = inside(from, &entry.path)
        .ok_or_else(|| BackupError::Integrity(vec![format!("{:?}: bad path", entry.path)]))?;
    match backend {
        Backend::Sqlite => {
            let dst = sqlite_path(&cfg.database_url)?;
            let parent = dst
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from("."));
            std::fs::create_dir_all(&parent).map_err(io(&parent))?;
            let file_name = dst
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let tmp = parent.join(format!(".{file_name}.restore-{}", std::process::id()));
            let _ = std::fs::remove_file(&tmp);
            let (src2, tmp2) = (src.clone(), tmp.clone());
            let copied = blocking(move || copy_hashed(&src2, &tmp2)).await;
            let sm3 = match copied {
                Ok((_, sm3)) => sm3,
                Err(e) => {
                    let _ = std::fs::remove_file(&tmp);
                    return Err(e);
                }
            };
            if sm3 != entry.sm3 {
                let _ = std::fs::remove_file(&tmp);
                return Err(BackupError::Integrity(vec![format!(
                    "{}: changed while the restore was running",
                    entry.path
                )]));
            }
            // A WAL left beside the old file must never be applied to the
            // new one: remove it before the new file takes the name.
            for suffix in ["-wal", "-shm", "-journal"] {
                let side = PathBuf::from(format!("{}{suffix}", dst.display()));
                if side.exists() {
                    if let Err(e) = std::fs::remove_file(&side) {
                        let _ = std::fs::remove_file(&tmp);
                        return Err(io(&side)(e));
                    }
                }
            }
            if let Err(e) = std::fs::rename(&tmp, &dst) {
                let _ = std::fs::remove_file(&tmp);
                return Err(io(&dst)(e));
            }
            sync_dir(&parent);
            Ok(())
        }
        Backend::Postgres => {
            let prog = program(opts.pg_restore.as_deref(), "ZT_PG_RESTORE", "pg_restore");
            let mut args = vec![
                "--no-owner".to_string(),
                "--no-acl".to_string(),
                "--single-transaction".to_string(),
                "--exit-on-error".to_string(),
                "--no-password".to_string(),
            ];
            if replace {
                args.push("--clean".into());
                args.push("--if-exists".into());
            }
            args.push(src.display().to_string());
            run_tool(&prog, "ZT_PG_RESTORE", &cfg.database_url, &args).await
        }
    }
}

/// Compares the configured (restored) database and file store with a
/// manifest: migration version, rows per table, the audit chain (verified,
/// and its head), every material's digest. Returns the report lines, or every
/// difference found.
pub async fn verify_restored(
    cfg: &Config,
    manifest: &Manifest,
    clock: Arc<dyn Clock>,
) -> Result<Vec<String>> {
    let backend = backend_of(cfg)?;
    let db = crate::bootstrap::connect(cfg)
        .await
        .map_err(|e| BackupError::App(format!("{e:#}")))?;
    let result = verify_db(cfg, backend, &db, manifest, clock).await;
    db.close().await;
    result
}

async fn verify_db(
    cfg: &Config,
    backend: Backend,
    db: &zt_store::Db,
    manifest: &Manifest,
    clock: Arc<dyn Clock>,
) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    let mut lines = Vec::new();
    let snap = {
        let mut c = db.reader().acquire().await?;
        snapshot(&mut c, backend).await?
    };
    if snap.migration_version == manifest.migration_version
        && snap.migrations == manifest.migrations
    {
        lines.push(format!(
            "migration version: {} (as in the manifest)",
            snap.migration_version
        ));
    } else {
        problems.push(format!(
            "migrations {:?} (version {}), the manifest records {:?} (version {})",
            snap.migrations,
            snap.migration_version,
            manifest.migrations,
            manifest.migration_version
        ));
    }
    let mut names: Vec<&String> = snap.tables.keys().chain(manifest.tables.keys()).collect();
    names.sort();
    names.dedup();
    let mut table_problems = 0;
    for n in names {
        match (snap.tables.get(n), manifest.tables.get(n)) {
            (Some(a), Some(b)) if a == b => {}
            (a, b) => {
                table_problems += 1;
                let show =
                    |v: Option<&i64>| v.map_or("no table".to_string(), |n| format!("{n} rows"));
                problems.push(format!(
                    "table {n}: {}, the manifest records {}",
                    show(a),
                    show(b)
                ));
            }
        }
    }
    if table_problems == 0 {
        let key: Vec<String> = [
            "cases",
            "case_materials",
            "case_events",
            "audit_records",
            "users",
        ]
        .iter()
        .filter_map(|t| snap.tables.get(*t).map(|n| format!("{t} {n}")))
        .collect();
        lines.push(format!(
            "tables: {} tables, row counts as in the manifest ({})",
            snap.tables.len(),
            key.join(", ")
        ));
    }

    let app = crate::bootstrap::build_app(cfg, db.clone(), clock, false)
        .await
        .map_err(|e| BackupError::App(format!("{e:#}")))?;
    let v = zt_app::audit_trail::verify(&app).await?;
    let head = &manifest.audit_head;
    match &v.first_break {
        Some(b) => problems.push(format!(
            "audit chain broken at record {}: {}",
            b.record_id(),
            b.describe()
        )),
        None if snap.audit_head != *head || v.last_id.unwrap_or(snap.audit_head.last_id) != head.last_id => {
            problems.push(format!(
                "audit chain head is record {} ({}), the manifest records {} ({})",
                snap.audit_head.last_id, snap.audit_head.last_hash, head.last_id, head.last_hash
            ))
        }
        None => lines.push(format!(
            "audit chain: intact, {} records ({}..{}), {} anchors checked, head {} {} as in the manifest",
            v.records,
            v.first_id.unwrap_or(0),
            v.last_id.unwrap_or(0),
            v.anchors_checked,
            head.last_id,
            head.last_hash
        )),
    }

    let listed: HashMap<&str, &str> = manifest
        .materials()
        .filter_map(|f| f.key.as_deref().map(|k| (k, f.sm3.as_str())))
        .collect();
    let mut ok = 0usize;
    let mut keys_seen = std::collections::HashSet::new();
    for m in &snap.materials {
        keys_seen.insert(m.key.as_str());
        match listed.get(m.key.as_str()) {
            Some(d) if *d == m.digest => {}
            Some(d) => {
                problems.push(format!(
                    "material {} (case {}): digest {} in the database, {d} in the manifest",
                    m.key, m.case_no, m.digest
                ));
                continue;
            }
            None => {
                problems.push(format!(
                    "material {} (case {}) is not in the manifest",
                    m.key, m.case_no
                ));
                continue;
            }
        }
        match app.files.get_verified(&m.key, &m.digest).await {
            Ok(_) => ok += 1,
            Err(e) => problems.push(format!("material {} (case {}): {e}", m.key, m.case_no)),
        }
    }
    for k in listed.keys() {
        if !keys_seen.contains(k) {
            problems.push(format!(
                "material {k} is in the manifest but not in the restored database"
            ));
        }
    }
    if problems.is_empty() {
        lines.push(format!(
            "materials: {ok} files readable, each matching its SM3 digest"
        ));
        lines.push(if db.migrations_current().await? {
            "schema: current; the platform can be started".to_string()
        } else {
            "schema: migrations pending; run `zhengtong db migrate` before `zhengtong serve`"
                .to_string()
        });
        Ok(lines)
    } else {
        Err(BackupError::Verification(problems))
    }
}

// ---------------------------------------------------------------------------
// The command line
// ---------------------------------------------------------------------------

/// `zhengtong backup --out DIR`.
pub async fn run_backup(cfg: &Config, out: &Path) -> anyhow::Result<()> {
    let o = backup(
        cfg,
        out,
        &zt_app::clock::SystemClock,
        &BackupOptions::default(),
    )
    .await?;
    let m = &o.manifest;
    println!("backup written: {}", o.dir.display());
    println!(
        "  {} database, migration version {}, {} tables ({})",
        m.backend,
        m.migration_version,
        m.tables.len(),
        ["cases", "case_materials", "audit_records"]
            .iter()
            .filter_map(|t| m.tables.get(*t).map(|n| format!("{t} {n}")))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "  {} materials, each verified against its SM3 digest",
        m.materials().count()
    );
    println!(
        "  audit chain head: record {} {}",
        m.audit_head.last_id, m.audit_head.last_hash
    );
    println!("  manifest SM3: {}", o.manifest_sm3);
    Ok(())
}

/// `zhengtong restore --from DIR [--force] [--check]`.
pub async fn run_restore(
    cfg: &Config,
    from: &Path,
    force: bool,
    check_only: bool,
) -> anyhow::Result<()> {
    if check_only {
        let (m, sm3) = check(from)?;
        println!(
            "backup {} is complete: {} files match the manifest (SM3 {sm3}); {} backup of {}, audit head {}",
            from.display(),
            m.files.len(),
            m.backend,
            m.created_at,
            m.audit_head.last_id
        );
        return Ok(());
    }
    let opts = RestoreOptions {
        force,
        ..RestoreOptions::default()
    };
    let report = restore(cfg, from, Arc::new(zt_app::clock::SystemClock), &opts).await?;
    for l in &report.lines {
        println!("{l}");
    }
    println!("restore verified");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_inside() {
        let d = Path::new("/b");
        assert_eq!(
            inside(d, "files/materials/ZT1/ab12"),
            Some(PathBuf::from("/b/files/materials/ZT1/ab12"))
        );
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "files/../../x",
            "a//b",
            "a/./b",
            "a b",
            "a\\b",
        ] {
            assert_eq!(inside(d, bad), None, "{bad}");
        }
    }

    #[test]
    fn passwords_leave_the_url() {
        assert_eq!(
            libpq_target("postgres://zt:p%40ss@db:5432/zt"),
            (
                "postgres://zt@db:5432/zt".to_string(),
                Some("p@ss".to_string())
            )
        );
        assert_eq!(
            libpq_target("postgres://postgres@127.0.0.1/zt"),
            ("postgres://postgres@127.0.0.1/zt".to_string(), None)
        );
        assert_eq!(percent_decode("a%2"), "a%2");
    }

    #[test]
    fn sqlite_paths() {
        assert_eq!(
            sqlite_path("sqlite://var/zt.db?mode=rwc").ok(),
            Some(PathBuf::from("var/zt.db"))
        );
        assert!(sqlite_path("sqlite::memory:").is_err());
    }
}
