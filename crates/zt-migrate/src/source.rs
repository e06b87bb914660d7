//! Reading V1 (`gov_v1` on MySQL 5.7 / MariaDB). Times come as text
//! (`DATE_FORMAT`), so no driver time-zone rule applies; the latin1 columns of
//! `t_approve_log` come as bytes, because as text they are mojibake (README
//! §5). Pages are keyset pages, never OFFSET, and a batch's children are read
//! by the range of their `apply_id`, so orphans fall into exactly one batch.

use serde::Serialize;
use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions};
use sqlx::FromRow;
use std::str::FromStr;

use crate::error::{MigrateError, Result};

pub const TABLES: [&str; 9] = [
    "sys_dept",
    "sys_user",
    "t_citizen",
    "t_item",
    "t_apply",
    "t_apply_material",
    "t_approve_log",
    "t_license",
    "t_evaluation",
];

fn pk(table: &str) -> &'static str {
    match table {
        "sys_dept" => "dept_id",
        "sys_user" => "user_id",
        "t_citizen" => "citizen_id",
        "t_item" => "item_id",
        "t_apply" => "apply_id",
        "t_apply_material" => "material_id",
        "t_approve_log" => "log_id",
        "t_license" => "license_id",
        _ => "eval_id",
    }
}

#[derive(Debug, Clone, FromRow, Serialize, serde::Deserialize)]
pub struct Dept {
    pub dept_id: i64,
    pub parent_id: i64,
    pub ancestors: Option<String>,
    pub dept_code: Option<String>,
    pub dept_name: String,
    pub org_uscc: Option<String>,
    pub order_num: Option<i64>,
    pub leader: Option<String>,
    pub status: Option<String>,
    pub del_flag: Option<String>,
    pub create_time: Option<String>,
    pub update_time: Option<String>,
    pub remark: Option<String>,
}

/// Staff, without the password column: V1's MD5 is never read (README §10).
#[derive(Debug, Clone, FromRow, Serialize, serde::Deserialize)]
pub struct Staff {
    pub user_id: i64,
    pub dept_id: Option<i64>,
    pub login_name: String,
    pub user_name: Option<String>,
    pub post_name: Option<String>,
    pub phone: Option<String>,
    pub status: Option<String>,
    pub del_flag: Option<String>,
    pub login_date: Option<String>,
    pub create_time: Option<String>,
}

/// An applicant account, without the password column.
#[derive(Debug, Clone, FromRow, Serialize, serde::Deserialize)]
pub struct Citizen {
    pub citizen_id: i64,
    pub login_name: String,
    pub real_name: Option<String>,
    pub id_card: Option<String>,
    pub mobile: Option<String>,
    pub email: Option<String>,
    pub user_type: String,
    pub org_name: Option<String>,
    pub uscc: Option<String>,
    pub create_time: Option<String>,
}

#[derive(Debug, Clone, FromRow, Serialize, serde::Deserialize)]
pub struct Item {
    pub item_id: i64,
    pub item_code: String,
    pub item_name: String,
    pub dept_id: Option<i64>,
    pub item_type: Option<String>,
    pub serve_type: Option<String>,
    pub promise_days: Option<i64>,
    pub legal_days: Option<i64>,
    pub fee: Option<String>,
    pub form_config: Option<String>,
    pub materials_config: Option<String>,
    pub license_name: Option<String>,
    pub status: Option<String>,
    pub create_time: Option<String>,
    pub update_time: Option<String>,
}

#[derive(Debug, Clone, FromRow, Serialize, serde::Deserialize)]
pub struct Apply {
    pub apply_id: i64,
    pub apply_no: String,
    pub item_id: i64,
    pub citizen_id: i64,
    pub apply_time: Option<String>,
    pub status: String,
    pub form_data: Option<String>,
    pub accept_time: Option<String>,
    pub promise_date: Option<String>,
    pub finish_time: Option<String>,
    pub result_type: Option<String>,
    pub handler_user_id: Option<i64>,
    pub source_channel: Option<String>,
    pub remark: Option<String>,
    pub update_time: Option<String>,
}

#[derive(Debug, Clone, FromRow, Serialize, serde::Deserialize)]
pub struct Material {
    pub material_id: i64,
    pub apply_id: i64,
    pub material_name: Option<String>,
    pub file_name: Option<String>,
    pub file_path: Option<String>,
    pub file_size: Option<i64>,
    pub file_md5: Option<String>,
    pub upload_time: Option<String>,
}

/// An approval-log row with its text columns as the bytes stored.
#[derive(Debug, Clone, FromRow)]
pub struct Log {
    pub log_id: i64,
    pub apply_id: i64,
    pub node_name: Option<Vec<u8>>,
    pub user_id: Option<i64>,
    pub action: Option<Vec<u8>>,
    pub opinion: Option<Vec<u8>>,
    pub action_time: Option<String>,
}

#[derive(Debug, Clone, FromRow, Serialize, serde::Deserialize)]
pub struct License {
    pub license_id: i64,
    pub apply_id: i64,
    pub license_no: String,
    pub license_name: Option<String>,
    pub holder_name: Option<String>,
    pub holder_id_card: Option<String>,
    pub issue_dept_id: Option<i64>,
    pub issue_date: Option<String>,
    pub valid_until: Option<String>,
    pub file_path: Option<String>,
    pub create_time: Option<String>,
}

#[derive(Debug, Clone, FromRow, Serialize, serde::Deserialize)]
pub struct Evaluation {
    pub eval_id: i64,
    pub apply_id: i64,
    pub score: i64,
    pub content: Option<String>,
    pub eval_channel: Option<String>,
    pub eval_time: Option<String>,
}

/// Everything whose `apply_id` lies in one batch's range.
#[derive(Debug, Default)]
pub struct Children {
    pub materials: Vec<Material>,
    pub logs: Vec<Log>,
    pub licences: Vec<License>,
    pub evaluations: Vec<Evaluation>,
}

const DT: &str = "'%Y-%m-%d %H:%i:%s'";
const D: &str = "'%Y-%m-%d'";

pub struct Source {
    pool: MySqlPool,
}

fn src(e: sqlx::Error) -> MigrateError {
    MigrateError::Source(e.to_string())
}

impl Source {
    pub async fn connect(url: &str) -> Result<Self> {
        let opts = MySqlConnectOptions::from_str(url)
            .map_err(|e| MigrateError::Usage(format!("--source {url:?}: {e}")))?
            // utf8mb4 is what the eight utf8mb4 tables need; the latin1 table
            // is read as bytes, so the connection character set never
            // touches it.
            .charset("utf8mb4");
        let pool = MySqlPoolOptions::new()
            .max_connections(2)
            .acquire_timeout(std::time::Duration::from_secs(10))
            .connect_with(opts)
            .await
            .map_err(src)?;
        Ok(Self { pool })
    }

    /// Rows and largest key per table, and where the data comes from: what a
    /// resumed run must find unchanged.
    pub async fn fingerprint(&self) -> Result<serde_json::Value> {
        let mut tables = serde_json::Map::new();
        for t in TABLES {
            let (n, max): (i64, Option<i64>) = sqlx::query_as(&format!(
                "SELECT COUNT(*), CAST(MAX({}) AS SIGNED) FROM {t}",
                pk(t)
            ))
            .fetch_one(&self.pool)
            .await
            .map_err(src)?;
            tables.insert(t.into(), serde_json::json!({"rows": n, "max_id": max}));
        }
        let (db, version): (Option<String>, String) =
            sqlx::query_as("SELECT DATABASE(), VERSION()")
                .fetch_one(&self.pool)
                .await
                .map_err(src)?;
        Ok(serde_json::json!({"database": db, "version": version, "tables": tables}))
    }

    /// Structural facts the decoding rules assume (README §5): the three text
    /// columns of `t_approve_log` are latin1.
    pub async fn latin1_log_columns(&self) -> Result<Vec<(String, Option<String>)>> {
        sqlx::query_as(
            "SELECT CAST(COLUMN_NAME AS CHAR), CAST(CHARACTER_SET_NAME AS CHAR) FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 't_approve_log' \
             AND COLUMN_NAME IN ('node_name', 'action', 'opinion')",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(src)
    }

    pub async fn departments(&self) -> Result<Vec<Dept>> {
        sqlx::query_as(&format!(
            "SELECT CAST(dept_id AS SIGNED) AS dept_id, CAST(parent_id AS SIGNED) AS parent_id, ancestors, dept_code, \
             dept_name, org_uscc, CAST(order_num AS SIGNED) AS order_num, leader, status, del_flag, \
             DATE_FORMAT(create_time, {DT}) AS create_time, DATE_FORMAT(update_time, {DT}) AS update_time, remark \
             FROM sys_dept ORDER BY dept_id"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(src)
    }

    pub async fn staff(&self) -> Result<Vec<Staff>> {
        sqlx::query_as(&format!(
            "SELECT CAST(user_id AS SIGNED) AS user_id, CAST(dept_id AS SIGNED) AS dept_id, login_name, user_name, \
             post_name, phone, status, del_flag, DATE_FORMAT(login_date, {DT}) AS login_date, \
             DATE_FORMAT(create_time, {DT}) AS create_time FROM sys_user ORDER BY user_id"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(src)
    }

    pub async fn items(&self) -> Result<Vec<Item>> {
        sqlx::query_as(&format!(
            "SELECT CAST(item_id AS SIGNED) AS item_id, item_code, item_name, CAST(dept_id AS SIGNED) AS dept_id, \
             item_type, serve_type, CAST(promise_days AS SIGNED) AS promise_days, \
             CAST(legal_days AS SIGNED) AS legal_days, fee, form_config, materials_config, license_name, status, \
             DATE_FORMAT(create_time, {DT}) AS create_time, DATE_FORMAT(update_time, {DT}) AS update_time \
             FROM t_item ORDER BY item_id"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(src)
    }

    /// The distinct (item, node bytes) pairs of the logs: V1 kept the number
    /// of review levels nowhere else (a 分管领导审批 node means two).
    pub async fn item_log_nodes(&self) -> Result<Vec<(i64, Option<Vec<u8>>)>> {
        sqlx::query_as(
            "SELECT DISTINCT CAST(a.item_id AS SIGNED), CAST(l.node_name AS BINARY) FROM t_approve_log l \
             JOIN t_apply a ON a.apply_id = l.apply_id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(src)
    }

    pub async fn citizens_after(&self, after: i64, limit: i64) -> Result<Vec<Citizen>> {
        sqlx::query_as(
            "SELECT CAST(citizen_id AS SIGNED) AS citizen_id, login_name, real_name, id_card, mobile, email, \
             user_type, org_name, uscc, create_time FROM t_citizen WHERE citizen_id > ? ORDER BY citizen_id LIMIT ?",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(src)
    }

    pub async fn cases_after(&self, after: i64, limit: i64) -> Result<Vec<Apply>> {
        sqlx::query_as(&format!(
            "SELECT CAST(apply_id AS SIGNED) AS apply_id, apply_no, CAST(item_id AS SIGNED) AS item_id, \
             CAST(citizen_id AS SIGNED) AS citizen_id, apply_time, status, form_data, accept_time, \
             DATE_FORMAT(promise_date, {D}) AS promise_date, finish_time, result_type, \
             CAST(handler_user_id AS SIGNED) AS handler_user_id, source_channel, remark, \
             DATE_FORMAT(update_time, {DT}) AS update_time FROM t_apply WHERE apply_id > ? ORDER BY apply_id LIMIT ?"
        ))
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(src)
    }

    /// The children of cases with `lo < apply_id <= hi`.
    pub async fn children(&self, lo: i64, hi: i64) -> Result<Children> {
        let materials = sqlx::query_as(&format!(
            "SELECT CAST(material_id AS SIGNED) AS material_id, CAST(apply_id AS SIGNED) AS apply_id, material_name, \
             file_name, file_path, CAST(file_size AS SIGNED) AS file_size, file_md5, \
             DATE_FORMAT(upload_time, {DT}) AS upload_time FROM t_apply_material \
             WHERE apply_id > ? AND apply_id <= ? ORDER BY material_id"
        ))
        .bind(lo)
        .bind(hi)
        .fetch_all(&self.pool)
        .await
        .map_err(src)?;
        let logs = sqlx::query_as(&format!(
            "SELECT CAST(log_id AS SIGNED) AS log_id, CAST(apply_id AS SIGNED) AS apply_id, \
             CAST(node_name AS BINARY) AS node_name, CAST(user_id AS SIGNED) AS user_id, \
             CAST(action AS BINARY) AS action, CAST(opinion AS BINARY) AS opinion, \
             DATE_FORMAT(action_time, {DT}) AS action_time FROM t_approve_log \
             WHERE apply_id > ? AND apply_id <= ? ORDER BY apply_id, action_time, log_id"
        ))
        .bind(lo)
        .bind(hi)
        .fetch_all(&self.pool)
        .await
        .map_err(src)?;
        let licences = sqlx::query_as(&format!(
            "SELECT CAST(license_id AS SIGNED) AS license_id, CAST(apply_id AS SIGNED) AS apply_id, license_no, \
             license_name, holder_name, holder_id_card, CAST(issue_dept_id AS SIGNED) AS issue_dept_id, \
             DATE_FORMAT(issue_date, {D}) AS issue_date, DATE_FORMAT(valid_until, {D}) AS valid_until, file_path, \
             DATE_FORMAT(create_time, {DT}) AS create_time FROM t_license \
             WHERE apply_id > ? AND apply_id <= ? ORDER BY license_id"
        ))
        .bind(lo)
        .bind(hi)
        .fetch_all(&self.pool)
        .await
        .map_err(src)?;
        let evaluations = sqlx::query_as(&format!(
            "SELECT CAST(eval_id AS SIGNED) AS eval_id, CAST(apply_id AS SIGNED) AS apply_id, \
             CAST(score AS SIGNED) AS score, content, eval_channel, DATE_FORMAT(eval_time, {DT}) AS eval_time \
             FROM t_evaluation WHERE apply_id > ? AND apply_id <= ? ORDER BY eval_id"
        ))
        .bind(lo)
        .bind(hi)
        .fetch_all(&self.pool)
        .await
        .map_err(src)?;
        Ok(Children {
            materials,
            logs,
            licences,
            evaluations,
        })
    }

    /// Structural checks that have no documented rule (design §1.6): each
    /// returns the offending ids, at most 20.
    pub async fn preflight_problems(&self) -> Result<Vec<String>> {
        let checks: [(&str, &str); 5] = [
            (
                "办件状态码不在 V1 的十种之内 / t_apply.status outside §3.10",
                "SELECT CAST(apply_id AS SIGNED) FROM t_apply WHERE status NOT IN \
                 ('00','01','02','03','04','05','06','07','09','99') LIMIT 20",
            ),
            (
                "办件的申请人账号不存在 / t_apply.citizen_id names no account",
                "SELECT CAST(a.apply_id AS SIGNED) FROM t_apply a LEFT JOIN t_citizen c ON c.citizen_id = a.citizen_id \
                 WHERE c.citizen_id IS NULL LIMIT 20",
            ),
            (
                "办件的事项不存在 / t_apply.item_id names no item",
                "SELECT CAST(a.apply_id AS SIGNED) FROM t_apply a LEFT JOIN t_item i ON i.item_id = a.item_id \
                 WHERE i.item_id IS NULL LIMIT 20",
            ),
            (
                "一个办件有多张证照 / more than one t_license row for a case",
                "SELECT CAST(apply_id AS SIGNED) FROM t_license GROUP BY apply_id HAVING COUNT(*) > 1 LIMIT 20",
            ),
            (
                "一个办件有多条评价 / more than one t_evaluation row for a case",
                "SELECT CAST(apply_id AS SIGNED) FROM t_evaluation GROUP BY apply_id HAVING COUNT(*) > 1 LIMIT 20",
            ),
        ];
        let mut out = Vec::new();
        for (what, sql) in checks {
            let ids: Vec<(i64,)> = sqlx::query_as(sql)
                .fetch_all(&self.pool)
                .await
                .map_err(src)?;
            if !ids.is_empty() {
                let ids: Vec<String> = ids.iter().map(|r| r.0.to_string()).collect();
                out.push(format!("{what}: {}", ids.join(", ")));
            }
        }
        Ok(out)
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}
