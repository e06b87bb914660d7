//! Wiring of the province's shared systems into the application: the gxpt
//! client behind the outbox's `CaseEventSink`, chosen by configuration.
//!
//! `gxpt_url` = `""` (not connected: events wait in the outbox and
//! `/readyz` says so), `"builtin"` (an in-process platform, so that
//! `zhengtong demo` needs no external service), or the platform's URL with
//! `gx_app_key`, `gx_app_secret` and `gx_data_key`.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use serde_json::Value;
use zt_app::metrics::Metrics;
use zt_app::outbox::{CaseEventSink, RemoteDay, SendError};
use zt_gx::gxpt::{CaseEvent, GxptClient};
use zt_gx::{Credentials, GxClient, GxConfig, GxError};

use crate::config::Config;

pub struct GxptSink {
    client: GxptClient,
    metrics: Arc<Metrics>,
    /// Keeps the built-in platform alive as long as the sink.
    _builtin: Option<zt_gx::double::GxptDouble>,
}

fn send_error(e: GxError) -> SendError {
    if e.is_retryable() {
        SendError::Retryable(e.to_string())
    } else {
        SendError::Refused(e.to_string())
    }
}

#[async_trait::async_trait]
impl CaseEventSink for GxptSink {
    async fn push(&self, record: &Value) -> Result<String, SendError> {
        let event: CaseEvent = serde_json::from_value(record.clone())
            .map_err(|e| SendError::Refused(format!("not a gxpt case event: {e}")))?;
        let started = Instant::now();
        let r = self.client.push_case_event(&event).await;
        self.metrics.call("gxpt", started.elapsed(), r.is_ok());
        r.map(|r| r.receipt_id).map_err(send_error)
    }

    async fn reconcile(&self, date: &str, include_entries: bool) -> Result<RemoteDay, SendError> {
        let day = chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d")
            .map_err(|e| SendError::Refused(format!("date {date}: {e}")))?;
        let started = Instant::now();
        let r = self.client.reconcile(day, include_entries).await;
        self.metrics.call("gxpt", started.elapsed(), r.is_ok());
        let r = r.map_err(send_error)?;
        Ok(RemoteDay {
            count: i64::try_from(r.count).unwrap_or(i64::MAX),
            digest: r.digest,
            entries: r.entries.map(|es| {
                es.into_iter()
                    .map(|e| (e.case_no, i64::from(e.seq), e.content_sm3))
                    .collect()
            }),
        })
    }
}

/// The gxpt sink of this configuration, or `None` when gxpt is not connected.
pub async fn gxpt_sink(cfg: &Config, metrics: Arc<Metrics>) -> anyhow::Result<Option<GxptSink>> {
    let clock: Arc<dyn zt_gx::Clock> = Arc::new(zt_gx::SystemClock);
    let (url, creds, builtin) = match cfg.gxpt_url.as_str() {
        "" => return Ok(None),
        "builtin" => {
            let double = zt_gx::double::GxptDouble::start()
                .await
                .context("starting the built-in data-sharing platform")?;
            (
                double.base_url(),
                Credentials::sandbox_default(),
                Some(double),
            )
        }
        url => {
            let creds = Credentials::new(&cfg.gx_app_key, &cfg.gx_app_secret.0, &cfg.gx_data_key.0)
                .map_err(|e| anyhow::anyhow!("gx_app_key / gx_app_secret / gx_data_key: {e}"))?;
            (url.to_string(), creds, None)
        }
    };
    let client = GxClient::new(GxConfig::new(url, creds), clock)
        .map_err(|e| anyhow::anyhow!("gxpt client: {e}"))?;
    Ok(Some(GxptSink {
        client: GxptClient::new(client),
        metrics,
        _builtin: builtin,
    }))
}

/// `zhengtong outbox reconcile`: compare, re-push what is missing (waiting
/// for the pushes, at most two minutes), compare again. Errors when a
/// difference remains.
pub async fn reconcile_and_repair(
    app: &zt_app::App,
    sink: &GxptSink,
    date: &str,
) -> anyhow::Result<()> {
    let fail = |e: zt_app::AppError| anyhow::anyhow!("{}: {}", e.code(), e.message());
    let first = zt_app::outbox::reconcile(app, sink, date)
        .await
        .map_err(fail)?;
    println!(
        "{date}: local {} / gxpt {} events: {}",
        first.local_count,
        first.remote_count,
        if first.equal {
            "equal (count and digest)"
        } else {
            "DIFFERENT"
        }
    );
    if first.equal && first.pending == 0 {
        return Ok(());
    }
    for (c, s) in &first.repushed {
        println!("  missing at gxpt, pushed again: {c} #{s}");
    }
    for (c, s) in &first.conflicts {
        println!("  CONFLICT (different content, or unknown here): {c} #{s}");
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        zt_app::outbox::deliver_due(app, sink, 256)
            .await
            .map_err(fail)?;
        let left = {
            let mut c = app.read().await.map_err(fail)?;
            zt_store::outbox::for_date(&mut c, zt_app::outbox::GXPT, date)
                .await?
                .iter()
                .filter(|r| r.status == "pending")
                .count()
        };
        if left == 0 || std::time::Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    let after = zt_app::outbox::reconcile(app, sink, date)
        .await
        .map_err(fail)?;
    println!(
        "{date} after repair: local {} / gxpt {}: {}; {} not yet delivered, {} conflicts",
        after.local_count,
        after.remote_count,
        if after.equal { "equal" } else { "DIFFERENT" },
        after.pending,
        after.conflicts.len()
    );
    if after.equal && after.pending == 0 && after.conflicts.is_empty() {
        Ok(())
    } else {
        anyhow::bail!(
            "a difference with gxpt remains for {date}: see `zhengtong outbox status` and the lines above"
        )
    }
}

/// Identity verification and enterprise status through gxpt (§2.1, §3.1).
pub struct GxptVerifier {
    client: GxptClient,
    metrics: Arc<Metrics>,
}

impl GxptVerifier {
    pub fn new(client: GxptClient, metrics: Arc<Metrics>) -> Self {
        Self { client, metrics }
    }
}

fn refused(code: &'static str, message: &str) -> zt_app::verification::Verdict {
    zt_app::verification::Verdict::Refused {
        code,
        message: message.to_string(),
    }
}

#[async_trait::async_trait]
impl zt_app::verification::ApplicantVerifier for GxptVerifier {
    async fn person(&self, id_number: &str, name: &str) -> zt_app::verification::Verdict {
        use zt_gx::gxpt::IdentityCheck;
        let started = Instant::now();
        let r = self.client.check_identity(id_number, name).await;
        self.metrics.call("gxpt", started.elapsed(), r.is_ok());
        match r {
            Ok(IdentityCheck::Match) => zt_app::verification::Verdict::Verified,
            Ok(IdentityCheck::Deceased) => refused(
                "IDENTITY_DECEASED",
                "经政务数据共享交换平台核验，该公民身份号码登记为已死亡人员，不能以其名义申请。如信息有误，请到户籍所在地公安机关核实。",
            ),
            Ok(IdentityCheck::NameMismatch) => refused(
                "IDENTITY_NAME_MISMATCH",
                "经核验，姓名与公民身份号码不一致。请确认账号中的姓名与身份证件完全一致（含生僻字）后再提交。",
            ),
            Ok(IdentityCheck::NotRegistered) => refused(
                "IDENTITY_NOT_REGISTERED",
                "经核验，人口信息库中没有该公民身份号码。请核对号码，或到户籍所在地公安机关核实。",
            ),
            Err(GxError::InvalidInput(_)) => refused(
                "IDENTITY_NUMBER_INVALID",
                "账号中的公民身份号码格式不正确，请更正后再提交。",
            ),
            Err(e) => zt_app::verification::Verdict::Unavailable(e.to_string()),
        }
    }

    async fn enterprise(&self, uscc: &str) -> zt_app::verification::Verdict {
        use zt_gx::gxpt::EnterpriseStatus;
        let started = Instant::now();
        let r = self.client.query_enterprise(uscc).await;
        self.metrics.call("gxpt", started.elapsed(), r.is_ok());
        match r {
            Ok(Some(e)) => match e.status {
                EnterpriseStatus::Active => zt_app::verification::Verdict::Verified,
                EnterpriseStatus::Revoked => refused(
                    "ENTERPRISE_REVOKED",
                    "经核验，该单位的营业执照已被吊销，不能以该单位名义申请。",
                ),
                EnterpriseStatus::Deregistered => refused(
                    "ENTERPRISE_DEREGISTERED",
                    "经核验，该单位已注销登记，不能以该单位名义申请。",
                ),
            },
            Ok(None) => refused(
                "ENTERPRISE_NOT_REGISTERED",
                "经核验，法人信息库中没有该统一社会信用代码。请核对后再提交。",
            ),
            Err(e) => zt_app::verification::Verdict::Unavailable(e.to_string()),
        }
    }
}

/// The verifier of this configuration: only with a real gxpt (the built-in
/// one knows only its test records).
pub fn gxpt_verifier(cfg: &Config, metrics: Arc<Metrics>) -> anyhow::Result<Option<GxptVerifier>> {
    if cfg.gxpt_url.is_empty() || cfg.gxpt_url == "builtin" || !cfg.gxpt_identity_check {
        return Ok(None);
    }
    let creds = Credentials::new(&cfg.gx_app_key, &cfg.gx_app_secret.0, &cfg.gx_data_key.0)
        .map_err(|e| anyhow::anyhow!("gx_app_key / gx_app_secret / gx_data_key: {e}"))?;
    let client = GxClient::new(
        GxConfig::new(cfg.gxpt_url.clone(), creds),
        Arc::new(zt_gx::SystemClock),
    )
    .map_err(|e| anyhow::anyhow!("gxpt client: {e}"))?;
    Ok(Some(GxptVerifier::new(GxptClient::new(client), metrics)))
}
