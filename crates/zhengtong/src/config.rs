//! Configuration: built-in defaults, then an optional TOML file (`--config` or
//! `ZT_CONFIG`), then `ZT_*` environment variables. Unknown keys are errors so
//! that a typo in production is not silently ignored.

use std::path::PathBuf;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `sqlite://<path>` or `postgres://user@host:port/db`.
    pub database_url: String,
    /// host:port to listen on.
    pub listen: String,
    /// Stored files (materials) and the demo database.
    pub data_dir: PathBuf,
    /// Where materials are stored: empty for `<data_dir>/files`, or an
    /// S3-compatible bucket `s3://bucket/prefix` (credentials and endpoint
    /// from the standard `AWS_*` variables).
    pub file_store: String,
    /// Read connections (SQLite) or all connections (PostgreSQL).
    pub db_max_connections: u32,
    /// tracing filter, e.g. `info` or `zt_web=debug,info`.
    pub log: String,
    /// `text` or `json`.
    pub log_format: String,
    /// Working days left at which a case turns yellow.
    pub yellow_within_days: u32,
    pub session_idle_minutes: i64,
    pub session_absolute_hours: i64,
    pub max_upload_mb: u64,
    /// Mark cookies Secure (set when served over TLS or behind a TLS proxy).
    pub secure_cookies: bool,
    /// `split` (one WAL writer + read pool; the default) or `shared` (one
    /// pool, rollback journal: only for benchmarking what the split buys).
    pub sqlite_layout: String,
    /// Consecutive login failures that lock an account.
    pub lockout_threshold: u32,
    /// Minutes a locked account stays locked.
    pub lockout_minutes: i64,
    /// Login attempts allowed per client address per minute.
    pub login_rate_per_minute: u32,
    /// Anchors of the audit chain are also appended here (empty for
    /// `<data_dir>/audit-anchors.jsonl`). Keep it on storage the database
    /// administrator cannot write, or ship it off the host.
    pub audit_anchor_file: String,
    /// Minutes between anchors written by the server.
    pub audit_anchor_minutes: u64,
    /// Days audit records stay in the database before `audit archive` may
    /// move them out (never below 183: 网络安全法 art. 21).
    pub audit_retention_days: i64,
    /// Days after which staff and administrator passwords must be changed
    /// (0: never).
    pub password_max_age_days: i64,
    /// The personal-information key file (empty: `<data_dir>/pii.keys`,
    /// created on first start; move it off the data disk and back it up
    /// apart from the database).
    pub pii_key_file: String,
    /// The key file's text itself (e.g. from a secrets manager through
    /// `ZT_PII_KEYS`); takes precedence over the file.
    pub pii_keys: Secret,
}

/// A configuration value that never appears in logs or debug output.
#[derive(Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_empty() { "\"\"" } else { "\"***\"" })
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            database_url: "sqlite://var/zhengtong.db".into(),
            listen: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("var"),
            file_store: String::new(),
            db_max_connections: 16,
            log: "info".into(),
            log_format: "text".into(),
            yellow_within_days: 1,
            session_idle_minutes: 30,
            session_absolute_hours: 12,
            max_upload_mb: 10,
            secure_cookies: false,
            sqlite_layout: "split".into(),
            lockout_threshold: 5,
            lockout_minutes: 15,
            login_rate_per_minute: 30,
            audit_anchor_file: String::new(),
            audit_anchor_minutes: 60,
            audit_retention_days: 183,
            password_max_age_days: 90,
            pii_key_file: String::new(),
            pii_keys: Secret::default(),
        }
    }
}

impl Config {
    pub fn load(file: Option<&std::path::Path>) -> Result<Self, Box<figment::Error>> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        let file = file
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("ZT_CONFIG").map(PathBuf::from));
        if let Some(f) = file {
            fig = fig.merge(Toml::file_exact(f));
        }
        // ZT_* variables that are not configuration (the config file's path, a
        // password handed to `admin`, the pg_dump/pg_restore programs of
        // `backup`/`restore`, the test and benchmark scripts' own) are
        // skipped; any other unknown ZT_* name is an error, as in the file.
        let env = Env::prefixed("ZT_").filter(|k| {
            let k = k.as_str().to_ascii_uppercase();
            !(k == "CONFIG"
                || k == "NEW_PASSWORD"
                || k == "PG_DUMP"
                || k == "PG_RESTORE"
                || k.starts_with("TEST_")
                || k.starts_with("BENCH_"))
        });
        fig.merge(env).extract().map_err(Box::new)
    }

    /// Whether `database_url` was given explicitly (file or environment).
    pub fn database_explicit(file: Option<&std::path::Path>) -> bool {
        std::env::var_os("ZT_DATABASE_URL").is_some()
            || file
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("ZT_CONFIG").map(PathBuf::from))
                .and_then(|f| std::fs::read_to_string(f).ok())
                .is_some_and(|t| {
                    t.lines()
                        .any(|l| l.trim_start().starts_with("database_url"))
                })
    }

    pub fn settings(&self, demo: bool) -> zt_app::Settings {
        zt_app::Settings {
            yellow_within_days: self.yellow_within_days,
            session_idle: chrono::Duration::minutes(self.session_idle_minutes.max(1)),
            session_absolute: chrono::Duration::hours(self.session_absolute_hours.max(1)),
            max_upload_bytes: self.max_upload_mb.max(1) * 1024 * 1024,
            demo,
            secure_cookies: self.secure_cookies,
            lockout_threshold: self.lockout_threshold.max(1),
            lockout: chrono::Duration::minutes(self.lockout_minutes.max(1)),
            login_rate_per_minute: self.login_rate_per_minute.max(1),
            audit_anchor_file: Some(self.audit_anchor_path()),
            password_max_age: (self.password_max_age_days > 0)
                .then(|| chrono::Duration::days(self.password_max_age_days)),
        }
    }

    pub fn pii_key_path(&self) -> PathBuf {
        if self.pii_key_file.is_empty() {
            self.data_dir.join("pii.keys")
        } else {
            PathBuf::from(&self.pii_key_file)
        }
    }

    pub fn audit_anchor_path(&self) -> PathBuf {
        if self.audit_anchor_file.is_empty() {
            self.data_dir.join("audit-anchors.jsonl")
        } else {
            PathBuf::from(&self.audit_anchor_file)
        }
    }
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail's closures return figment::Error
mod tests {
    use super::*;

    #[test]
    fn environment_overrides_and_strictness() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("ZT_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/zt");
            jail.set_env("ZT_LISTEN", "0.0.0.0:9000");
            jail.set_env("ZT_NEW_PASSWORD", "not config");
            jail.set_env("ZT_BENCH_RAMP", "60");
            let c = Config::load(None).expect("loads");
            assert_eq!(c.database_url, "postgres://postgres@127.0.0.1:5432/zt");
            assert_eq!(c.listen, "0.0.0.0:9000");
            jail.set_env("ZT_LISTN", "typo");
            assert!(
                Config::load(None).is_err(),
                "a misspelt ZT_ variable is an error"
            );
            Ok(())
        });
    }

    #[test]
    fn file_then_environment() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "zt.toml",
                "listen = \"127.0.0.1:7000\"\nyellow_within_days = 2\n",
            )?;
            jail.set_env("ZT_YELLOW_WITHIN_DAYS", "3");
            let c = Config::load(Some(std::path::Path::new("zt.toml"))).expect("loads");
            assert_eq!(
                (c.listen.as_str(), c.yellow_within_days),
                ("127.0.0.1:7000", 3)
            );
            jail.create_file("bad.toml", "lisen = \"x\"\n")?;
            assert!(Config::load(Some(std::path::Path::new("bad.toml"))).is_err());
            Ok(())
        });
    }
}
