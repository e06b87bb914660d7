//! What the case phase needs from the earlier phases, loaded once: the
//! departments, staff and items are few (tens), so they are held in maps.

use std::collections::BTreeMap;

use zt_domain::item::ItemDefinition;

use crate::error::{MigrateError, Result};
use crate::run::Ctx;

pub struct StaffRef {
    pub user_id: i64,
    pub name: String,
}

pub struct ItemRef {
    pub v2_id: i64,
    pub dept_id: i64,
    pub levels: i64,
    pub promise_days: u32,
    pub legal_days: u32,
    pub def: ItemDefinition,
    /// Material name → code (`m01`…).
    pub material_codes: BTreeMap<String, String>,
}

pub struct DeptRef {
    pub v2_id: i64,
    pub name: String,
}

pub struct Lookups {
    pub staff: BTreeMap<i64, StaffRef>,
    pub items: BTreeMap<i64, ItemRef>,
    pub depts: BTreeMap<i64, DeptRef>,
}

pub async fn load(ctx: &Ctx<'_>) -> Result<Lookups> {
    let mut conn = ctx.app.db.reader().acquire().await?;
    load_in(ctx, &mut conn).await
}

/// [`load`] on a given connection (a release's transaction).
pub async fn load_in(_ctx: &Ctx<'_>, conn: &mut zt_store::Conn) -> Result<Lookups> {
    let staff = sqlx::query_as::<_, (i64, i64, String)>(
        "SELECT s.user_id, u.id, u.display_name FROM v1_staff s JOIN users u ON u.id = s.v2_user_id",
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|(v1, id, name)| (v1, StaffRef { user_id: id, name }))
    .collect();
    let depts = sqlx::query_as::<_, (i64, i64, String)>(
        "SELECT v.dept_id, d.id, d.name FROM v1_departments v JOIN departments d ON d.id = v.department_id",
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|(v1, id, name)| (v1, DeptRef { v2_id: id, name }))
    .collect();
    let mut items = BTreeMap::new();
    for (v1, v2, dept, levels, promise, legal, def) in sqlx::query_as::<_, (i64, i64, i64, i64, Option<i64>, Option<i64>, String)>(
        "SELECT v.item_id, v.v2_item_id, v.assigned_dept_id, v.review_levels, v.promise_days, v.legal_days, \
         iv.definition FROM v1_items v JOIN item_versions iv ON iv.item_id = v.v2_item_id AND iv.version = 1",
    )
    .fetch_all(&mut *conn)
    .await?
    {
        let def: ItemDefinition =
            serde_json::from_str(&def).map_err(|e| MigrateError::Target(format!("item {v1}: {e}")))?;
        let material_codes = def
            .materials
            .iter()
            .map(|m| (m.name.clone(), m.code.clone()))
            .collect();
        items.insert(
            v1,
            ItemRef {
                v2_id: v2,
                dept_id: dept,
                levels,
                promise_days: u32::try_from(promise.unwrap_or(0)).unwrap_or(0),
                legal_days: u32::try_from(legal.unwrap_or(0)).unwrap_or(0),
                def,
                material_codes,
            },
        );
    }
    Ok(Lookups {
        staff,
        items,
        depts,
    })
}
