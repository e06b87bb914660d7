//! Personal-information protection by GB/T 35273-2020: the privacy notice
//! (个人信息保护政策) and consent to it, self-registration of natural
//! persons, and the applicant's rights — to see and copy everything the
//! platform holds about them, to correct it, and to withdraw consent by
//! closing the account (注销). Case records stay, as the archives rules
//! require; the personal information of a closed account is anonymised by
//! [`retention`] once `Settings::pi_retention` has passed and its cases are
//! finished.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use utoipa::ToSchema;
use zt_domain::case::CaseStatus;
use zt_domain::ids::{IdNumber, Mobile};
use zt_domain::role::Role;
use zt_store::privacy::{self as store, ConsentRow, DeletionRequestRow};
use zt_store::time::ts;
use zt_store::users::{self, NewUser, UserRow};
use zt_store::{items, notifications, sessions, StoreError};

use crate::cases::{CaseSummary, EventView, MaterialInfo, RatingView};
use crate::error::{AppError, ErrorKind, Result};
use crate::pii::{ctx_case_form, ctx_user_id_number, ctx_user_mobile, sealed_personal};
use crate::principal::Principal;
use crate::state::{audit, App, Origin};

/// The version of the privacy notice in force. A new version is a new file
/// beside `notice-v1.md` and a new value here; consents name the version
/// they were given to.
pub const NOTICE_VERSION: &str = "v1";

/// The text of the notice in force (Markdown: headings, paragraphs, lists).
pub const NOTICE_TEXT: &str = include_str!("../../../data/privacy/notice-v1.md");

/// The display name an anonymised account gets, followed by its id.
pub const ANONYMISED_NAME: &str = "已注销用户";

/// The username an anonymised account gets, followed by its id (reserved:
/// nobody may register a name of this form).
pub const ANONYMISED_USERNAME_PREFIX: &str = "deleted-";

/// Longest reason one may give for closing one's account.
pub const MAX_REASON_CHARS: usize = 500;

fn unprocessable(code: &'static str, msg: impl Into<String>, field: &str) -> AppError {
    AppError::new(ErrorKind::Unprocessable, code, msg).with_field(field)
}

// ---- the notice -------------------------------------------------------------

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NoticeView {
    /// Send this as `notice_version` when consenting.
    pub version: String,
    pub title: String,
    /// The notice in Markdown.
    pub text: String,
}

pub fn notice() -> NoticeView {
    NoticeView {
        version: NOTICE_VERSION.into(),
        title: notice_title().into(),
        text: NOTICE_TEXT.into(),
    }
}

/// The notice's first heading.
pub fn notice_title() -> &'static str {
    NOTICE_TEXT
        .lines()
        .find_map(|l| l.strip_prefix("# "))
        .map(str::trim)
        .unwrap_or("个人信息保护政策")
}

// ---- views ------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ConsentView {
    pub notice_version: String,
    pub given_at: String,
    pub client_addr: String,
    pub withdrawn_at: Option<String>,
    /// Given to the version in force and not withdrawn.
    pub current: bool,
}

fn consent_view(c: ConsentRow) -> ConsentView {
    ConsentView {
        current: c.notice_version == NOTICE_VERSION && c.withdrawn_at.is_none(),
        notice_version: c.notice_version,
        given_at: c.given_at,
        client_addr: c.client_addr,
        withdrawn_at: c.withdrawn_at,
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeletionRequestView {
    pub requested_at: String,
    pub client_addr: String,
    pub reason: Option<String>,
    /// When the account's personal information was anonymised.
    pub completed_at: Option<String>,
}

fn deletion_view(d: DeletionRequestRow) -> DeletionRequestView {
    DeletionRequestView {
        requested_at: d.requested_at,
        client_addr: d.client_addr,
        reason: d.reason,
        completed_at: d.completed_at,
    }
}

/// Everything the account holds about its owner, in full: it is theirs.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PersonalInformation {
    pub username: String,
    pub display_name: String,
    /// person | agent
    pub user_type: String,
    pub id_number: Option<String>,
    pub mobile: Option<String>,
    pub org_uscc: Option<String>,
    pub org_name: Option<String>,
    /// L1 (registered online, not verified) … L3.
    pub real_name_level: String,
    /// False once real-name verified above L1 (see `PUT /api/v1/me/profile`).
    pub id_number_editable: bool,
    pub created_at: String,
    pub consents: Vec<ConsentView>,
    /// The notice version in force.
    pub notice_version: String,
}

fn require_applicant(p: &Principal) -> Result<()> {
    if p.is_applicant() {
        Ok(())
    } else {
        Err(AppError::new(
            ErrorKind::Forbidden,
            "PI_RIGHTS_APPLICANT_ONLY",
            "在线查阅、下载、更正个人信息和注销账号面向申请人账号；工作人员和管理员账号的信息由所在单位管理，请联系系统管理员办理。",
        ))
    }
}

fn id_number_editable(level: &str) -> bool {
    level <= "L1"
}

async fn own_row(app: &App, p: &Principal) -> Result<UserRow> {
    let mut c = app.read().await?;
    users::by_id(&mut c, p.user_id)
        .await?
        .ok_or_else(AppError::unauthenticated)
}

fn open_numbers(app: &App, u: &UserRow) -> Result<(Option<String>, Option<String>)> {
    Ok((
        app.pii
            .open_opt(&ctx_user_id_number(&u.username), u.id_number.as_deref())?,
        app.pii
            .open_opt(&ctx_user_mobile(&u.username), u.mobile.as_deref())?,
    ))
}

/// One's own personal information in full, with one's consents.
pub async fn personal_information(app: &App, p: &Principal) -> Result<PersonalInformation> {
    require_applicant(p)?;
    let u = own_row(app, p).await?;
    let consents = {
        let mut c = app.read().await?;
        store::consents(&mut c, u.id).await?
    };
    let (id_number, mobile) = open_numbers(app, &u)?;
    Ok(PersonalInformation {
        id_number_editable: id_number_editable(&u.real_name_level),
        username: u.username,
        display_name: u.display_name,
        user_type: u.user_type,
        id_number,
        mobile,
        org_uscc: u.org_uscc,
        org_name: u.org_name,
        real_name_level: u.real_name_level,
        created_at: u.created_at,
        consents: consents.into_iter().map(consent_view).collect(),
        notice_version: NOTICE_VERSION.into(),
    })
}

fn clean_name(raw: &str, field: &str) -> Result<String> {
    let name = raw.trim();
    if name.is_empty()
        || name.chars().count() > 50
        || name.chars().any(|c| c.is_control() || c == '<' || c == '>')
    {
        return Err(unprocessable(
            "NAME_INVALID",
            "姓名不能为空，不超过50个字，且不能含有控制字符或尖括号。",
            field,
        ));
    }
    Ok(name.to_string())
}

fn parse_id_number(raw: &str) -> Result<IdNumber> {
    IdNumber::parse(raw).map_err(|e| unprocessable(e.code(), e.message_zh(), "id_number"))
}

fn parse_mobile(raw: &str) -> Result<Mobile> {
    Mobile::parse(raw).map_err(|e| unprocessable(e.code(), e.message_zh(), "mobile"))
}

fn id_number_registered() -> AppError {
    // Never which account holds it: that would tell a stranger who typed
    // someone's number the owner's username.
    AppError::new(
        ErrorKind::Conflict,
        "ID_NUMBER_REGISTERED",
        "该公民身份号码已注册过自然人账号，不能重复注册。如忘记用户名或密码，请携带身份证件到政务服务中心窗口或拨打12345政务服务热线办理。",
    )
    .with_field("id_number")
}

fn username_taken() -> AppError {
    AppError::new(
        ErrorKind::Conflict,
        "USERNAME_TAKEN",
        "该用户名已被使用，请换一个。",
    )
    .with_field("username")
}

// ---- registration -------------------------------------------------------------

/// Self-registration of a natural person.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegistrationRequest {
    pub username: String,
    pub password: String,
    /// 姓名.
    pub name: String,
    pub id_number: String,
    pub mobile: String,
    /// The applicant's explicit consent to the privacy notice (unticked by
    /// default on the page): without it nothing is stored.
    #[serde(default)]
    pub consent: bool,
    /// The notice version the applicant read and consents to: the one in
    /// force (`GET /api/v1/privacy-notice`).
    #[serde(default)]
    pub notice_version: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Registered {
    pub user_id: i64,
    pub username: String,
    pub real_name_level: String,
    pub consent: ConsentView,
}

/// Registers a natural person's account at real-name level L1 with their
/// consent to the notice in force, in one transaction; audited. Refused
/// without consent, for an identity number already registered, and when one
/// address registers too often.
pub async fn register(
    app: &App,
    req: &RegistrationRequest,
    client_addr: &str,
) -> Result<Registered> {
    if !app.login_limiter.allow(
        &format!("registration:{client_addr}"),
        app.clock.now(),
        app.settings.registration_rate_per_minute,
    ) {
        return Err(AppError::new(
            ErrorKind::TooManyRequests,
            "REGISTRATION_RATE_LIMITED",
            "注册请求过于频繁，请一分钟后再试。",
        ));
    }
    if !req.consent {
        return Err(unprocessable(
            "CONSENT_REQUIRED",
            "请先阅读《个人信息保护政策》并勾选“我已阅读并同意”后再注册。未经您同意，平台不会保存您填写的任何信息。",
            "consent",
        ));
    }
    if req.notice_version.as_deref() != Some(NOTICE_VERSION) {
        return Err(unprocessable(
            "NOTICE_VERSION_OUTDATED",
            format!("《个人信息保护政策》当前为{NOTICE_VERSION}版，请阅读当前版本后重新勾选同意。"),
            "notice_version",
        ));
    }
    let username = req.username.trim();
    crate::admin::check_username(username)?;
    if username
        .to_ascii_lowercase()
        .starts_with(ANONYMISED_USERNAME_PREFIX)
    {
        return Err(unprocessable(
            "USERNAME_RESERVED",
            format!("以“{ANONYMISED_USERNAME_PREFIX}”开头的用户名为系统保留，请换一个。"),
            "username",
        ));
    }
    crate::auth::check_password_policy(username, &req.password)?;
    let name = clean_name(&req.name, "name")?;
    let id_number = parse_id_number(&req.id_number)?;
    let mobile = parse_mobile(&req.mobile)?;
    let hash = crate::auth::hash_password_off_thread(&req.password).await?;
    let personal = sealed_personal(
        &app.pii,
        username,
        Some(id_number.as_str()),
        Some(mobile.as_str()),
    );
    let bidx = personal.id_number_bidx.clone().unwrap_or_default();
    let at = app.now_ts();
    let mut tx = app.begin().await?;
    store::lock_registrations(&mut tx).await?;
    if users::by_username(&mut tx, username).await?.is_some() {
        return Err(username_taken());
    }
    if store::open_person_accounts_with_id_number(&mut tx, &bidx, None).await? > 0 {
        // Someone typing another person's number is worth a record.
        audit(
            &mut tx,
            &at,
            &Origin {
                actor_id: None,
                actor_name: username.to_string(),
                client_addr: client_addr.into(),
            },
            "register",
            "registration",
            "failure",
            json!({"reason": "id_number_registered"}),
        )
        .await?;
        tx.commit().await?;
        return Err(id_number_registered());
    }
    let id = users::insert(
        &mut tx,
        &NewUser {
            username: username.to_string(),
            password_hash: Some(hash),
            display_name: name,
            user_type: "person".into(),
            personal,
            org_uscc: None,
            org_name: None,
            dept_id: None,
            // Registered online, not yet verified with the identity platform.
            real_name_level: "L1".into(),
            // The owner chose the password: nobody else knows it.
            must_change_password: false,
        },
        &at,
    )
    .await
    .map_err(|e| match e {
        StoreError::Duplicate => username_taken(),
        other => other.into(),
    })?;
    users::set_roles(
        &mut tx,
        id,
        &crate::role_tags::tagged(app, id, &[Role::Applicant.as_str()]),
    )
    .await?;
    store::insert_consent(&mut tx, id, NOTICE_VERSION, &at, client_addr).await?;
    audit(
        &mut tx,
        &at,
        &Origin {
            actor_id: Some(id),
            actor_name: username.to_string(),
            client_addr: client_addr.into(),
        },
        "register",
        &format!("user:{id}"),
        "success",
        json!({"notice_version": NOTICE_VERSION, "real_name_level": "L1"}),
    )
    .await?;
    tx.commit().await?;
    Ok(Registered {
        user_id: id,
        username: username.to_string(),
        real_name_level: "L1".into(),
        consent: ConsentView {
            notice_version: NOTICE_VERSION.into(),
            given_at: at,
            client_addr: client_addr.into(),
            withdrawn_at: None,
            current: true,
        },
    })
}

// ---- correction -----------------------------------------------------------------

/// What to correct; fields left out stay as they are.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileCorrection {
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub mobile: Option<String>,
    /// Only while the account is at real-name level L1.
    #[serde(default)]
    pub id_number: Option<String>,
}

fn id_number_locked(level: &str) -> AppError {
    AppError::new(
        ErrorKind::Forbidden,
        "ID_NUMBER_LOCKED",
        format!(
            "您的账号已通过{}级实名核验，公民身份号码与核验结果绑定，不能自行修改（否则核验结果将不再对应本人）。如确需更正，请携带身份证件到政务服务中心窗口办理。",
            level.trim_start_matches('L')
        ),
    )
    .with_field("id_number")
}

/// Corrects one's own name and mobile number, and the identity number while
/// the account is not real-name verified; audited (which fields, not their
/// values). Returns the information as it now is.
pub async fn correct_profile(
    app: &App,
    p: &Principal,
    client_addr: &str,
    req: &ProfileCorrection,
) -> Result<PersonalInformation> {
    require_applicant(p)?;
    let u = own_row(app, p).await?;
    let (old_id, old_mobile) = open_numbers(app, &u)?;
    let mut fields: Vec<&str> = Vec::new();
    let name = match req.display_name.as_deref() {
        Some(raw) => {
            let n = clean_name(raw, "display_name")?;
            if n != u.display_name {
                fields.push("display_name");
            }
            n
        }
        None => u.display_name.clone(),
    };
    let mobile = match req.mobile.as_deref() {
        Some(raw) => {
            let m = parse_mobile(raw)?.as_str().to_string();
            if old_mobile.as_deref() != Some(m.as_str()) {
                fields.push("mobile");
            }
            Some(m)
        }
        None => old_mobile.clone(),
    };
    let id_number = match req.id_number.as_deref() {
        Some(raw) => {
            let n = parse_id_number(raw)?.to_string();
            if old_id.as_deref() != Some(n.as_str()) {
                if !id_number_editable(&u.real_name_level) {
                    return Err(id_number_locked(&u.real_name_level));
                }
                fields.push("id_number");
            }
            Some(n)
        }
        None => old_id.clone(),
    };
    if fields.is_empty() {
        return personal_information(app, p).await;
    }
    let personal = sealed_personal(
        &app.pii,
        &u.username,
        id_number.as_deref(),
        mobile.as_deref(),
    );
    let at = app.now_ts();
    let mut tx = app.begin().await?;
    if fields.contains(&"id_number") {
        store::lock_registrations(&mut tx).await?;
        let bidx = personal.id_number_bidx.clone().unwrap_or_default();
        if u.user_type == "person"
            && store::open_person_accounts_with_id_number(&mut tx, &bidx, Some(u.id)).await? > 0
        {
            return Err(id_number_registered());
        }
    }
    store::set_display_name(&mut tx, u.id, &name, &at).await?;
    users::set_personal(&mut tx, u.id, &personal).await?;
    audit(
        &mut tx,
        &at,
        &Origin::of(p, client_addr),
        "pi_correct",
        &format!("user:{}", u.id),
        "success",
        json!({"fields": fields}),
    )
    .await?;
    tx.commit().await?;
    personal_information(app, p).await
}

// ---- export -----------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ExportedCase {
    #[serde(flatten)]
    pub summary: CaseSummary,
    pub org_uscc: Option<String>,
    pub org_name: Option<String>,
    /// The form as filed, in full.
    #[schema(value_type = Object)]
    pub form: Map<String, Value>,
    /// What was asked to be corrected, while in 补正.
    #[schema(value_type = Option<Object>)]
    pub supplement: Option<Value>,
    pub timeline: Vec<EventView>,
    /// The files' descriptions and SM3 digests (the files themselves are
    /// downloaded from the case).
    pub materials: Vec<MaterialInfo>,
    pub rating: Option<RatingView>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ExportedNotification {
    pub case_no: Option<String>,
    pub title: String,
    pub body: String,
    pub created_at: String,
    pub read_at: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ExportedRating {
    pub case_no: String,
    #[serde(flatten)]
    pub rating: RatingView,
}

/// Everything the platform holds about the applicant (GB/T 35273 §8.6 个人信息副本).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PersonalDataExport {
    /// `zhengtong-personal-data/1`.
    pub format: String,
    pub exported_at: String,
    pub profile: PersonalInformation,
    pub deletion_requests: Vec<DeletionRequestView>,
    /// The cases the applicant filed.
    pub cases: Vec<ExportedCase>,
    pub notifications: Vec<ExportedNotification>,
    pub ratings: Vec<ExportedRating>,
}

pub const EXPORT_FORMAT: &str = "zhengtong-personal-data/1";

/// Builds the applicant's copy of their data; audited as `pi_export`.
pub async fn export(app: &App, p: &Principal, client_addr: &str) -> Result<PersonalDataExport> {
    let profile = personal_information(app, p).await?;
    let (case_nos, deletions, notes) = {
        let mut c = app.read().await?;
        let cases = store::applicant_cases(&mut c, p.user_id).await?;
        let deletions = store::deletion_requests(&mut c, p.user_id).await?;
        let notes = notifications::list(&mut c, p.user_id, i64::from(i32::MAX)).await?;
        (
            cases.into_iter().map(|c| c.case_no).collect::<Vec<_>>(),
            deletions,
            notes,
        )
    };
    let mut cases = Vec::with_capacity(case_nos.len());
    let mut ratings = Vec::new();
    for no in &case_nos {
        let d = crate::cases::detail(app, p, no).await?;
        if let Some(r) = &d.rating {
            ratings.push(ExportedRating {
                case_no: no.clone(),
                rating: r.clone(),
            });
        }
        cases.push(ExportedCase {
            org_uscc: d.org_uscc,
            org_name: d.org_name,
            form: d.form,
            supplement: d.supplement,
            timeline: d.timeline,
            materials: d.materials,
            rating: d.rating,
            summary: d.summary,
        });
    }
    let at = app.now_ts();
    let mut tx = app.begin().await?;
    audit(
        &mut tx,
        &at,
        &Origin::of(p, client_addr),
        "pi_export",
        &format!("user:{}", p.user_id),
        "success",
        json!({"cases": cases.len(), "notifications": notes.len()}),
    )
    .await?;
    tx.commit().await?;
    Ok(PersonalDataExport {
        format: EXPORT_FORMAT.into(),
        exported_at: at,
        profile,
        deletion_requests: deletions.into_iter().map(deletion_view).collect(),
        cases,
        notifications: notes
            .into_iter()
            .map(|n| ExportedNotification {
                case_no: n.case_no,
                title: n.title,
                body: n.body,
                created_at: n.created_at,
                read_at: n.read_at,
            })
            .collect(),
        ratings,
    })
}

// ---- withdrawal of consent: closing the account ------------------------------------

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeletionRequest {
    /// One's password again: closing cannot be undone.
    pub password: String,
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AccountClosed {
    pub closed_at: String,
    /// Cases still being handled: staff finish them; the result is sent to
    /// the contact given in the application.
    pub unfinished_cases: u64,
    /// Days after which the personal information is anonymised (once every
    /// case is finished).
    pub retention_days: i64,
    pub message: String,
}

fn finished(status: &str) -> bool {
    // A draft was never filed: nothing is pending with the administration.
    CaseStatus::parse(status).is_some_and(|s| s.is_final() || s == CaseStatus::Draft)
}

/// Withdraws consent and closes the account at once: it is inactive, every
/// session ends, login is refused with `ACCOUNT_CLOSED`; the request is
/// recorded and audited. Case records stay; [`retention`] anonymises the
/// personal information later.
pub async fn close_account(
    app: &App,
    p: &Principal,
    client_addr: &str,
    req: &DeletionRequest,
) -> Result<AccountClosed> {
    require_applicant(p)?;
    let u = own_row(app, p).await?;
    if !crate::auth::verify_blocking(req.password.clone(), u.password_hash.clone()).await {
        return Err(unprocessable(
            "PASSWORD_WRONG",
            "密码不正确：注销账号须再次输入当前登录密码。",
            "password",
        ));
    }
    let reason = match req.reason.as_deref().map(str::trim) {
        Some(r) if r.chars().count() > MAX_REASON_CHARS => {
            return Err(unprocessable(
                "TEXT_TOO_LONG",
                format!("注销原因不能超过{MAX_REASON_CHARS}个字。"),
                "reason",
            ))
        }
        Some(r)
            if r.chars()
                .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) =>
        {
            return Err(unprocessable(
                "TEXT_CONTROL_CHAR",
                "注销原因中含有无法识别的控制字符。",
                "reason",
            ))
        }
        Some(r) if !r.is_empty() => Some(r.to_string()),
        _ => None,
    };
    let at = app.now_ts();
    let mut tx = app.begin().await?;
    store::close_account(&mut tx, u.id, &at)
        .await
        .map_err(|e| match e {
            StoreError::Conflict => AppError::unauthenticated(),
            other => other.into(),
        })?;
    let ended = sessions::delete_for_user(&mut tx, u.id).await?;
    let withdrawn = store::withdraw_consents(&mut tx, u.id, &at).await?;
    store::insert_deletion_request(&mut tx, u.id, &at, client_addr, reason.as_deref()).await?;
    let unfinished = store::applicant_cases(&mut tx, u.id)
        .await?
        .iter()
        .filter(|c| !finished(&c.status))
        .count() as u64;
    audit(
        &mut tx,
        &at,
        &Origin::of(p, client_addr),
        "pi_deletion",
        &format!("user:{}", u.id),
        "success",
        json!({"sessions_ended": ended, "consents_withdrawn": withdrawn, "unfinished_cases": unfinished}),
    )
    .await?;
    tx.commit().await?;
    let days = app.settings.pi_retention.num_days();
    let mut message = format!(
        "账号已注销，您已撤回对《个人信息保护政策》的同意，所有登录会话已结束。办件档案依法保存，账号中的个人信息将在保存期（{days}天）满后匿名化。"
    );
    if unfinished > 0 {
        message.push_str(&format!(
            "您尚有{unfinished}件办件在办理中，工作人员将继续办理，结果将按申请时留存的联系方式送达。"
        ));
    }
    Ok(AccountClosed {
        closed_at: at,
        unfinished_cases: unfinished,
        retention_days: days,
        message,
    })
}

/// The refusal of a login to a closed account, once the password proved the
/// caller is its owner (an answer nobody else gets); audited.
pub(crate) async fn closed_login(
    app: &App,
    user: &UserRow,
    closed_at: &str,
    client_addr: &str,
) -> Result<AppError> {
    let at = app.now_ts();
    let mut tx = app.begin().await?;
    audit(
        &mut tx,
        &at,
        &Origin {
            actor_id: Some(user.id),
            actor_name: user.username.clone(),
            client_addr: client_addr.into(),
        },
        "login",
        &format!("user:{}", user.id),
        "failure",
        json!({"closed": true}),
    )
    .await?;
    tx.commit().await?;
    let day = closed_at.get(..10).unwrap_or(closed_at);
    Ok(AppError::new(
        ErrorKind::Forbidden,
        "ACCOUNT_CLOSED",
        format!(
            "该账号已于{day}由本人申请注销，不能再登录。办件档案依法保存；如需继续在网上办理业务，请重新注册账号。"
        ),
    ))
}

/// The closure time of an account, if its owner closed it.
pub(crate) async fn closed_at(app: &App, user_id: i64) -> Result<Option<String>> {
    let mut c = app.read().await?;
    Ok(store::account_state(&mut c, user_id).await?.closed_at)
}

// ---- retention -------------------------------------------------------------------

#[derive(Debug, Clone, Default, Serialize)]
pub struct RetentionReport {
    pub dry_run: bool,
    pub retention_days: i64,
    /// Accounts closed before this instant were due.
    pub closed_before: String,
    /// Accounts anonymised (or, in a dry run, that would be).
    pub accounts: u64,
    /// Case forms whose personal fields were masked and resealed.
    pub case_forms: u64,
    /// Accounts past retention still waiting for a case to finish.
    pub waiting_for_cases: u64,
}

/// The form with its personal fields (identity numbers, telephones,
/// addresses: `zt_domain::mask::masker`) masked, sealed again; `None` when
/// it has none.
async fn masked_form(
    app: &App,
    conn: &mut zt_store::Conn,
    case: &store::ApplicantCase,
) -> Result<Option<String>> {
    let def = items::version(conn, case.item_id, case.item_version).await?;
    let ctx = ctx_case_form(&case.case_no);
    let mut form: Map<String, Value> =
        serde_json::from_str(&app.pii.open(&ctx, &case.form)?).map_err(StoreError::from)?;
    if zt_domain::mask::mask_form(&def.form_fields, &mut form).is_empty() {
        return Ok(None);
    }
    let text = serde_json::to_string(&form).map_err(|e| AppError::Internal(e.to_string()))?;
    Ok(Some(app.pii.seal(&ctx, &text)))
}

/// Anonymises the personal information of accounts closed more than
/// `Settings::pi_retention` ago whose cases are all finished: the name
/// becomes 已注销用户<id>, the username deleted-<id>; identity number,
/// mobile, blind indexes and password hash are removed; the personal fields
/// of their case forms are masked and resealed. One transaction and one
/// audit record (`pi_anonymise`) per account. Idempotent: an anonymised
/// account is not touched again. `dry_run` counts without writing.
pub async fn retention(app: &App, origin: &Origin, dry_run: bool) -> Result<RetentionReport> {
    let now = app.clock.now();
    let cutoff = ts(now - app.settings.pi_retention);
    let mut report = RetentionReport {
        dry_run,
        retention_days: app.settings.pi_retention.num_days(),
        closed_before: cutoff.clone(),
        ..Default::default()
    };
    let due = {
        let mut c = app.read().await?;
        store::closed_before(&mut c, &cutoff).await?
    };
    for user_id in due {
        if dry_run {
            let mut c = app.read().await?;
            let cases = store::applicant_cases(&mut c, user_id).await?;
            if cases.iter().any(|k| !finished(&k.status)) {
                report.waiting_for_cases += 1;
                continue;
            }
            report.accounts += 1;
            for k in &cases {
                if masked_form(app, &mut c, k).await?.is_some() {
                    report.case_forms += 1;
                }
            }
            continue;
        }
        let at = ts(now);
        let mut tx = app.begin().await?;
        // Read again under the write transaction: a case may have moved on.
        let cases = store::applicant_cases(&mut tx, user_id).await?;
        if cases.iter().any(|k| !finished(&k.status)) {
            report.waiting_for_cases += 1;
            continue;
        }
        let state = store::account_state(&mut tx, user_id).await?;
        let mut masked = 0_u64;
        for k in &cases {
            if let Some(form) = masked_form(app, &mut tx, k).await? {
                store::set_case_form(&mut tx, k.id, &form).await?;
                masked += 1;
            }
        }
        match store::anonymise_account(
            &mut tx,
            user_id,
            &format!("{ANONYMISED_NAME}{user_id}"),
            &format!("{ANONYMISED_USERNAME_PREFIX}{user_id}"),
            &at,
        )
        .await
        {
            Ok(()) => {}
            // Another run got there first: leave it to that one.
            Err(StoreError::Conflict) => continue,
            Err(e) => return Err(e.into()),
        }
        store::complete_deletion_requests(&mut tx, user_id, &at).await?;
        sessions::delete_for_user(&mut tx, user_id).await?;
        audit(
            &mut tx,
            &at,
            origin,
            "pi_anonymise",
            &format!("user:{user_id}"),
            "success",
            json!({"closed_at": state.closed_at, "cases": cases.len(), "case_forms_masked": masked,
                   "retention_days": report.retention_days}),
        )
        .await?;
        tx.commit().await?;
        report.accounts += 1;
        report.case_forms += masked;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_notice_says_what_it_must() {
        assert_eq!(notice_title(), "青岚市政务服务网个人信息保护政策");
        assert!(NOTICE_TEXT.contains(&format!("版本：{NOTICE_VERSION}")));
        for must in [
            "办件档案按《政务服务事项档案管理》等规定保存，账号注销后个人信息在保存期满后匿名化",
            "公民身份号码",
            "手机号码",
            "单位名称",
            "申请材料",
            "法律依据",
            "省政务数据共享平台",
            "您的权利",
            "联系我们",
        ] {
            assert!(NOTICE_TEXT.contains(must), "the notice lacks {must}");
        }
    }

    #[test]
    fn finished_cases() {
        for s in ["draft", "completed", "withdrawn", "rejected_at_intake"] {
            assert!(finished(s), "{s}");
        }
        for s in [
            "submitted",
            "in_review",
            "supplement_requested",
            "suspended",
            "approved",
            "denied",
            "nonsense",
        ] {
            assert!(!finished(s), "{s}");
        }
    }

    #[test]
    fn id_number_is_editable_only_at_l1() {
        assert!(id_number_editable("L1"));
        assert!(!id_number_editable("L2"));
        assert!(!id_number_editable("L3"));
    }
}
