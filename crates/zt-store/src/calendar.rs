//! The holiday calendar as stored: one row per listed day, one per year.

use std::collections::BTreeMap;

use sqlx::AnyConnection;
use zt_domain::calendar::{HolidayCalendar, YearArrangement};

use crate::error::{Result, StoreError};
use crate::time::{day, parse_day};

/// Replaces one year's arrangement (checked by the domain before).
pub async fn replace_year(
    conn: &mut AnyConnection,
    year: i32,
    arr: &YearArrangement,
    source: &str,
    now: &str,
) -> Result<()> {
    sqlx::query("DELETE FROM calendar_days WHERE year = $1")
        .bind(i64::from(year))
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM calendar_years WHERE year = $1")
        .bind(i64::from(year))
        .execute(&mut *conn)
        .await?;
    sqlx::query("INSERT INTO calendar_years (year, source, imported_at) VALUES ($1, $2, $3)")
        .bind(i64::from(year))
        .bind(source)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    for (kind, days) in [("holiday", &arr.holidays), ("workday", &arr.workdays)] {
        for d in days {
            sqlx::query("INSERT INTO calendar_days (day, year, kind) VALUES ($1, $2, $3)")
                .bind(day(*d))
                .bind(i64::from(year))
                .bind(kind)
                .execute(&mut *conn)
                .await?;
        }
    }
    Ok(())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct YearRow {
    pub year: i64,
    pub source: String,
    pub imported_at: String,
}

pub async fn years(conn: &mut AnyConnection) -> Result<Vec<YearRow>> {
    Ok(
        sqlx::query_as("SELECT year, source, imported_at FROM calendar_years ORDER BY year")
            .fetch_all(&mut *conn)
            .await?,
    )
}

pub async fn load(conn: &mut AnyConnection) -> Result<HolidayCalendar> {
    let mut by_year: BTreeMap<i32, YearArrangement> = BTreeMap::new();
    for y in years(conn).await? {
        by_year.entry(y.year as i32).or_default();
    }
    let rows: Vec<(String, i64, String)> =
        sqlx::query_as("SELECT day, year, kind FROM calendar_days")
            .fetch_all(&mut *conn)
            .await?;
    for (d, year, kind) in rows {
        let entry = by_year.entry(year as i32).or_default();
        let date = parse_day(&d)?;
        match kind.as_str() {
            "holiday" => entry.holidays.insert(date),
            "workday" => entry.workdays.insert(date),
            other => return Err(StoreError::Corrupt(format!("calendar day kind {other:?}"))),
        };
    }
    let mut cal = HolidayCalendar::new();
    for (y, arr) in by_year {
        cal.insert_year(y, arr)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    }
    Ok(cal)
}
