//! The small tables, each in one transaction: departments (D15), staff (T3)
//! and items (D15–D17). Killing one of them just repeats it.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::json;
use zt_domain::item::{
    ApplicantKind, FieldType, FormField, Guide, ItemDefinition, ItemKind, MaterialDef, SignMode,
    StepDef,
};
use zt_domain::role::Role;

use crate::error::{MigrateError, Result};
use crate::run::{checkpoint, flag, Ctx};
use crate::transform::{fee, form, materials_config, text_gbk, time};

fn utc(s: Option<&str>, fallback: &str) -> String {
    time::datetime(s)
        .map(|t| zt_store::time::ts(t.to_utc()))
        .unwrap_or_else(|| fallback.to_string())
}

/// The successor a reform's remark names (`…职责划入XX市市场监督管理局`).
pub fn successor_name(remark: &str) -> Option<&str> {
    let (_, rest) = remark.split_once("职责划入")?;
    let name = rest
        .split(['，', '。', ',', ';', '；', ' '])
        .next()
        .unwrap_or("")
        .trim();
    (!name.is_empty()).then_some(name)
}

pub async fn departments(ctx: &Ctx<'_>) -> Result<()> {
    let depts = ctx.src()?.departments().await?;
    let mut tx = ctx.app.db.writer().begin().await?;
    let mut ids: BTreeMap<i64, i64> = BTreeMap::new();
    for (dept_id, v2) in
        sqlx::query_as::<_, (i64, i64)>("SELECT dept_id, department_id FROM v1_departments")
            .fetch_all(&mut *tx)
            .await?
    {
        ids.insert(dept_id, v2);
    }
    let mut new = Vec::new();
    for d in &depts {
        if ids.contains_key(&d.dept_id) {
            continue;
        }
        let code = d
            .dept_code
            .clone()
            .filter(|c| !c.trim().is_empty())
            .unwrap_or_else(|| format!("v1-dept-{}", d.dept_id));
        let existing: Option<(i64, String)> =
            sqlx::query_as("SELECT id, name FROM departments WHERE code = $1")
                .bind(&code)
                .fetch_optional(&mut *tx)
                .await?;
        let region = if code.len() >= 6 && zt_domain::item::is_region_code(&code[..6]) {
            code[..6].to_string()
        } else {
            "439900".to_string()
        };
        let active = d.status.as_deref() == Some("0") && d.del_flag.as_deref() != Some("2");
        let created = utc(d.create_time.as_deref(), &ctx.now);
        let v2 = match existing {
            Some((id, name)) if name == d.dept_name => {
                flag(
                    &mut tx,
                    "sys_dept",
                    d.dept_id,
                    "department_linked_existing",
                    &json!({"code": code}),
                )
                .await?;
                id
            }
            Some((_, name)) => {
                return Err(MigrateError::Preflight(vec![format!(
                    "V2 已有编码为 {code} 的部门“{name}”，与 V1 的“{}”不同 / department code clash",
                    d.dept_name
                )]))
            }
            None => {
                let (id,): (i64,) = sqlx::query_as(
                    "INSERT INTO departments (code, name, region_code, created_at, active) VALUES ($1, $2, $3, $4, $5) \
                     RETURNING id",
                )
                .bind(&code)
                .bind(&d.dept_name)
                .bind(&region)
                .bind(&created)
                .bind(i64::from(active))
                .fetch_one(&mut *tx)
                .await?;
                id
            }
        };
        ids.insert(d.dept_id, v2);
        new.push(d);
    }
    // Parents and successors once every department has its V2 id.
    let by_name: BTreeMap<&str, i64> = depts
        .iter()
        .filter(|d| d.del_flag.as_deref() != Some("2"))
        .map(|d| (d.dept_name.as_str(), d.dept_id))
        .collect();
    for d in new {
        let v2 = ids[&d.dept_id];
        let parent = ids.get(&d.parent_id).copied();
        let successor = if d.del_flag.as_deref() == Some("2") {
            d.remark
                .as_deref()
                .and_then(successor_name)
                .and_then(|n| by_name.get(n))
                .and_then(|v1| ids.get(v1))
                .copied()
        } else {
            None
        };
        sqlx::query("UPDATE departments SET parent_id = $1, successor_id = $2 WHERE id = $3")
            .bind(parent)
            .bind(successor)
            .bind(v2)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO v1_departments (dept_id, department_id, parent_id, ancestors, org_uscc, order_num, leader, \
             status, del_flag, create_time, update_time, remark) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(d.dept_id)
        .bind(v2)
        .bind(d.parent_id)
        .bind(&d.ancestors)
        .bind(&d.org_uscc)
        .bind(d.order_num)
        .bind(&d.leader)
        .bind(&d.status)
        .bind(&d.del_flag)
        .bind(&d.create_time)
        .bind(&d.update_time)
        .bind(&d.remark)
        .execute(&mut *tx)
        .await?;
    }
    checkpoint(&mut tx, ctx, "departments", "all", depts.len() as i64, true).await?;
    tx.commit().await?;
    Ok(())
}

pub fn role_of_post(post: Option<&str>) -> Option<&'static str> {
    match post? {
        "窗口受理" => Some("clerk"),
        "科室审核" => Some("reviewer"),
        "分管领导" => Some("approver"),
        _ => None,
    }
}

/// Whether a V1 login has the shape of a V2 username: the platform's rule,
/// and never the `deleted-` prefix that privacy reserves.
pub fn keepable_login(name: &str) -> bool {
    zt_app::admin::check_username(name).is_ok() && !name.starts_with("deleted-")
}

/// Whether a V1 login can be kept as the V2 username.
pub async fn username_free(conn: &mut zt_store::Conn, name: &str) -> Result<bool> {
    if !keepable_login(name) {
        return Ok(false);
    }
    let taken: Option<(i64,)> = sqlx::query_as("SELECT id FROM users WHERE username = $1")
        .bind(name)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(taken.is_none())
}

pub async fn staff(ctx: &Ctx<'_>) -> Result<()> {
    let staff = ctx.src()?.staff().await?;
    let mut tx = ctx.app.db.writer().begin().await?;
    let done: BTreeSet<i64> = sqlx::query_as::<_, (i64,)>("SELECT user_id FROM v1_staff")
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(|r| r.0)
        .collect();
    let depts: BTreeMap<i64, i64> =
        sqlx::query_as::<_, (i64, i64)>("SELECT dept_id, department_id FROM v1_departments")
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .collect();
    for s in &staff {
        if done.contains(&s.user_id) {
            continue;
        }
        let username = if username_free(&mut tx, &s.login_name).await? {
            s.login_name.clone()
        } else {
            flag(
                &mut tx,
                "sys_user",
                s.user_id,
                "username_renamed",
                &json!({"v1": s.login_name}),
            )
            .await?;
            format!("v1-u{}", s.user_id)
        };
        let mobile = crate::transform::mobile::normalise_mobile(s.phone.as_deref());
        let personal =
            zt_app::pii::sealed_personal(&ctx.app.pii, &username, None, mobile.as_deref());
        let admin = s.post_name.as_deref() == Some("系统管理员");
        let created = utc(s.create_time.as_deref(), &ctx.now);
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO users (username, password_hash, display_name, user_type, mobile, mobile_bidx, dept_id, \
             real_name_level, active, must_change_password, created_at, updated_at) \
             VALUES ($1, NULL, $2, $3, $4, $5, $6, 'L1', 0, 0, $7, $7) RETURNING id",
        )
        .bind(&username)
        .bind(s.user_name.clone().filter(|n| !n.is_empty()).unwrap_or_else(|| s.login_name.clone()))
        .bind(if admin { "admin" } else { "staff" })
        .bind(&personal.mobile)
        .bind(&personal.mobile_bidx)
        .bind(s.dept_id.and_then(|d| depts.get(&d)).copied())
        .bind(&created)
        .fetch_one(&mut *tx)
        .await?;
        // Case roles only: a V1 administrator's powers are not carried over
        // (三权分立 accounts are made in V2).
        if let Some(role) = role_of_post(s.post_name.as_deref()) {
            zt_store::users::set_roles(
                &mut tx,
                id,
                &zt_app::role_tags::tagged(ctx.app, id, &[role]),
            )
            .await?;
        }
        sqlx::query(
            "INSERT INTO v1_staff (user_id, v2_user_id, login_name, dept_id, post_name, status, del_flag, login_date, \
             create_time) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(s.user_id)
        .bind(id)
        .bind(&s.login_name)
        .bind(s.dept_id)
        .bind(&s.post_name)
        .bind(&s.status)
        .bind(&s.del_flag)
        .bind(&s.login_date)
        .bind(&s.create_time)
        .execute(&mut *tx)
        .await?;
    }
    checkpoint(&mut tx, ctx, "staff", "all", staff.len() as i64, true).await?;
    tx.commit().await?;
    Ok(())
}

fn kind_of(t: Option<&str>) -> ItemKind {
    match t {
        Some("行政确认") => ItemKind::Confirmation,
        Some("公共服务") => ItemKind::PublicService,
        Some("行政给付") => ItemKind::Benefit,
        Some("其他行政权力") => ItemKind::OtherPower,
        _ => ItemKind::Licensing,
    }
}

fn field_type(key: &str) -> FieldType {
    match key {
        "id_card" => FieldType::IdNumber,
        "mobile" => FieldType::Phone,
        "uscc" => FieldType::Uscc,
        "note" | "biz_scope" | "reason" => FieldType::Textarea,
        _ => FieldType::Text,
    }
}

/// A V1 item as a V2 definition (version 1). `levels`: review levels seen in
/// the log. Pure; the flags are returned for the caller to record.
pub fn definition(
    it: &crate::source::Item,
    levels: i64,
) -> std::result::Result<
    (
        ItemDefinition,
        materials_config::Notation,
        fee::Fee,
        Vec<&'static str>,
    ),
    String,
> {
    let mut flags = Vec::new();
    let promised = u32::try_from(it.promise_days.unwrap_or(0))
        .unwrap_or(0)
        .max(1);
    let legal = u32::try_from(it.legal_days.unwrap_or(0)).unwrap_or(0);
    let statutory = if legal < promised {
        flags.push("statutory_days_adjusted");
        promised
    } else {
        legal
    };
    let (mats, notation) =
        materials_config::parse_materials_config(it.materials_config.as_deref().unwrap_or("[]"))?;
    let fee = fee::parse_fee(it.fee.as_deref());
    let fees = match &fee {
        fee::Fee::Amount(a) if a == "0.00" => String::new(),
        fee::Fee::Amount(a) => format!("{a}元"),
        fee::Fee::Unknown => it.fee.clone().unwrap_or_default(),
    };
    let applicant_kinds = match it.serve_type.as_deref() {
        Some("2") => vec![ApplicantKind::Organisation],
        Some("3") => vec![ApplicantKind::Person, ApplicantKind::Organisation],
        _ => vec![ApplicantKind::Person],
    };
    let mut steps = vec![StepDef {
        key: "review".into(),
        name: "科室审核".into(),
        roles: vec![Role::Reviewer],
        mode: SignMode::Any,
    }];
    if levels >= 2 {
        steps.push(StepDef {
            key: "decide".into(),
            name: "分管领导审批".into(),
            roles: vec![Role::Approver],
            mode: SignMode::Any,
        });
    }
    let def = ItemDefinition {
        name: it.item_name.clone(),
        kind: kind_of(it.item_type.as_deref()),
        applicant_kinds,
        statutory_days: statutory,
        promised_days: promised,
        guide: Guide {
            fees,
            result: it.license_name.clone().unwrap_or_default(),
            ..Guide::default()
        },
        form_fields: form::parse_form_config(it.form_config.as_deref().unwrap_or(""))
            .into_iter()
            .map(|(key, label)| FormField {
                field_type: field_type(&key),
                key,
                label,
                required: false,
                options: vec![],
                help: None,
                max_len: None,
            })
            .collect(),
        materials: mats
            .iter()
            .enumerate()
            .map(|(i, m)| MaterialDef {
                code: format!("m{:02}", i + 1),
                name: m.name.clone(),
                required: m.required,
                description: None,
                form: m.copies.map(|c| format!("{c}份")),
                max_bytes: None,
            })
            .collect(),
        steps,
        min_real_name_level: None,
        licence: it
            .license_name
            .as_ref()
            .map(|n| zt_domain::licence::LicenceDef {
                name: n.clone(),
                validity_years: 0,
                print_fields: vec![],
            }),
    };
    def.check().map_err(|e| e.to_string())?;
    Ok((def, notation, fee, flags))
}

pub async fn items(ctx: &Ctx<'_>) -> Result<()> {
    let items = ctx.src()?.items().await?;
    let mut two_levels = BTreeSet::new();
    for (item_id, node) in ctx.src()?.item_log_nodes().await? {
        if text_gbk::decode_log_row(node.as_deref(), None, None).node == "分管领导审批" {
            two_levels.insert(item_id);
        }
    }
    let mut tx = ctx.app.db.writer().begin().await?;
    let done: BTreeSet<i64> = sqlx::query_as::<_, (i64,)>("SELECT item_id FROM v1_items")
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(|r| r.0)
        .collect();
    // V1 department → (V2 id, active, successor's V1 id).
    let depts: BTreeMap<i64, (i64, bool, Option<i64>)> = sqlx::query_as::<_, (i64, i64, i64, Option<i64>)>(
        "SELECT v.dept_id, d.id, d.active, d.successor_id FROM v1_departments v JOIN departments d ON d.id = v.department_id",
    )
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .map(|(v1, id, active, succ)| (v1, (id, active == 1, succ)))
    .collect();
    for it in &items {
        if done.contains(&it.item_id) {
            continue;
        }
        let levels = if two_levels.contains(&it.item_id) {
            2
        } else {
            1
        };
        let (def, notation, fee, flags) = definition(it, levels).map_err(|e| {
            MigrateError::Preflight(vec![format!(
                "事项 {}（{}）无法转换 / item cannot be converted: {e}",
                it.item_id, it.item_name
            )])
        })?;
        let Some(&(v1_dept, active, successor)) = it.dept_id.and_then(|d| depts.get(&d)) else {
            return Err(MigrateError::Preflight(vec![format!(
                "事项 {} 的实施部门 {:?} 不存在 / item's department does not exist",
                it.item_id, it.dept_id
            )]));
        };
        let assigned = if active {
            v1_dept
        } else {
            let Some(s) = successor else {
                return Err(MigrateError::Preflight(vec![format!(
                    "事项 {} 的部门已撤销且备注未写明继任部门 / item's department is abolished with no successor",
                    it.item_id
                )]));
            };
            flag(
                &mut tx,
                "t_item",
                it.item_id,
                "item_moved_to_successor",
                &json!({"from": it.dept_id, "to_department_id": s}),
            )
            .await?;
            s
        };
        if fee == fee::Fee::Unknown {
            flag(
                &mut tx,
                "t_item",
                it.item_id,
                "fee_needs_review",
                &json!({"v1": it.fee}),
            )
            .await?;
        }
        for f in flags {
            flag(&mut tx, "t_item", it.item_id, f, &json!({})).await?;
        }
        if levels == 2 {
            flag(
                &mut tx,
                "t_item",
                it.item_id,
                "review_levels_inferred",
                &json!({"levels": 2}),
            )
            .await?;
        }
        let existing: Option<(i64, String)> =
            sqlx::query_as("SELECT id, name FROM items WHERE code = $1")
                .bind(&it.item_code)
                .fetch_optional(&mut *tx)
                .await?;
        if let Some((_, name)) = existing {
            return Err(MigrateError::Preflight(vec![format!(
                "V2 已有编码为 {} 的事项“{name}” / an item with V1's code exists in V2",
                it.item_code
            )]));
        }
        let created = utc(it.create_time.as_deref(), &ctx.now);
        let updated = utc(it.update_time.as_deref(), &created);
        let kind = serde_json::to_value(def.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_else(|| "licensing".into());
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO items (code, impl_code, dept_id, name, kind, current_version, status, created_at, updated_at) \
             VALUES ($1, $1, $2, $3, $4, 1, $5, $6, $7) RETURNING id",
        )
        .bind(&it.item_code)
        .bind(assigned)
        .bind(&def.name)
        .bind(&kind)
        .bind(if it.status.as_deref() == Some("0") { "withdrawn" } else { "published" })
        .bind(&created)
        .bind(&updated)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query("INSERT INTO item_versions (item_id, version, definition, published_at) VALUES ($1, 1, $2, $3)")
            .bind(id)
            .bind(serde_json::to_string(&def).map_err(|e| MigrateError::Target(e.to_string()))?)
            .bind(&updated)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO v1_items (item_id, v2_item_id, item_code, v1_dept_id, assigned_dept_id, item_type, serve_type, \
             promise_days, legal_days, fee_v1, fee_amount, form_config, materials_config, materials_notation, \
             license_name, status, review_levels) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
        )
        .bind(it.item_id)
        .bind(id)
        .bind(&it.item_code)
        .bind(it.dept_id)
        .bind(assigned)
        .bind(&it.item_type)
        .bind(&it.serve_type)
        .bind(it.promise_days)
        .bind(it.legal_days)
        .bind(&it.fee)
        .bind(match &fee {
            fee::Fee::Amount(a) => Some(a.clone()),
            fee::Fee::Unknown => None,
        })
        .bind(&it.form_config)
        .bind(&it.materials_config)
        .bind(notation.as_str())
        .bind(&it.license_name)
        .bind(&it.status)
        .bind(levels)
        .execute(&mut *tx)
        .await?;
    }
    checkpoint(&mut tx, ctx, "items", "all", items.len() as i64, true).await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reform_remark_names_the_successor() {
        assert_eq!(
            successor_name("2019年3月机构改革撤销，职责划入XX市市场监督管理局"),
            Some("XX市市场监督管理局")
        );
        assert_eq!(successor_name("上线测试用，已删除"), None);
    }
}
