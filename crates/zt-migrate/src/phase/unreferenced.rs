//! D19: files in V1's store that no row references are not imported; they
//! are listed. The walk goes directory by directory in sorted order and asks
//! the two ledgers once per directory, so memory holds one directory.

use std::collections::BTreeSet;

use crate::error::Result;
use crate::run::{checkpoint, Ctx};

pub const PHASE: &str = "unreferenced_files";

pub async fn run(ctx: &Ctx<'_>) -> Result<()> {
    let root = ctx.opts.files_root.clone();
    let mut tx = ctx.app.db.writer().begin().await?;
    let mut stack = vec![String::new()];
    let mut found = 0i64;
    while let Some(rel) = stack.pop() {
        let dir = if rel.is_empty() {
            root.clone()
        } else {
            root.join(&rel)
        };
        let mut files = Vec::new();
        let mut dirs = Vec::new();
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = if rel.is_empty() {
                name.clone()
            } else {
                format!("{rel}/{name}")
            };
            let ft = entry.file_type()?;
            if ft.is_dir() {
                dirs.push(path);
            } else if ft.is_file() {
                files.push((path, entry.metadata()?.len()));
            }
        }
        // Reverse order on the stack gives a sorted walk.
        dirs.sort();
        stack.extend(dirs.into_iter().rev());
        if files.is_empty() {
            continue;
        }
        let referenced = referenced_in(&mut tx, &rel).await?;
        files.sort();
        for (path, size) in files {
            if referenced.contains(&path) {
                continue;
            }
            found += 1;
            sqlx::query("INSERT INTO v1_unreferenced_files (path, size, found_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
                .bind(&path)
                .bind(size as i64)
                .bind(&ctx.now)
                .execute(&mut *tx)
                .await?;
        }
    }
    checkpoint(&mut tx, ctx, PHASE, "all", found, true).await?;
    tx.commit().await?;
    Ok(())
}

/// Paths both ledgers name in one directory.
async fn referenced_in(conn: &mut zt_store::Conn, dir: &str) -> Result<BTreeSet<String>> {
    let mut out = BTreeSet::new();
    for sql in [
        "SELECT path FROM v1_materials WHERE dir = $1",
        "SELECT path FROM v1_licences WHERE dir = $1",
    ] {
        for (p,) in sqlx::query_as::<_, (String,)>(sql)
            .bind(dir)
            .fetch_all(&mut *conn)
            .await?
        {
            out.insert(p);
        }
    }
    Ok(out)
}
