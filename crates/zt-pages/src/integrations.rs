//! `/admin/integrations` (对接状态), for the system administrator: how each
//! counterpart is connected, its circuit breaker, its last success and
//! failure, its call counts and what waits for it in the outbox.

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use chrono::{DateTime, Utc};
use zt_app::integrations::{label_zh, Mode, State as BreakerState, Status};
use zt_app::App;
use zt_domain::role::Role;

use crate::layout::{render, require, Layout, PageUser};

/// One counterpart, as the page shows it.
struct Row {
    name: String,
    label: &'static str,
    mode: &'static str,
    url: Option<String>,
    state: &'static str,
    /// `ok`, `warn`, `bad` or `off`: the colour of the state.
    tone: &'static str,
    consecutive_failures: u32,
    retry_at: Option<String>,
    last_success_at: Option<String>,
    last_failure_at: Option<String>,
    last_error: Option<String>,
    calls: u64,
    errors: u64,
    rejected: u64,
    times_opened: u64,
    outbox: Option<OutboxRow>,
}

struct OutboxRow {
    pending: i64,
    failed: i64,
    oldest_age: Option<String>,
}

#[derive(Template)]
#[template(path = "admin_integrations.html")]
struct Page {
    l: Layout,
    rows: Vec<Row>,
    threshold: u32,
    cool_down_secs: i64,
    outbox_error: bool,
    checked_at: String,
    reconciliations: Vec<ReconciliationView>,
}

/// One recorded reconciliation with gxpt.
struct ReconciliationView {
    date: String,
    ran_at: String,
    local_count: i64,
    remote_count: i64,
    /// `ok` or `bad`.
    tone: &'static str,
    verdict: String,
}

fn reconciliation_view(r: zt_store::reconciliations::ReconciliationRow) -> ReconciliationView {
    let conflicts: Vec<(String, i64)> = serde_json::from_str(&r.conflicts).unwrap_or_default();
    let settled = r.error.is_none() && r.equal == 1 && conflicts.is_empty() && r.pending == 0;
    let verdict = match &r.error {
        Some(e) => format!("未能对账：{e}"),
        None if settled => "一致（数量与摘要相同）".to_string(),
        None => format!(
            "不一致：补推 {} 条，冲突 {} 条，待投递 {} 条",
            r.repushed,
            conflicts.len(),
            r.pending
        ),
    };
    ReconciliationView {
        date: r.event_date,
        ran_at: zt_store::time::parse_ts(&r.ran_at)
            .map(beijing)
            .unwrap_or(r.ran_at),
        local_count: r.local_count,
        remote_count: r.remote_count,
        tone: if settled { "ok" } else { "bad" },
        verdict,
    }
}

fn beijing(at: DateTime<Utc>) -> String {
    at.with_timezone(&zt_domain::time::beijing())
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// How long something has waited, in words.
fn age_zh(secs: i64) -> String {
    match secs {
        s if s < 60 => "不足 1 分钟".into(),
        s if s < 3600 => format!("{} 分钟", s / 60),
        s if s < 86_400 => format!("{} 小时 {} 分钟", s / 3600, s % 3600 / 60),
        s => format!("{} 天 {} 小时", s / 86_400, s % 86_400 / 3600),
    }
}

fn row(s: &Status, outbox: Option<OutboxRow>) -> Row {
    let tone = match (&s.mode, s.breaker.state) {
        (Mode::NotConfigured, _) => "off",
        (_, BreakerState::Closed) => "ok",
        (_, BreakerState::HalfOpen) => "warn",
        (_, BreakerState::Open) => "bad",
    };
    Row {
        name: s.name.clone(),
        label: label_zh(&s.name),
        mode: s.mode.label_zh(),
        url: s.mode.url().map(str::to_string),
        state: s.state_label_zh(),
        tone,
        consecutive_failures: s.breaker.consecutive_failures,
        retry_at: match s.breaker.state {
            BreakerState::Closed => None,
            _ => s.breaker.retry_at.map(beijing),
        },
        last_success_at: s.breaker.last_success_at.map(beijing),
        last_failure_at: s.breaker.last_failure_at.map(beijing),
        last_error: s.breaker.last_error.clone(),
        calls: s.calls,
        errors: s.errors,
        rejected: s.breaker.rejected,
        times_opened: s.breaker.times_opened,
        outbox,
    }
}

pub async fn show(State(app): State<App>, PageUser(p): PageUser) -> Response {
    if let Some(r) = require(p.has(Role::Sysadmin)) {
        return r;
    }
    let now = app.clock.now();
    let backlogs = zt_app::integrations::outbox_backlogs(&app).await;
    let outbox_error = match &backlogs {
        Ok(_) => false,
        Err(e) => {
            tracing::warn!(error = %e, "integrations page: outbox depth unknown");
            true
        }
    };
    let backlogs = backlogs.unwrap_or_default();
    let policy = app.integrations.policy();
    let outbox_of = |name: &str| {
        backlogs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, b)| OutboxRow {
                pending: b.pending,
                failed: b.failed,
                oldest_age: b
                    .oldest_pending_at
                    .as_deref()
                    .and_then(|t| zt_store::time::parse_ts(t).ok())
                    .map(|t| age_zh((now - t).num_seconds().max(0))),
            })
    };
    let statuses = app.integrations.status();
    let mut rows: Vec<Row> = statuses
        .iter()
        .map(|s| row(s, outbox_of(&s.name)))
        .collect();
    // A counterpart with messages but no client registered in this process
    // (e.g. one no longer configured) still has a backlog to show.
    for (name, _) in &backlogs {
        if !rows.iter().any(|r| &r.name == name) {
            let mut r = row(
                &Status {
                    name: name.clone(),
                    mode: Mode::NotConfigured,
                    breaker: zt_domain::breaker::CircuitBreaker::new(policy).snapshot(),
                    calls: 0,
                    errors: 0,
                },
                outbox_of(name),
            );
            r.label = label_zh(name);
            rows.push(r);
        }
    }
    let reconciliations = match app.read().await {
        Ok(mut c) => zt_store::reconciliations::latest(&mut c, zt_app::outbox::GXPT, 10)
            .await
            .unwrap_or_default(),
        Err(_) => Vec::new(),
    };
    render(&Page {
        reconciliations: reconciliations
            .into_iter()
            .map(reconciliation_view)
            .collect(),
        l: Layout::new("对接状态", Some(&p)),
        rows,
        threshold: policy.failure_threshold,
        cool_down_secs: policy.cool_down.num_seconds(),
        outbox_error,
        checked_at: beijing(now),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn ages_in_words() {
        assert_eq!(super::age_zh(5), "不足 1 分钟");
        assert_eq!(super::age_zh(125), "2 分钟");
        assert_eq!(super::age_zh(3 * 3600 + 61), "3 小时 1 分钟");
        assert_eq!(super::age_zh(2 * 86_400 + 7200), "2 天 2 小时");
    }
}
