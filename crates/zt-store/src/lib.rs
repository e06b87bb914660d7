//! Storage for Zhengtong. One code path serves SQLite (the embedded default)
//! and PostgreSQL (production, and the protocol of KingbaseES, openGauss,
//! HighGo and PolarDB): queries go through sqlx's `Any` driver with portable
//! SQL and portable column types (BIGINT, TEXT), and the two migration folders
//! differ only where DDL must.

pub mod audit;
pub mod calendar;
pub mod cases;
pub mod db;
pub mod departments;
pub mod error;
pub mod files;
pub mod identity;
pub mod items;
pub mod licences;
pub mod notifications;
pub mod outbox;
pub mod privacy;
pub mod ratings;
pub mod reconciliations;
pub mod second_factor;
pub mod sessions;
pub mod signatures;
pub mod time;
pub mod users;
pub mod v1;

pub use db::{Backend, Db, DbOptions};
pub use error::StoreError;
pub use sqlx::AnyConnection as Conn;
