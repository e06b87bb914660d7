//! The catalogue: departments, items and their published versions.

use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;
use zt_domain::item::{ApplicantKind, ItemDefinition};
use zt_domain::role::Role;
use zt_store::departments::{self, DeptRow};
use zt_store::items::{self, ItemFilter, ItemRow};

use crate::error::{AppError, ErrorKind, Result};
use crate::principal::Principal;
use crate::state::{audit, App, Origin};

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ItemSummary {
    pub code: String,
    pub impl_code: String,
    pub name: String,
    pub kind: String,
    pub kind_label: String,
    pub dept_code: String,
    pub dept_name: String,
    pub statutory_days: u32,
    pub promised_days: u32,
    pub applicant_kinds: Vec<ApplicantKind>,
    pub version: i64,
    pub status: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ItemDetail {
    #[serde(flatten)]
    pub summary: ItemSummary,
    pub guide: zt_domain::item::Guide,
    pub form_fields: Vec<zt_domain::item::FormField>,
    pub materials: Vec<zt_domain::item::MaterialDef>,
    pub steps: Vec<zt_domain::item::StepDef>,
    pub min_real_name_level: Option<String>,
}

fn summary(row: &ItemRow, def: &ItemDefinition) -> ItemSummary {
    ItemSummary {
        code: row.code.clone(),
        impl_code: row.impl_code.clone(),
        name: row.name.clone(),
        kind: row.kind.clone(),
        kind_label: def.kind.label_zh().into(),
        dept_code: row.dept_code.clone(),
        dept_name: row.dept_name.clone(),
        statutory_days: def.statutory_days,
        promised_days: def.promised_days,
        applicant_kinds: def.applicant_kinds.clone(),
        version: row.current_version,
        status: row.status.clone(),
    }
}

pub fn detail_of(row: &ItemRow, def: ItemDefinition) -> ItemDetail {
    ItemDetail {
        summary: summary(row, &def),
        guide: def.guide,
        form_fields: def.form_fields,
        materials: def.materials,
        steps: def.steps,
        min_real_name_level: def.min_real_name_level,
    }
}

/// Longest search text accepted; longer input is refused, not cut.
pub const MAX_QUERY_CHARS: usize = 50;

pub async fn list_items(
    app: &App,
    q: Option<&str>,
    dept: Option<&str>,
    include_withdrawn: bool,
) -> Result<Vec<ItemSummary>> {
    if q.is_some_and(|q| q.chars().count() > MAX_QUERY_CHARS) {
        return Err(
            AppError::bad_request("QUERY_TOO_LONG", "搜索内容不能超过50个字。").with_field("q"),
        );
    }
    let mut c = app.read().await?;
    let rows = items::list(
        &mut c,
        &ItemFilter {
            q: q.map(|s| s.trim().to_string()),
            dept_code: dept.map(str::to_string),
            include_withdrawn,
        },
    )
    .await?;
    rows.iter()
        .map(|r| Ok(summary(r, &r.definition()?)))
        .collect()
}

pub async fn get_item(app: &App, code: &str) -> Result<(ItemRow, ItemDefinition)> {
    let mut c = app.read().await?;
    let row = items::by_code(&mut c, code)
        .await?
        .ok_or_else(|| AppError::not_found("ITEM_NOT_FOUND", "该事项"))?;
    let def = row.definition()?;
    Ok((row, def))
}

pub async fn item_detail(app: &App, code: &str) -> Result<ItemDetail> {
    let (row, def) = get_item(app, code).await?;
    if row.status != "published" {
        return Err(AppError::not_found("ITEM_NOT_FOUND", "该事项"));
    }
    Ok(detail_of(&row, def))
}

pub async fn departments(app: &App) -> Result<Vec<DeptRow>> {
    let mut c = app.read().await?;
    Ok(departments::list(&mut c).await?)
}

fn require(p: &Principal, role: Role) -> Result<()> {
    if p.has(role) {
        Ok(())
    } else {
        Err(AppError::forbidden())
    }
}

fn check_code(code: &str, field: &str) -> Result<()> {
    if code.is_empty()
        || code.len() > 40
        || !code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(AppError::new(
            ErrorKind::Unprocessable,
            "CODE_INVALID",
            "编码应为1至40位字母、数字、短横线或下划线。",
        )
        .with_field(field));
    }
    Ok(())
}

/// Creates an item with its first version (system administrator).
pub async fn create_item(
    app: &App,
    p: &Principal,
    origin: &Origin,
    code: &str,
    impl_code: &str,
    dept_code: &str,
    def: &ItemDefinition,
) -> Result<()> {
    require(p, Role::Sysadmin)?;
    check_code(code, "code")?;
    check_code(impl_code, "impl_code")?;
    def.check()?;
    let at = app.now_ts();
    let mut tx = app.begin().await?;
    let dept = departments::by_code(&mut tx, dept_code)
        .await?
        .ok_or_else(|| {
            AppError::new(
                ErrorKind::Unprocessable,
                "DEPT_NOT_FOUND",
                "所选部门不存在。",
            )
            .with_field("dept")
        })?;
    if items::by_code(&mut tx, code).await?.is_some() {
        return Err(
            AppError::new(ErrorKind::Conflict, "ITEM_EXISTS", "该事项编码已存在。")
                .with_field("code"),
        );
    }
    items::insert(&mut tx, code, impl_code, dept.id, def, Some(p.user_id), &at).await?;
    audit(
        &mut tx,
        &at,
        origin,
        "item_create",
        &format!("item:{code}"),
        "success",
        json!({"version": 1}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Publishes a new version of an item. Cases filed under earlier versions keep theirs.
pub async fn publish_version(
    app: &App,
    p: &Principal,
    origin: &Origin,
    code: &str,
    expected_version: i64,
    def: &ItemDefinition,
) -> Result<i64> {
    require(p, Role::Sysadmin)?;
    def.check()?;
    let at = app.now_ts();
    let mut tx = app.begin().await?;
    let row = items::by_code(&mut tx, code)
        .await?
        .ok_or_else(|| AppError::not_found("ITEM_NOT_FOUND", "该事项"))?;
    let v = items::publish_version(&mut tx, row.id, expected_version, def, Some(p.user_id), &at)
        .await
        .map_err(|e| match e {
            zt_store::StoreError::Conflict => AppError::new(
                ErrorKind::Conflict,
                "ITEM_VERSION_CONFLICT",
                "该事项已被他人修改并发布了新版本，请刷新后重新编辑。",
            ),
            other => other.into(),
        })?;
    audit(
        &mut tx,
        &at,
        origin,
        "item_publish",
        &format!("item:{code}"),
        "success",
        json!({"version": v}),
    )
    .await?;
    tx.commit().await?;
    Ok(v)
}

/// Withdraws or republishes an item (new applications only; running cases go on).
pub async fn set_item_status(
    app: &App,
    p: &Principal,
    origin: &Origin,
    code: &str,
    published: bool,
) -> Result<()> {
    require(p, Role::Sysadmin)?;
    let at = app.now_ts();
    let mut tx = app.begin().await?;
    let row = items::by_code(&mut tx, code)
        .await?
        .ok_or_else(|| AppError::not_found("ITEM_NOT_FOUND", "该事项"))?;
    let status = if published { "published" } else { "withdrawn" };
    items::set_status(&mut tx, row.id, status, &at).await?;
    audit(
        &mut tx,
        &at,
        origin,
        "item_status",
        &format!("item:{code}"),
        "success",
        json!({"status": status}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
