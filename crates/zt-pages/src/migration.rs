//! `/admin/migration-v1` (历史数据迁移), for the system administrator: the
//! report of the last `zhengtong migrate-v1` run as the database keeps it —
//! per V1 table the rows migrated, merged and quarantined, every held row
//! with its reason and (masked) V1 values, and every interpretation the
//! bureau asked to see.

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use serde_json::Value;
use zt_app::App;
use zt_domain::role::Role;

use crate::layout::{render, require, Layout, PageUser};

struct TableRow {
    table: String,
    v1_rows: i64,
    migrated: i64,
    merged: i64,
    quarantined: i64,
}

struct FlagRow {
    label: &'static str,
    code: String,
    count: i64,
    rows: Vec<String>,
}

struct HeldRow {
    table: String,
    id: i64,
    reason: String,
    reason_label: &'static str,
    values: String,
}

#[derive(Template)]
#[template(path = "admin_migration.html")]
struct Page {
    l: Layout,
    ran: bool,
    run: String,
    tables: Vec<TableRow>,
    self_check: String,
    listings: String,
    flags: Vec<FlagRow>,
    held: Vec<HeldRow>,
    held_total: usize,
    deadlines: String,
    unreferenced: Vec<String>,
}

fn flag_label(code: &str) -> &'static str {
    match code {
        "reduced_time_precision" => "时间精度降低（D01/D02）",
        "unknown_registration_time" => "注册时间未知（D02）",
        "recovered_finish_time" => "办结时间取自日志（D13）",
        "lossy_log_text" => "审批意见文字受损（D11）",
        "fee_needs_review" => "收费标准待人工核定（D16）",
        "item_moved_to_successor" => "事项划归继任部门（D15）",
        _ => "其他说明",
    }
}

fn reason_label(code: &str) -> &'static str {
    match code {
        "ID_CHECKSUM_INVALID" => "身份证号码校验位错误",
        "APPLICANT_QUARANTINED" => "申请人账号已隔离",
        "ORPHAN_NO_CASE" => "所属办件不存在",
        "CASE_QUARANTINED" => "所属办件已隔离",
        "FILE_MISSING" => "附件文件缺失",
        "FILE_MD5_MISMATCH" => "附件校验值不符",
        _ => "其他",
    }
}

fn n(v: &Value) -> i64 {
    v.as_i64().unwrap_or(0)
}

pub async fn show(State(app): State<App>, PageUser(p): PageUser) -> Response {
    if let Some(r) = require(p.has(Role::Sysadmin)) {
        return r;
    }
    let report = match app.read().await {
        Ok(mut c) => zt_store::v1::last_report(&mut c).await.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "migration page: report unreadable");
            None
        }),
        Err(_) => None,
    };
    let l = Layout::new("历史数据迁移", Some(&p));
    let Some((id, started, finished, Some(text))) = report else {
        return render(&Page {
            l,
            ran: false,
            run: String::new(),
            tables: vec![],
            self_check: String::new(),
            listings: String::new(),
            flags: vec![],
            held: vec![],
            held_total: 0,
            deadlines: String::new(),
            unreferenced: vec![],
        });
    };
    let r: Value = serde_json::from_str(&text).unwrap_or_default();
    let tables = r["tables"]
        .as_object()
        .map(|t| {
            t.iter()
                .map(|(k, c)| TableRow {
                    table: k.clone(),
                    v1_rows: n(&c["v1_rows"]),
                    migrated: n(&c["migrated"]),
                    merged: n(&c["merged_into_other_row"]),
                    quarantined: n(&c["quarantined"]),
                })
                .collect()
        })
        .unwrap_or_default();
    let mut flags = Vec::new();
    if let Some(f) = r["flags"].as_object() {
        for (code, v) in f {
            if code == "other" {
                if let Some(o) = v.as_object() {
                    for (code, v) in o {
                        flags.push(flag_row(code, v));
                    }
                }
            } else {
                flags.push(flag_row(code, v));
            }
        }
    }
    let rows = r["quarantined_rows"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let held_total = rows.len();
    let held = rows
        .iter()
        .take(500)
        .map(|h| HeldRow {
            table: h["table"].as_str().unwrap_or("").into(),
            id: n(&h["id"]),
            reason: h["reason"].as_str().unwrap_or("").into(),
            reason_label: reason_label(h["reason"].as_str().unwrap_or("")),
            values: h["v1_values"].to_string(),
        })
        .collect();
    let d = &r["deadlines"];
    let lst = &r["listings"];
    render(&Page {
        l,
        ran: true,
        run: format!("第 {id} 次，开始 {started}，完成 {}", finished.unwrap_or_default()),
        tables,
        self_check: r["self_check"].to_string(),
        listings: format!(
            "cases.txt {} 行 sha256 {}；quarantine.txt {} 行 sha256 {}",
            lst["cases"]["lines"], lst["cases"]["sha256"].as_str().unwrap_or(""),
            lst["quarantine"]["lines"], lst["quarantine"]["sha256"].as_str().unwrap_or("")
        ),
        flags,
        held,
        held_total,
        deadlines: format!(
            "已受理 {} 件；可按法定节假日安排重算 {} 件，其中与原系统承诺日期不同 {} 件；未办结已受理办件重算 {} 件，因日历未覆盖未重算 {} 件。",
            n(&d["accepted_cases"]), n(&d["computable"]), n(&d["differs"]),
            n(&d["open_recomputed"]), n(&d["open_not_recomputed"])
        ),
        unreferenced: r["files"]["unreferenced"]
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
            .unwrap_or_default(),
    })
}

fn flag_row(code: &str, v: &Value) -> FlagRow {
    FlagRow {
        label: flag_label(code),
        code: code.to_string(),
        count: n(&v["count"]),
        rows: v["rows"]
            .as_array()
            .map(|a| {
                a.iter()
                    .take(200)
                    .map(|r| {
                        format!(
                            "{} {}：{}",
                            r["table"].as_str().unwrap_or(""),
                            r["id"],
                            r["detail"]
                        )
                    })
                    .collect()
            })
            .unwrap_or_default(),
    }
}
