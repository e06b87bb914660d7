//! Rows gathered for one batch and written with multi-row INSERTs at its
//! end: one statement per table and chunk instead of one round trip per
//! row, which is what keeps PostgreSQL (a network hop per statement) near
//! SQLite's speed. Same SQL for both backends; `ON CONFLICT DO NOTHING` on
//! the tables whose rows a repeated batch may meet again.

use std::collections::BTreeMap;

use zt_store::Conn;

use crate::error::Result;

#[derive(Debug, Clone)]
pub enum Val {
    I(Option<i64>),
    S(Option<String>),
    /// The id of the case with this number, inserted in the same flush
    /// (`cases` is written first, with `RETURNING id, case_no`).
    CaseId(String),
}

impl From<i64> for Val {
    fn from(v: i64) -> Self {
        Val::I(Some(v))
    }
}
impl From<Option<i64>> for Val {
    fn from(v: Option<i64>) -> Self {
        Val::I(v)
    }
}
impl From<String> for Val {
    fn from(v: String) -> Self {
        Val::S(Some(v))
    }
}
impl From<&str> for Val {
    fn from(v: &str) -> Self {
        Val::S(Some(v.to_string()))
    }
}
impl From<Option<String>> for Val {
    fn from(v: Option<String>) -> Self {
        Val::S(v)
    }
}
impl From<Option<&str>> for Val {
    fn from(v: Option<&str>) -> Self {
        Val::S(v.map(str::to_string))
    }
}
impl From<&String> for Val {
    fn from(v: &String) -> Self {
        Val::S(Some(v.clone()))
    }
}
impl From<&Option<String>> for Val {
    fn from(v: &Option<String>) -> Self {
        Val::S(v.clone())
    }
}

struct Table {
    cols: &'static str,
    width: usize,
    conflict: bool,
    vals: Vec<Val>,
}

/// The tables in the order their foreign keys need.
#[derive(Default)]
pub struct Pending {
    order: Vec<&'static str>,
    tables: BTreeMap<&'static str, Table>,
    case_ids: BTreeMap<String, i64>,
}

/// Parameters per statement. PostgreSQL allows 65 535 and binds them by
/// position. sqlx's SQLite driver looks each `$n` up by name among all of
/// the statement's parameters, which is quadratic in their number: measured
/// (perf, 20 000 cases) at 60 % of the migration's CPU with 6 500 per
/// statement, so SQLite gets short statements.
fn max_params(backend: zt_store::Backend) -> usize {
    match backend {
        zt_store::Backend::Sqlite => 256,
        _ => 30_000,
    }
}
const MAX_ROWS: usize = 500;

impl Pending {
    /// Adds a row; `cols` is the column list, the same for every row of a
    /// table.
    pub fn push(&mut self, table: &'static str, cols: &'static str, conflict: bool, row: Vec<Val>) {
        let t = self.tables.entry(table).or_insert_with(|| Table {
            cols,
            width: row.len(),
            conflict,
            vals: Vec::new(),
        });
        if !self.order.contains(&table) {
            self.order.push(table);
        }
        debug_assert_eq!(t.width, row.len(), "{table}");
        t.vals.extend(row);
    }

    pub fn is_empty(&self) -> bool {
        self.tables.values().all(|t| t.vals.is_empty())
    }

    /// Writes everything: `cases` first (the others may refer to its ids),
    /// then the tables in the order they were first used.
    pub async fn flush(&mut self, conn: &mut Conn, backend: zt_store::Backend) -> Result<()> {
        let mut order = std::mem::take(&mut self.order);
        if let Some(i) = order.iter().position(|t| *t == "cases") {
            let c = order.remove(i);
            order.insert(0, c);
        }
        for name in order {
            let Some(t) = self.tables.remove(name) else {
                continue;
            };
            if t.vals.is_empty() {
                continue;
            }
            let per = (max_params(backend) / t.width).clamp(1, MAX_ROWS);
            for chunk in t.vals.chunks(per * t.width) {
                let rows = chunk.len() / t.width;
                let mut sql = format!("INSERT INTO {name} ({}) VALUES ", t.cols);
                let mut n = 0;
                for r in 0..rows {
                    sql.push_str(if r == 0 { "(" } else { ", (" });
                    for c in 0..t.width {
                        n += 1;
                        if c > 0 {
                            sql.push_str(", ");
                        }
                        sql.push('$');
                        sql.push_str(&n.to_string());
                    }
                    sql.push(')');
                }
                if t.conflict {
                    sql.push_str(" ON CONFLICT DO NOTHING");
                }
                let returning = name == "cases";
                if returning {
                    sql.push_str(" RETURNING id, case_no");
                }
                let mut q = sqlx::query_as::<_, (i64, String)>(&sql);
                for v in chunk {
                    q = match v {
                        Val::I(i) => q.bind(*i),
                        Val::S(s) => q.bind(s.clone()),
                        Val::CaseId(no) => match self.case_ids.get(no) {
                            Some(id) => q.bind(*id),
                            None => {
                                return Err(crate::error::MigrateError::Target(format!(
                                    "{name}: case {no} was not written in this batch"
                                )))
                            }
                        },
                    };
                }
                if returning {
                    for (id, no) in q.fetch_all(&mut *conn).await? {
                        self.case_ids.insert(no, id);
                    }
                } else {
                    // No rows come back from a plain INSERT.
                    q.fetch_all(&mut *conn).await?;
                }
            }
        }
        Ok(())
    }
}
