//! One error type for the migration, with the exit code each kind gives the
//! command (design §1.8).

use thiserror::Error;

#[derive(Debug, Error)]
pub enum MigrateError {
    /// V1 could not be read.
    #[error("V1 source: {0}")]
    Source(String),
    /// The V2 database or file store refused a write or a read.
    #[error("V2 target: {0}")]
    Target(String),
    /// Pre-flight found data without a documented rule: nothing was written.
    #[error("pre-flight refused the source:\n  {}", .0.join("\n  "))]
    Preflight(Vec<String>),
    /// An earlier run did not finish, or a resume would mix other inputs.
    #[error("{0}")]
    Interrupted(String),
    /// A wrong option or argument.
    #[error("{0}")]
    Usage(String),
    /// A listing or count differs from the manifest.
    #[error("self-check failed: {0}")]
    SelfCheck(String),
    /// A release whose corrected row still fails its rule: nothing changed.
    #[error("放行未执行 / release refused: {0}")]
    Refused(String),
    #[error("{0}")]
    Io(String),
}

impl MigrateError {
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::SelfCheck(_) | Self::Refused(_) => 1,
            Self::Preflight(_) | Self::Usage(_) => 2,
            Self::Interrupted(_) => 3,
            Self::Source(_) | Self::Target(_) | Self::Io(_) => 4,
        }
    }
}

impl From<sqlx::Error> for MigrateError {
    fn from(e: sqlx::Error) -> Self {
        Self::Target(e.to_string())
    }
}

impl From<zt_store::StoreError> for MigrateError {
    fn from(e: zt_store::StoreError) -> Self {
        Self::Target(e.to_string())
    }
}

impl From<zt_app::AppError> for MigrateError {
    fn from(e: zt_app::AppError) -> Self {
        Self::Target(e.to_string())
    }
}

impl From<std::io::Error> for MigrateError {
    fn from(e: std::io::Error) -> Self {
        Self::Io(e.to_string())
    }
}

pub type Result<T> = std::result::Result<T, MigrateError>;
