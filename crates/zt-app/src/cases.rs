//! Case use cases: filing, materials, transitions, reading.
//!
//! `act` is the single path by which a case changes state: it loads the case,
//! asks the domain's `apply` whether the action is allowed, moves the
//! statutory clock, and writes the new state, the timeline event, the audit
//! record and the applicant's message in one transaction guarded by the
//! case's version.

use bytes::Bytes;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use utoipa::ToSchema;
use zt_domain::calendar::WarningLevel;
use zt_domain::case::{
    self as dcase, Action, ActionInput, Actor, CaseState, CaseStatus, ClockEffect, Procedure,
    Signature,
};
use zt_domain::case_no;
use zt_domain::item::{ApplicantKind, ItemDefinition, MaterialDef, StepDef};
use zt_domain::role::Role;
use zt_domain::DomainError;
use zt_store::cases::{
    self, CaseFilter, CaseRow, EventRow, MaterialRow, NewCase, NewEvent, StateUpdate,
};
use zt_store::files::{sm3_hex, FileStore};
use zt_store::time::{day, parse_day, ts};
use zt_store::{items, ratings, users, Conn, StoreError};

use crate::error::{AppError, ErrorKind, Result};
use crate::notify;
use crate::principal::Principal;
use crate::state::{audit, App, Origin};
use crate::upload;

pub const MAX_OPINION_CHARS: usize = 1000;
pub const MAX_SUPPLEMENT_ITEMS: usize = 50;

// ---- views ------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CaseSummary {
    pub case_no: String,
    pub item_code: String,
    pub item_name: String,
    pub item_version: i64,
    pub dept_name: String,
    pub applicant_name: String,
    pub applicant_kind: String,
    pub status: CaseStatus,
    pub status_label: String,
    pub accepted_on: Option<String>,
    pub due_date: Option<String>,
    /// green | yellow | red while the clock runs; null otherwise.
    pub warning: Option<WarningLevel>,
    pub submitted_at: Option<String>,
    pub updated_at: String,
    pub version: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MaterialInfo {
    pub id: i64,
    pub material_code: String,
    pub file_name: String,
    pub content_type: String,
    pub size_bytes: i64,
    pub digest_sm3: String,
    pub uploaded_at: String,
    pub current: bool,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MaterialStatus {
    #[serde(flatten)]
    pub definition: MaterialDef,
    pub uploaded: bool,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EventView {
    pub seq: i64,
    pub action: String,
    pub action_label: String,
    pub from_status: Option<String>,
    pub to_status: String,
    pub actor_name: String,
    pub actor_role: String,
    pub opinion: Option<String>,
    #[schema(value_type = Object)]
    pub detail: Value,
    pub at: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RatingView {
    pub score: i64,
    pub label: String,
    pub comment: String,
    pub created_at: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CaseDetail {
    #[serde(flatten)]
    pub summary: CaseSummary,
    pub dept_name: String,
    pub org_uscc: Option<String>,
    pub org_name: Option<String>,
    /// Personal information (identity numbers, telephones, addresses) is
    /// masked for staff; `POST …/personal-information` shows it in full.
    #[schema(value_type = Object)]
    pub form: Map<String, Value>,
    /// The keys of the form fields shown masked.
    pub masked_fields: Vec<String>,
    pub form_fields: Vec<zt_domain::item::FormField>,
    pub materials: Vec<MaterialInfo>,
    pub required_materials: Vec<MaterialStatus>,
    pub statutory_due_date: Option<String>,
    pub paused_days: i64,
    pub paused_since: Option<String>,
    pub current_step: Option<StepDef>,
    pub steps: Vec<StepDef>,
    /// What the applicant is asked to correct (一次性告知), while in 补正.
    #[schema(value_type = Option<Object>)]
    pub supplement: Option<Value>,
    pub timeline: Vec<EventView>,
    /// Actions the current user may take now.
    pub available_actions: Vec<Action>,
    pub rating: Option<RatingView>,
    pub rectification: Option<crate::ratings::RectificationView>,
    /// The electronic licence the case issued, once completed.
    pub licence: Option<crate::licence::LicenceView>,
    /// For a case migrated from V1.0: where it came from and what the
    /// migration had to interpret.
    pub v1: Option<V1Record>,
}

/// A migrated case's V1 facts (README of the bureau's handover, issue 6).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct V1Record {
    pub apply_id: i64,
    pub v1_status: String,
    /// V1 只记录到“分钟”或“日”的申报时间.
    pub filed_precision: String,
    /// V1's 承诺办结日期 (computed without holidays).
    pub v1_promise_date: Option<String>,
    /// The due date on the official calendar, where it covers the years.
    pub official_due_date: Option<String>,
    pub source_channel: Option<String>,
    /// What the migration interpreted or could not carry over, in Chinese.
    pub notes: Vec<String>,
}

fn v1_note(flag: &str, detail: &Value) -> Option<String> {
    Some(match flag {
        "material_not_transferred" => format!(
            "原系统材料（编号 {}）未能迁移：{}，已移交数据管理部门核实。",
            detail["material_id"],
            match detail["reason"].as_str() {
                Some("FILE_MISSING") => "文件缺失",
                _ => "文件与原记录的校验值不符",
            }
        ),
        "reduced_time_precision" => format!(
            "原系统的申报时间只记录到{}。",
            match detail["precision"].as_str() {
                Some("minute") => "分钟",
                _ => "日",
            }
        ),
        "recovered_finish_time" => "原系统未记录办结时间，取自办结环节的审批日志。".into(),
        "due_date_not_recomputed" => {
            "受理年份的法定节假日安排尚未导入，办结期限暂沿用原系统的承诺日期。".into()
        }
        "status_replay_mismatch" => "原系统的审批日志与办件状态不一致，以办件状态为准。".into(),
        "unknown_staff_reference" => "原系统记录的经办人已不存在。".into(),
        "form_lenient_parse" => "原系统的表单数据格式不规范，已尽量还原。".into(),
        _ => return None,
    })
}

async fn v1_record(app: &App, case_id: i64) -> Result<Option<V1Record>> {
    let mut conn = app.db.reader().acquire().await?;
    let Some(r) = cases::v1_record(&mut conn, case_id).await? else {
        return Ok(None);
    };
    let notes = cases::v1_case_flags(&mut conn, r.apply_id)
        .await?
        .iter()
        .filter_map(|(f, d)| v1_note(f, &serde_json::from_str(d).unwrap_or(Value::Null)))
        .collect();
    Ok(Some(V1Record {
        apply_id: r.apply_id,
        v1_status: r.v1_status,
        filed_precision: r.apply_time_precision,
        v1_promise_date: r.promise_date,
        official_due_date: r.official_due_date,
        source_channel: r.source_channel,
        notes,
    }))
}

// ---- helpers ----------------------------------------------------------------

fn status_of(row: &CaseRow) -> Result<CaseStatus> {
    CaseStatus::parse(&row.status)
        .ok_or_else(|| AppError::Store(StoreError::Corrupt(format!("status {}", row.status))))
}

fn state_of(row: &CaseRow) -> Result<CaseState> {
    Ok(CaseState {
        status: status_of(row)?,
        accepted: row.accepted != 0,
        step: usize::try_from(row.step).unwrap_or(0),
        signatures: serde_json::from_str::<Vec<Signature>>(&row.signatures)
            .map_err(StoreError::from)?,
    })
}

/// The warning colour of a running case on `today`.
pub fn warning_of(app: &App, row: &CaseRow, today: NaiveDate) -> Option<WarningLevel> {
    if row.status != "in_review" {
        return None;
    }
    let due = parse_day(row.due_date.as_deref()?).ok()?;
    match app
        .calendar()
        .warning(today, due, app.settings.yellow_within_days)
    {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::warn!(case_no = %row.case_no, error = %e, "cannot compute warning");
            None
        }
    }
}

pub fn summary_of(app: &App, row: &CaseRow, today: NaiveDate) -> Result<CaseSummary> {
    let status = status_of(row)?;
    Ok(CaseSummary {
        case_no: row.case_no.clone(),
        item_code: row.item_code.clone(),
        item_name: row.item_name.clone(),
        item_version: row.item_version,
        dept_name: row.dept_name.clone(),
        applicant_name: row.applicant_name.clone(),
        applicant_kind: row.applicant_kind.clone(),
        status,
        status_label: status.label_zh().into(),
        accepted_on: row.accepted_on.clone(),
        due_date: row.due_date.clone(),
        warning: warning_of(app, row, today),
        submitted_at: row.submitted_at.clone(),
        updated_at: row.updated_at.clone(),
        version: row.version,
    })
}

fn check_case_no(case_no: &str) -> Result<()> {
    if case_no::is_well_formed(case_no) {
        Ok(())
    } else {
        Err(AppError::not_found("CASE_NOT_FOUND", "该办件"))
    }
}

/// Loads a case the principal may see; others get the same 404 as a missing
/// case, so case numbers cannot be probed.
pub(crate) async fn load_visible(conn: &mut Conn, p: &Principal, case_no: &str) -> Result<CaseRow> {
    check_case_no(case_no)?;
    let row = cases::by_case_no(conn, case_no)
        .await?
        .ok_or_else(|| AppError::not_found("CASE_NOT_FOUND", "该办件"))?;
    if !p.may_view(&row) {
        return Err(AppError::not_found("CASE_NOT_FOUND", "该办件"));
    }
    Ok(row)
}

fn clean_text(s: &str, max: usize, field: &'static str, what: &str) -> Result<String> {
    let t = s.trim();
    if t.chars().count() > max {
        return Err(AppError::new(
            ErrorKind::Unprocessable,
            "TEXT_TOO_LONG",
            format!("{what}不能超过{max}个字。"),
        )
        .with_field(field));
    }
    if t.chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(AppError::new(
            ErrorKind::Unprocessable,
            "TEXT_CONTROL_CHAR",
            format!("{what}中含有无法识别的控制字符。"),
        )
        .with_field(field));
    }
    Ok(t.to_string())
}

// ---- filing -----------------------------------------------------------------

/// Creates a draft case for an item's current version.
pub async fn create_draft(
    app: &App,
    p: &Principal,
    client_addr: &str,
    item_code: &str,
    form: &Map<String, Value>,
) -> Result<CaseRow> {
    if !p.is_applicant() {
        return Err(AppError::new(
            ErrorKind::Forbidden,
            "APPLICANT_ONLY",
            "只有申请人可以提交办事申请。",
        ));
    }
    let (item, def) = crate::catalogue::get_item(app, item_code)
        .await
        .map_err(|e| match e.kind() {
            ErrorKind::NotFound => e.with_field("item_code"),
            _ => e,
        })?;
    if item.status != "published" {
        return Err(AppError::new(
            ErrorKind::Unprocessable,
            "ITEM_NOT_AVAILABLE",
            "该事项已暂停网上申请。",
        )
        .with_field("item_code"));
    }
    let kind = if p.org_uscc.is_some() && p.user_type == "agent" {
        ApplicantKind::Organisation
    } else {
        ApplicantKind::Person
    };
    if !def.applicant_kinds.contains(&kind) {
        let msg = match kind {
            ApplicantKind::Person => "该事项仅限法人（单位）申请，请使用法人账号办理。",
            ApplicantKind::Organisation => "该事项仅限自然人本人申请。",
        };
        return Err(
            AppError::new(ErrorKind::Unprocessable, "APPLICANT_KIND_NOT_ALLOWED", msg)
                .with_field("item_code"),
        );
    }
    if let Some(min) = &def.min_real_name_level {
        if p.real_name_level.as_str() < min.as_str() {
            return Err(AppError::new(
                ErrorKind::Forbidden,
                "REAL_NAME_LEVEL_TOO_LOW",
                format!(
                    "办理该事项需要{min}级实名认证，您当前为{}级。请通过统一身份认证平台完成实名核验后再申请。",
                    p.real_name_level.trim_start_matches('L')
                ),
            ));
        }
    }
    let form = def.validate_form(form)?;
    let now = app.clock.now();
    let today = app.clock.today();
    let at = ts(now);
    let (applicant_name, kind_str, org_uscc, org_name) = match kind {
        ApplicantKind::Person => (p.display_name.clone(), "person", None, None),
        ApplicantKind::Organisation => (
            p.org_name.clone().unwrap_or_default(),
            "organisation",
            p.org_uscc.as_deref(),
            p.org_name.as_deref(),
        ),
    };
    let form_json = serde_json::to_string(&form).map_err(|e| AppError::Internal(e.to_string()))?;
    let mut tx = app.begin().await?;
    let seq =
        cases::next_sequence(&mut tx, &case_no::sequence_key(today, &item.region_code)).await?;
    let number = case_no::format_case_no(today, &item.region_code, u64::try_from(seq).unwrap_or(0));
    let form_json = app
        .pii
        .seal(&crate::pii::ctx_case_form(&number), &form_json);
    let id = cases::insert(
        &mut tx,
        &NewCase {
            case_no: &number,
            item_id: item.id,
            item_version: item.current_version,
            dept_id: item.dept_id,
            applicant_id: p.user_id,
            applicant_name: &applicant_name,
            applicant_kind: kind_str,
            org_uscc,
            org_name,
            form: &form_json,
            now: &at,
        },
    )
    .await?;
    cases::append_event(
        &mut tx,
        &NewEvent {
            case_id: id,
            action: "create",
            from_status: None,
            to_status: "draft",
            actor_id: Some(p.user_id),
            actor_name: &p.display_name,
            actor_role: Role::Applicant.as_str(),
            opinion: None,
            detail: &json!({"item_version": item.current_version}).to_string(),
            at: &at,
        },
    )
    .await?;
    audit(
        &mut tx,
        &at,
        &Origin::of(p, client_addr),
        "case_create",
        &format!("case:{number}"),
        "success",
        json!({}),
    )
    .await?;
    let row = cases::by_case_no(&mut tx, &number)
        .await?
        .ok_or(StoreError::NotFound)?;
    tx.commit().await?;
    Ok(row)
}

/// Replaces the form of a draft, or of a case returned for correction.
pub async fn update_form(
    app: &App,
    p: &Principal,
    client_addr: &str,
    case_no: &str,
    form: &Map<String, Value>,
) -> Result<()> {
    let at = app.now_ts();
    let mut tx = app.begin().await?;
    let row = load_visible(&mut tx, p, case_no).await?;
    if !p.owns(&row) {
        return Err(AppError::forbidden());
    }
    if !matches!(row.status.as_str(), "draft" | "supplement_requested") {
        return Err(AppError::new(
            ErrorKind::Conflict,
            "CASE_NOT_EDITABLE",
            "办件已提交，不能再修改申请内容。",
        ));
    }
    let def = items::version(&mut tx, row.item_id, row.item_version).await?;
    let form = def.validate_form(form)?;
    let form_json = serde_json::to_string(&form).map_err(|e| AppError::Internal(e.to_string()))?;
    let form_json = app
        .pii
        .seal(&crate::pii::ctx_case_form(case_no), &form_json);
    cases::update_form(&mut tx, row.id, row.version, &form_json, &at)
        .await
        .map_err(conflict)?;
    audit(
        &mut tx,
        &at,
        &Origin::of(p, client_addr),
        "case_form_update",
        &format!("case:{case_no}"),
        "success",
        json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

fn conflict(e: StoreError) -> AppError {
    match e {
        StoreError::Conflict => AppError::conflict(),
        other => other.into(),
    }
}

/// Stores an uploaded material of a draft, or of a case returned for correction.
pub async fn upload_material(
    app: &App,
    p: &Principal,
    client_addr: &str,
    case_no: &str,
    material_code: &str,
    file_name: &str,
    data: Bytes,
) -> Result<MaterialInfo> {
    let row = {
        let mut c = app.read().await?;
        load_visible(&mut c, p, case_no).await?
    };
    if !p.owns(&row) {
        return Err(AppError::forbidden());
    }
    if !matches!(row.status.as_str(), "draft" | "supplement_requested") {
        return Err(AppError::new(
            ErrorKind::Conflict,
            "CASE_NOT_EDITABLE",
            "办件已提交，不能再上传材料；如需补充，请等待补正告知。",
        ));
    }
    let def = {
        let mut c = app.read().await?;
        items::version(&mut c, row.item_id, row.item_version).await?
    };
    let mdef = def.material(material_code).ok_or_else(|| {
        AppError::new(
            ErrorKind::Unprocessable,
            "MATERIAL_UNKNOWN",
            "本事项不需要该材料，请从材料清单中选择。",
        )
        .with_field("material_code")
    })?;
    let limit = mdef.max_bytes.unwrap_or(app.settings.max_upload_bytes);
    if data.len() as u64 > limit {
        return Err(AppError::new(
            ErrorKind::TooLarge,
            "UPLOAD_TOO_LARGE",
            format!("文件过大：每份材料不能超过{}MB。", limit / (1024 * 1024)),
        )
        .with_field("file"));
    }
    if data.is_empty() {
        return Err(AppError::new(
            ErrorKind::Unprocessable,
            "UPLOAD_EMPTY",
            "上传的文件是空的，请重新选择。",
        )
        .with_field("file"));
    }
    // Malicious code first: an infected file is reported as such, whatever
    // its type, and the refusal is a security event.
    scan_upload(app, p, client_addr, case_no, material_code, &data).await?;
    let kind = upload::sniff(&data).ok_or_else(|| {
        AppError::new(
            ErrorKind::UnsupportedMedia,
            "UPLOAD_TYPE_NOT_ALLOWED",
            "只能上传PDF、OFD、JPG或PNG格式的文件。",
        )
        .with_field("file")
    })?;
    let name = upload::display_name(file_name, kind);
    let key = FileStore::new_key(case_no);
    let digest = sm3_hex(&data);
    let size = data.len() as i64;
    app.files.put(&key, data).await?;
    let at = app.now_ts();
    let result: Result<MaterialInfo> = async {
        let mut tx = app.begin().await?;
        // Take the case's lock so that an upload and a submission cannot interleave.
        cases::bump_version(&mut tx, row.id, row.version, &at)
            .await
            .map_err(conflict)?;
        let m = MaterialRow {
            id: 0,
            case_id: row.id,
            material_code: material_code.to_string(),
            file_name: name.clone(),
            content_type: kind.mime().into(),
            size_bytes: size,
            digest: digest.clone(),
            storage_key: key.clone(),
            uploaded_by: p.user_id,
            uploaded_at: at.clone(),
            is_current: 1,
        };
        let id = cases::insert_material(&mut tx, &m).await?;
        audit(
            &mut tx,
            &at,
            &Origin::of(p, client_addr),
            "material_upload",
            &format!("case:{case_no}"),
            "success",
            json!({"material_code": material_code, "sm3": digest, "size": size}),
        )
        .await?;
        tx.commit().await?;
        Ok(material_info(&MaterialRow { id, ..m }))
    }
    .await;
    if result.is_err() {
        // The row was not written: remove the orphan file.
        if let Err(e) = app.files.delete(&key).await {
            tracing::warn!(error = %e, key, "could not remove file of a failed upload");
        }
    }
    result
}

/// Runs the scanner; a finding is refused and audited, and a scanner that
/// cannot answer refuses the upload too (fail closed).
async fn scan_upload(
    app: &App,
    p: &Principal,
    client_addr: &str,
    case_no: &str,
    material_code: &str,
    data: &[u8],
) -> Result<()> {
    let (finding, refusal) = match app.scanner.scan(data).await {
        Ok(zt_scanner::Verdict::Clean) => return Ok(()),
        Ok(zt_scanner::Verdict::Rejected(f)) => {
            let e = AppError::new(ErrorKind::Unprocessable, f.code, f.message.clone())
                .with_field("file");
            (json!({"code": f.code, "detail": f.detail}), e)
        }
        Err(e) => {
            tracing::error!(error = %e, "upload scanner unavailable: upload refused");
            (
                json!({"code": e.code(), "detail": e.to_string()}),
                AppError::new(ErrorKind::Unavailable, e.code(), e.user_message()),
            )
        }
    };
    let at = app.now_ts();
    let mut tx = app.begin().await?;
    audit(
        &mut tx,
        &at,
        &Origin::of(p, client_addr),
        "upload_rejected",
        &format!("case:{case_no}"),
        "denied",
        json!({"material_code": material_code, "size": data.len(), "sm3": sm3_hex(data), "finding": finding}),
    )
    .await?;
    tx.commit().await?;
    Err(refusal)
}

fn material_info(m: &MaterialRow) -> MaterialInfo {
    MaterialInfo {
        id: m.id,
        material_code: m.material_code.clone(),
        file_name: m.file_name.clone(),
        content_type: m.content_type.clone(),
        size_bytes: m.size_bytes,
        digest_sm3: m.digest.clone(),
        uploaded_at: m.uploaded_at.clone(),
        current: m.is_current != 0,
    }
}

/// Reads a stored material, verifying its digest.
pub async fn download_material(
    app: &App,
    p: &Principal,
    case_no: &str,
    material_id: i64,
) -> Result<(MaterialInfo, Bytes)> {
    let mut c = app.read().await?;
    let row = load_visible(&mut c, p, case_no).await?;
    let m = cases::material(&mut c, row.id, material_id)
        .await?
        .ok_or_else(|| AppError::not_found("MATERIAL_NOT_FOUND", "该材料"))?;
    drop(c);
    let data = app.files.get_verified(&m.storage_key, &m.digest).await.map_err(|e| {
        tracing::error!(case_no, material_id, error = %e, "stored material failed its integrity check");
        AppError::new(ErrorKind::Internal, "MATERIAL_INTEGRITY", "该材料文件校验失败，已通知管理员处理。")
    })?;
    Ok((material_info(&m), data))
}

// ---- transitions -------------------------------------------------------------

/// An action as requested by a user.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActionRequest {
    pub action: String,
    #[serde(default)]
    pub opinion: Option<String>,
    /// Everything the applicant must correct (for `request_supplement`).
    #[serde(default)]
    pub supplement_items: Vec<String>,
    /// hearing | appraisal | expert_review | publicity (for `suspend`).
    #[serde(default)]
    pub procedure: Option<String>,
    /// The case version the user saw; if the case changed since, 409.
    #[serde(default)]
    pub version: Option<i64>,
}

fn parse_request(req: &ActionRequest) -> Result<(Action, ActionInput)> {
    let action = Action::parse(&req.action).ok_or_else(|| {
        AppError::new(
            ErrorKind::Unprocessable,
            "ACTION_UNKNOWN",
            "不支持的办理操作。",
        )
        .with_field("action")
    })?;
    let opinion = match &req.opinion {
        Some(o) => Some(clean_text(o, MAX_OPINION_CHARS, "opinion", "办理意见")?),
        None => None,
    };
    if req.supplement_items.len() > MAX_SUPPLEMENT_ITEMS {
        return Err(AppError::new(
            ErrorKind::Unprocessable,
            "SUPPLEMENT_TOO_MANY",
            "补正事项不能超过50条。",
        )
        .with_field("supplement_items"));
    }
    let supplement_items = req
        .supplement_items
        .iter()
        .map(|s| clean_text(s, 200, "supplement_items", "补正事项"))
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect();
    let procedure = match req.procedure.as_deref() {
        None | Some("") => None,
        Some(s) => Some(
            serde_json::from_value::<Procedure>(Value::String(s.into())).map_err(|_| {
                AppError::new(
                    ErrorKind::Unprocessable,
                    "PROCEDURE_UNKNOWN",
                    "特别程序类型应为听证、鉴定、专家评审或公示。",
                )
                .with_field("procedure")
            })?,
        ),
    };
    Ok((
        action,
        ActionInput {
            opinion,
            supplement_items,
            procedure,
        },
    ))
}

/// The role in which a user takes an action: the first of their roles that
/// the state machine accepts. When none does, the most telling refusal.
fn decide(
    state: &CaseState,
    steps: &[StepDef],
    action: Action,
    p: &Principal,
    input: &ActionInput,
) -> std::result::Result<(Role, dcase::Outcome), DomainError> {
    let mut refusal = None;
    for role in &p.roles {
        match dcase::apply(
            state,
            steps,
            action,
            Actor {
                user_id: p.user_id,
                role: *role,
            },
            input,
        ) {
            Ok(out) => return Ok((*role, out)),
            Err(e @ DomainError::RoleNotAllowed { .. }) => {
                refusal.get_or_insert(e);
            }
            Err(e) => refusal = Some(e),
        }
    }
    Err(refusal.unwrap_or(DomainError::RoleNotAllowed {
        action: action.as_str(),
    }))
}

pub async fn act(
    app: &App,
    p: &Principal,
    client_addr: &str,
    case_no: &str,
    req: &ActionRequest,
) -> Result<CaseRow> {
    let (action, input) = parse_request(req)?;
    if action == Action::Submit {
        // Before the transaction: the register is asked over the network.
        crate::verification::check_before_submit(app, p, client_addr, case_no).await?;
    }
    let now = app.clock.now();
    let today = app.clock.today();
    let at = ts(now);
    let cal = app.calendar();
    let mut tx = app.begin().await?;
    let row = load_visible(&mut tx, p, case_no).await?;
    // Applicants act on their own cases only; staff on their department's.
    let allowed = if action.is_applicant_action() {
        p.owns(&row)
    } else {
        p.serves(&row)
    };
    if !allowed {
        return Err(AppError::Domain(DomainError::RoleNotAllowed {
            action: action.as_str(),
        }));
    }
    if req.version.is_some_and(|v| v != row.version) {
        return Err(AppError::conflict());
    }
    let def = items::version(&mut tx, row.item_id, row.item_version).await?;
    let state = state_of(&row)?;
    if matches!(action, Action::Submit | Action::Resubmit) {
        check_materials(&mut tx, &row, &def).await?;
    }
    let (role, outcome) = decide(&state, &def.steps, action, p, &input)?;

    // The statutory clock.
    let mut accepted_on = row.accepted_on.clone();
    let mut due = row.due_date.clone();
    let mut statutory_due = row.statutory_due_date.clone();
    let mut paused_days = row.paused_days;
    let mut paused_since = row.paused_since.clone();
    let mut clock_detail = json!({});
    match outcome.clock {
        ClockEffect::Start => {
            accepted_on = Some(day(today));
            due = Some(day(cal.due_date(today, def.promised_days, 0)?));
            statutory_due = Some(day(cal.due_date(today, def.statutory_days, 0)?));
            clock_detail = json!({"accepted_on": accepted_on, "due_date": due});
        }
        ClockEffect::Pause => {
            paused_since = Some(day(today));
        }
        ClockEffect::Resume | ClockEffect::Stop if paused_since.is_some() => {
            let since = parse_day(paused_since.as_deref().unwrap_or_default())?;
            let lost = cal.working_days_between(since, today)?;
            paused_days += i64::from(lost);
            paused_since = None;
            if let Some(acc) = accepted_on.as_deref() {
                let acc = parse_day(acc)?;
                let pd = u32::try_from(paused_days).unwrap_or(0);
                due = Some(day(cal.due_date(acc, def.promised_days, pd)?));
                statutory_due = Some(day(cal.due_date(acc, def.statutory_days, pd)?));
            }
            clock_detail = json!({"paused_working_days": lost, "due_date": due});
        }
        _ => {}
    }

    let new_status = outcome.state.status;
    let supplement = match action {
        Action::RequestSupplement => Some(
            json!({"items": input.supplement_items, "opinion": input.opinion, "requested_at": at, "by": p.display_name})
                .to_string(),
        ),
        Action::Resubmit => None,
        _ => row.supplement.clone(),
    };
    let submitted_at = match action {
        Action::Submit => Some(at.clone()),
        _ => row.submitted_at.clone(),
    };
    let decided_at = match new_status {
        CaseStatus::Approved | CaseStatus::Denied if row.decided_at.is_none() => Some(at.clone()),
        _ => row.decided_at.clone(),
    };
    let completed_at = if new_status == CaseStatus::Completed {
        Some(at.clone())
    } else {
        row.completed_at.clone()
    };
    let signatures = serde_json::to_string(&outcome.state.signatures)
        .map_err(|e| AppError::Internal(e.to_string()))?;
    cases::update_state(
        &mut tx,
        row.id,
        row.version,
        &StateUpdate {
            status: new_status.as_str(),
            accepted: outcome.state.accepted,
            step: i64::try_from(outcome.state.step).unwrap_or(0),
            signatures: &signatures,
            supplement: supplement.as_deref(),
            accepted_on: accepted_on.as_deref(),
            due_date: due.as_deref(),
            statutory_due_date: statutory_due.as_deref(),
            paused_days,
            paused_since: paused_since.as_deref(),
            submitted_at: submitted_at.as_deref(),
            decided_at: decided_at.as_deref(),
            completed_at: completed_at.as_deref(),
            now: &at,
        },
    )
    .await
    .map_err(conflict)?;
    // The licence is decided with the completion, sealed later (outbox).
    let licence_no = if new_status == CaseStatus::Completed {
        let form = open_form(app, &row)?;
        crate::licence::decide(app, &mut tx, &row, &def, &form, now).await?
    } else {
        None
    };

    let mut detail = clock_detail;
    if let Some(n) = &licence_no {
        detail["licence_no"] = json!(n);
    }
    if let Some(i) = outcome.step_completed {
        detail["step"] = json!(def.steps.get(i).map(|s| s.name.clone()));
    } else if action == Action::ApproveStep {
        detail["step"] = json!(def.steps.get(state.step).map(|s| s.name.clone()));
        detail["countersign"] = json!("partial");
    }
    if !input.supplement_items.is_empty() && action == Action::RequestSupplement {
        detail["supplement_items"] = json!(input.supplement_items);
    }
    if let Some(proc_) = input.procedure.filter(|_| action == Action::Suspend) {
        detail["procedure"] = json!(proc_.label_zh());
    }
    let event_seq = cases::append_event(
        &mut tx,
        &NewEvent {
            case_id: row.id,
            action: action.as_str(),
            from_status: Some(&row.status),
            to_status: new_status.as_str(),
            actor_id: Some(p.user_id),
            actor_name: &p.display_name,
            actor_role: role.as_str(),
            opinion: input.opinion.as_deref(),
            detail: &detail.to_string(),
            at: &at,
        },
    )
    .await?;
    if let Some(event) = crate::outbox::gx_event(action, new_status) {
        crate::outbox::enqueue_case_event(
            app,
            &mut tx,
            &row,
            event,
            now,
            json!({"status": new_status.as_str(), "event_seq": event_seq, "actor_role": role.as_str()}),
        )
        .await?;
    }
    let decision = match (action, new_status) {
        (Action::RejectIntake, _) => Some("reject_intake"),
        (Action::Deny, _) => Some("deny"),
        (Action::ApproveStep, CaseStatus::Approved) => Some("approve"),
        _ => None,
    };
    if let Some(decision) = decision {
        let payload = crate::signing::decision_payload(
            case_no,
            decision,
            input.opinion.as_deref(),
            p.user_id,
            &p.display_name,
            role.as_str(),
            &at,
            event_seq,
        );
        zt_store::signatures::insert(
            &mut tx,
            &zt_store::signatures::NewSignature {
                case_id: row.id,
                case_no,
                event_seq,
                decision,
                payload: &payload,
                signature: &app.signer.sign(&payload),
                key_id: app.signer.key_id(),
                signed_at: &at,
            },
        )
        .await?;
    }
    audit(
        &mut tx,
        &at,
        &Origin::of(p, client_addr),
        &format!("case_{}", action.as_str()),
        &format!("case:{case_no}"),
        "success",
        json!({"from": row.status, "to": new_status.as_str(), "role": role.as_str()}),
    )
    .await?;
    let status_changed = new_status.as_str() != row.status;
    let mut sms_to = None;
    let text = format!(
        "您的办件{}（{}）状态更新为“{}”。",
        row.case_no,
        row.item_name,
        new_status.label_zh()
    );
    if status_changed && !action.is_applicant_action() {
        let body = match (action, &input.opinion) {
            (Action::RequestSupplement, _) => format!(
                "{text}请按补正告知一次性补齐以下内容：{}",
                input.supplement_items.join("；")
            ),
            (_, Some(o)) => format!("{text}办理意见：{o}"),
            _ => text.clone(),
        };
        notify::inbox(
            &mut tx,
            row.applicant_id,
            Some(row.id),
            &format!("办件{}", new_status.label_zh()),
            &body,
            &at,
        )
        .await?;
        sms_to = match users::by_id(&mut tx, row.applicant_id).await? {
            Some(u) => app.pii.open_opt(
                &crate::pii::ctx_user_mobile(&u.username),
                u.mobile.as_deref(),
            )?,
            None => None,
        };
    } else if status_changed {
        notify::inbox(
            &mut tx,
            row.applicant_id,
            Some(row.id),
            &format!("办件{}", new_status.label_zh()),
            &text,
            &at,
        )
        .await?;
    }
    let updated = cases::by_case_no(&mut tx, case_no)
        .await?
        .ok_or(StoreError::NotFound)?;
    tx.commit().await?;
    notify::sms_after_commit(app.sms.as_ref(), sms_to.as_deref(), &text).await;
    Ok(updated)
}

/// Every required material must be present before (re)submission; all
/// missing ones are named at once.
async fn check_materials(conn: &mut Conn, row: &CaseRow, def: &ItemDefinition) -> Result<()> {
    let have = cases::materials(conn, row.id).await?;
    let missing: Vec<_> = def
        .materials
        .iter()
        .filter(|m| {
            m.required
                && !have
                    .iter()
                    .any(|h| h.is_current != 0 && h.material_code == m.code)
        })
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(AppError::Invalid(
        missing
            .iter()
            .map(|m| {
                zt_domain::FieldError::new(
                    format!("materials.{}", m.code),
                    "CASE_MATERIALS_MISSING",
                    format!(
                        "请上传必需的申请材料：{}。",
                        missing
                            .iter()
                            .map(|m| m.name.as_str())
                            .collect::<Vec<_>>()
                            .join("、")
                    ),
                )
            })
            .collect(),
    ))
}

// ---- reading -------------------------------------------------------------------

pub async fn detail(app: &App, p: &Principal, case_no: &str) -> Result<CaseDetail> {
    let today = app.clock.today();
    let mut c = app.read().await?;
    let row = load_visible(&mut c, p, case_no).await?;
    let def = items::version(&mut c, row.item_id, row.item_version).await?;
    let mats = cases::materials(&mut c, row.id).await?;
    let events = cases::events(&mut c, row.id).await?;
    let rating = ratings::for_case(&mut c, row.id).await?;
    let licence = match zt_store::licences::by_case(&mut c, row.id).await? {
        Some(l) => Some(crate::licence::view(app, &mut c, &l).await?),
        None => None,
    };
    let rectification = if p.serves(&row) {
        zt_store::ratings::rectification_for_case(&mut c, row.id)
            .await?
            .map(crate::ratings::rect_view)
    } else {
        None
    };
    drop(c);
    let state = state_of(&row)?;
    let mut available: Vec<Action> = Vec::new();
    for role in &p.roles {
        let applicable = if role == &Role::Applicant {
            p.owns(&row)
        } else {
            p.serves(&row)
        };
        if applicable {
            for a in dcase::available_actions(
                &state,
                &def.steps,
                Actor {
                    user_id: p.user_id,
                    role: *role,
                },
            ) {
                if !available.contains(&a) {
                    available.push(a);
                }
            }
        }
    }
    let summary = summary_of(app, &row, today)?;
    let required_materials = def
        .materials
        .iter()
        .map(|m| MaterialStatus {
            definition: m.clone(),
            uploaded: mats
                .iter()
                .any(|h| h.is_current != 0 && h.material_code == m.code),
        })
        .collect();
    let running = matches!(
        state.status,
        CaseStatus::InReview | CaseStatus::Suspended | CaseStatus::SupplementRequested
    );
    let mut form = open_form(app, &row)?;
    Ok(CaseDetail {
        dept_name: row.dept_name.clone(),
        org_uscc: row.org_uscc.clone(),
        org_name: row.org_name.clone(),
        masked_fields: if p.owns(&row) {
            Vec::new()
        } else {
            zt_domain::mask::mask_form(&def.form_fields, &mut form)
        },
        form,
        form_fields: def.form_fields.clone(),
        materials: mats.iter().map(material_info).collect(),
        required_materials,
        statutory_due_date: row.statutory_due_date.clone(),
        paused_days: row.paused_days,
        paused_since: row.paused_since.clone(),
        current_step: if running && state.accepted {
            def.steps.get(state.step).cloned()
        } else {
            None
        },
        steps: def.steps.clone(),
        supplement: match (&row.supplement, state.status) {
            (Some(s), CaseStatus::SupplementRequested) => serde_json::from_str(s).ok(),
            _ => None,
        },
        timeline: events.iter().map(event_view).collect(),
        available_actions: available,
        rating: rating.map(|r| RatingView {
            score: r.score,
            label: zt_domain::rating::label_of(u8::try_from(r.score).unwrap_or(1)).into(),
            comment: r.comment,
            created_at: r.created_at,
        }),
        rectification,
        licence,
        v1: v1_record(app, row.id).await?,
        summary,
    })
}

/// The signed decisions of a case, each checked against the platform's key.
pub async fn signatures(
    app: &App,
    p: &Principal,
    case_no: &str,
) -> Result<Vec<crate::signing::SignatureView>> {
    let mut c = app.read().await?;
    let row = load_visible(&mut c, p, case_no).await?;
    let rows = zt_store::signatures::for_case(&mut c, row.id).await?;
    Ok(rows
        .into_iter()
        .map(|s| crate::signing::SignatureView {
            valid: s.key_id == app.signer.key_id()
                && crate::signing::verifies(app.signer.public_key_pem(), &s.payload, &s.signature),
            event_seq: s.event_seq,
            decision: s.decision,
            payload: s.payload,
            signature: s.signature,
            key_id: s.key_id,
            signed_at: s.signed_at,
        })
        .collect())
}

fn open_form(app: &App, row: &CaseRow) -> Result<Map<String, Value>> {
    Ok(serde_json::from_str(
        &app.pii
            .open(&crate::pii::ctx_case_form(&row.case_no), &row.form)?,
    )
    .map_err(StoreError::from)?)
}

/// The unmasked form for staff serving the case, when their work needs the
/// full identity number, telephone or address. Every such view is audited.
pub async fn reveal_form(
    app: &App,
    p: &Principal,
    client_addr: &str,
    case_no: &str,
) -> Result<Map<String, Value>> {
    let (row, def) = {
        let mut c = app.read().await?;
        let row = load_visible(&mut c, p, case_no).await?;
        let def = items::version(&mut c, row.item_id, row.item_version).await?;
        (row, def)
    };
    if !p.serves(&row) {
        return Err(AppError::forbidden());
    }
    let form = open_form(app, &row)?;
    let fields: Vec<&str> = def
        .form_fields
        .iter()
        .filter(|f| zt_domain::mask::masker(f).is_some() && form.contains_key(&f.key))
        .map(|f| f.key.as_str())
        .collect();
    let at = app.now_ts();
    let mut tx = app.begin().await?;
    audit(
        &mut tx,
        &at,
        &Origin::of(p, client_addr),
        "pii_view",
        &format!("case:{case_no}"),
        "success",
        json!({"fields": fields}),
    )
    .await?;
    tx.commit().await?;
    Ok(form)
}

fn event_view(e: &EventRow) -> EventView {
    EventView {
        seq: e.seq,
        action: e.action.clone(),
        action_label: {
            let base = match e.action.as_str() {
                "create" => "创建申请",
                "v1_delete" => "原系统管理员删除",
                "v1_unknown" => "原系统操作",
                a => Action::label_of(a),
            };
            // History from V1: what it logged, and what the migration
            // could only infer.
            let detail: Value = serde_json::from_str(&e.detail).unwrap_or(Value::Null);
            if detail["v1"]["text_damaged"] == Value::Bool(true) {
                format!("{base}（原系统记录，部分文字在原系统中已损坏）")
            } else if detail.get("v1").is_some() {
                format!("{base}（原系统记录）")
            } else if detail.get("v1_derived").is_some() {
                format!("{base}（据原系统数据推定）")
            } else {
                base.to_string()
            }
        },
        from_status: e.from_status.clone(),
        to_status: e.to_status.clone(),
        actor_name: e.actor_name.clone(),
        actor_role: e.actor_role.clone(),
        opinion: e.opinion.clone(),
        detail: serde_json::from_str(&e.detail).unwrap_or(Value::Null),
        at: e.at.clone(),
    }
}

/// Filters as a user gives them.
#[derive(Debug, Clone, Default, Deserialize, ToSchema, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Comma-separated statuses.
    pub status: Option<String>,
    pub item_code: Option<String>,
    /// Case number or applicant name.
    pub q: Option<String>,
    /// yellow (one working day or less left, or overdue) | red (overdue)
    pub warning: Option<String>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

pub async fn list(app: &App, p: &Principal, q: &ListQuery) -> Result<(Vec<CaseSummary>, i64)> {
    let scope = p.case_scope().ok_or_else(AppError::forbidden)?;
    let today = app.clock.today();
    let mut statuses = Vec::new();
    for s in q
        .status
        .as_deref()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let st = CaseStatus::parse(s).ok_or_else(|| {
            AppError::bad_request(
                "STATUS_UNKNOWN",
                format!(
                    "未知的办件状态“{}”。",
                    s.chars().take(30).collect::<String>()
                ),
            )
            .with_field("status")
        })?;
        statuses.push(st.as_str().to_string());
    }
    if q.q.as_deref().is_some_and(|s| s.chars().count() > 50) {
        return Err(
            AppError::bad_request("QUERY_TOO_LONG", "搜索内容不能超过50个字。").with_field("q"),
        );
    }
    let mut filter = CaseFilter {
        statuses,
        item_code: q.item_code.clone().filter(|s| !s.is_empty()),
        q: q.q.clone(),
        limit: q.limit.unwrap_or(50).clamp(1, 200),
        offset: q.offset.unwrap_or(0).max(0),
        ..Default::default()
    };
    match q.warning.as_deref() {
        None | Some("") => {}
        Some("red") => {
            filter.statuses = vec!["in_review".into()];
            filter.due_before = Some(day(today));
        }
        Some("yellow") => {
            filter.statuses = vec!["in_review".into()];
            let limit = app
                .calendar()
                .add_working_days(today, app.settings.yellow_within_days)?;
            filter.due_by = Some(day(limit));
        }
        Some(_) => {
            return Err(
                AppError::bad_request("WARNING_UNKNOWN", "预警级别应为 yellow 或 red。")
                    .with_field("warning"),
            )
        }
    }
    let mut c = app.read().await?;
    let rows = cases::list(&mut c, &scope, &filter).await?;
    let total = cases::count(&mut c, &scope, &filter).await?;
    let list = rows
        .iter()
        .map(|r| summary_of(app, r, today))
        .collect::<Result<Vec<_>>>()?;
    Ok((list, total))
}
