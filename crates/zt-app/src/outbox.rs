//! Case-event pushes to the data-sharing platform (gxpt) through a
//! transactional outbox, with 100 % delivery proven by reconciliation.
//!
//! * The message is written in the transaction of the case transition it
//!   reports (`enqueue_case_event`), so a transition without its message, or
//!   a message without its transition, cannot exist.
//! * The worker (`deliver_due`) sends the identical stored content until it
//!   is acknowledged, per case in `seq` order, with exponential backoff and
//!   jitter; the platform answers a repeated push with the same receipt, so a
//!   lost acknowledgement costs one more send, never a duplicate.
//!   A refusal (409 conflict, 4xx) is never retried blindly: the message is
//!   marked failed for an operator and later messages of that case wait.
//! * Everything is state in the database: a restart at any moment resumes.
//! * Reconciliation (`reconcile`) compares the day's count and digest with
//!   the platform's, re-pushes what is missing and reports what conflicts.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use serde_json::{json, Value};
use zt_domain::case::{Action, CaseStatus};
use zt_store::cases::CaseRow;
use zt_store::outbox::{self as store, NewMessage};
use zt_store::time::ts;
use zt_store::Conn;

use crate::error::{AppError, Result};
use crate::state::App;

pub const GXPT: &str = "gxpt";
const KIND_CASE_EVENT: &str = "case_event";

/// The gxpt event code of a transition, if gxpt knows the event.
/// (Suspension and resumption have no code in gxpt §4.1 and are not pushed.)
pub fn gx_event(action: Action, new_status: CaseStatus) -> Option<&'static str> {
    Some(match (action, new_status) {
        (Action::Submit, _) => "SUBMITTED",
        (Action::Accept, _) => "ACCEPTED",
        (Action::RejectIntake, _) => "REJECTED_AT_INTAKE",
        (Action::RequestSupplement, _) => "SUPPLEMENT_REQUESTED",
        (Action::Resubmit, _) => "SUPPLEMENTED",
        (Action::ApproveStep, CaseStatus::Approved) => "APPROVED",
        (Action::Deny, _) => "DENIED",
        (Action::Complete, _) => "COMPLETED",
        (Action::Withdraw, _) => "WITHDRAWN",
        _ => return None,
    })
}

fn ctx_payload(counterpart: &str, aggregate: &str, seq: i64) -> String {
    format!("outbox.payload:{counterpart}:{aggregate}:{seq}")
}

/// SM3 of the canonical record (gxpt §4.1), as `zt-gx` computes it for gxpt.
pub fn content_sm3(record: &Value) -> String {
    zt_gx::gxpt::content_sm3_of(record)
}

fn canonical(record: &Value) -> String {
    // Canonical JSON is UTF-8 by construction.
    String::from_utf8_lossy(&zt_gx::gxpt::canonical_record(record)).into_owned()
}

/// Writes the push of one case event in the caller's transaction.
#[allow(clippy::too_many_arguments)]
pub async fn enqueue_case_event(
    app: &App,
    conn: &mut Conn,
    row: &CaseRow,
    event: &str,
    at: DateTime<Utc>,
    payload: Value,
) -> Result<()> {
    let dept = zt_store::departments::by_id(conn, row.dept_id)
        .await?
        .map(|d| d.code)
        .unwrap_or_default();
    let applicant_id = match (&row.org_uscc, row.applicant_kind.as_str()) {
        (Some(uscc), "organisation") => uscc.clone(),
        _ => match zt_store::users::by_id(conn, row.applicant_id).await? {
            Some(u) => app
                .pii
                .open_opt(
                    &crate::pii::ctx_user_id_number(&u.username),
                    u.id_number.as_deref(),
                )?
                .unwrap_or_default(),
            None => String::new(),
        },
    };
    let bj = at.with_timezone(&zt_domain::time::beijing());
    let seq = store::next_seq(conn, GXPT, &row.case_no).await?;
    let record = json!({
        "case_no": row.case_no,
        "seq": seq,
        "event": event,
        "occurred_at": bj.to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
        "item_code": row.item_code,
        "dept_code": dept,
        "applicant_id": applicant_id,
        "payload": payload,
    });
    let text = canonical(&record);
    store::insert(
        conn,
        &NewMessage {
            counterpart: GXPT,
            kind: KIND_CASE_EVENT,
            aggregate: &row.case_no,
            seq,
            event_date: &bj.date_naive().to_string(),
            payload: &app.pii.seal(&ctx_payload(GXPT, &row.case_no, seq), &text),
            content_sm3: &zt_crypto::sm3_hex(text.as_bytes()),
            now: &ts(at),
        },
    )
    .await?;
    Ok(())
}

/// How a delivery attempt ended.
#[derive(Debug, Clone)]
pub enum SendError {
    /// Worth another try with the identical content (503, time-out, dropped
    /// connection, lost acknowledgement).
    Retryable(String),
    /// Refused (409 conflict, 4xx): an operator must look.
    Refused(String),
}

/// What gxpt answers to a reconciliation question.
#[derive(Debug, Clone)]
pub struct RemoteDay {
    pub count: i64,
    pub digest: String,
    /// `(case_no, seq, content_sm3)`, when asked for.
    pub entries: Option<Vec<(String, i64, String)>>,
}

/// The counterpart, as the outbox needs it (implemented by the gxpt client,
/// and by test doubles).
#[async_trait::async_trait]
pub trait CaseEventSink: Send + Sync {
    /// Pushes one canonical record; returns the receipt.
    async fn push(&self, record: &Value) -> std::result::Result<String, SendError>;
    async fn reconcile(
        &self,
        date: &str,
        include_entries: bool,
    ) -> std::result::Result<RemoteDay, SendError>;
}

/// Delay before attempt `n + 1`: 2 s doubling to at most 10 minutes, with up
/// to 50 % random jitter so that a recovering counterpart is not hit by
/// every message at once.
pub fn backoff(attempts: i64) -> Duration {
    let base = 2_i64.saturating_pow(u32::try_from(attempts.clamp(0, 9)).unwrap_or(9)) * 1000;
    let base = base.min(600_000);
    let jitter = rand::random::<u64>() % (u64::try_from(base / 2).unwrap_or(1).max(1));
    Duration::milliseconds(base + i64::try_from(jitter).unwrap_or(0))
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Round {
    pub delivered: u64,
    pub retried: u64,
    pub failed: u64,
}

/// Delivers the messages due now, up to `batch`, several at a time (different
/// cases in parallel; one case's messages strictly in order).
pub async fn deliver_due(app: &App, sink: &dyn CaseEventSink, batch: i64) -> Result<Round> {
    let now = app.clock.now();
    let rows = {
        let mut c = app.read().await?;
        store::due(&mut c, GXPT, &ts(now), batch).await?
    };
    // One message per case in this round: a later seq waits for the next
    // round, after its predecessor is marked delivered.
    let mut seen = std::collections::HashSet::new();
    let rows: Vec<_> = rows
        .into_iter()
        .filter(|r| seen.insert(r.aggregate.clone()))
        .collect();
    let mut round = Round::default();
    let results = futures::future::join_all(rows.iter().map(|r| async move {
        let text = app.pii.open(
            &ctx_payload(&r.counterpart, &r.aggregate, r.seq),
            &r.payload,
        )?;
        let record: Value =
            serde_json::from_str(&text).map_err(|e| AppError::Internal(e.to_string()))?;
        Ok::<_, AppError>((r, sink.push(&record).await))
    }))
    .await;
    let at = ts(app.clock.now());
    let mut tx = app.begin().await?;
    for res in results {
        let (r, outcome) = res?;
        match outcome {
            Ok(receipt) => {
                store::mark_delivered(&mut tx, r.id, &receipt, &at).await?;
                round.delivered += 1;
            }
            Err(SendError::Retryable(e)) => {
                let next = app.clock.now() + backoff(r.attempts);
                store::mark_retry(&mut tx, r.id, &e, &ts(next)).await?;
                round.retried += 1;
            }
            Err(SendError::Refused(e)) => {
                tracing::error!(case_no = %r.aggregate, seq = r.seq, error = %e, "gxpt refused a case event: needs an operator (zhengtong outbox status)");
                store::mark_failed(&mut tx, r.id, &e).await?;
                round.failed += 1;
            }
        }
    }
    tx.commit().await?;
    Ok(round)
}

/// The worker: delivers in rounds, sleeping briefly when nothing is due.
pub fn spawn_worker(app: App, sink: Arc<dyn CaseEventSink>) {
    tokio::spawn(async move {
        loop {
            match deliver_due(&app, sink.as_ref(), 64).await {
                Ok(r) if r.delivered + r.retried + r.failed > 0 => continue,
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "outbox round failed; retrying"),
            }
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
    });
}

/// The scheduled daily reconciliation: from 01:00 Beijing time, the
/// previous day is compared until a result with nothing left over is
/// recorded (every ten minutes while it is not: a repushed event needs its
/// delivery, an unavailable gxpt its recovery). A day left different is
/// logged as an error for the operators on every try.
pub fn spawn_reconciler(app: App, sink: Arc<dyn CaseEventSink>) {
    tokio::spawn(async move {
        loop {
            let now = app.clock.now().with_timezone(&zt_domain::time::beijing());
            if now.time() >= chrono::NaiveTime::from_hms_opt(1, 0, 0).unwrap_or_default() {
                let day = (now.date_naive() - Duration::days(1)).to_string();
                if let Err(e) = reconcile_unless_settled(&app, sink.as_ref(), &day).await {
                    tracing::error!(date = %day, error = %e, "daily reconciliation with gxpt failed; retrying in ten minutes");
                }
            }
            tokio::time::sleep(std::time::Duration::from_secs(600)).await;
        }
    });
}

/// Reconciles `date` unless a settled result is recorded for it already.
pub async fn reconcile_unless_settled(
    app: &App,
    sink: &dyn CaseEventSink,
    date: &str,
) -> Result<Option<Reconciliation>> {
    {
        let mut c = app.read().await?;
        if zt_store::reconciliations::settled(&mut c, GXPT, date).await? {
            return Ok(None);
        }
    }
    let r = reconcile(app, sink, date).await?;
    if !(r.equal && r.conflicts.is_empty() && r.pending == 0) {
        tracing::error!(
            date,
            local = r.local_count,
            gxpt = r.remote_count,
            repushed = r.repushed.len(),
            conflicts = r.conflicts.len(),
            pending = r.pending,
            "daily reconciliation: gxpt and the platform differ (see /admin/integrations)"
        );
    }
    Ok(Some(r))
}

/// The day's count and digest as gxpt computes them (§4.2), from what the
/// platform pushed.
pub fn day_digest(entries: &[(String, i64, String)]) -> (i64, String) {
    let entries: Vec<zt_gx::gxpt::ReconcileEntry> = entries
        .iter()
        .map(|(c, s, h)| zt_gx::gxpt::ReconcileEntry {
            case_no: c.clone(),
            seq: u32::try_from(*s).unwrap_or(u32::MAX),
            content_sm3: h.clone(),
        })
        .collect();
    let d = zt_gx::gxpt::day_digest(&entries);
    (i64::try_from(d.count).unwrap_or(i64::MAX), d.digest)
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Reconciliation {
    pub date: String,
    pub local_count: i64,
    pub remote_count: i64,
    pub equal: bool,
    /// Pushed again because gxpt does not have them.
    pub repushed: Vec<(String, i64)>,
    /// Held by gxpt with other content, or unknown to the platform.
    pub conflicts: Vec<(String, i64)>,
    /// Not yet delivered (still in the queue).
    pub pending: i64,
}

/// Compares a day with gxpt; on a difference fetches the entries, queues what
/// is missing for another push and reports what conflicts. Every result, a
/// failure to compare included, is recorded for the administrators.
pub async fn reconcile(app: &App, sink: &dyn CaseEventSink, date: &str) -> Result<Reconciliation> {
    let r = compare(app, sink, date).await;
    let conflicts = match &r {
        Ok(x) => {
            serde_json::to_string(&x.conflicts).map_err(|e| AppError::Internal(e.to_string()))?
        }
        Err(_) => "[]".to_string(),
    };
    let error = r
        .as_ref()
        .err()
        .map(|e| format!("{}: {}", e.code(), e.message()));
    let ok = r.as_ref().ok();
    let mut tx = app.begin().await?;
    zt_store::reconciliations::insert(
        &mut tx,
        &zt_store::reconciliations::NewReconciliation {
            counterpart: GXPT,
            event_date: date,
            ran_at: &app.now_ts(),
            local_count: ok.map_or(0, |x| x.local_count),
            remote_count: ok.map_or(0, |x| x.remote_count),
            equal: ok.is_some_and(|x| x.equal),
            repushed: ok.map_or(0, |x| i64::try_from(x.repushed.len()).unwrap_or(i64::MAX)),
            conflicts: &conflicts,
            pending: ok.map_or(0, |x| x.pending),
            error: error.as_deref(),
        },
    )
    .await?;
    tx.commit().await?;
    r
}

async fn compare(app: &App, sink: &dyn CaseEventSink, date: &str) -> Result<Reconciliation> {
    let rows = {
        let mut c = app.read().await?;
        store::for_date(&mut c, GXPT, date).await?
    };
    let delivered: Vec<(String, i64, String)> = rows
        .iter()
        .filter(|r| r.status == "delivered")
        .map(|r| (r.aggregate.clone(), r.seq, r.content_sm3.clone()))
        .collect();
    let (local_count, local_digest) = day_digest(&delivered);
    let unavailable = |e: SendError| {
        AppError::new(
            crate::ErrorKind::Unavailable,
            "GXPT_UNAVAILABLE",
            match e {
                SendError::Retryable(m) | SendError::Refused(m) => {
                    format!("数据共享交换平台暂时无法对账：{m}")
                }
            },
        )
    };
    let remote = sink.reconcile(date, false).await.map_err(unavailable)?;
    let mut out = Reconciliation {
        date: date.to_string(),
        local_count,
        remote_count: remote.count,
        equal: remote.count == local_count && remote.digest == local_digest,
        pending: rows.iter().filter(|r| r.status != "delivered").count() as i64,
        ..Default::default()
    };
    if out.equal {
        return Ok(out);
    }
    let remote = sink.reconcile(date, true).await.map_err(unavailable)?;
    let theirs: std::collections::HashMap<(String, i64), String> = remote
        .entries
        .unwrap_or_default()
        .into_iter()
        .map(|(c, s, h)| ((c, s), h))
        .collect();
    let now = app.now_ts();
    let mut tx = app.begin().await?;
    for r in rows.iter().filter(|r| r.status == "delivered") {
        match theirs.get(&(r.aggregate.clone(), r.seq)) {
            None => {
                store::requeue(&mut tx, GXPT, &r.aggregate, r.seq, &now).await?;
                out.repushed.push((r.aggregate.clone(), r.seq));
            }
            Some(h) if *h != r.content_sm3 => out.conflicts.push((r.aggregate.clone(), r.seq)),
            Some(_) => {}
        }
    }
    let ours: std::collections::HashSet<(String, i64)> =
        rows.iter().map(|r| (r.aggregate.clone(), r.seq)).collect();
    for k in theirs.keys() {
        if !ours.contains(k) {
            out.conflicts.push(k.clone());
        }
    }
    tx.commit().await?;
    Ok(out)
}
