//! Service items and their immutable versions.

use sqlx::AnyConnection;
use zt_domain::item::ItemDefinition;

use crate::error::{changed, Result};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ItemRow {
    pub id: i64,
    pub code: String,
    pub impl_code: String,
    pub dept_id: i64,
    pub dept_code: String,
    pub dept_name: String,
    pub region_code: String,
    pub name: String,
    pub kind: String,
    pub current_version: i64,
    pub status: String,
    pub definition: String,
}

impl ItemRow {
    pub fn definition(&self) -> Result<ItemDefinition> {
        Ok(serde_json::from_str(&self.definition)?)
    }
}

const SELECT: &str =
    "SELECT i.id, i.code, i.impl_code, i.dept_id, d.code AS dept_code, d.name AS dept_name, \
     d.region_code, i.name, i.kind, i.current_version, i.status, v.definition \
     FROM items i JOIN departments d ON d.id = i.dept_id \
     JOIN item_versions v ON v.item_id = i.id AND v.version = i.current_version";

/// Creates an item with its first version.
pub async fn insert(
    conn: &mut AnyConnection,
    code: &str,
    impl_code: &str,
    dept_id: i64,
    def: &ItemDefinition,
    by: Option<i64>,
    now: &str,
) -> Result<i64> {
    let kind = serde_json::to_value(def.kind)?
        .as_str()
        .unwrap_or("licensing")
        .to_string();
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO items (code, impl_code, dept_id, name, kind, current_version, status, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, 1, 'published', $6, $6) RETURNING id",
    )
    .bind(code)
    .bind(impl_code)
    .bind(dept_id)
    .bind(&def.name)
    .bind(&kind)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    insert_version(conn, id, 1, def, by, now).await?;
    Ok(id)
}

async fn insert_version(
    conn: &mut AnyConnection,
    item_id: i64,
    version: i64,
    def: &ItemDefinition,
    by: Option<i64>,
    now: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO item_versions (item_id, version, definition, published_at, published_by) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(item_id)
    .bind(version)
    .bind(serde_json::to_string(def)?)
    .bind(now)
    .bind(by)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Publishes a new version; cases filed earlier keep theirs. `expected` is the
/// version the editor started from, so two editors cannot silently overwrite.
pub async fn publish_version(
    conn: &mut AnyConnection,
    item_id: i64,
    expected: i64,
    def: &ItemDefinition,
    by: Option<i64>,
    now: &str,
) -> Result<i64> {
    let next = expected + 1;
    let kind = serde_json::to_value(def.kind)?
        .as_str()
        .unwrap_or("licensing")
        .to_string();
    changed(
        sqlx::query(
            "UPDATE items SET current_version = $1, name = $2, kind = $3, updated_at = $4 \
         WHERE id = $5 AND current_version = $6",
        )
        .bind(next)
        .bind(&def.name)
        .bind(&kind)
        .bind(now)
        .bind(item_id)
        .bind(expected)
        .execute(&mut *conn)
        .await?
        .rows_affected(),
    )?;
    insert_version(conn, item_id, next, def, by, now).await?;
    Ok(next)
}

pub async fn set_status(
    conn: &mut AnyConnection,
    item_id: i64,
    status: &str,
    now: &str,
) -> Result<()> {
    sqlx::query("UPDATE items SET status = $1, updated_at = $2 WHERE id = $3")
        .bind(status)
        .bind(now)
        .bind(item_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

#[derive(Debug, Default, Clone)]
pub struct ItemFilter {
    pub q: Option<String>,
    pub dept_code: Option<String>,
    pub include_withdrawn: bool,
}

pub async fn list(conn: &mut AnyConnection, f: &ItemFilter) -> Result<Vec<ItemRow>> {
    let mut sql = format!("{SELECT} WHERE 1 = 1");
    let mut args: Vec<String> = Vec::new();
    if !f.include_withdrawn {
        sql.push_str(" AND i.status = 'published'");
    }
    if let Some(q) = f.q.as_deref().filter(|q| !q.is_empty()) {
        args.push(format!("%{}%", escape_like(q)));
        let n = args.len();
        sql.push_str(&format!(
            " AND (i.name LIKE ${n} ESCAPE '\\' OR d.name LIKE ${n} ESCAPE '\\' OR i.code LIKE ${n} ESCAPE '\\')"
        ));
    }
    if let Some(dept) = f.dept_code.as_deref().filter(|d| !d.is_empty()) {
        args.push(dept.to_string());
        sql.push_str(&format!(" AND d.code = ${}", args.len()));
    }
    sql.push_str(" ORDER BY d.code, i.code");
    let mut q = sqlx::query_as(&sql);
    for a in &args {
        q = q.bind(a);
    }
    Ok(q.fetch_all(&mut *conn).await?)
}

pub async fn by_code(conn: &mut AnyConnection, code: &str) -> Result<Option<ItemRow>> {
    Ok(sqlx::query_as(&format!("{SELECT} WHERE i.code = $1"))
        .bind(code)
        .fetch_optional(&mut *conn)
        .await?)
}

/// The definition a case was filed under.
pub async fn version(
    conn: &mut AnyConnection,
    item_id: i64,
    version: i64,
) -> Result<ItemDefinition> {
    let (def,): (String,) =
        sqlx::query_as("SELECT definition FROM item_versions WHERE item_id = $1 AND version = $2")
            .bind(item_id)
            .bind(version)
            .fetch_one(&mut *conn)
            .await?;
    Ok(serde_json::from_str(&def)?)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct VersionRow {
    pub version: i64,
    pub published_at: String,
    pub published_by: Option<i64>,
}

pub async fn versions(conn: &mut AnyConnection, item_id: i64) -> Result<Vec<VersionRow>> {
    Ok(sqlx::query_as(
        "SELECT version, published_at, published_by FROM item_versions WHERE item_id = $1 ORDER BY version DESC",
    )
    .bind(item_id)
    .fetch_all(&mut *conn)
    .await?)
}

/// `%`, `_` and `\` typed by a user match themselves.
pub fn escape_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
