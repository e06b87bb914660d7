//! Electronic licences (电子证照): decided when an approved case is
//! completed, sealed by the e-seal service through the outbox, verified
//! against the configured CA before they are stored, downloaded by the
//! applicant and checked by anyone on the public verification page.
//!
//! * `decide` runs in the completing transaction: the licence row
//!   (`pending_seal`, its printed content sealed as personal information)
//!   and an outbox message for the e-seal service are written with the
//!   case's transition, so a completed case without its licence cannot exist
//!   and the citizen's request never waits for the network.
//! * `seal_due` (the worker) renders the PDF, has it sealed with the
//!   department's seal as configured *now* (a corrected seal code releases
//!   waiting licences), checks the answer — incremental update of the bytes
//!   sent, signature valid and chaining to the trust anchor, signed by the
//!   expected seal — and only then stores the document and marks the
//!   licence issued. An unavailable service or a disabled seal leaves the
//!   licence pending and is retried with backoff; nothing is lost.
//! * Sealing is not idempotent (every call makes a new signature): after a
//!   lost answer the next attempt seals again and only the document whose
//!   answer was received and checked is kept.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use utoipa::ToSchema;
use zt_domain::item::ItemDefinition;
use zt_domain::licence::{self as dl, LicenceStatus};
use zt_store::cases::CaseRow;
use zt_store::licences::{self as store, LicenceRow, NewLicence, Sealed};
use zt_store::outbox::{self as outbox_store, NewMessage};
use zt_store::time::{day, parse_day, ts};
use zt_store::{Conn, StoreError};

use crate::error::{AppError, ErrorKind, Result};
use crate::principal::Principal;
use crate::state::{audit, App, Origin};

pub const ESEAL: &str = "eseal";
const KIND_LICENCE_SEAL: &str = "licence_seal";
/// Why the platform seals (签章事由, the signature's /Reason).
const SEAL_REASON: &str = "电子证照签发";

pub fn ctx_content(licence_no: &str) -> String {
    format!("licence.content:{licence_no}")
}

fn ctx_payload(licence_no: &str) -> String {
    format!("outbox.payload:{ESEAL}:{licence_no}:1")
}

/// What is printed on a licence, kept sealed in the row (it names the
/// holder) so that every sealing attempt renders the identical document.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Content {
    pub title: String,
    /// `person` | `organisation`
    pub holder_kind: String,
    pub holder: String,
    /// Masked identity number, or the organisation's USCC.
    pub holder_id: String,
    pub issuing_department: String,
    pub issue_date: String,
    pub valid_until: Option<String>,
    pub details: Vec<(String, String)>,
}

impl Content {
    fn to_licence_data(&self, licence_no: &str, base_url: &str) -> Result<zt_licence::LicenceData> {
        let issue = parse_day(&self.issue_date)?;
        let validity = match &self.valid_until {
            Some(u) => zt_licence::Validity::Period {
                from: issue,
                to: parse_day(u)?,
            },
            None => zt_licence::Validity::LongTerm,
        };
        Ok(zt_licence::LicenceData {
            item_name: self.title.clone(),
            holder_kind: if self.holder_kind == "organisation" {
                zt_licence::HolderKind::Organisation
            } else {
                zt_licence::HolderKind::Person
            },
            holder: self.holder.clone(),
            holder_id: self.holder_id.clone(),
            licence_no: licence_no.to_string(),
            validity,
            issuing_department: self.issuing_department.clone(),
            issue_date: issue,
            details: self.details.clone(),
            verify_url: verify_url(base_url, licence_no),
        })
    }
}

/// The printed content of a licence row.
fn content_of(app: &App, lic: &LicenceRow) -> Result<Content> {
    serde_json::from_str(&app.pii.open(&ctx_content(&lic.licence_no), &lic.content)?)
        .map_err(|e| AppError::Internal(e.to_string()))
}

/// Checks a sealed PDF against a trust anchor off the async threads (RSA and
/// hashing of the whole document).
async fn verify_blocking(
    pdf: bytes::Bytes,
    anchor: String,
    at_unix: i64,
) -> Result<std::result::Result<zt_licence::SealedInfo, zt_licence::VerifyError>> {
    tokio::task::spawn_blocking(move || zt_licence::verify_sealed_pdf(&pdf, &anchor, at_unix))
        .await
        .map_err(|e| AppError::Internal(e.to_string()))
}

pub fn verify_url(base_url: &str, licence_no: &str) -> String {
    format!("{}/verify/{licence_no}", base_url.trim_end_matches('/'))
}

/// Decides the licence of a case being completed, in its transaction. Only
/// items with a licence section issue one, and only approved cases.
pub async fn decide(
    app: &App,
    conn: &mut Conn,
    row: &CaseRow,
    def: &ItemDefinition,
    form: &Map<String, Value>,
    now: DateTime<Utc>,
) -> Result<Option<String>> {
    let Some(ldef) = &def.licence else {
        return Ok(None);
    };
    if row.status != "approved" {
        return Ok(None);
    }
    let bj = now.with_timezone(&zt_domain::time::beijing());
    let issued = bj.date_naive();
    let dept = zt_store::departments::by_id(conn, row.dept_id)
        .await?
        .ok_or(StoreError::NotFound)?;
    let seq =
        zt_store::cases::next_sequence(conn, &dl::sequence_key(issued, &dept.region_code)).await?;
    let licence_no =
        dl::format_licence_no(issued, &dept.region_code, u64::try_from(seq).unwrap_or(0));
    let (holder_kind, holder, holder_id) = match (row.applicant_kind.as_str(), &row.org_uscc) {
        ("organisation", Some(uscc)) => (
            "organisation",
            row.org_name
                .clone()
                .unwrap_or_else(|| row.applicant_name.clone()),
            uscc.clone(),
        ),
        _ => {
            let id = match zt_store::users::by_id(conn, row.applicant_id).await? {
                Some(u) => app
                    .pii
                    .open_opt(
                        &crate::pii::ctx_user_id_number(&u.username),
                        u.id_number.as_deref(),
                    )?
                    .map(|n| zt_domain::mask::id_number(&n))
                    .unwrap_or_default(),
                None => String::new(),
            };
            ("person", row.applicant_name.clone(), id)
        }
    };
    let details = ldef
        .print_fields
        .iter()
        .filter_map(|k| {
            let f = def.form_fields.iter().find(|f| &f.key == k)?;
            let v = match form.get(k)? {
                Value::String(s) if !s.trim().is_empty() => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => if *b { "是" } else { "否" }.to_string(),
                _ => return None,
            };
            // Printed values follow the platform's masking rules: a licence
            // is shown to third parties.
            let v = zt_domain::mask::masker(f).map_or(v.clone(), |m| m(&v));
            Some((f.label.clone(), v))
        })
        .collect();
    let content = Content {
        title: if ldef.name.trim().is_empty() {
            def.name.clone()
        } else {
            ldef.name.clone()
        },
        holder_kind: holder_kind.to_string(),
        holder,
        holder_id: if holder_id.is_empty() {
            "—".into()
        } else {
            holder_id
        },
        issuing_department: dept.name.clone(),
        issue_date: day(issued),
        valid_until: ldef.valid_until(issued).map(day),
        details,
    };
    let text = serde_json::to_string(&content).map_err(|e| AppError::Internal(e.to_string()))?;
    let at = ts(now);
    store::insert(
        conn,
        &NewLicence {
            licence_no: &licence_no,
            case_id: row.id,
            case_no: &row.case_no,
            holder_user_id: row.applicant_id,
            content: &app.pii.seal(&ctx_content(&licence_no), &text),
            issue_date: &content.issue_date,
            valid_until: content.valid_until.as_deref(),
            now: &at,
        },
    )
    .await?;
    let payload = json!({"licence_no": licence_no, "case_no": row.case_no}).to_string();
    outbox_store::insert(
        conn,
        &NewMessage {
            counterpart: ESEAL,
            kind: KIND_LICENCE_SEAL,
            aggregate: &licence_no,
            seq: 1,
            event_date: &day(issued),
            payload: &app.pii.seal(&ctx_payload(&licence_no), &payload),
            content_sm3: &zt_crypto::sm3_hex(payload.as_bytes()),
            now: &at,
        },
    )
    .await?;
    Ok(Some(licence_no))
}

// ---- the e-seal service, as the worker needs it ------------------------------

/// One sealing request.
#[derive(Debug, Clone)]
pub struct SealRequest<'a> {
    pub document: &'a [u8],
    pub seal_code: &'a str,
    pub page: u32,
    pub x: f64,
    pub y: f64,
    pub reason: &'a str,
    pub signer_name: Option<&'a str>,
}

#[derive(Debug, Clone)]
pub struct SealedDocument {
    pub pdf: Vec<u8>,
    pub signature_id: String,
    pub signed_at: String,
    pub cert_serial_hex: String,
}

/// How a sealing attempt failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SealError {
    /// The service did not answer usefully (503, time-out, broken answer):
    /// try again later.
    Unavailable(String),
    /// The seal cannot be used (disabled, unknown): an administrator must
    /// correct the department's seal; retried until then.
    SealNotUsable(String),
    /// The service refused the document: a defect only an operator can
    /// resolve.
    Refused(String),
}

impl std::fmt::Display for SealError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SealError::Unavailable(m) => write!(f, "电子签章服务暂不可用：{m}"),
            SealError::SealNotUsable(m) => write!(f, "印章不可用：{m}"),
            SealError::Refused(m) => write!(f, "电子签章服务拒绝签章：{m}"),
        }
    }
}

/// The e-seal service (implemented over GX-HMAC-SM3 by the binary, and by the
/// built-in sealer of the demo).
#[async_trait::async_trait]
pub trait Sealer: Send + Sync {
    async fn seal(&self, req: &SealRequest<'_>) -> std::result::Result<SealedDocument, SealError>;
    /// The CA certificate(s), PEM, sealed documents must chain to.
    fn trust_anchor(&self) -> &str;
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct SealRound {
    pub issued: u64,
    pub retried: u64,
    pub failed: u64,
}

enum Attempt {
    Issued,
    Retry(String),
    Failed(String),
}

/// Seals the licences due now, up to `batch`, a few at a time.
pub async fn seal_due(app: &App, sealer: &dyn Sealer, batch: i64) -> Result<SealRound> {
    let rows = {
        let mut c = app.read().await?;
        outbox_store::due(&mut c, ESEAL, &app.now_ts(), batch).await?
    };
    let mut round = SealRound::default();
    for chunk in rows.chunks(4) {
        let results =
            futures::future::join_all(chunk.iter().map(|r| attempt(app, sealer, &r.aggregate)))
                .await;
        for (r, res) in chunk.iter().zip(results) {
            let outcome = match res {
                Ok(a) => a,
                // A failure of our own storage: try again, say so.
                Err(e) => Attempt::Retry(format!("{}: {}", e.code(), e.message())),
            };
            let mut c = app.begin().await?;
            match outcome {
                Attempt::Issued => round.issued += 1,
                Attempt::Retry(e) => {
                    tracing::warn!(licence_no = %r.aggregate, attempts = r.attempts + 1, error = %e, "licence not sealed yet; retrying later");
                    let next = app.clock.now() + crate::outbox::backoff(r.attempts);
                    outbox_store::mark_retry(&mut c, r.id, &e, &ts(next)).await?;
                    round.retried += 1;
                }
                Attempt::Failed(e) => {
                    tracing::error!(licence_no = %r.aggregate, error = %e, "the e-seal service refused a licence: needs an operator (zhengtong outbox status)");
                    outbox_store::mark_failed(&mut c, r.id, &e).await?;
                    round.failed += 1;
                }
            }
            c.commit().await?;
        }
    }
    Ok(round)
}

async fn attempt(app: &App, sealer: &dyn Sealer, licence_no: &str) -> Result<Attempt> {
    let (lic, case, seal_code) = {
        let mut c = app.read().await?;
        let lic = store::by_no(&mut c, licence_no)
            .await?
            .ok_or(StoreError::NotFound)?;
        let case = zt_store::cases::by_case_no(&mut c, &lic.case_no)
            .await?
            .ok_or(StoreError::NotFound)?;
        let seal_code = zt_store::departments::seal_code(&mut c, case.dept_id).await?;
        (lic, case, seal_code)
    };
    if lic.status != LicenceStatus::PendingSeal.as_str() {
        // Issued by an earlier attempt whose outbox update was lost.
        let mut c = app.begin().await?;
        mark_message_done(&mut c, &lic, &app.now_ts()).await?;
        c.commit().await?;
        return Ok(Attempt::Issued);
    }
    let Some(seal_code) = seal_code else {
        return Ok(Attempt::Retry(format!(
            "部门“{}”未配置电子印章（系统管理 → 部门 → 印章编码）",
            case.dept_name
        )));
    };
    let content = content_of(app, &lic)?;
    let data = content.to_licence_data(licence_no, &app.settings.public_base_url)?;
    let pdf = tokio::task::spawn_blocking(move || zt_licence::render(&data))
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?;
    let pdf = match pdf {
        Ok(p) => p,
        Err(e) => return Ok(Attempt::Failed(format!("证照无法生成：{e}"))),
    };
    let place = zt_licence::SEAL_PLACEMENT;
    let req = SealRequest {
        document: &pdf,
        seal_code: &seal_code,
        page: place.page,
        x: f64::from(place.x),
        y: f64::from(place.y),
        reason: SEAL_REASON,
        signer_name: None,
    };
    let sealed = match sealer.seal(&req).await {
        Ok(s) => s,
        Err(e @ (SealError::Unavailable(_) | SealError::SealNotUsable(_))) => {
            return Ok(Attempt::Retry(e.to_string()))
        }
        Err(e @ SealError::Refused(_)) => return Ok(Attempt::Failed(e.to_string())),
    };
    if !sealed.pdf.starts_with(&pdf) || sealed.pdf.len() <= pdf.len() {
        return Ok(Attempt::Retry(
            "签章结果不是对所送文件的增量签章，已丢弃".into(),
        ));
    }
    let sealed_pdf = bytes::Bytes::from(sealed.pdf);
    let checked = verify_blocking(
        sealed_pdf.clone(),
        sealer.trust_anchor().to_string(),
        app.clock.now().timestamp(),
    )
    .await?;
    match checked {
        Ok(info) if info.seal_code.as_deref().is_none_or(|c| c == seal_code) => {}
        Ok(info) => {
            return Ok(Attempt::Retry(format!(
                "签章所用印章（{}）不是本部门的印章（{seal_code}），已丢弃",
                info.seal_code.unwrap_or_default()
            )))
        }
        Err(e) => return Ok(Attempt::Retry(format!("签章结果未通过验证（{e}），已丢弃"))),
    }
    let key = format!("licences/{licence_no}/{:032x}.pdf", rand::random::<u128>());
    let digest = zt_crypto::sm3_hex(&sealed_pdf);
    let size = i64::try_from(sealed_pdf.len()).unwrap_or(i64::MAX);
    app.files.put(&key, sealed_pdf).await?;
    let at = app.now_ts();
    let mut tx = app.begin().await?;
    let changed = store::mark_issued(
        &mut tx,
        lic.id,
        &Sealed {
            file_key: &key,
            document_sm3: &digest,
            document_bytes: size,
            seal_code: &seal_code,
            signature_id: &sealed.signature_id,
            signed_at: &sealed.signed_at,
            cert_serial_hex: &sealed.cert_serial_hex,
            now: &at,
        },
    )
    .await?;
    mark_message_done(&mut tx, &lic, &at).await?;
    if changed == 1 {
        audit(
            &mut tx,
            &at,
            &Origin { actor_id: None, actor_name: "system".into(), client_addr: "-".into() },
            "licence_issued",
            &format!("licence:{licence_no}"),
            "success",
            json!({"case_no": lic.case_no, "seal_code": seal_code, "signature_id": sealed.signature_id, "document_sm3": digest}),
        )
        .await?;
        crate::notify::inbox(
            &mut tx,
            lic.holder_user_id,
            Some(lic.case_id),
            "电子证照已签发",
            &format!(
                "您的办件{}的电子证照（编号{licence_no}）已签发，可在“我的办件”中下载。",
                lic.case_no
            ),
            &at,
        )
        .await?;
    }
    tx.commit().await?;
    if changed == 0 {
        // Issued concurrently: this copy is not the one on record.
        let _ = app.files.delete(&key).await;
    }
    Ok(Attempt::Issued)
}

async fn mark_message_done(conn: &mut Conn, lic: &LicenceRow, at: &str) -> Result<()> {
    let receipt = lic.signature_id.clone().unwrap_or_else(|| "issued".into());
    outbox_store::mark_delivered_aggregate(conn, ESEAL, &lic.licence_no, &receipt, at).await?;
    Ok(())
}

/// The worker: seals in rounds, sleeping briefly when nothing is due.
pub fn spawn_worker(app: App, sealer: Arc<dyn Sealer>) {
    tokio::spawn(async move {
        loop {
            match seal_due(&app, sealer.as_ref(), 16).await {
                Ok(r) if r.issued + r.retried + r.failed > 0 => continue,
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "licence sealing round failed; retrying"),
            }
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
    });
}

// ---- reading ------------------------------------------------------------------

/// A licence as its holder and the serving staff see it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LicenceView {
    pub licence_no: String,
    pub case_no: String,
    /// `pending_seal` | `issued` | `revoked`
    pub status: String,
    pub status_label: String,
    pub title: String,
    pub issue_date: String,
    /// Null: long-term.
    pub valid_until: Option<String>,
    pub issued_at: Option<String>,
    pub verify_url: String,
    /// Why it is still pending, when it is.
    pub pending_reason: Option<String>,
}

pub(crate) async fn view(app: &App, conn: &mut Conn, lic: &LicenceRow) -> Result<LicenceView> {
    let content = content_of(app, lic)?;
    let status = LicenceStatus::parse(&lic.status).unwrap_or(LicenceStatus::PendingSeal);
    let pending_reason = if status == LicenceStatus::PendingSeal {
        Some(
            match outbox_store::undelivered(conn, ESEAL, &lic.licence_no).await? {
                Some((s, _)) if s == "failed" => {
                    "电子证照生成遇到问题，已通知工作人员处理，无需重新申请；如需帮助请联系办理部门。".to_string()
                }
                Some((_, Some(_))) => {
                    "电子签章暂未完成，系统将自动重试，无需重新申请。".to_string()
                }
                _ => "证照正在签章，请稍后刷新。".to_string(),
            },
        )
    } else {
        None
    };
    Ok(LicenceView {
        licence_no: lic.licence_no.clone(),
        case_no: lic.case_no.clone(),
        status: lic.status.clone(),
        status_label: status.label_zh().to_string(),
        title: content.title,
        issue_date: lic.issue_date.clone(),
        valid_until: lic.valid_until.clone(),
        issued_at: lic.issued_at.clone(),
        verify_url: verify_url(&app.settings.public_base_url, &lic.licence_no),
        pending_reason,
    })
}

/// The licence of a case, for whoever may see the case.
pub async fn for_case(app: &App, p: &Principal, case_no: &str) -> Result<Option<LicenceView>> {
    let mut c = app.read().await?;
    let row = crate::cases::load_visible(&mut c, p, case_no).await?;
    match store::by_case(&mut c, row.id).await? {
        Some(l) => Ok(Some(view(app, &mut c, &l).await?)),
        None => Ok(None),
    }
}

/// The sealed PDF of a case's licence: `(file name, bytes)`.
pub async fn download(
    app: &App,
    p: &Principal,
    client_addr: &str,
    case_no: &str,
) -> Result<(String, bytes::Bytes)> {
    let (row, lic) = {
        let mut c = app.read().await?;
        let row = crate::cases::load_visible(&mut c, p, case_no).await?;
        let lic = store::by_case(&mut c, row.id)
            .await?
            .ok_or_else(|| AppError::not_found("LICENCE_NOT_FOUND", "该办件的电子证照"))?;
        (row, lic)
    };
    if !(p.owns(&row) || p.serves(&row)) {
        return Err(AppError::not_found("LICENCE_NOT_FOUND", "该办件的电子证照"));
    }
    let (Some(key), Some(digest)) = (&lic.file_key, &lic.document_sm3) else {
        return Err(AppError::new(
            ErrorKind::Conflict,
            "LICENCE_PENDING_SEAL",
            "电子证照正在签章，签章完成后即可下载，系统会通知您，无需重新申请。",
        ));
    };
    if lic.status == LicenceStatus::Revoked.as_str() {
        return Err(AppError::new(
            ErrorKind::Conflict,
            "LICENCE_REVOKED",
            "该电子证照已被发证机关撤销，不能下载。",
        ));
    }
    let data = app.files.get_verified(key, digest).await?;
    let mut w = app.begin().await?;
    audit(
        &mut w,
        &app.now_ts(),
        &Origin::of(p, client_addr),
        "licence_download",
        &format!("licence:{}", lic.licence_no),
        "success",
        json!({"case_no": case_no}),
    )
    .await?;
    w.commit().await?;
    Ok((format!("{}.pdf", lic.licence_no), data))
}

/// What anyone may learn of a licence on the verification page: nothing
/// personal beyond what is printed on its face, masked.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PublicLicence {
    pub licence_no: String,
    pub exists: bool,
    pub status: Option<String>,
    /// 有效 | 已过期 | 待签章 | 已撤销
    pub standing: Option<String>,
    pub title: Option<String>,
    /// The holder, masked for a person (张*三).
    pub holder: Option<String>,
    pub issuing_department: Option<String>,
    pub issue_date: Option<String>,
    pub valid_until: Option<String>,
    /// The stored document's signature is intact and chains to the trust
    /// anchor (null: nothing stored yet, or no trust anchor configured).
    pub signature_intact: Option<bool>,
    pub seal_name: Option<String>,
    pub signed_at: Option<String>,
    pub document_sm3: Option<String>,
}

fn check_licence_no(licence_no: &str) -> Result<()> {
    if dl::is_well_formed(licence_no) {
        Ok(())
    } else {
        Err(AppError::new(
            ErrorKind::NotFound,
            "LICENCE_NO_INVALID",
            "证照编号格式不正确：应为“ZZ”加20位数字，请核对证照上的编号。",
        ))
    }
}

/// The public verification of a licence number.
pub async fn public_view(app: &App, licence_no: &str) -> Result<PublicLicence> {
    check_licence_no(licence_no)?;
    let lic = {
        let mut c = app.read().await?;
        store::by_no(&mut c, licence_no).await?
    };
    let Some(lic) = lic else {
        return Ok(PublicLicence {
            licence_no: licence_no.to_string(),
            exists: false,
            status: None,
            standing: None,
            title: None,
            holder: None,
            issuing_department: None,
            issue_date: None,
            valid_until: None,
            signature_intact: None,
            seal_name: None,
            signed_at: None,
            document_sm3: None,
        });
    };
    let content = content_of(app, &lic)?;
    let status = LicenceStatus::parse(&lic.status).unwrap_or(LicenceStatus::PendingSeal);
    let until = lic.valid_until.as_deref().map(parse_day).transpose()?;
    let (intact, seal_name) = match (&lic.file_key, &lic.document_sm3) {
        (Some(key), Some(digest)) => match app.files.get_verified(key, digest).await {
            Ok(data) => match check_signature(app, data).await? {
                Some(Ok(info)) => (Some(true), info.signer_common_name),
                Some(Err(e)) => {
                    tracing::error!(licence_no, error = %e, "the stored licence's signature does not verify");
                    (Some(false), None)
                }
                None => (None, None),
            },
            Err(e) => {
                tracing::error!(licence_no, error = %e, "the stored licence document is missing or altered");
                (Some(false), None)
            }
        },
        _ => (None, None),
    };
    Ok(PublicLicence {
        licence_no: licence_no.to_string(),
        exists: true,
        status: Some(lic.status.clone()),
        standing: Some(dl::standing(status, until, app.clock.today()).to_string()),
        title: Some(content.title),
        holder: Some(if content.holder_kind == "organisation" {
            content.holder
        } else {
            zt_domain::mask::person_name(&content.holder)
        }),
        issuing_department: Some(content.issuing_department),
        issue_date: Some(lic.issue_date.clone()),
        valid_until: lic.valid_until.clone(),
        signature_intact: intact,
        seal_name,
        signed_at: lic.signed_at.clone(),
        document_sm3: lic.document_sm3.clone(),
    })
}

async fn check_signature(
    app: &App,
    pdf: bytes::Bytes,
) -> Result<Option<std::result::Result<zt_licence::SealedInfo, zt_licence::VerifyError>>> {
    let Some(sealer) = &app.sealer else {
        return Ok(None);
    };
    let r = verify_blocking(
        pdf,
        sealer.trust_anchor().to_string(),
        app.clock.now().timestamp(),
    )
    .await?;
    Ok(Some(r))
}

/// What an uploaded file is.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UploadCheck {
    /// The file is, byte for byte, the sealed licence on record.
    pub authentic: bool,
    /// `AUTHENTIC` | `NOT_ISSUED` | `DIFFERENT_DOCUMENT` | `NOT_A_PDF`
    pub verdict: String,
    pub message: String,
    /// The file's own signature, checked against the trust anchor (null:
    /// not checked).
    pub signature_valid: Option<bool>,
}

/// Tells whether an uploaded PDF is the authentic sealed licence.
pub async fn check_upload(
    app: &App,
    licence_no: &str,
    data: &[u8],
    client_addr: &str,
) -> Result<UploadCheck> {
    check_licence_no(licence_no)?;
    if data.is_empty() {
        return Err(AppError::new(
            ErrorKind::BadRequest,
            "VERIFY_FILE_MISSING",
            "请选择要核验的证照PDF文件。",
        ));
    }
    if u64::try_from(data.len()).unwrap_or(u64::MAX) > app.settings.max_upload_bytes {
        return Err(AppError::new(
            ErrorKind::TooLarge,
            "VERIFY_FILE_TOO_LARGE",
            format!(
                "文件过大：不能超过{}MB。",
                app.settings.max_upload_bytes / 1024 / 1024
            ),
        ));
    }
    let lic = {
        let mut c = app.read().await?;
        store::by_no(&mut c, licence_no).await?
    };
    let result = if !data.starts_with(b"%PDF-") {
        UploadCheck {
            authentic: false,
            verdict: "NOT_A_PDF".into(),
            message: "所选文件不是PDF文件，无法核验。".into(),
            signature_valid: None,
        }
    } else {
        let sig = check_signature(app, bytes::Bytes::copy_from_slice(data))
            .await?
            .map(|r| r.is_ok());
        match lic.as_ref().and_then(|l| l.document_sm3.as_deref()) {
            None => UploadCheck {
                authentic: false,
                verdict: "NOT_ISSUED".into(),
                message: "平台没有签发该编号的已签章电子证照，此文件不是本平台签发的证照。".into(),
                signature_valid: sig,
            },
            Some(d) if zt_crypto::ct_eq(d.as_bytes(), zt_crypto::sm3_hex(data).as_bytes()) => {
                UploadCheck {
                    authentic: true,
                    verdict: "AUTHENTIC".into(),
                    message: "核验通过：该文件与平台签发的电子证照完全一致，签章有效。".into(),
                    signature_valid: sig,
                }
            }
            Some(_) => UploadCheck {
                authentic: false,
                verdict: "DIFFERENT_DOCUMENT".into(),
                message: "核验未通过：该文件与平台签发的电子证照不一致，可能已被修改，请以平台留存的证照为准。"
                    .into(),
                signature_valid: sig,
            },
        }
    };
    let mut w = app.begin().await?;
    audit(
        &mut w,
        &app.now_ts(),
        &Origin::anonymous(client_addr),
        "licence_verify_upload",
        &format!("licence:{licence_no}"),
        if result.authentic {
            "success"
        } else {
            "failure"
        },
        json!({"verdict": result.verdict, "bytes": data.len(), "sm3": zt_crypto::sm3_hex(data)}),
    )
    .await?;
    w.commit().await?;
    Ok(result)
}

/// Sets the seal a department's licences are sealed with (system
/// administrator). 14 digits, or empty to clear it.
pub async fn set_department_seal(
    app: &App,
    p: &Principal,
    client_addr: &str,
    dept_code: &str,
    seal_code: &str,
) -> Result<()> {
    if !p.has(zt_domain::role::Role::Sysadmin) {
        return Err(AppError::forbidden());
    }
    let seal_code = seal_code.trim();
    let well_formed = seal_code.len() == 14 && seal_code.bytes().all(|b| b.is_ascii_digit());
    if !seal_code.is_empty() && !well_formed {
        return Err(AppError::new(
            ErrorKind::Unprocessable,
            "SEAL_CODE_INVALID",
            "印章编码应为14位数字（前6位为行政区划代码）。",
        )
        .with_field("seal_code"));
    }
    let mut tx = app.begin().await?;
    let dept = zt_store::departments::by_code(&mut tx, dept_code)
        .await?
        .ok_or_else(|| AppError::not_found("DEPARTMENT_NOT_FOUND", "该部门"))?;
    zt_store::departments::set_seal_code(
        &mut tx,
        dept.id,
        (!seal_code.is_empty()).then_some(seal_code),
    )
    .await?;
    // Licences waiting for a seal are tried again at once.
    let released = outbox_store::release_waiting(&mut tx, ESEAL, &app.now_ts()).await?;
    audit(
        &mut tx,
        &app.now_ts(),
        &Origin::of(p, client_addr),
        "department_seal_set",
        &format!("department:{dept_code}"),
        "success",
        json!({"seal_code": seal_code, "released": released}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Every department's seal code, by department id (system administrator pages).
pub async fn department_seals(app: &App) -> Result<std::collections::HashMap<i64, String>> {
    let mut c = app.read().await?;
    Ok(zt_store::departments::seal_codes(&mut c)
        .await?
        .into_iter()
        .filter_map(|(id, s)| Some((id, s?)))
        .collect())
}
