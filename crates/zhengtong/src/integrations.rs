//! Wiring of the province's shared systems into the application: the gxpt
//! client behind the outbox's `CaseEventSink`, chosen by configuration.
//!
//! `gxpt_url` = `""` (not connected: events wait in the outbox and
//! `/readyz` says so), `"builtin"` (an in-process platform, so that
//! `zhengtong demo` needs no external service), or the platform's URL with
//! `gx_app_key`, `gx_app_secret` and `gx_data_key`.
//!
//! The outbox sink and the verifier are two clients of one counterpart:
//! both take gxpt's circuit breaker from `app.integrations`, so that when
//! pushes find gxpt down, identity checks stop waiting for it too (and the
//! other way round).

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use serde_json::Value;
use zt_app::integrations::{Mode, GXPT};
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

/// Counts a call to gxpt. One that an open breaker refused made no request:
/// it shows in the breaker's own counter, not as a call.
fn observe<T>(metrics: &Metrics, started: Instant, r: &Result<T, GxError>) {
    if !matches!(r, Err(GxError::CircuitOpen { .. })) {
        metrics.call(GXPT, started.elapsed(), r.is_ok());
    }
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
        observe(&self.metrics, started, &r);
        r.map(|r| r.receipt_id).map_err(send_error)
    }

    async fn reconcile(&self, date: &str, include_entries: bool) -> Result<RemoteDay, SendError> {
        let day = chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d")
            .map_err(|e| SendError::Refused(format!("date {date}: {e}")))?;
        let started = Instant::now();
        let r = self.client.reconcile(day, include_entries).await;
        observe(&self.metrics, started, &r);
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

/// How this configuration connects gxpt.
pub fn gxpt_mode(cfg: &Config) -> Mode {
    match cfg.gxpt_url.as_str() {
        "" => Mode::NotConfigured,
        "builtin" => Mode::Builtin,
        url => Mode::remote(url),
    }
}

/// The gxpt sink of this configuration, or `None` when gxpt is not connected.
/// It registers gxpt in `app.integrations` and calls through its breaker.
pub async fn gxpt_sink(cfg: &Config, app: &zt_app::App) -> anyhow::Result<Option<GxptSink>> {
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
    let breaker = app.integrations.register(GXPT, gxpt_mode(cfg));
    let client = GxClient::new(GxConfig::new(url, creds), clock)
        .map_err(|e| anyhow::anyhow!("gxpt client: {e}"))?
        .with_breaker(breaker);
    Ok(Some(GxptSink {
        client: GxptClient::new(client),
        metrics: app.metrics.clone(),
        _builtin: builtin,
    }))
}

/// Asks gxpt for the day's figures; the question is read-only, so an
/// operator's command asks again (five times, two seconds apart) rather than
/// give up on a platform that fails one request in four.
async fn reconcile_patiently(
    app: &zt_app::App,
    sink: &GxptSink,
    date: &str,
) -> Result<zt_app::outbox::Reconciliation, zt_app::AppError> {
    let mut tries = 0;
    loop {
        match zt_app::outbox::reconcile(app, sink, date).await {
            Err(e) if e.code() == "GXPT_UNAVAILABLE" && tries < 4 => {
                tries += 1;
                eprintln!(
                    "{date}: gxpt did not answer ({}); asking again",
                    e.message()
                );
                tokio::time::sleep(std::time::Duration::from_secs(2)).await;
            }
            r => return r,
        }
    }
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
    let first = reconcile_patiently(app, sink, date).await.map_err(fail)?;
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
    let after = reconcile_patiently(app, sink, date).await.map_err(fail)?;
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
        observe(&self.metrics, started, &r);
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
        observe(&self.metrics, started, &r);
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
/// one knows only its test records). It shares gxpt's breaker with the sink.
pub fn gxpt_verifier(cfg: &Config, app: &zt_app::App) -> anyhow::Result<Option<GxptVerifier>> {
    if cfg.gxpt_url.is_empty() || cfg.gxpt_url == "builtin" || !cfg.gxpt_identity_check {
        return Ok(None);
    }
    let creds = Credentials::new(&cfg.gx_app_key, &cfg.gx_app_secret.0, &cfg.gx_data_key.0)
        .map_err(|e| anyhow::anyhow!("gx_app_key / gx_app_secret / gx_data_key: {e}"))?;
    let breaker = app.integrations.register(GXPT, gxpt_mode(cfg));
    let client = GxClient::new(
        GxConfig::new(cfg.gxpt_url.clone(), creds),
        Arc::new(zt_gx::SystemClock),
    )
    .map_err(|e| anyhow::anyhow!("gxpt client: {e}"))?
    .with_breaker(breaker);
    Ok(Some(GxptVerifier::new(
        GxptClient::new(client),
        app.metrics.clone(),
    )))
}

// ---- e-seal ------------------------------------------------------------------

/// The e-seal service over GX-HMAC-SM3 behind the licence worker.
pub struct EsealSealer {
    client: zt_gx::eseal::EsealClient,
    trust_anchor: String,
    metrics: Arc<Metrics>,
}

fn seal_error(e: GxError) -> zt_app::licence::SealError {
    use zt_app::licence::SealError;
    match &e {
        GxError::Rejected { code, .. } if code == "SEAL_DISABLED" || code == "SEAL_UNKNOWN" => {
            SealError::SealNotUsable(e.to_string())
        }
        // A lost or unverifiable answer: the next attempt seals again.
        GxError::InvalidResponse(_) => SealError::Unavailable(e.to_string()),
        _ if e.is_retryable() => SealError::Unavailable(e.to_string()),
        _ => SealError::Refused(e.to_string()),
    }
}

#[async_trait::async_trait]
impl zt_app::licence::Sealer for EsealSealer {
    async fn seal(
        &self,
        r: &zt_app::licence::SealRequest<'_>,
    ) -> Result<zt_app::licence::SealedDocument, zt_app::licence::SealError> {
        let started = Instant::now();
        let out = self
            .client
            .sign(&zt_gx::eseal::SignRequest {
                document: r.document,
                seal_code: r.seal_code,
                page: r.page,
                x: r.x,
                y: r.y,
                reason: r.reason,
                signer_name: r.signer_name,
            })
            .await;
        if !matches!(out, Err(GxError::CircuitOpen { .. })) {
            self.metrics.call("eseal", started.elapsed(), out.is_ok());
        }
        let d = out.map_err(seal_error)?;
        Ok(zt_app::licence::SealedDocument {
            pdf: d.pdf,
            signature_id: d.signature_id,
            signed_at: d.signed_at,
            cert_serial_hex: d.cert_serial_hex,
        })
    }

    fn trust_anchor(&self) -> &str {
        &self.trust_anchor
    }
}

/// The e-seal service's credentials: its own, or the platform's gx ones.
fn eseal_credentials(cfg: &Config) -> anyhow::Result<Credentials> {
    let pick = |own: &str, gx: &str| {
        if own.is_empty() {
            gx.to_string()
        } else {
            own.to_string()
        }
    };
    Credentials::new(
        pick(&cfg.eseal_app_key, &cfg.gx_app_key),
        pick(&cfg.eseal_app_secret.0, &cfg.gx_app_secret.0),
        &pick(&cfg.eseal_data_key.0, &cfg.gx_data_key.0),
    )
    .map_err(|e| {
        anyhow::anyhow!(
            "eseal_app_key / eseal_app_secret / eseal_data_key (or gx_app_key / gx_app_secret / gx_data_key): {e}"
        )
    })
}

/// The sealer of this configuration, or `None` when the e-seal service is
/// not connected (licences then wait "pending seal").
pub fn sealer(
    cfg: &Config,
    app: &zt_app::App,
) -> anyhow::Result<Option<Arc<dyn zt_app::licence::Sealer>>> {
    use zt_app::integrations::{Mode, ESEAL};
    let metrics = app.metrics.clone();
    match cfg.eseal_url.as_str() {
        "" => {
            app.integrations.register(ESEAL, Mode::NotConfigured);
            Ok(None)
        }
        "builtin" => {
            app.integrations.register(ESEAL, Mode::Builtin);
            Ok(Some(Arc::new(crate::builtin_seal::BuiltinSealer::open(
                &cfg.data_dir.join("builtin-eseal"),
                app.integrations.clone(),
                app.clock.clone(),
            )?)))
        }
        url => {
            let breaker = app.integrations.register(ESEAL, Mode::remote(url));
            if cfg.eseal_ca_file.is_empty() {
                anyhow::bail!(
                    "eseal_url is set but eseal_ca_file is not: give the e-seal service's CA certificate (PEM) that sealed licences are verified against (ZT_ESEAL_CA_FILE)"
                );
            }
            let trust_anchor = std::fs::read_to_string(&cfg.eseal_ca_file)
                .with_context(|| format!("reading eseal_ca_file {}", cfg.eseal_ca_file))?;
            if !trust_anchor.contains("BEGIN CERTIFICATE") {
                anyhow::bail!(
                    "eseal_ca_file {} holds no PEM certificate",
                    cfg.eseal_ca_file
                );
            }
            let client = zt_gx::eseal::EsealClient::new(
                GxConfig::new(url.to_string(), eseal_credentials(cfg)?),
                Arc::new(zt_gx::SystemClock),
            )
            .map_err(|e| anyhow::anyhow!("e-seal client: {e}"))?
            .with_breaker(breaker);
            Ok(Some(Arc::new(EsealSealer {
                client,
                trust_anchor,
                metrics,
            })))
        }
    }
}
