//! `t_citizen` → applicants (D02–D07, T1, T2), in batches by `citizen_id`.
//! Persons with the same normalised identity number are one applicant (D07):
//! the lowest `citizen_id` survives, and because ids are in registration
//! order it is always written first; the others become aliases of it.

use serde_json::json;

use crate::error::Result;
use crate::progress::Progress;
use crate::run::{checkpoint, checkpoint_of, flag, quarantine, Ctx};
use crate::source::Citizen;
use crate::transform::identity::{normalise_id_card, IdCard};
use crate::transform::{mobile, time};

pub const PHASE: &str = "accounts";

pub fn ctx_account(column: &str, citizen_id: i64) -> String {
    format!("v1_accounts.{column}:{citizen_id}")
}

/// What the quarantine keeps of an account: everything but the password,
/// which is never read.
pub fn v1_values(c: &Citizen) -> serde_json::Value {
    serde_json::to_value(c).unwrap_or_default()
}

pub async fn run(ctx: &Ctx<'_>) -> Result<()> {
    let total = ctx.rows("t_citizen");
    let (mut after, mut done) = if ctx.opts.resume {
        checkpoint_of(ctx.app, PHASE).await?
    } else {
        (i64::MIN, 0)
    };
    let mut progress = Progress::new(ctx.opts.progress, "t_citizen", total);
    let mut batch_no = 0u64;
    loop {
        let page = ctx.src.citizens_after(after, ctx.opts.batch).await?;
        let Some(last) = page.last().map(|c| c.citizen_id) else {
            break;
        };
        ctx.fault_point(PHASE, batch_no, "after_read");
        let mut tx = ctx.app.db.writer().begin().await?;
        for c in &page {
            one(ctx, &mut tx, c).await?;
        }
        done += page.len() as i64;
        checkpoint(&mut tx, ctx, PHASE, &last.to_string(), done, false).await?;
        ctx.fault_point(PHASE, batch_no, "before_commit");
        tx.commit().await?;
        ctx.fault_point(PHASE, batch_no, "after_commit");
        after = last;
        batch_no += 1;
        progress.set(done as u64);
    }
    let mut tx = ctx.app.db.writer().begin().await?;
    checkpoint(&mut tx, ctx, PHASE, &after.to_string(), done, true).await?;
    tx.commit().await?;
    progress.finish();
    Ok(())
}

async fn one(ctx: &Ctx<'_>, tx: &mut zt_store::Conn, c: &Citizen) -> Result<()> {
    let seen: Option<(i64,)> = sqlx::query_as(
        "SELECT citizen_id FROM v1_accounts WHERE citizen_id = $1 \
         UNION ALL SELECT v1_id FROM v1_quarantine WHERE v1_table = 't_citizen' AND v1_id = $1",
    )
    .bind(c.citizen_id)
    .fetch_optional(&mut *tx)
    .await?;
    if seen.is_some() {
        return Ok(());
    }
    let number = match normalise_id_card(c.id_card.as_deref()) {
        IdCard::Valid { number, .. } => number,
        IdCard::Invalid { reason } => {
            quarantine(
                tx,
                ctx,
                "t_citizen",
                c.citizen_id,
                "ID_CHECKSUM_INVALID",
                None,
                &v1_values(c),
                &json!({"why": reason}),
            )
            .await?;
            return Ok(());
        }
    };
    let pii = &ctx.app.pii;
    let person = c.user_type == "1";
    let id_bidx = pii.blind_index(zt_app::pii::BIDX_ID_NUMBER, &number);
    let mobile = mobile::normalise_mobile(c.mobile.as_deref());
    let mobile_bidx = mobile
        .as_deref()
        .map(|m| pii.blind_index(zt_app::pii::BIDX_MOBILE, m));
    if c.mobile.as_deref().is_some_and(|m| !m.trim().is_empty()) && mobile.is_none() {
        flag(tx, "t_citizen", c.citizen_id, "mobile_invalid", &json!({})).await?;
    }
    let registered = time::registration_time(c.create_time.as_deref());
    match registered {
        None => {
            flag(
                tx,
                "t_citizen",
                c.citizen_id,
                "unknown_registration_time",
                &json!({}),
            )
            .await?
        }
        Some(t) if t.precision != time::Precision::Second => {
            flag(
                tx,
                "t_citizen",
                c.citizen_id,
                "reduced_time_precision",
                &json!({"precision": t.precision.as_str()}),
            )
            .await?
        }
        Some(_) => {}
    }
    let registered_at = registered.map(|t| zt_store::time::ts(t.to_utc()));
    // D07: only persons, only by the normalised number (never a
    // representative's number: T1, T2).
    let survivor: Option<(i64, Option<String>)> = if person {
        sqlx::query_as(
            "SELECT user_id, real_name FROM v1_accounts WHERE id_card_bidx = $1 AND user_type = '1' \
             AND outcome = 'migrated' ORDER BY citizen_id LIMIT 1",
        )
        .bind(&id_bidx)
        .fetch_optional(&mut *tx)
        .await?
    } else {
        None
    };
    let (user_id, outcome) = match survivor {
        Some((user_id, name)) => {
            if name.as_deref().map(str::trim) != c.real_name.as_deref().map(str::trim) {
                flag(
                    tx,
                    "t_citizen",
                    c.citizen_id,
                    "merged_names_differ",
                    &json!({}),
                )
                .await?;
            }
            (user_id, "merged")
        }
        None => {
            let username = if crate::phase::org::username_free(tx, &c.login_name).await? {
                c.login_name.clone()
            } else {
                flag(
                    tx,
                    "t_citizen",
                    c.citizen_id,
                    "username_renamed",
                    &json!({}),
                )
                .await?;
                format!("v1-c{}", c.citizen_id)
            };
            let personal =
                zt_app::pii::sealed_personal(pii, &username, Some(&number), mobile.as_deref());
            let (org_uscc, org_name) = if person {
                (None, None)
            } else {
                (c.uscc.clone(), c.org_name.clone())
            };
            let created = registered_at.clone().unwrap_or_else(|| {
                zt_store::time::ts(
                    time::V1Time {
                        local: ctx.opts.freeze,
                        precision: time::Precision::Second,
                    }
                    .to_utc(),
                )
            });
            let (id,): (i64,) = sqlx::query_as(
                "INSERT INTO users (username, password_hash, display_name, user_type, id_number, id_number_bidx, \
                 mobile, mobile_bidx, org_uscc, org_name, real_name_level, active, must_change_password, created_at, \
                 updated_at) VALUES ($1, NULL, $2, $3, $4, $5, $6, $7, $8, $9, 'L1', 1, 0, $10, $10) RETURNING id",
            )
            .bind(&username)
            .bind(c.real_name.clone().unwrap_or_default())
            .bind(if person { "person" } else { "agent" })
            .bind(&personal.id_number)
            .bind(&personal.id_number_bidx)
            .bind(&personal.mobile)
            .bind(&personal.mobile_bidx)
            .bind(&org_uscc)
            .bind(&org_name)
            .bind(&created)
            .fetch_one(&mut *tx)
            .await?;
            zt_store::users::set_roles(
                tx,
                id,
                &zt_app::role_tags::tagged(ctx.app, id, &["applicant"]),
            )
            .await?;
            (id, "migrated")
        }
    };
    let seal = |col: &str, v: Option<&str>| v.map(|v| pii.seal(&ctx_account(col, c.citizen_id), v));
    sqlx::query(
        "INSERT INTO v1_accounts (citizen_id, user_id, outcome, login_name, user_type, real_name, registered_at, \
         registered_precision, registered_v1, id_card_v1, id_card_bidx, mobile_v1, mobile, mobile_bidx, email) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
    )
    .bind(c.citizen_id)
    .bind(user_id)
    .bind(outcome)
    .bind(&c.login_name)
    .bind(&c.user_type)
    .bind(&c.real_name)
    .bind(&registered_at)
    .bind(registered.map(|t| t.precision.as_str()).unwrap_or("unknown"))
    .bind(&c.create_time)
    .bind(seal("id_card_v1", c.id_card.as_deref()))
    .bind(&id_bidx)
    .bind(seal("mobile_v1", c.mobile.as_deref()))
    .bind(seal("mobile", mobile.as_deref()))
    .bind(&mobile_bidx)
    .bind(seal("email", c.email.as_deref()))
    .execute(&mut *tx)
    .await?;
    Ok(())
}
