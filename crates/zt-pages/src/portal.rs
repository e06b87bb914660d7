//! The portal (办事大厅): catalogue, guides, application, my cases.

use askama::Template;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;
use serde_json::{Map, Value};
use zt_app::cases::{ActionRequest, CaseDetail};
use zt_app::catalogue::{ItemDetail, ItemSummary};
use zt_app::{App, AppError, ErrorKind, Principal};
use zt_domain::case::{Action, CaseStatus};
use zt_domain::item::FieldType;
use zt_web::extract::ClientAddr;

use crate::layout::{app_error, check_csrf, render, require, Layout, PageUser};

#[derive(Template)]
#[template(path = "items.html")]
struct ItemsPage {
    l: Layout,
    q: String,
    dept: String,
    depts: Vec<(String, String)>,
    items: Vec<ItemSummary>,
}

#[derive(Deserialize, Default)]
pub struct ItemsQuery {
    q: Option<String>,
    dept: Option<String>,
}

pub async fn home(state: State<App>, user: Option<PageUser>, q: Query<ItemsQuery>) -> Response {
    items(state, user, q).await
}

pub async fn items(
    State(app): State<App>,
    user: Option<PageUser>,
    Query(q): Query<ItemsQuery>,
) -> Response {
    let p = user.map(|u| u.0);
    let list =
        match zt_app::catalogue::list_items(&app, q.q.as_deref(), q.dept.as_deref(), false).await {
            Ok(l) => l,
            Err(e) => return app_error(e, "/items"),
        };
    let depts = zt_app::catalogue::departments(&app)
        .await
        .unwrap_or_default();
    render(&ItemsPage {
        l: Layout::new("办事大厅", p.as_ref()),
        q: q.q.unwrap_or_default(),
        dept: q.dept.unwrap_or_default(),
        depts: depts.into_iter().map(|d| (d.code, d.name)).collect(),
        items: list,
    })
}

#[derive(Template)]
#[template(path = "item.html")]
struct ItemPage {
    l: Layout,
    item: ItemDetail,
}

pub async fn item(
    State(app): State<App>,
    user: Option<PageUser>,
    Path(code): Path<String>,
) -> Response {
    match zt_app::catalogue::item_detail(&app, &code).await {
        Ok(item) => render(&ItemPage {
            l: Layout::new(&item.summary.name.clone(), user.map(|u| u.0).as_ref()),
            item,
        }),
        Err(e) => app_error(e, "/items"),
    }
}

pub struct FieldView {
    key: String,
    label: String,
    required: bool,
    is_textarea: bool,
    is_select: bool,
    input_type: &'static str,
    inputmode: &'static str,
    maxlength: usize,
    options: Vec<String>,
    help: Option<String>,
    value: String,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "apply.html")]
struct ApplyPage {
    l: Layout,
    item_code: String,
    item_name: String,
    fields: Vec<FieldView>,
}

fn field_views(
    item: &ItemDetail,
    values: &Map<String, Value>,
    errors: &[zt_domain::FieldError],
) -> Vec<FieldView> {
    item.form_fields
        .iter()
        .map(|f| {
            let (input_type, inputmode, maxlength) = match f.field_type {
                FieldType::Number => ("number", "numeric", 0),
                FieldType::Amount => ("text", "decimal", 16),
                FieldType::Date => ("date", "", 0),
                FieldType::Phone => ("tel", "tel", 20),
                FieldType::IdNumber | FieldType::Uscc => ("text", "", 18),
                FieldType::Region => ("text", "numeric", 6),
                _ => ("text", "", f.max_len.unwrap_or(zt_domain::item::TEXT_MAX)),
            };
            FieldView {
                key: f.key.clone(),
                label: f.label.clone(),
                required: f.required,
                is_textarea: f.field_type == FieldType::Textarea,
                is_select: f.field_type == FieldType::Select,
                input_type,
                inputmode,
                maxlength,
                options: f.options.clone(),
                help: f.help.clone(),
                value: match values.get(&f.key) {
                    Some(Value::String(s)) => s.clone(),
                    Some(Value::Null) | None => String::new(),
                    Some(v) => v.to_string(),
                },
                error: errors
                    .iter()
                    .find(|e| e.field == format!("form.{}", f.key))
                    .map(|e| e.message.clone()),
            }
        })
        .collect()
}

pub async fn apply_form(
    State(app): State<App>,
    PageUser(p): PageUser,
    Path(code): Path<String>,
) -> Response {
    if let Some(r) = require(p.is_applicant()) {
        return r;
    }
    match zt_app::catalogue::item_detail(&app, &code).await {
        Ok(item) => render(&ApplyPage {
            l: Layout::new("在线申请", Some(&p)),
            item_code: item.summary.code.clone(),
            item_name: item.summary.name.clone(),
            fields: field_views(&item, &Map::new(), &[]),
        }),
        Err(e) => app_error(e, "/items"),
    }
}

pub async fn apply(
    State(app): State<App>,
    ClientAddr(addr): ClientAddr,
    PageUser(p): PageUser,
    Path(code): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let csrf = pairs
        .iter()
        .find(|(k, _)| k == "csrf_token")
        .map(|(_, v)| v.as_str())
        .unwrap_or("");
    if let Some(r) = check_csrf(&p, csrf) {
        return r;
    }
    // Empty optional fields are absent, not empty strings.
    let form: Map<String, Value> = pairs
        .iter()
        .filter(|(k, v)| k != "csrf_token" && !v.trim().is_empty())
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    match zt_app::cases::create_draft(&app, &p, &addr, &code, &form).await {
        Ok(row) => Redirect::to(&format!("/my/cases/{}", row.case_no)).into_response(),
        Err(e) => {
            let Ok(item) = zt_app::catalogue::item_detail(&app, &code).await else {
                return app_error(e, "/items");
            };
            let page = ApplyPage {
                l: Layout::new("在线申请", Some(&p)).with_error(&e),
                item_code: item.summary.code.clone(),
                item_name: item.summary.name.clone(),
                fields: field_views(&item, &form, e.field_errors()),
            };
            (zt_web::error::status_of(e.kind()), render(&page)).into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "my_cases.html")]
struct MyCasesPage {
    l: Layout,
    cases: Vec<zt_app::cases::CaseSummary>,
}

pub async fn my_cases(State(app): State<App>, PageUser(p): PageUser) -> Response {
    if let Some(r) = require(p.is_applicant()) {
        return r;
    }
    let q = zt_app::cases::ListQuery {
        limit: Some(200),
        ..Default::default()
    };
    match zt_app::cases::list(&app, &p, &q).await {
        Ok((cases, _)) => render(&MyCasesPage {
            l: Layout::new("我的办件", Some(&p)),
            cases,
        }),
        Err(e) => app_error(e, "/my/cases"),
    }
}

pub struct ActionView {
    pub code: &'static str,
    pub label: &'static str,
    pub needs_opinion: bool,
    pub needs_items: bool,
    pub needs_procedure: bool,
    pub default_opinion: &'static str,
    pub danger: bool,
    pub confirm: bool,
}

fn action_view(a: Action) -> ActionView {
    let (needs_opinion, default_opinion) = match a {
        Action::Accept => (true, "材料齐全，符合法定形式，予以受理。"),
        Action::ApproveStep => (true, "经审查，符合条件，同意。"),
        Action::Complete => (true, "已办结。"),
        Action::RejectIntake
        | Action::Deny
        | Action::RequestSupplement
        | Action::Suspend
        | Action::Resume => (true, ""),
        _ => (false, ""),
    };
    ActionView {
        code: a.as_str(),
        label: a.label_zh(),
        needs_opinion,
        needs_items: a == Action::RequestSupplement,
        needs_procedure: a == Action::Suspend,
        default_opinion,
        danger: matches!(a, Action::RejectIntake | Action::Deny | Action::Withdraw),
        confirm: matches!(
            a,
            Action::RejectIntake
                | Action::Deny
                | Action::Withdraw
                | Action::Submit
                | Action::Resubmit
        ),
    }
}

pub struct MaterialRowView {
    code: String,
    name: String,
    required: bool,
    /// (id, file name, is image)
    files: Vec<(i64, String, bool)>,
}

#[derive(Template)]
#[template(path = "case.html")]
pub struct CasePage {
    l: Layout,
    c: CaseDetail,
    warning: String,
    current_step: Option<String>,
    supplement_items: Vec<String>,
    supplement_opinion: String,
    actions: Vec<ActionView>,
    action_url: String,
    materials: Vec<MaterialRowView>,
    can_upload: bool,
    can_rate: bool,
    form: Vec<(String, String)>,
    /// Staff see personal information masked; this form shows it in full.
    reveal_url: Option<String>,
    rating_options: Vec<(u8, &'static str)>,
}

/// The case page, for the applicant (`staff = false`) or for staff.
pub fn case_page_for(
    p: &Principal,
    c: CaseDetail,
    staff: bool,
    error: Option<&AppError>,
    notice: Option<String>,
) -> CasePage {
    let mut l = Layout::new(&format!("办件 {}", c.summary.case_no), Some(p)).with_notice(notice);
    if let Some(e) = error {
        l = l.with_error(e);
    }
    let status = c.summary.status;
    let applicant_actions = [Action::Submit, Action::Resubmit, Action::Withdraw];
    let actions = c
        .available_actions
        .iter()
        .filter(|a| applicant_actions.contains(a) != staff)
        .map(|a| action_view(*a))
        .collect();
    let supplement_items = c
        .supplement
        .as_ref()
        .and_then(|s| s["items"].as_array())
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let supplement_opinion = c
        .supplement
        .as_ref()
        .and_then(|s| s["opinion"].as_str())
        .unwrap_or("")
        .to_string();
    let materials = c
        .required_materials
        .iter()
        .map(|m| MaterialRowView {
            code: m.definition.code.clone(),
            name: m.definition.name.clone(),
            required: m.definition.required,
            files: c
                .materials
                .iter()
                .filter(|f| f.current && f.material_code == m.definition.code)
                .map(|f| {
                    (
                        f.id,
                        f.file_name.clone(),
                        staff && f.content_type.starts_with("image/"),
                    )
                })
                .collect(),
        })
        .collect();
    let form = c
        .form_fields
        .iter()
        .filter_map(|f| {
            c.form.get(&f.key).map(|v| {
                (
                    f.label.clone(),
                    match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    },
                )
            })
        })
        .collect();
    let owner = !staff;
    let reveal_url = (staff && !c.masked_fields.is_empty()).then(|| {
        format!(
            "/workbench/cases/{}/personal-information",
            c.summary.case_no
        )
    });
    CasePage {
        reveal_url,
        warning: c
            .summary
            .warning
            .map(|w| w.as_str().to_string())
            .unwrap_or_default(),
        current_step: c.current_step.as_ref().map(|s| s.name.clone()),
        supplement_items,
        supplement_opinion,
        actions,
        action_url: if staff {
            format!("/workbench/cases/{}/action", c.summary.case_no)
        } else {
            format!("/my/cases/{}/action", c.summary.case_no)
        },
        materials,
        can_upload: owner && matches!(status, CaseStatus::Draft | CaseStatus::SupplementRequested),
        can_rate: owner && status == CaseStatus::Completed && c.rating.is_none(),
        form,
        rating_options: (1..=5u8)
            .rev()
            .map(|s| (s, zt_domain::rating::label_of(s)))
            .collect(),
        l,
        c,
    }
}

#[derive(Deserialize)]
pub struct Notice {
    done: Option<String>,
}

fn notice_text(done: Option<&str>) -> Option<String> {
    match done? {
        "created" => Some("申请已保存为草稿，请上传材料后提交。".into()),
        "uploaded" => Some("材料已上传。".into()),
        "acted" => Some("操作成功。".into()),
        "rated" => Some("感谢您的评价！".into()),
        _ => None,
    }
}

pub async fn case_page(
    State(app): State<App>,
    PageUser(p): PageUser,
    Path(no): Path<String>,
    Query(n): Query<Notice>,
) -> Response {
    match zt_app::cases::detail(&app, &p, &no).await {
        Ok(c) => render(&case_page_for(
            &p,
            c,
            false,
            None,
            notice_text(n.done.as_deref()),
        )),
        Err(e) => app_error(e, &format!("/my/cases/{no}")),
    }
}

/// Re-renders the case page with an error at the top.
pub async fn case_error(app: &App, p: &Principal, no: &str, e: AppError, staff: bool) -> Response {
    let status = zt_web::error::status_of(e.kind());
    match zt_app::cases::detail(app, p, no).await {
        Ok(c) => (status, render(&case_page_for(p, c, staff, Some(&e), None))).into_response(),
        Err(_) => app_error(e, "/"),
    }
}

pub async fn upload(
    State(app): State<App>,
    ClientAddr(addr): ClientAddr,
    PageUser(p): PageUser,
    Path(no): Path<String>,
    mut mp: Multipart,
) -> Response {
    let (mut csrf, mut code, mut file) = (String::new(), String::new(), None);
    loop {
        match mp.next_field().await {
            Ok(Some(field)) => match field.name().unwrap_or("") {
                "csrf_token" => csrf = field.text().await.unwrap_or_default(),
                "material_code" => code = field.text().await.unwrap_or_default(),
                "file" => {
                    let name = field.file_name().unwrap_or("").to_string();
                    match field.bytes().await {
                        Ok(b) => file = Some((name, b)),
                        Err(_) => {
                            let e = AppError::new(
                                ErrorKind::TooLarge,
                                "UPLOAD_TOO_LARGE",
                                "文件过大，请压缩后重新上传。",
                            );
                            return case_error(&app, &p, &no, e, false).await;
                        }
                    }
                }
                _ => {}
            },
            Ok(None) => break,
            Err(_) => {
                return case_error(
                    &app,
                    &p,
                    &no,
                    AppError::bad_request("MULTIPART_INVALID", "上传请求格式不正确。"),
                    false,
                )
                .await
            }
        }
    }
    if let Some(r) = check_csrf(&p, &csrf) {
        return r;
    }
    let Some((name, data)) = file else {
        return case_error(
            &app,
            &p,
            &no,
            AppError::new(
                ErrorKind::Unprocessable,
                "UPLOAD_FILE_REQUIRED",
                "请选择要上传的文件。",
            ),
            false,
        )
        .await;
    };
    match zt_app::cases::upload_material(&app, &p, &addr, &no, &code, &name, data).await {
        Ok(_) => Redirect::to(&format!("/my/cases/{no}?done=uploaded")).into_response(),
        Err(e) => case_error(&app, &p, &no, e, false).await,
    }
}

#[derive(Deserialize)]
pub struct ActionForm {
    csrf_token: String,
    action: String,
    #[serde(default)]
    opinion: Option<String>,
    #[serde(default)]
    supplement_items: Option<String>,
    #[serde(default)]
    procedure: Option<String>,
    #[serde(default)]
    version: Option<i64>,
}

impl ActionForm {
    pub fn request(self) -> ActionRequest {
        ActionRequest {
            action: self.action,
            opinion: self.opinion.filter(|o| !o.trim().is_empty()),
            supplement_items: self
                .supplement_items
                .unwrap_or_default()
                .lines()
                .map(str::to_string)
                .collect(),
            procedure: self.procedure,
            version: self.version,
        }
    }

    pub fn csrf(&self) -> &str {
        &self.csrf_token
    }
}

pub async fn action(
    State(app): State<App>,
    ClientAddr(addr): ClientAddr,
    PageUser(p): PageUser,
    Path(no): Path<String>,
    Form(f): Form<ActionForm>,
) -> Response {
    act_and_show(&app, &addr, &p, &no, f, false).await
}

/// Takes an action from a case page (the applicant's or the workbench's) and
/// shows the case again: with a notice on success, with the error otherwise.
pub async fn act_and_show(
    app: &App,
    addr: &str,
    p: &Principal,
    no: &str,
    f: ActionForm,
    staff: bool,
) -> Response {
    if let Some(r) = check_csrf(p, f.csrf()) {
        return r;
    }
    match zt_app::cases::act(app, p, addr, no, &f.request()).await {
        Ok(_) if staff => Redirect::to(&format!("/workbench/cases/{no}?done=1")).into_response(),
        Ok(_) => Redirect::to(&format!("/my/cases/{no}?done=acted")).into_response(),
        Err(e) => case_error(app, p, no, e, staff).await,
    }
}

#[derive(Deserialize)]
pub struct RatingForm {
    csrf_token: String,
    score: Option<i64>,
    #[serde(default)]
    comment: String,
}

pub async fn rate(
    State(app): State<App>,
    ClientAddr(addr): ClientAddr,
    PageUser(p): PageUser,
    Path(no): Path<String>,
    Form(f): Form<RatingForm>,
) -> Response {
    if let Some(r) = check_csrf(&p, &f.csrf_token) {
        return r;
    }
    match zt_app::ratings::rate(&app, &p, &addr, &no, f.score.unwrap_or(0), &f.comment).await {
        Ok(()) => Redirect::to(&format!("/my/cases/{no}?done=rated")).into_response(),
        Err(e) => case_error(&app, &p, &no, e, false).await,
    }
}

pub struct MessageView {
    title: String,
    body: String,
    created_at: String,
    case_no: Option<String>,
    read: bool,
}

#[derive(Template)]
#[template(path = "messages.html")]
struct MessagesPage {
    l: Layout,
    messages: Vec<MessageView>,
}

pub async fn messages(State(app): State<App>, PageUser(p): PageUser) -> Response {
    let rows = match app.read().await {
        Ok(mut c) => zt_store::notifications::list(&mut c, p.user_id, 100)
            .await
            .map_err(AppError::from),
        Err(e) => Err(e),
    };
    match rows {
        Ok(rows) => render(&MessagesPage {
            l: Layout::new("站内信", Some(&p)),
            messages: rows
                .into_iter()
                .map(|n| MessageView {
                    read: n.read_at.is_some(),
                    title: n.title,
                    body: n.body,
                    created_at: n.created_at,
                    case_no: n.case_no,
                })
                .collect(),
        }),
        Err(e) => app_error(e, "/my/messages"),
    }
}

#[derive(Deserialize)]
pub struct CsrfOnly {
    csrf_token: String,
}

pub async fn messages_read(
    State(app): State<App>,
    PageUser(p): PageUser,
    Form(f): Form<CsrfOnly>,
) -> Response {
    if let Some(r) = check_csrf(&p, &f.csrf_token) {
        return r;
    }
    let at = app.now_ts();
    let result: Result<(), AppError> = async {
        let mut tx = app.begin().await?;
        zt_store::notifications::mark_all_read(&mut tx, p.user_id, &at).await?;
        tx.commit().await?;
        Ok(())
    }
    .await;
    match result {
        Ok(()) => Redirect::to("/my/messages").into_response(),
        Err(e) => app_error(e, "/my/messages"),
    }
}

async fn file(app: &App, p: &Principal, no: &str, id: &str, inline: bool) -> Response {
    let Ok(id) = id.parse::<i64>() else {
        return app_error(AppError::not_found("MATERIAL_NOT_FOUND", "该材料"), "/");
    };
    match zt_app::cases::download_material(app, p, no, id).await {
        // Only images are shown inline; everything else downloads.
        Ok((info, data)) if !inline || info.content_type.starts_with("image/") => {
            zt_web::api::cases::file_response(&info, data, inline)
        }
        Ok(_) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => app_error(e, "/"),
    }
}

pub async fn download(
    State(app): State<App>,
    PageUser(p): PageUser,
    Path((no, id)): Path<(String, String)>,
) -> Response {
    file(&app, &p, &no, &id, false).await
}

pub async fn preview(
    State(app): State<App>,
    PageUser(p): PageUser,
    Path((no, id)): Path<(String, String)>,
) -> Response {
    file(&app, &p, &no, &id, true).await
}
