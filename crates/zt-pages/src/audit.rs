//! The audit administrator's page (等保 安全审计): search the audit trail,
//! page back through it, export the same selection as CSV (the export is
//! itself audited) and see whether the SM3 chain verifies.

use askama::Template;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use zt_app::audit_trail::{AuditEntry, AuditQuery};
use zt_app::{App, AppError, ErrorKind, Principal};
use zt_domain::role::Role;
use zt_store::audit::{Break, Verification};
use zt_web::extract::ClientAddr;

use crate::layout::{render, require, Layout, PageUser};

/// Records per page unless the address asks for another number (1–100).
pub const PAGE_SIZE: i64 = 50;

/// The page's query string. Every field is text so that a wrong value is
/// reported on the page, not as a bare rejection.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Filter {
    actor: String,
    action: String,
    object: String,
    result: String,
    from: String,
    to: String,
    before_id: String,
    limit: String,
    /// `1`: verify the chain with this view.
    verify: String,
}

impl Filter {
    fn selection(&self) -> [(&'static str, &str); 6] {
        [
            ("actor", self.actor.trim()),
            ("action", self.action.trim()),
            ("object", self.object.trim()),
            ("result", self.result.trim()),
            ("from", self.from.trim()),
            ("to", self.to.trim()),
        ]
    }

    /// Opened without any condition (from the menu): the chain is verified.
    fn is_bare(&self) -> bool {
        self.selection().iter().all(|(_, v)| v.is_empty())
            && self.before_id.trim().is_empty()
            && self.limit.trim().is_empty()
    }

    fn page_size(&self) -> i64 {
        self.limit
            .trim()
            .parse::<i64>()
            .map_or(PAGE_SIZE, |n| n.clamp(1, 100))
    }

    fn query(&self) -> Result<AuditQuery, AppError> {
        let opt = |v: &str| Some(v.to_string()).filter(|s| !s.is_empty());
        let before_id = match self.before_id.trim() {
            "" => None,
            v => Some(v.parse::<i64>().map_err(|_| {
                AppError::bad_request("QUERY_INVALID", "翻页参数不正确，请从第一页重新查询。")
                    .with_field("before_id")
            })?),
        };
        let [actor, action, object, result, from, to] = self.selection().map(|(_, v)| opt(v));
        Ok(AuditQuery {
            actor,
            action,
            object,
            result,
            from,
            to,
            before_id,
            limit: Some(self.page_size()),
        })
    }

    /// The selection (without paging) as a query string, `?` included
    /// when not empty.
    fn query_string(&self, extra: &[(&str, String)]) -> String {
        let mut pairs: Vec<String> = self
            .selection()
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| format!("{k}={}", encode(v)))
            .collect();
        pairs.extend(extra.iter().map(|(k, v)| format!("{k}={}", encode(v))));
        if pairs.is_empty() {
            String::new()
        } else {
            format!("?{}", pairs.join("&"))
        }
    }
}

/// Percent-encoding for a query value (everything but unreserved bytes).
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The Chinese name of an action code, when it has one (the code is always
/// shown beside it).
pub fn action_label(code: &str) -> Option<String> {
    let fixed = match code {
        "login" => "登录",
        "logout" => "退出登录",
        "logout_sessions" => "退出登录会话",
        "lockout" => "账号锁定",
        "password_change" => "修改密码",
        "password_reset" => "重置密码",
        "pii_view" => "查看个人信息",
        "permission_denied" => "拒绝访问",
        "audit_export" => "导出审计记录",
        "audit_archive" => "归档审计记录",
        "roles_change" => "变更角色",
        "user_create" => "新建账号",
        "user_disable" => "停用账号",
        "user_enable" => "启用账号",
        "dept_create" => "新建部门",
        "item_create" => "新建事项",
        "item_publish" => "发布事项版本",
        "item_status" => "变更事项状态",
        "calendar_import" => "导入节假日安排",
        "case_create" => "新建办件",
        "case_form_update" => "修改申请表",
        "case_rate" => "评价办件",
        "material_upload" => "上传材料",
        "rectification_answer" => "答复差评整改",
        "upload_rejected" => "拒收上传文件",
        "second_factor" => "二次身份验证",
        "second_factor_enrol" => "绑定身份验证器",
        "second_factor_remove" => "解除身份验证器",
        "second_factor_reset" => "重置二次身份验证",
        "pi_export" => "导出个人信息",
        "pi_correct" => "更正个人信息",
        "pi_deletion" => "注销账号（删除个人信息）",
        "pi_anonymise" => "个人信息匿名化",
        other => {
            return other
                .strip_prefix("case_")
                .and_then(zt_domain::case::Action::parse)
                .map(|a| format!("办件：{}", a.label_zh()));
        }
    };
    Some(fixed.to_string())
}

/// Codes offered as suggestions in the search form.
const SUGGESTED_ACTIONS: &[&str] = &[
    "login",
    "logout",
    "lockout",
    "permission_denied",
    "second_factor",
    "password_change",
    "password_reset",
    "pii_view",
    "roles_change",
    "user_create",
    "user_disable",
    "user_enable",
    "audit_export",
    "audit_archive",
    "case_create",
    "case_submit",
    "case_accept",
    "case_approve_step",
    "case_deny",
    "case_complete",
    "case_withdraw",
];

fn result_label(r: &str) -> &'static str {
    match r {
        "success" => "成功",
        "failure" => "失败",
        "denied" => "拒绝",
        _ => "",
    }
}

/// An instant as Beijing time, to the second.
fn beijing_time(at: &str) -> String {
    zt_store::time::parse_ts(at)
        .map(|t| {
            t.with_timezone(&zt_domain::time::beijing())
                .format("%Y-%m-%d %H:%M:%S")
                .to_string()
        })
        .unwrap_or_else(|_| at.to_string())
}

/// Where the chain breaks, in Chinese.
fn break_zh(b: &Break) -> String {
    match b {
        Break::Missing {
            id,
            next_present: Some(n),
        } => format!("第{id}至第{}条记录缺失（已被删除）。", n - 1),
        Break::Missing {
            id,
            next_present: None,
        } => format!("自第{id}条起的记录缺失（已被删除）。"),
        Break::Unlinked { id } => {
            format!("第{id}条记录与前一条记录不衔接（有记录被删除或顺序被改动）。")
        }
        Break::Altered { id } => format!("第{id}条记录在写入后被修改。"),
        Break::AnchorMismatch { id, .. } => {
            format!("第{id}条记录与锚点保存的摘要不符（记录链被截断或重写）。")
        }
        Break::HeadMismatch { head_id, last_id } => {
            format!("记录链止于第{last_id}条，但链头记为第{head_id}条（末尾的记录被删除）。")
        }
    }
}

struct Row {
    id: i64,
    at: String,
    actor: String,
    client_addr: String,
    action: String,
    action_label: Option<String>,
    object: String,
    result: String,
    result_label: &'static str,
    detail: String,
}

impl From<AuditEntry> for Row {
    fn from(e: AuditEntry) -> Self {
        let detail = match &e.detail {
            serde_json::Value::Null => String::new(),
            serde_json::Value::Object(m) if m.is_empty() => String::new(),
            v => v.to_string(),
        };
        Self {
            id: e.id,
            at: beijing_time(&e.at),
            action_label: action_label(&e.action),
            result_label: result_label(&e.result),
            actor: e.actor_name,
            client_addr: e.client_addr,
            action: e.action,
            object: e.object,
            result: e.result,
            detail,
        }
    }
}

struct Chain {
    intact: bool,
    records: u64,
    first_id: Option<i64>,
    last_id: Option<i64>,
    anchors_checked: usize,
    broken_at: Option<i64>,
    problem: Option<String>,
}

impl From<Verification> for Chain {
    fn from(v: Verification) -> Self {
        Self {
            intact: v.first_break.is_none(),
            records: v.records,
            first_id: v.first_id,
            last_id: v.last_id,
            anchors_checked: v.anchors_checked,
            broken_at: v.first_break.as_ref().map(Break::record_id),
            problem: v.first_break.as_ref().map(break_zh),
        }
    }
}

#[derive(Template)]
#[template(path = "admin_audit.html")]
struct AuditPage {
    l: Layout,
    f: Filter,
    /// The form field an error concerns (`from`, `to`, …), if any.
    error_field: String,
    rows: Vec<Row>,
    next_href: Option<String>,
    first_href: Option<String>,
    export_href: String,
    verify_href: String,
    chain: Option<Chain>,
    /// Why verification could not run, when it could not.
    chain_error: Option<String>,
    actions: Vec<(&'static str, String)>,
    results: [(&'static str, &'static str); 3],
}

async fn page(app: &App, p: &Principal, f: Filter, pre_error: Option<AppError>) -> Response {
    let mut pg = AuditPage {
        l: Layout::new("安全审计", Some(p)),
        error_field: String::new(),
        rows: Vec::new(),
        next_href: None,
        first_href: None,
        export_href: format!("/admin/audit/export{}", f.query_string(&[])),
        verify_href: format!(
            "/admin/audit{}",
            f.query_string(&[("verify", "1".to_string())])
        ),
        chain: None,
        chain_error: None,
        actions: SUGGESTED_ACTIONS
            .iter()
            .map(|c| (*c, action_label(c).unwrap_or_default()))
            .collect(),
        results: [("success", "成功"), ("failure", "失败"), ("denied", "拒绝")],
        f,
    };
    if pg.f.verify.trim() == "1" || pg.f.is_bare() {
        match zt_app::audit_trail::verify_as(app, p).await {
            Ok(v) => pg.chain = Some(v.into()),
            Err(e) => pg.chain_error = Some(e.message()),
        }
    }
    let found = match pre_error {
        Some(e) => Err(e),
        None => match pg.f.query() {
            Ok(q) => zt_app::audit_trail::search(app, p, &q).await,
            Err(e) => Err(e),
        },
    };
    let status = match found {
        Ok(entries) => {
            let size = pg.f.page_size();
            if entries.len() as i64 >= size {
                if let Some(last) = entries.last() {
                    let mut extra = vec![("before_id", last.id.to_string())];
                    if !pg.f.limit.trim().is_empty() {
                        extra.push(("limit", size.to_string()));
                    }
                    pg.next_href = Some(format!("/admin/audit{}", pg.f.query_string(&extra)));
                }
            }
            if !pg.f.before_id.trim().is_empty() {
                pg.first_href = Some(format!("/admin/audit{}", pg.f.query_string(&[])));
            }
            pg.rows = entries.into_iter().map(Row::from).collect();
            StatusCode::OK
        }
        Err(e) => {
            if e.kind() == ErrorKind::Forbidden {
                return crate::layout::app_error(e, "/admin/audit");
            }
            pg.error_field = e.field().unwrap_or_default();
            pg.l = pg.l.with_error(&e);
            zt_web::error::status_of(e.kind())
        }
    };
    (status, render(&pg)).into_response()
}

fn filter_of(q: Result<Query<Filter>, QueryRejection>) -> (Filter, Option<AppError>) {
    match q {
        Ok(Query(f)) => (f, None),
        Err(_) => (
            Filter::default(),
            Some(AppError::bad_request(
                "QUERY_INVALID",
                "查询条件不正确，请重新填写。",
            )),
        ),
    }
}

/// `GET /admin/audit`
pub async fn show(
    State(app): State<App>,
    PageUser(p): PageUser,
    q: Result<Query<Filter>, QueryRejection>,
) -> Response {
    if let Some(r) = require(p.has(Role::Auditor)) {
        return r;
    }
    let (f, err) = filter_of(q);
    page(&app, &p, f, err).await
}

/// `GET /admin/audit/export`: the selection of the page as CSV (UTF-8 with
/// BOM). The export is recorded in the audit trail by the use case.
pub async fn export(
    State(app): State<App>,
    ClientAddr(addr): ClientAddr,
    PageUser(p): PageUser,
    q: Result<Query<Filter>, QueryRejection>,
) -> Response {
    if let Some(r) = require(p.has(Role::Auditor)) {
        return r;
    }
    let (f, err) = filter_of(q);
    if let Some(e) = err {
        return page(&app, &p, f, Some(e)).await;
    }
    let q = match f.query() {
        Ok(q) => AuditQuery {
            before_id: None,
            limit: None,
            ..q
        },
        Err(e) => return page(&app, &p, f, Some(e)).await,
    };
    match zt_app::audit_trail::export_csv(&app, &p, &addr, &q).await {
        Ok(csv) => {
            let mut resp = axum::body::Body::from(csv).into_response();
            let h = resp.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            );
            h.insert(
                header::CONTENT_DISPOSITION,
                HeaderValue::from_static("attachment; filename=\"audit-records.csv\""),
            );
            resp
        }
        Err(e) => page(&app, &p, f, Some(e)).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_for_common_codes() {
        assert_eq!(action_label("login").as_deref(), Some("登录"));
        assert_eq!(action_label("case_accept").as_deref(), Some("办件：受理"));
        assert_eq!(action_label("case_create").as_deref(), Some("新建办件"));
        assert_eq!(action_label("case_nonsense"), None);
        assert_eq!(action_label("something_new"), None);
        for c in SUGGESTED_ACTIONS {
            assert!(action_label(c).is_some(), "{c}");
        }
    }

    #[test]
    fn links_keep_the_selection() {
        let f = Filter {
            actor: " auditor ".into(),
            object: "case:4403&x=1".into(),
            from: "2025-09-01".into(),
            before_id: "40".into(),
            ..Filter::default()
        };
        assert_eq!(
            f.query_string(&[("before_id", "12".into())]),
            "?actor=auditor&object=case%3A4403%26x%3D1&from=2025-09-01&before_id=12"
        );
        assert!(!f.is_bare());
        assert!(Filter::default().is_bare());
        assert_eq!(Filter::default().query_string(&[]), "");
        let q = f.query().expect("valid");
        assert_eq!(
            (q.actor.as_deref(), q.before_id, q.limit),
            (Some("auditor"), Some(40), Some(PAGE_SIZE))
        );
        let bad = Filter {
            before_id: "x".into(),
            ..Filter::default()
        };
        assert_eq!(bad.query().expect_err("bad").code(), "QUERY_INVALID");
    }

    #[test]
    fn times_in_beijing() {
        assert_eq!(
            beijing_time("2025-09-30T02:00:00.000Z"),
            "2025-09-30 10:00:00"
        );
        assert_eq!(beijing_time("garbage"), "garbage");
    }
}
