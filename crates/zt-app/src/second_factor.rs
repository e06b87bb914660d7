//! Two-factor authentication (GB/T 22239 身份鉴别): TOTP from an
//! authenticator app, with one-time recovery codes for a lost device.
//!
//! Administrators must enrol (staff too when `second_factor_for_staff`); any
//! account may. After the password, a session of an enrolled account is
//! restricted until a code is given. Wrong codes count towards the same
//! lockout as wrong passwords (six digits must not be guessable online).
//!
//! A lost device: sign in with a recovery code, remove the old authenticator
//! and enrol the new one; without recovery codes, the security administrator
//! resets the second factor (for administrators: on the host,
//! `zhengtong admin reset-second-factor`), after which the owner enrols anew.

use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;
use zt_domain::role::Role;
use zt_otp::{OtpError, TotpSecret};
use zt_store::second_factor as store;
use zt_store::time::ts;
use zt_store::{sessions, users};

use crate::error::{AppError, ErrorKind, Result};
use crate::principal::Principal;
use crate::state::{audit, App, Origin};

pub const ISSUER: &str = "政通";
const RECOVERY_CODES: usize = 10;

fn ctx_secret(user_id: i64) -> String {
    format!("user_totp.secret:{user_id}")
}

/// Whether accounts with these roles must have a second factor.
pub fn required(app: &App, roles: &[Role]) -> bool {
    !app.settings.demo
        && (roles.iter().any(|r| r.is_admin())
            || (app.settings.second_factor_for_staff && roles.iter().any(|r| r.is_case_staff())))
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Enrolment {
    /// For typing into the app by hand (base32).
    pub secret: String,
    pub otpauth_uri: String,
    /// The QR code of `otpauth_uri` as an SVG image (rendered here, no
    /// external service).
    pub qr_svg: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Status {
    pub enrolled: bool,
    pub required: bool,
    pub recovery_codes_left: i64,
}

fn code_error(e: &OtpError) -> AppError {
    let (code, msg) = match e {
        OtpError::Format(_) => (
            "SECOND_FACTOR_FORMAT",
            "验证码应为6位数字，或一个备用恢复码（如 7KQ4-M2XD-9PRT-W3HN）。",
        ),
        OtpError::Replayed => (
            "SECOND_FACTOR_REPLAYED",
            "该验证码已使用过，请等待 App 显示新的验证码后再输入。",
        ),
        _ => (
            "SECOND_FACTOR_INVALID",
            "验证码不正确，请核对手机时间是否准确后重新输入。",
        ),
    };
    AppError::new(ErrorKind::Unprocessable, code, msg).with_field("code")
}

pub async fn status(app: &App, p: &Principal) -> Result<Status> {
    let mut c = app.read().await?;
    let row = store::get(&mut c, p.user_id).await?;
    Ok(Status {
        enrolled: row.as_ref().is_some_and(|r| r.confirmed()),
        required: required(app, &p.roles),
        recovery_codes_left: store::unused_recovery_codes(&mut c, p.user_id).await?,
    })
}

/// Starts enrolment: a new secret, shown once as a QR code and as text.
pub async fn start_enrolment(app: &App, p: &Principal) -> Result<Enrolment> {
    let mut tx = app.begin().await?;
    if store::get(&mut tx, p.user_id)
        .await?
        .is_some_and(|r| r.confirmed())
    {
        return Err(AppError::new(
            ErrorKind::Conflict,
            "SECOND_FACTOR_ENROLLED",
            "已绑定身份验证器。如需更换，请先解除原绑定。",
        ));
    }
    let secret = TotpSecret::generate();
    let sealed = app.pii.seal(&ctx_secret(p.user_id), &secret.to_base32());
    store::put_pending(&mut tx, p.user_id, &sealed, &app.now_ts()).await?;
    tx.commit().await?;
    let uri = zt_otp::otpauth_uri(ISSUER, &p.username, &secret);
    let qr_svg = zt_otp::qr_svg(&uri).map_err(|e| AppError::Internal(e.to_string()))?;
    Ok(Enrolment {
        secret: secret.to_base32(),
        otpauth_uri: uri,
        qr_svg,
    })
}

fn secret_of(app: &App, row: &store::TotpRow) -> Result<TotpSecret> {
    let b32 = app.pii.open(&ctx_secret(row.user_id), &row.secret)?;
    TotpSecret::from_base32(&b32).map_err(|e| AppError::Internal(e.to_string()))
}

/// Confirms enrolment with the first code; returns the recovery codes (shown
/// once). The session counts as verified.
pub async fn confirm_enrolment(
    app: &App,
    p: &Principal,
    code: &str,
    client_addr: &str,
) -> Result<Vec<String>> {
    let now = app.clock.now();
    let at = ts(now);
    let mut tx = app.begin().await?;
    let row = store::get(&mut tx, p.user_id).await?.ok_or_else(|| {
        AppError::new(
            ErrorKind::Conflict,
            "SECOND_FACTOR_NOT_STARTED",
            "请先开始绑定身份验证器（扫描二维码）。",
        )
    })?;
    if row.confirmed() {
        return Err(AppError::new(
            ErrorKind::Conflict,
            "SECOND_FACTOR_ENROLLED",
            "已绑定身份验证器。",
        ));
    }
    let secret = secret_of(app, &row)?;
    let step = zt_otp::verify(&secret, code, now.timestamp(), row.last_step)
        .map_err(|e| code_error(&e))?;
    if !store::use_step(&mut tx, p.user_id, step, Some(&at)).await? {
        return Err(code_error(&OtpError::Replayed));
    }
    let codes = zt_otp::generate_recovery_codes(RECOVERY_CODES);
    let prints: Vec<String> = codes
        .iter()
        .map(|c| zt_otp::recovery::fingerprint(c))
        .collect();
    store::set_recovery_codes(&mut tx, p.user_id, &prints, &at).await?;
    sessions::mark_second_factor(&mut tx, &p.session_id, &at).await?;
    audit(
        &mut tx,
        &at,
        &Origin::of(p, client_addr),
        "second_factor_enrol",
        &format!("user:{}", p.user_id),
        "success",
        json!({"recovery_codes": codes.len()}),
    )
    .await?;
    tx.commit().await?;
    Ok(codes)
}

/// Checks the second factor of a signed-in session: a TOTP code or a
/// recovery code. A wrong code counts as a failed login.
pub async fn verify(app: &App, p: &Principal, code: &str, client_addr: &str) -> Result<()> {
    let now = app.clock.now();
    let at = ts(now);
    let origin = Origin::of(p, client_addr);
    let row = {
        let mut c = app.read().await?;
        store::get(&mut c, p.user_id).await?
    }
    .filter(|r| r.confirmed())
    .ok_or_else(|| {
        AppError::new(
            ErrorKind::Conflict,
            "SECOND_FACTOR_NOT_ENROLLED",
            "该账号尚未绑定身份验证器。",
        )
    })?;
    let recovery = zt_otp::recovery::normalize(code);
    let mut tx = app.begin().await?;
    let outcome: std::result::Result<&str, AppError> = match &recovery {
        Some(rc) => {
            if store::use_recovery_code(&mut tx, p.user_id, &zt_otp::recovery::fingerprint(rc), &at)
                .await?
            {
                Ok("recovery_code")
            } else {
                Err(AppError::new(
                    ErrorKind::Unprocessable,
                    "SECOND_FACTOR_INVALID",
                    "恢复码不正确或已使用过。",
                )
                .with_field("code"))
            }
        }
        None => {
            match zt_otp::verify(&secret_of(app, &row)?, code, now.timestamp(), row.last_step) {
                Ok(step) if store::use_step(&mut tx, p.user_id, step, None).await? => Ok("totp"),
                Ok(_) => Err(code_error(&OtpError::Replayed)),
                Err(e) => Err(code_error(&e)),
            }
        }
    };
    match outcome {
        Ok(method) => {
            sessions::mark_second_factor(&mut tx, &p.session_id, &at).await?;
            users::record_success(&mut tx, p.user_id).await?;
            let left = store::unused_recovery_codes(&mut tx, p.user_id).await?;
            audit(
                &mut tx,
                &at,
                &origin,
                "second_factor",
                &format!("user:{}", p.user_id),
                "success",
                json!({"method": method, "recovery_codes_left": left}),
            )
            .await?;
            tx.commit().await?;
            Ok(())
        }
        Err(e) => {
            let threshold = i64::from(app.settings.lockout_threshold.max(1));
            let until = ts(now + app.settings.lockout);
            let locked = users::record_failure(&mut tx, p.user_id, threshold, &until).await?;
            if locked {
                sessions::delete_for_user(&mut tx, p.user_id).await?;
            }
            audit(
                &mut tx,
                &at,
                &origin,
                "second_factor",
                &format!("user:{}", p.user_id),
                "failure",
                json!({"locked": locked, "reason": e.code()}),
            )
            .await?;
            if locked {
                audit(
                    &mut tx,
                    &at,
                    &origin,
                    "lockout",
                    &format!("user:{}", p.user_id),
                    "success",
                    json!({"until": until}),
                )
                .await?;
            }
            tx.commit().await?;
            if locked {
                return Err(AppError::unauthenticated());
            }
            Err(e)
        }
    }
}

/// Removes one's own authenticator, confirmed with a current code. Refused
/// when the account must have one (enrol the new device right after a reset
/// instead).
pub async fn remove(app: &App, p: &Principal, code: &str, client_addr: &str) -> Result<()> {
    if required(app, &p.roles) {
        return Err(AppError::new(
            ErrorKind::Forbidden,
            "SECOND_FACTOR_MANDATORY",
            "您的账号必须启用双因素认证，不能解除。更换手机请联系安全管理员重置。",
        ));
    }
    let now = app.clock.now();
    let at = ts(now);
    let mut tx = app.begin().await?;
    let row = store::get(&mut tx, p.user_id)
        .await?
        .filter(|r| r.confirmed())
        .ok_or_else(|| {
            AppError::new(
                ErrorKind::Conflict,
                "SECOND_FACTOR_NOT_ENROLLED",
                "该账号尚未绑定身份验证器。",
            )
        })?;
    let step = zt_otp::verify(&secret_of(app, &row)?, code, now.timestamp(), row.last_step)
        .map_err(|e| code_error(&e))?;
    if !store::use_step(&mut tx, p.user_id, step, None).await? {
        return Err(code_error(&OtpError::Replayed));
    }
    store::remove(&mut tx, p.user_id).await?;
    audit(
        &mut tx,
        &at,
        &Origin::of(p, client_addr),
        "second_factor_remove",
        &format!("user:{}", p.user_id),
        "success",
        json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Resets someone's second factor (security administrator, or the host's
/// command line when `p` is `None`). Their sessions end; they enrol again at
/// the next login. An administrator's is reset only on the host.
pub async fn reset(
    app: &App,
    p: Option<&Principal>,
    origin: &Origin,
    username: &str,
) -> Result<()> {
    if let Some(p) = p {
        if !p.has(Role::Secadmin) {
            return Err(AppError::forbidden());
        }
    }
    let at = app.now_ts();
    let mut tx = app.begin().await?;
    let user = users::by_username(&mut tx, username)
        .await?
        .ok_or_else(|| AppError::not_found("USER_NOT_FOUND", "该账号"))?;
    if p.is_some() && crate::admin::is_admin_account(&mut tx, user.id).await? {
        return Err(AppError::new(
            ErrorKind::Forbidden,
            "ADMIN_ACCOUNT_SEPARATED",
            "管理员账号的双因素认证只能在服务器上通过命令行重置（三权分立）。",
        ));
    }
    let removed = store::remove(&mut tx, user.id).await?;
    let ended = sessions::delete_for_user(&mut tx, user.id).await?;
    audit(
        &mut tx,
        &at,
        origin,
        "second_factor_reset",
        &format!("user:{}", user.id),
        "success",
        json!({"username": user.username, "had_authenticator": removed > 0, "sessions_ended": ended}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
