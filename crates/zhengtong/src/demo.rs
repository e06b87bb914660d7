//! The demonstration data set: departments, items, accounts and about fifty
//! cases in every state, replayed through the real use cases on a manual
//! clock so that every timeline, due date and audit record is genuine.

use std::sync::Arc;

use anyhow::{anyhow, Context};
use bytes::Bytes;
use chrono::{Duration, NaiveDate, TimeZone, Utc};
use serde::Deserialize;
use serde_json::{Map, Value};
use zt_app::cases::ActionRequest;
use zt_app::clock::ManualClock;
use zt_app::{App, Principal};
use zt_domain::item::{ApplicantKind, FieldType, ItemDefinition};
use zt_domain::time::beijing;

pub const DEMO_PASSWORD: &str = "Demo@2026";
const DEPARTMENTS: &str = include_str!("../../../data/demo/departments.json");
const ITEMS: &str = include_str!("../../../data/demo/items.json");

#[derive(Debug, Deserialize)]
struct DemoDept {
    code: String,
    name: String,
    region_code: String,
    parent: Option<String>,
    /// The seal of its licences (one of the built-in sealer's seals).
    seal_code: Option<String>,
}

#[derive(Debug, Deserialize)]
struct DemoItem {
    code: String,
    impl_code: String,
    dept: String,
    definition: ItemDefinition,
}

/// One demo account: (username, name, type, roles, dept, id number, mobile, org uscc, org name, level).
type Account = (
    &'static str,
    &'static str,
    &'static str,
    &'static [&'static str],
    Option<&'static str>,
    Option<&'static str>,
    Option<&'static str>,
    Option<&'static str>,
    Option<&'static str>,
    &'static str,
);

/// The demo accounts. Staff of the root department (the 政务服务中心) serve every item.
pub const ACCOUNTS: &[Account] = &[
    (
        "citizen",
        "李明",
        "person",
        &["applicant"],
        None,
        Some("439902198503170025"),
        Some("13800138000"),
        None,
        None,
        "L2",
    ),
    (
        "citizen2",
        "张𠮷·娜",
        "person",
        &["applicant"],
        None,
        Some("439902197901011236"),
        Some("13900139000"),
        None,
        None,
        "L1",
    ),
    (
        "agent",
        "王芳",
        "agent",
        &["applicant"],
        None,
        Some("11010519491231002X"),
        Some("13700137000"),
        Some("91439902MA4L8E5K08"),
        Some("青岚市示范科技有限公司"),
        "L2",
    ),
    (
        "clerk",
        "赵窗口",
        "staff",
        &["clerk"],
        Some("ZWB"),
        None,
        None,
        None,
        None,
        "L3",
    ),
    (
        "reviewer",
        "钱审查",
        "staff",
        &["reviewer"],
        Some("ZWB"),
        None,
        None,
        None,
        None,
        "L3",
    ),
    (
        "approver",
        "孙决定",
        "staff",
        &["approver"],
        Some("ZWB"),
        None,
        None,
        None,
        None,
        "L3",
    ),
    (
        "clerk_scjg",
        "周市场",
        "staff",
        &["clerk"],
        Some("SCJG"),
        None,
        None,
        None,
        None,
        "L3",
    ),
    (
        "sysadmin",
        "系统管理员",
        "admin",
        &["sysadmin"],
        None,
        None,
        None,
        None,
        None,
        "L3",
    ),
    (
        "secadmin",
        "安全管理员",
        "admin",
        &["secadmin"],
        None,
        None,
        None,
        None,
        None,
        "L3",
    ),
    (
        "auditor",
        "审计管理员",
        "admin",
        &["auditor"],
        None,
        None,
        None,
        None,
        None,
        "L3",
    ),
];

/// Seeds the demo data set unless the database already has accounts.
pub async fn seed_if_empty(app: &App) -> anyhow::Result<()> {
    let users = {
        let mut c = app.db.reader().acquire().await?;
        zt_store::users::count(&mut c).await?
    };
    if users > 0 {
        tracing::info!("database already has accounts; demo data not seeded again");
        return Ok(());
    }
    seed_catalogue(app).await?;
    seed_accounts(app).await?;
    seed_cases(app).await?;
    Ok(())
}

fn fail(e: zt_app::AppError) -> anyhow::Error {
    anyhow!("{}: {}", e.code(), e.message())
}

pub async fn seed_catalogue(app: &App) -> anyhow::Result<()> {
    let origin = crate::bootstrap::cli_origin();
    let mut depts: Vec<DemoDept> = serde_json::from_str(DEPARTMENTS).context("demo departments")?;
    // Parents first.
    let mut done: Vec<String> = Vec::new();
    while !depts.is_empty() {
        let before = depts.len();
        let mut rest = Vec::new();
        for d in depts {
            if d.parent.as_ref().is_none_or(|p| done.contains(p)) {
                zt_app::admin::create_department(
                    app,
                    None,
                    &origin,
                    &d.code,
                    &d.name,
                    &d.region_code,
                    d.parent.as_deref(),
                )
                .await
                .map_err(fail)?;
                if let Some(seal) = &d.seal_code {
                    let mut c = app.db.writer().acquire().await?;
                    let id = zt_store::departments::by_code(&mut c, &d.code)
                        .await?
                        .ok_or_else(|| anyhow!("dept {}", d.code))?
                        .id;
                    zt_store::departments::set_seal_code(&mut c, id, Some(seal)).await?;
                }
                done.push(d.code);
            } else {
                rest.push(d);
            }
        }
        if rest.len() == before {
            return Err(anyhow!("demo departments: unknown parents"));
        }
        depts = rest;
    }
    let items: Vec<DemoItem> = serde_json::from_str(ITEMS).context("demo items")?;
    let at = app.now_ts();
    let mut tx = app.db.writer().begin().await?;
    for it in &items {
        it.definition
            .check()
            .map_err(|e| anyhow!("demo item {}: {e}", it.code))?;
        let dept = zt_store::departments::by_code(&mut tx, &it.dept)
            .await?
            .ok_or_else(|| anyhow!("dept {}", it.dept))?;
        zt_store::items::insert(
            &mut tx,
            &it.code,
            &it.impl_code,
            dept.id,
            &it.definition,
            None,
            &at,
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

pub async fn seed_accounts(app: &App) -> anyhow::Result<()> {
    let origin = crate::bootstrap::cli_origin();
    for (username, name, user_type, roles, dept, idn, mobile, uscc, org, level) in ACCOUNTS {
        let req = zt_app::admin::NewUserRequest {
            username: username.to_string(),
            password: DEMO_PASSWORD.into(),
            display_name: name.to_string(),
            user_type: user_type.to_string(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            dept_code: dept.map(str::to_string),
            id_number: idn.map(str::to_string),
            mobile: mobile.map(str::to_string),
            org_uscc: uscc.map(str::to_string),
            org_name: org.map(str::to_string),
            real_name_level: Some(level.to_string()),
            // The demo password is published: outside demo mode each
            // account must choose its own at first login.
            must_change_password: true,
        };
        zt_app::admin::create_user(app, None, &origin, &req)
            .await
            .map_err(fail)?;
    }
    Ok(())
}

async fn principal(app: &App, username: &str) -> anyhow::Result<Principal> {
    let mut c = app.db.reader().acquire().await?;
    let u = zt_store::users::by_username(&mut c, username)
        .await?
        .ok_or_else(|| anyhow!("no user {username}"))?;
    zt_app::auth::principal_for(&mut c, &u, None)
        .await
        .map_err(fail)
}

/// A value for a form field that passes its validation.
pub fn sample_value(field: &zt_domain::item::FormField, who: &Principal, n: usize) -> Value {
    let s = |v: &str| Value::String(v.to_string());
    match field.field_type {
        FieldType::Text => {
            if field.key.contains("name")
                || field.label.contains("名称")
                || field.label.contains("姓名")
            {
                s(&format!(
                    "{}{}",
                    who.org_name
                        .clone()
                        .unwrap_or_else(|| who.display_name.clone()),
                    if n.is_multiple_of(3) {
                        ""
                    } else {
                        "（演示）"
                    }
                ))
            } else if field.label.contains("地址") || field.label.contains("场所") {
                s(&format!("青岚市市南区香港中路{}号", 10 + n))
            } else {
                s(&format!("{}（演示数据）", field.label))
            }
        }
        FieldType::Textarea => s(&format!("{}：本申请为演示数据，第{n}号。", field.label)),
        FieldType::Number => Value::from(3 + (n % 20) as i64),
        FieldType::Amount => s(&format!("{}.00", 10000 + n * 500)),
        FieldType::Date => s("2026-12-01"),
        FieldType::Select => s(field.options.first().map(String::as_str).unwrap_or("")),
        FieldType::Phone => s("13800138000"),
        FieldType::IdNumber => s("439902198503170025"),
        FieldType::Uscc => s(who.org_uscc.as_deref().unwrap_or("91439902MA4L8E5K08")),
        FieldType::Region => s("370202"),
    }
}

/// A small but valid PDF for demo and test materials.
pub fn sample_pdf(title: &str) -> Bytes {
    let body = format!(
        "%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n\
         3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]>>endobj\n% {title}\ntrailer<</Root 1 0 R>>\n%%EOF\n"
    );
    Bytes::from(body.into_bytes())
}

fn at_beijing(d: NaiveDate, hour: u32) -> chrono::DateTime<Utc> {
    beijing()
        .from_local_datetime(&d.and_hms_opt(hour, 17, 0).unwrap_or_default())
        .single()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

/// The states the demo cases end in, in order of filing.
const PLAN: &[&str] = &[
    "completed",
    "completed_rated_good",
    "in_review",
    "draft",
    "submitted",
    "supplement_requested",
    "in_review_red",
    "rejected_at_intake",
    "completed",
    "approved",
    "in_review_yellow",
    "suspended",
    "withdrawn",
    "denied",
    "completed_rated_poor",
    "submitted",
    "in_review",
    "in_review_step2",
    "supplement_in_review",
    "completed",
    "draft",
    "in_review_red",
    "submitted",
    "completed_rated_good",
    "in_review_yellow",
    "denied_completed",
    "approved",
    "suspended",
    "in_review",
    "submitted",
    "withdrawn",
    "completed",
    "in_review_step2",
    "draft",
    "supplement_requested",
    "rejected_at_intake",
    "in_review",
    "completed_rated_good",
    "submitted",
    "in_review_red",
    "completed",
    "suspended",
    "approved",
    "in_review_yellow",
    "supplement_requested",
    "withdrawn",
    "rejected_at_intake",
    "in_review",
    "completed_rated_poor",
    "draft",
];

pub async fn seed_cases(app: &App) -> anyhow::Result<()> {
    let real_today = app.clock.today();
    let cal = app.calendar();
    // Replay history on the weeks before today; if the loaded calendar does
    // not reach far enough past today, anchor the demo where it does.
    let anchor = if cal.add_working_days(real_today, 25).is_ok()
        && cal.day_kind(real_today - Duration::days(60)).is_ok()
    {
        real_today
    } else {
        NaiveDate::from_ymd_opt(2026, 10, 30).ok_or_else(|| anyhow!("date"))?
    };
    let clock = Arc::new(ManualClock::new(at_beijing(anchor, 9)));
    let app = app.with_clock(clock.clone());
    let items = zt_app::catalogue::list_items(&app, None, None, false)
        .await
        .map_err(fail)?;
    let citizen = principal(&app, "citizen").await?;
    let citizen2 = principal(&app, "citizen2").await?;
    let agent = principal(&app, "agent").await?;
    let clerk = principal(&app, "clerk").await?;
    let reviewer = principal(&app, "reviewer").await?;
    let approver = principal(&app, "approver").await?;
    let addr = "127.0.0.1";

    for (n, target) in PLAN.iter().enumerate() {
        let item = &items[n % items.len()];
        let (_, def) = zt_app::catalogue::get_item(&app, &item.code)
            .await
            .map_err(fail)?;
        let who = if def.applicant_kinds.contains(&ApplicantKind::Organisation)
            && (n.is_multiple_of(2) || !def.applicant_kinds.contains(&ApplicantKind::Person))
        {
            &agent
        } else if n % 5 == 1 {
            &citizen2
        } else {
            &citizen
        };
        // Filing day: red cases long ago, yellow ones so that they fall due about now.
        let working_back = match *target {
            t if t.ends_with("_red") => def.promised_days + 6,
            t if t.ends_with("_yellow") => def.promised_days.saturating_sub(1) + 1,
            "draft" | "submitted" => 1 + (n as u32 % 3),
            _ => 3 + (n as u32 % 12),
        };
        let mut day = anchor;
        let mut back = working_back;
        while back > 0 {
            day -= Duration::days(1);
            if cal.is_working_day(day).unwrap_or(false) {
                back -= 1;
            }
        }
        clock.set(at_beijing(day, 9));
        let form: Map<String, Value> = def
            .form_fields
            .iter()
            .filter(|f| f.required || n.is_multiple_of(2))
            .map(|f| (f.key.clone(), sample_value(f, who, n)))
            .collect();
        let case = zt_app::cases::create_draft(&app, who, addr, &item.code, &form)
            .await
            .map_err(fail)?;
        let no = case.case_no.clone();
        for m in def
            .materials
            .iter()
            .filter(|m| m.required || n.is_multiple_of(3))
        {
            zt_app::cases::upload_material(
                &app,
                who,
                addr,
                &no,
                &m.code,
                &format!("{}.pdf", m.name),
                sample_pdf(&m.name),
            )
            .await
            .map_err(fail)?;
        }
        if *target == "draft" {
            continue;
        }
        let act = |p: &'static str, action: &str, opinion: &str| {
            (p, action.to_string(), opinion.to_string())
        };
        let mut steps: Vec<(&str, String, String)> = vec![act("applicant", "submit", "")];
        let accept = act("clerk", "accept", "材料齐全，符合法定形式，予以受理。");
        let review_ok = act(
            "reviewer",
            "approve_step",
            "经审查，申请材料真实有效，符合条件，建议准予许可。",
        );
        let decide_ok = act("approver", "approve_step", "同意，准予许可。");
        let all_steps = |v: &mut Vec<(&str, String, String)>| {
            for s in &def.steps {
                for r in &s.roles {
                    if r.as_str() == "reviewer" {
                        v.push(review_ok.clone());
                    } else {
                        v.push(decide_ok.clone());
                    }
                    if s.mode == zt_domain::item::SignMode::Any {
                        break;
                    }
                }
            }
        };
        match *target {
            "submitted" => {}
            "supplement_requested" => steps.push(act(
                "clerk",
                "request_supplement",
                "申请材料不齐全，请一次性补正以下内容。",
            )),
            "rejected_at_intake" => steps.push(act(
                "clerk",
                "reject_intake",
                "申请事项不属于本机关职权范围，依法不予受理，请向区级市场监管部门申请。",
            )),
            "in_review" | "in_review_red" | "in_review_yellow" => steps.push(accept.clone()),
            "in_review_step2" => {
                steps.push(accept.clone());
                if def.steps.len() > 1 && def.steps[0].mode == zt_domain::item::SignMode::Any {
                    steps.push(if def.steps[0].roles[0].as_str() == "reviewer" {
                        review_ok.clone()
                    } else {
                        decide_ok.clone()
                    });
                }
            }
            "supplement_in_review" => {
                steps.push(accept.clone());
                steps.push(act(
                    "reviewer",
                    "request_supplement",
                    "审查中发现场所平面图与现场不符，请补正。",
                ));
            }
            "suspended" => {
                steps.push(accept.clone());
                steps.push(act(
                    "reviewer",
                    "suspend",
                    "申请事项涉及公共利益，依法组织听证。",
                ));
            }
            "withdrawn" => steps.push(act("applicant", "withdraw", "")),
            "denied" | "denied_completed" => {
                steps.push(accept.clone());
                steps.push(act(
                    "reviewer",
                    "deny",
                    "经现场核查，经营场所不符合卫生条件，不予许可。",
                ));
                if *target == "denied_completed" {
                    steps.push(act("clerk", "complete", "已送达不予许可决定书。"));
                }
            }
            "approved" => {
                steps.push(accept.clone());
                all_steps(&mut steps);
            }
            _ => {
                steps.push(accept.clone());
                all_steps(&mut steps);
                steps.push(act("clerk", "complete", "已制作并发放证照。"));
            }
        }
        for (i, (who_role, action, opinion)) in steps.into_iter().enumerate() {
            // Minutes pass between steps, so that no step lies in the future.
            clock.advance(Duration::minutes(if i == 0 { 20 } else { 40 }));
            let p = match who_role {
                "applicant" => who,
                "clerk" => &clerk,
                "reviewer" => &reviewer,
                _ => &approver,
            };
            let req = ActionRequest {
                action: action.clone(),
                opinion: if opinion.is_empty() {
                    None
                } else {
                    Some(opinion)
                },
                supplement_items: if action == "request_supplement" {
                    vec![
                        format!(
                            "{}：复印件不清晰，请重新上传清晰的扫描件",
                            def.materials
                                .first()
                                .map(|m| m.name.as_str())
                                .unwrap_or("申请材料")
                        ),
                        "申请表中联系电话与身份信息不一致，请核对后修改".into(),
                    ]
                } else {
                    vec![]
                },
                procedure: if action == "suspend" {
                    Some("hearing".into())
                } else {
                    None
                },
                version: None,
            };
            zt_app::cases::act(&app, p, addr, &no, &req)
                .await
                .map_err(|e| anyhow!("demo case {no} {action}: {}: {}", e.code(), e.message()))?;
        }
        match *target {
            "completed_rated_good" => zt_app::ratings::rate(
                &app,
                who,
                addr,
                &no,
                5,
                "窗口人员服务热情，办理速度快，点赞👍",
            )
            .await
            .map_err(fail)?,
            "completed_rated_poor" => zt_app::ratings::rate(
                &app,
                who,
                addr,
                &no,
                2,
                "来回跑了两趟，材料要求没有一次说清楚。",
            )
            .await
            .map_err(fail)?,
            _ => {}
        }
    }
    tracing::info!(cases = PLAN.len(), anchor = %anchor, "demo data seeded");
    Ok(())
}
