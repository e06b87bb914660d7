//! Connection pools and migrations.
//!
//! SQLite allows one writer at a time; letting many pooled connections race
//! for its lock turns load into `SQLITE_BUSY` retries. So on SQLite the store
//! keeps one writer connection (WAL journal) and a separate pool of read-only
//! connections, which WAL lets read while the writer writes. On PostgreSQL
//! both roles share one pool.

use std::time::Duration;

use sqlx::any::{install_default_drivers, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Executor};

use crate::error::{Result, StoreError};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn from_url(url: &str) -> Option<Self> {
        if url.starts_with("sqlite:") {
            Some(Self::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Self::Postgres)
        } else {
            None
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }

    fn migrator(self) -> &'static Migrator {
        match self {
            Self::Sqlite => &SQLITE_MIGRATIONS,
            Self::Postgres => &POSTGRES_MIGRATIONS,
        }
    }
}

#[derive(Debug, Clone)]
pub struct DbOptions {
    pub url: String,
    /// Read connections on SQLite; all connections on PostgreSQL.
    pub max_connections: u32,
    pub acquire_timeout: Duration,
    pub sqlite_layout: SqliteLayout,
}

/// How SQLite connections are arranged. `Split` is what production uses;
/// `Shared` (one pool for reads and writes, rollback journal) is kept only so
/// that the benchmark can measure what the split buys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SqliteLayout {
    #[default]
    Split,
    Shared,
}

impl DbOptions {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            max_connections: 16,
            acquire_timeout: Duration::from_secs(10),
            sqlite_layout: SqliteLayout::Split,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Db {
    backend: Backend,
    writer: AnyPool,
    reader: AnyPool,
}

impl Db {
    pub async fn connect(opts: &DbOptions) -> Result<Self> {
        install_default_drivers();
        let backend = Backend::from_url(&opts.url).ok_or_else(|| {
            StoreError::Corrupt(format!(
                "unsupported database URL scheme: {}",
                redact(&opts.url)
            ))
        })?;
        match backend {
            Backend::Sqlite if opts.sqlite_layout == SqliteLayout::Shared => {
                let pool = AnyPoolOptions::new()
                    .max_connections(opts.max_connections.max(1))
                    .acquire_timeout(opts.acquire_timeout)
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            conn.execute("PRAGMA journal_mode = DELETE; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;")
                                .await?;
                            Ok(())
                        })
                    })
                    .connect(&sqlite_url(&opts.url))
                    .await?;
                Ok(Self {
                    backend,
                    writer: pool.clone(),
                    reader: pool,
                })
            }
            Backend::Sqlite => {
                let url = sqlite_url(&opts.url);
                let writer = AnyPoolOptions::new()
                    .max_connections(1)
                    .min_connections(1)
                    .acquire_timeout(opts.acquire_timeout)
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            conn.execute(
                                "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                                 PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;",
                            )
                            .await?;
                            Ok(())
                        })
                    })
                    .connect(&url)
                    .await?;
                let reader = AnyPoolOptions::new()
                    .max_connections(opts.max_connections.max(1))
                    .acquire_timeout(opts.acquire_timeout)
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            conn.execute("PRAGMA busy_timeout = 5000; PRAGMA query_only = ON;")
                                .await?;
                            Ok(())
                        })
                    })
                    .connect(&url)
                    .await?;
                Ok(Self {
                    backend,
                    writer,
                    reader,
                })
            }
            Backend::Postgres => {
                let pool = AnyPoolOptions::new()
                    .max_connections(opts.max_connections.max(2))
                    .acquire_timeout(opts.acquire_timeout)
                    .connect(&opts.url)
                    .await?;
                Ok(Self {
                    backend,
                    writer: pool.clone(),
                    reader: pool,
                })
            }
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The pool for transactions that write.
    pub fn writer(&self) -> &AnyPool {
        &self.writer
    }

    /// The pool for reads (read-only connections on SQLite).
    pub fn reader(&self) -> &AnyPool {
        &self.reader
    }

    pub async fn migrate(&self) -> Result<()> {
        self.backend.migrator().run(&self.writer).await?;
        // Records written before the audit chain existed join it now.
        let mut tx = self.writer.begin().await?;
        crate::audit::seal_unsealed(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Whether every migration shipped with this binary has been applied.
    pub async fn migrations_current(&self) -> Result<bool> {
        let mut conn = self.reader.acquire().await?;
        let applied: Vec<(i64,)> =
            match sqlx::query_as("SELECT version FROM _sqlx_migrations WHERE success = TRUE")
                .fetch_all(&mut *conn)
                .await
            {
                Ok(v) => v,
                Err(sqlx::Error::Database(_)) => return Ok(false),
                Err(e) => return Err(e.into()),
            };
        Ok(self
            .backend
            .migrator()
            .iter()
            .all(|m| applied.iter().any(|(v,)| *v == m.version)))
    }

    pub async fn ping(&self) -> Result<()> {
        let mut conn = self.reader.acquire().await?;
        conn.execute("SELECT 1").await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }
}

/// `sqlite://path` must create the file when missing.
fn sqlite_url(url: &str) -> String {
    if url.contains("mode=") || url.contains(":memory:") {
        url.to_string()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    }
}

/// A URL with its password removed, for messages and logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &creds[..c], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backends_and_redaction() {
        assert_eq!(
            Backend::from_url("sqlite://var/zt.db"),
            Some(Backend::Sqlite)
        );
        assert_eq!(
            Backend::from_url("postgres://u:p@h/db"),
            Some(Backend::Postgres)
        );
        assert_eq!(Backend::from_url("mysql://h/db"), None);
        assert_eq!(
            redact("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(sqlite_url("sqlite://a.db"), "sqlite://a.db?mode=rwc");
    }

    /// The two migration folders must describe the same schema: they may differ
    /// only in how identity columns are declared.
    #[test]
    fn migrations_agree_between_backends() {
        // Triggers and functions cannot share a syntax; a migration marks where
        // its backend-specific part begins.
        let norm = |s: &str| {
            let s = s.split("-- backend-specific below").next().unwrap_or(s);
            s.replace("INTEGER PRIMARY KEY AUTOINCREMENT", "@ID@")
                .replace(
                    "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
                    "@ID@",
                )
        };
        let a: Vec<_> = SQLITE_MIGRATIONS
            .iter()
            .map(|m| (m.version, norm(&m.sql)))
            .collect();
        let b: Vec<_> = POSTGRES_MIGRATIONS
            .iter()
            .map(|m| (m.version, norm(&m.sql)))
            .collect();
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(
                x, y,
                "migration {} differs between sqlite and postgres",
                x.0
            );
        }
    }
}
