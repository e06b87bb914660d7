//! `t_citizen` → applicants (D02–D07, T1, T2), in batches by `citizen_id`.
//! Persons with the same normalised identity number are one applicant (D07):
//! the lowest `citizen_id` survives, and because ids are in registration
//! order it is always written first; the others become aliases of it.

use serde_json::json;

use crate::error::Result;
use crate::progress::Progress;
use std::collections::{BTreeMap, BTreeSet};

use crate::run::{checkpoint, checkpoint_of, hold, note, Ctx};
use crate::sink::Pending;
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
    // Batches are numbered from the phase's start, across resumptions.
    let mut batch_no = u64::try_from(done / ctx.opts.batch.max(1)).unwrap_or(0);
    loop {
        let page = ctx.src()?.citizens_after(after, ctx.opts.batch).await?;
        let Some(last) = page.last().map(|c| c.citizen_id) else {
            break;
        };
        ctx.fault_point(PHASE, batch_no, "after_read");
        let mut tx = ctx.app.db.writer().begin().await?;
        batch(ctx, &mut tx, &page, after, last).await?;
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

fn placeholders(n: usize) -> String {
    (1..=n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

async fn strings_in(
    tx: &mut zt_store::Conn,
    sql: &str,
    keys: &[String],
) -> Result<Vec<(String, i64, Option<String>)>> {
    if keys.is_empty() {
        return Ok(vec![]);
    }
    let sql = sql.replace("{}", &placeholders(keys.len()));
    let mut q = sqlx::query_as::<_, (String, i64, Option<String>)>(&sql);
    for k in keys {
        q = q.bind(k.clone());
    }
    Ok(q.fetch_all(&mut *tx).await?)
}

/// One page of accounts: the lookups are one query each for the page, the
/// rows written at its end (only a new user's row is written at once, for
/// its id).
pub async fn batch(
    ctx: &Ctx<'_>,
    tx: &mut zt_store::Conn,
    page: &[Citizen],
    lo: i64,
    hi: i64,
) -> Result<()> {
    let seen: BTreeSet<i64> = sqlx::query_as::<_, (i64,)>(
        "SELECT citizen_id FROM v1_accounts WHERE citizen_id > $1 AND citizen_id <= $2 \
         UNION SELECT v1_id FROM v1_quarantine WHERE v1_table = 't_citizen' AND status = 'held' AND v1_id > $1 AND v1_id <= $2",
    )
    .bind(lo)
    .bind(hi)
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .map(|r| r.0)
    .collect();
    let pii = &ctx.app.pii;
    let todo: Vec<(&Citizen, IdCard)> = page
        .iter()
        .filter(|c| !seen.contains(&c.citizen_id))
        .map(|c| (c, normalise_id_card(c.id_card.as_deref())))
        .collect();
    let logins: Vec<String> = todo.iter().map(|(c, _)| c.login_name.clone()).collect();
    let taken: BTreeSet<String> = strings_in(
        tx,
        "SELECT username, id, NULL FROM users WHERE username IN ({})",
        &logins,
    )
    .await?
    .into_iter()
    .map(|r| r.0)
    .collect();
    let bidxs: Vec<String> = todo
        .iter()
        .filter_map(|(c, id)| match id {
            IdCard::Valid { number, .. } if c.user_type == "1" => {
                Some(pii.blind_index(zt_app::pii::BIDX_ID_NUMBER, number))
            }
            _ => None,
        })
        .collect();
    // Persons already written (earlier pages), then this page's survivors.
    let mut survivors: BTreeMap<String, (i64, Option<String>)> = BTreeMap::new();
    for (b, user, name) in strings_in(
        tx,
        "SELECT id_card_bidx, user_id, real_name FROM v1_accounts WHERE outcome = 'migrated' AND user_type = '1' \
         AND id_card_bidx IN ({}) ORDER BY citizen_id DESC",
        &bidxs,
    )
    .await?
    {
        survivors.insert(b, (user, name));
    }
    let mut out = Pending::default();
    let mut roles = Pending::default();
    let mut taken_now = BTreeSet::new();
    for (c, idn) in todo {
        let number = match idn {
            IdCard::Valid { number, .. } => number,
            IdCard::Invalid { reason } => {
                hold(
                    ctx,
                    &mut out,
                    "t_citizen",
                    c.citizen_id,
                    "ID_CHECKSUM_INVALID",
                    None,
                    &v1_values(c),
                    json!({"why": reason}),
                );
                continue;
            }
        };
        let mut mark = |flag: &str| note(&mut out, "t_citizen", c.citizen_id, flag, json!({}));
        let person = c.user_type == "1";
        let id_bidx = pii.blind_index(zt_app::pii::BIDX_ID_NUMBER, &number);
        let mobile = mobile::normalise_mobile(c.mobile.as_deref());
        let mobile_bidx = mobile
            .as_deref()
            .map(|m| pii.blind_index(zt_app::pii::BIDX_MOBILE, m));
        if c.mobile.as_deref().is_some_and(|m| !m.trim().is_empty()) && mobile.is_none() {
            mark("mobile_invalid");
        }
        let registered = time::registration_time(c.create_time.as_deref());
        match registered {
            None => mark("unknown_registration_time"),
            Some(t) if t.precision != time::Precision::Second => mark("reduced_time_precision"),
            Some(_) => {}
        }
        let registered_at = registered.map(|t| zt_store::time::ts(t.to_utc()));
        // D07: only persons, only by the normalised number (never a
        // representative's number: T1, T2).
        let survivor = if person {
            survivors.get(&id_bidx).cloned()
        } else {
            None
        };
        let (user_id, outcome) = match survivor {
            Some((user_id, name)) => {
                if name.as_deref().map(str::trim) != c.real_name.as_deref().map(str::trim) {
                    mark("merged_names_differ");
                }
                (user_id, "merged")
            }
            None => {
                let free = crate::phase::org::keepable_login(&c.login_name)
                    && !taken.contains(&c.login_name)
                    && !taken_now.contains(&c.login_name);
                let username = if free {
                    c.login_name.clone()
                } else {
                    mark("username_renamed");
                    format!("v1-c{}", c.citizen_id)
                };
                taken_now.insert(username.clone());
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
                roles.push(
                    "user_roles",
                    "user_id, role, tag",
                    false,
                    vec![
                        id.into(),
                        "applicant".into(),
                        zt_app::role_tags::tag(ctx.app, id, "applicant").into(),
                    ],
                );
                if person {
                    survivors.insert(id_bidx.clone(), (id, c.real_name.clone()));
                }
                (id, "migrated")
            }
        };
        let seal =
            |col: &str, v: Option<&str>| v.map(|v| pii.seal(&ctx_account(col, c.citizen_id), v));
        out.push(
            "v1_accounts",
            "citizen_id, user_id, outcome, login_name, user_type, real_name, registered_at, registered_precision, \
             registered_v1, id_card_v1, id_card_bidx, mobile_v1, mobile, mobile_bidx, email",
            false,
            vec![
                c.citizen_id.into(),
                user_id.into(),
                outcome.into(),
                c.login_name.clone().into(),
                c.user_type.clone().into(),
                c.real_name.clone().into(),
                registered_at.into(),
                registered.map(|t| t.precision.as_str()).unwrap_or("unknown").into(),
                c.create_time.clone().into(),
                seal("id_card_v1", c.id_card.as_deref()).into(),
                id_bidx.into(),
                seal("mobile_v1", c.mobile.as_deref()).into(),
                seal("mobile", mobile.as_deref()).into(),
                mobile_bidx.into(),
                seal("email", c.email.as_deref()).into(),
            ],
        );
    }
    roles.flush(tx, ctx.app.db.backend()).await?;
    out.flush(tx, ctx.app.db.backend()).await?;
    Ok(())
}
