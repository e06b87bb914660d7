//! Reads of the V1.0 migration's own tables (issue 6) for the platform's
//! pages; the migration itself writes them (crate zt-migrate).

use sqlx::AnyConnection;

use crate::error::Result;

/// The last completed run: id, started, finished and its report (JSON).
pub async fn last_report(
    conn: &mut AnyConnection,
) -> Result<Option<(i64, String, Option<String>, Option<String>)>> {
    Ok(sqlx::query_as(
        "SELECT id, started_at, finished_at, report FROM v1_runs WHERE status = 'completed' \
         ORDER BY id DESC LIMIT 1",
    )
    .fetch_optional(&mut *conn)
    .await?)
}
