//! 好差评 and the rectifications (整改) a poor rating opens.

use sqlx::AnyConnection;

use crate::error::{changed, Result};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RatingRow {
    pub id: i64,
    pub case_id: i64,
    pub score: i64,
    pub comment: String,
    pub created_at: String,
}

pub async fn insert(
    conn: &mut AnyConnection,
    case_id: i64,
    applicant_id: i64,
    score: i64,
    comment: &str,
    now: &str,
) -> Result<i64> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO ratings (case_id, applicant_id, score, comment, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(case_id)
    .bind(applicant_id)
    .bind(score)
    .bind(comment)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    Ok(id)
}

pub async fn for_case(conn: &mut AnyConnection, case_id: i64) -> Result<Option<RatingRow>> {
    Ok(sqlx::query_as(
        "SELECT id, case_id, score, comment, created_at FROM ratings WHERE case_id = $1",
    )
    .bind(case_id)
    .fetch_optional(&mut *conn)
    .await?)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RectificationRow {
    pub id: i64,
    pub case_no: String,
    pub item_name: String,
    pub dept_id: i64,
    pub score: i64,
    pub comment: String,
    pub status: String,
    pub response: Option<String>,
    pub answered_at: Option<String>,
    pub created_at: String,
}

pub async fn open_rectification(
    conn: &mut AnyConnection,
    rating_id: i64,
    case_id: i64,
    dept_id: i64,
    now: &str,
) -> Result<i64> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO rectifications (rating_id, case_id, dept_id, status, created_at) VALUES ($1, $2, $3, 'open', $4) \
         RETURNING id",
    )
    .bind(rating_id)
    .bind(case_id)
    .bind(dept_id)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    Ok(id)
}

const RECT_SELECT: &str = "SELECT r.id, c.case_no, i.name AS item_name, r.dept_id, g.score, g.comment, r.status, \
     r.response, r.answered_at, r.created_at FROM rectifications r JOIN ratings g ON g.id = r.rating_id \
     JOIN cases c ON c.id = r.case_id JOIN items i ON i.id = c.item_id";

pub async fn rectifications(
    conn: &mut AnyConnection,
    dept_id: i64,
) -> Result<Vec<RectificationRow>> {
    Ok(sqlx::query_as(&format!(
        "{RECT_SELECT} WHERE r.dept_id = $1 ORDER BY r.status DESC, r.id DESC"
    ))
    .bind(dept_id)
    .fetch_all(&mut *conn)
    .await?)
}

pub async fn rectification(conn: &mut AnyConnection, id: i64) -> Result<Option<RectificationRow>> {
    Ok(sqlx::query_as(&format!("{RECT_SELECT} WHERE r.id = $1"))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?)
}

pub async fn rectification_for_case(
    conn: &mut AnyConnection,
    case_id: i64,
) -> Result<Option<RectificationRow>> {
    Ok(
        sqlx::query_as(&format!("{RECT_SELECT} WHERE r.case_id = $1"))
            .bind(case_id)
            .fetch_optional(&mut *conn)
            .await?,
    )
}

/// Answers an open rectification; answering twice is a conflict.
pub async fn answer(
    conn: &mut AnyConnection,
    id: i64,
    response: &str,
    by: i64,
    now: &str,
) -> Result<()> {
    changed(sqlx::query(
        "UPDATE rectifications SET status = 'answered', response = $1, answered_by = $2, answered_at = $3 \
         WHERE id = $4 AND status = 'open'",
    )
    .bind(response)
    .bind(by)
    .bind(now)
    .bind(id)
    .execute(&mut *conn)
    .await?
    .rows_affected())?;
    Ok(())
}
