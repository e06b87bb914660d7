//! 找回账号 by SMS code (issue 6). Accounts migrated from V1.0 have no usable
//! password (V1 kept unsalted MD5). The holder names the account by name,
//! identity number and mobile number — all three must match what V1 held,
//! because V1 never verified them — and a six-digit code goes to that mobile
//! number; with it the holder sets a new password and learns the username.
//! The answer to a request never says whether an account matched. Real-name
//! login through the identity platform is the other way back (see `sso`).

use chrono::Duration;
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use zt_domain::ids::{IdNumber, Mobile};
use zt_store::users;

use crate::error::{AppError, ErrorKind, Result};
use crate::state::{audit, App, Origin};

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecoveryRequest {
    pub real_name: String,
    pub id_number: String,
    pub mobile: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RecoveryStarted {
    /// Hold it for the confirmation; it means nothing on its own.
    pub ticket: String,
    pub message: String,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecoveryConfirmation {
    pub ticket: String,
    pub code: String,
    pub new_password: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Recovered {
    pub username: String,
    pub message: String,
}

const CODE_VALID_MINUTES: i64 = 5;
const MAX_ATTEMPTS: i64 = 5;
/// Codes per mobile number per hour. Requests per address and minute follow
/// the self-registration limit (the same kind of anonymous request).
const PER_MOBILE_PER_HOUR: i64 = 3;

fn sm3(s: &str) -> String {
    zt_store::files::sm3_hex(s.as_bytes())
}

fn invalid() -> AppError {
    AppError::new(
        ErrorKind::Unprocessable,
        "RECOVERY_CODE_INVALID",
        "验证码错误或已过期，请重新获取。",
    )
    .with_field("code")
}

pub async fn request(
    app: &App,
    req: &RecoveryRequest,
    client_addr: &str,
) -> Result<RecoveryStarted> {
    let now = app.clock.now();
    if !app.login_limiter.allow(
        &format!("recovery:{client_addr}"),
        now,
        app.settings.registration_rate_per_minute,
    ) {
        return Err(AppError::new(
            ErrorKind::TooManyRequests,
            "RECOVERY_RATE_LIMITED",
            "请求过于频繁，请一分钟后再试。",
        ));
    }
    let id = IdNumber::parse(&req.id_number).map_err(|_| {
        AppError::new(
            ErrorKind::Unprocessable,
            "ID_NUMBER_INVALID",
            "请填写正确的18位公民身份号码。",
        )
        .with_field("id_number")
    })?;
    let mobile = Mobile::parse(&req.mobile).map_err(|_| {
        AppError::new(
            ErrorKind::Unprocessable,
            "MOBILE_INVALID",
            "请填写正确的11位手机号码。",
        )
        .with_field("mobile")
    })?;
    let name = req.real_name.trim();
    let ticket = hex::encode(rand::thread_rng().gen::<[u8; 24]>());
    let started = RecoveryStarted {
        ticket: ticket.clone(),
        message: "如填写的信息与原平台账号一致，验证码已发送到该手机号码，5分钟内有效。".into(),
    };
    let id_bidx = app.pii.blind_index(crate::pii::BIDX_ID_NUMBER, id.as_str());
    let mobile_bidx = app
        .pii
        .blind_index(crate::pii::BIDX_MOBILE, mobile.as_str());
    let mut tx = app.begin().await?;
    // The account V1 held for this person, by the mobile number of either of
    // its V1 registrations (D07 merged two into one).
    let found: Option<(i64, String)> = sqlx::query_as(
        "SELECT u.id, u.display_name FROM users u WHERE u.id_number_bidx = $1 AND u.user_type = 'person' \
         AND u.active = 1 AND u.anonymised_at IS NULL \
         AND EXISTS (SELECT 1 FROM v1_accounts a WHERE a.user_id = u.id AND a.mobile_bidx = $2) LIMIT 1",
    )
    .bind(&id_bidx)
    .bind(&mobile_bidx)
    .fetch_optional(&mut *tx)
    .await?;
    let at = zt_store::time::ts(now);
    let origin = Origin {
        actor_id: None,
        actor_name: "anonymous".into(),
        client_addr: client_addr.into(),
    };
    let Some((user_id, _)) = found.filter(|(_, n)| n.trim() == name) else {
        audit(
            &mut tx,
            &at,
            &origin,
            "account_recovery_requested",
            "user:?",
            "no_match",
            json!({}),
        )
        .await?;
        tx.commit().await?;
        return Ok(started);
    };
    let (recent,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM account_recoveries WHERE mobile_bidx = $1 AND created_at > $2",
    )
    .bind(&mobile_bidx)
    .bind(zt_store::time::ts(now - Duration::hours(1)))
    .fetch_one(&mut *tx)
    .await?;
    if recent >= PER_MOBILE_PER_HOUR {
        return Err(AppError::new(
            ErrorKind::TooManyRequests,
            "RECOVERY_RATE_LIMITED",
            "该手机号码一小时内获取验证码次数过多，请稍后再试。",
        ));
    }
    let code = format!("{:06}", rand::thread_rng().gen_range(0..1_000_000));
    sqlx::query(
        "INSERT INTO account_recoveries (user_id, ticket_sm3, code_sm3, mobile_bidx, client_addr, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(user_id)
    .bind(sm3(&ticket))
    .bind(sm3(&format!("{ticket}:{code}")))
    .bind(&mobile_bidx)
    .bind(client_addr)
    .bind(&at)
    .bind(zt_store::time::ts(now + Duration::minutes(CODE_VALID_MINUTES)))
    .execute(&mut *tx)
    .await?;
    audit(
        &mut tx,
        &at,
        &origin,
        "account_recovery_requested",
        &format!("user:{user_id}"),
        "code_sent",
        json!({}),
    )
    .await?;
    tx.commit().await?;
    let text = format!(
        "【政通】您正在找回政务服务平台账号，验证码 {code}，{CODE_VALID_MINUTES}分钟内有效。如非本人操作，请忽略。"
    );
    // The code is useless if it does not arrive: say so, the person may ask again.
    if let Err(e) = app.sms.send(mobile.as_str(), &text).await {
        tracing::error!(error = %e, "account recovery: SMS not sent");
        return Err(AppError::new(
            ErrorKind::Unavailable,
            "SMS_UNAVAILABLE",
            "短信暂时无法发送，请稍后再试。",
        ));
    }
    Ok(started)
}

pub async fn confirm(
    app: &App,
    req: &RecoveryConfirmation,
    client_addr: &str,
) -> Result<Recovered> {
    let now = app.clock.now();
    let at = zt_store::time::ts(now);
    let mut tx = app.begin().await?;
    let row: Option<(i64, i64, String, i64, String)> = sqlx::query_as(
        "SELECT id, user_id, code_sm3, attempts, expires_at FROM account_recoveries \
         WHERE ticket_sm3 = $1 AND used_at IS NULL",
    )
    .bind(sm3(req.ticket.trim()))
    .fetch_optional(&mut *tx)
    .await?;
    let Some((id, user_id, code_sm3, attempts, expires)) = row else {
        return Err(invalid());
    };
    if attempts >= MAX_ATTEMPTS || expires <= at {
        return Err(invalid());
    }
    if sm3(&format!("{}:{}", req.ticket.trim(), req.code.trim())) != code_sm3 {
        sqlx::query("UPDATE account_recoveries SET attempts = attempts + 1 WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        return Err(invalid());
    }
    let Some(user) = users::by_id(&mut tx, user_id).await? else {
        return Err(invalid());
    };
    crate::auth::check_password_policy(&user.username, &req.new_password)?;
    let hash = crate::auth::hash_password_off_thread(&req.new_password).await?;
    users::set_password(&mut tx, user_id, &hash, false, &at).await?;
    sqlx::query("UPDATE users SET failed_logins = 0, locked_until = NULL WHERE id = $1")
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("UPDATE account_recoveries SET used_at = $1 WHERE id = $2")
        .bind(&at)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    audit(
        &mut tx,
        &at,
        &Origin {
            actor_id: Some(user_id),
            actor_name: user.username.clone(),
            client_addr: client_addr.into(),
        },
        "account_recovered",
        &format!("user:{user_id}"),
        "success",
        json!({"method": "sms"}),
    )
    .await?;
    tx.commit().await?;
    Ok(Recovered {
        message: format!("密码已设置，请使用用户名 {} 登录。", user.username),
        username: user.username,
    })
}
