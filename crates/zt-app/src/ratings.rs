//! 好差评 and rectification (差评整改).

use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;
use zt_domain::rating::{self, Score};
use zt_store::ratings::{self as store, RectificationRow};
use zt_store::{cases, notifications, StoreError};

use crate::error::{AppError, ErrorKind, Result};
use crate::principal::Principal;
use crate::state::{audit, App, Origin};

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RectificationView {
    pub id: i64,
    pub case_no: String,
    pub item_name: String,
    pub score: i64,
    pub score_label: String,
    pub comment: String,
    pub status: String,
    pub response: Option<String>,
    pub answered_at: Option<String>,
    pub created_at: String,
}

pub fn rect_view(r: RectificationRow) -> RectificationView {
    RectificationView {
        id: r.id,
        case_no: r.case_no,
        item_name: r.item_name,
        score_label: rating::label_of(u8::try_from(r.score).unwrap_or(1)).into(),
        score: r.score,
        comment: r.comment,
        status: r.status,
        response: r.response,
        answered_at: r.answered_at,
        created_at: r.created_at,
    }
}

/// The applicant rates a completed case once; a rating of 2 or less opens a
/// rectification for the department in the same transaction.
pub async fn rate(
    app: &App,
    p: &Principal,
    client_addr: &str,
    case_no: &str,
    score: i64,
    comment: &str,
) -> Result<()> {
    let score = Score::new(score)?;
    let comment = comment.trim();
    if comment.chars().count() > rating::MAX_COMMENT_CHARS {
        return Err(AppError::new(
            ErrorKind::Unprocessable,
            "RATING_COMMENT_TOO_LONG",
            "评价内容不能超过500个字。",
        )
        .with_field("comment"));
    }
    if comment
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(AppError::new(
            ErrorKind::Unprocessable,
            "TEXT_CONTROL_CHAR",
            "评价内容中含有无法识别的控制字符。",
        )
        .with_field("comment"));
    }
    if score.needs_rectification() && comment.is_empty() {
        return Err(AppError::new(
            ErrorKind::Unprocessable,
            "RATING_COMMENT_REQUIRED",
            "差评请简要说明原因，以便部门整改。",
        )
        .with_field("comment"));
    }
    let at = app.now_ts();
    let mut tx = app.begin().await?;
    if !zt_domain::case_no::is_well_formed(case_no) {
        return Err(AppError::not_found("CASE_NOT_FOUND", "该办件"));
    }
    let row = cases::by_case_no(&mut tx, case_no)
        .await?
        .ok_or_else(|| AppError::not_found("CASE_NOT_FOUND", "该办件"))?;
    if !p.owns(&row) {
        return Err(AppError::not_found("CASE_NOT_FOUND", "该办件"));
    }
    if row.status != "completed" {
        return Err(AppError::new(
            ErrorKind::Conflict,
            "RATING_NOT_ALLOWED",
            "办件办结后才能评价。",
        ));
    }
    let rating_id = store::insert(
        &mut tx,
        row.id,
        p.user_id,
        i64::from(score.value()),
        comment,
        &at,
    )
    .await
    .map_err(|e| match e {
        StoreError::Duplicate => {
            AppError::new(ErrorKind::Conflict, "RATING_EXISTS", "您已评价过该办件。")
        }
        other => other.into(),
    })?;
    if score.needs_rectification() {
        store::open_rectification(&mut tx, rating_id, row.id, row.dept_id, &at).await?;
    }
    crate::outbox::enqueue_case_event(
        app,
        &mut tx,
        &row,
        "RATED",
        app.clock.now(),
        json!({"score": score.value()}),
    )
    .await?;
    let origin = Origin::of(p, client_addr);
    audit(
        &mut tx,
        &at,
        &origin,
        "case_rate",
        &format!("case:{case_no}"),
        "success",
        json!({"score": score.value()}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

pub async fn rectifications(app: &App, p: &Principal) -> Result<Vec<RectificationView>> {
    if !p.is_case_staff() {
        return Err(AppError::forbidden());
    }
    let mut c = app.read().await?;
    let mut out = Vec::new();
    for dept in &p.dept_scope {
        out.extend(
            store::rectifications(&mut c, *dept)
                .await?
                .into_iter()
                .map(rect_view),
        );
    }
    Ok(out)
}

/// The department answers a rectification; the applicant is told.
pub async fn answer(
    app: &App,
    p: &Principal,
    client_addr: &str,
    id: i64,
    response: &str,
) -> Result<()> {
    if !p.is_case_staff() {
        return Err(AppError::forbidden());
    }
    let response = response.trim();
    if response.is_empty() || response.chars().count() > 1000 {
        return Err(AppError::new(
            ErrorKind::Unprocessable,
            "RECTIFICATION_RESPONSE_INVALID",
            "请填写整改情况说明（不超过1000字）。",
        )
        .with_field("response"));
    }
    let at = app.now_ts();
    let mut tx = app.begin().await?;
    let r = store::rectification(&mut tx, id)
        .await?
        .filter(|r| p.dept_scope.contains(&r.dept_id))
        .ok_or_else(|| AppError::not_found("RECTIFICATION_NOT_FOUND", "该整改任务"))?;
    store::answer(&mut tx, id, response, p.user_id, &at)
        .await
        .map_err(|e| match e {
            StoreError::Conflict => AppError::new(
                ErrorKind::Conflict,
                "RECTIFICATION_ANSWERED",
                "该整改任务已答复。",
            ),
            other => other.into(),
        })?;
    if let Some(case) = cases::by_case_no(&mut tx, &r.case_no).await? {
        notifications::insert(
            &mut tx,
            case.applicant_id,
            Some(case.id),
            "差评整改答复",
            &format!(
                "针对您对办件{}的评价，{}答复：{}",
                r.case_no, case.dept_name, response
            ),
            &at,
        )
        .await?;
    }
    let origin = Origin::of(p, client_addr);
    audit(
        &mut tx,
        &at,
        &origin,
        "rectification_answer",
        &format!("rectification:{id}"),
        "success",
        json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
