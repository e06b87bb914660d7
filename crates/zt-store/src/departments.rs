//! The department tree, with GB/T 2260 region codes.

use sqlx::AnyConnection;

use crate::error::Result;

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct DeptRow {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub region_code: String,
    pub parent_id: Option<i64>,
}

const COLS: &str = "id, code, name, region_code, parent_id";

pub async fn insert(
    conn: &mut AnyConnection,
    code: &str,
    name: &str,
    region_code: &str,
    parent_id: Option<i64>,
    now: &str,
) -> Result<i64> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO departments (code, name, region_code, parent_id, created_at) VALUES ($1, $2, $3, $4, $5) \
         RETURNING id",
    )
    .bind(code)
    .bind(name)
    .bind(region_code)
    .bind(parent_id)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    Ok(id)
}

pub async fn update(
    conn: &mut AnyConnection,
    id: i64,
    name: &str,
    region_code: &str,
    parent_id: Option<i64>,
) -> Result<()> {
    sqlx::query("UPDATE departments SET name = $1, region_code = $2, parent_id = $3 WHERE id = $4")
        .bind(name)
        .bind(region_code)
        .bind(parent_id)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

pub async fn list(conn: &mut AnyConnection) -> Result<Vec<DeptRow>> {
    Ok(
        sqlx::query_as(&format!("SELECT {COLS} FROM departments ORDER BY code"))
            .fetch_all(&mut *conn)
            .await?,
    )
}

pub async fn by_code(conn: &mut AnyConnection, code: &str) -> Result<Option<DeptRow>> {
    Ok(
        sqlx::query_as(&format!("SELECT {COLS} FROM departments WHERE code = $1"))
            .bind(code)
            .fetch_optional(&mut *conn)
            .await?,
    )
}

pub async fn by_id(conn: &mut AnyConnection, id: i64) -> Result<Option<DeptRow>> {
    Ok(
        sqlx::query_as(&format!("SELECT {COLS} FROM departments WHERE id = $1"))
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?,
    )
}

/// The seal a department's licences are sealed with (`None`: not set).
pub async fn seal_code(conn: &mut AnyConnection, id: i64) -> Result<Option<String>> {
    let row: Option<(Option<String>,)> =
        sqlx::query_as("SELECT seal_code FROM departments WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
    Ok(row.and_then(|(c,)| c).filter(|c| !c.is_empty()))
}

pub async fn set_seal_code(
    conn: &mut AnyConnection,
    id: i64,
    seal_code: Option<&str>,
) -> Result<u64> {
    Ok(
        sqlx::query("UPDATE departments SET seal_code = $1 WHERE id = $2")
            .bind(seal_code)
            .bind(id)
            .execute(&mut *conn)
            .await?
            .rows_affected(),
    )
}

/// Every department's seal: `(id, seal_code)`.
pub async fn seal_codes(conn: &mut AnyConnection) -> Result<Vec<(i64, Option<String>)>> {
    Ok(
        sqlx::query_as("SELECT id, seal_code FROM departments ORDER BY id")
            .fetch_all(&mut *conn)
            .await?,
    )
}
