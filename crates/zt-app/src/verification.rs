//! Verification of the applicant against the province's registers before a
//! case is submitted (身份核验 of natural persons, enterprise status of
//! organisations), through the data-sharing platform.
//!
//! A refusal by the register (a deceased person, a name that does not match
//! the identity number, an enterprise that was revoked or deregistered)
//! stops the submission with an explanation. When the platform cannot be
//! reached the submission goes ahead — applications must not stop because
//! a counterpart is down — and the skipped check is audited for staff.

use serde_json::json;

use crate::error::{AppError, ErrorKind, Result};
use crate::principal::Principal;
use crate::state::{audit, App, Origin};

/// What the register says.
#[derive(Debug, Clone)]
pub enum Verdict {
    Verified,
    /// Refused, with a stable code and a message for the applicant.
    Refused {
        code: &'static str,
        message: String,
    },
    /// The register could not be asked.
    Unavailable(String),
}

#[async_trait::async_trait]
pub trait ApplicantVerifier: Send + Sync {
    async fn person(&self, id_number: &str, name: &str) -> Verdict;
    async fn enterprise(&self, uscc: &str) -> Verdict;
}

/// Checks the applicant of a case about to be submitted. `Ok` also when the
/// register is unavailable (audited); `Err` when it refuses.
pub async fn check_before_submit(
    app: &App,
    p: &Principal,
    client_addr: &str,
    case_no: &str,
) -> Result<()> {
    let Some(v) = app.verifier.as_ref() else {
        return Ok(());
    };
    let row = {
        let mut c = app.read().await?;
        crate::cases::load_visible(&mut c, p, case_no).await?
    };
    if !p.owns(&row) {
        // The submission itself refuses a non-owner.
        return Ok(());
    }
    let (subject, verdict) = match (&row.org_uscc, row.applicant_kind.as_str()) {
        (Some(uscc), "organisation") => ("enterprise", v.enterprise(uscc).await),
        _ => {
            let user = {
                let mut c = app.read().await?;
                zt_store::users::by_id(&mut c, row.applicant_id).await?
            };
            let id_number = match &user {
                Some(u) => app.pii.open_opt(
                    &crate::pii::ctx_user_id_number(&u.username),
                    u.id_number.as_deref(),
                )?,
                None => None,
            };
            match id_number {
                Some(idn) => ("person", v.person(&idn, &row.applicant_name).await),
                None => (
                    "person",
                    Verdict::Refused {
                        code: "IDENTITY_NUMBER_MISSING",
                        message: "您的账号尚未登记公民身份号码，无法完成身份核验。请通过统一身份认证平台实名登录，或在“我的账号”中补充后再提交。".into(),
                    },
                ),
            }
        }
    };
    let (result, detail) = match &verdict {
        Verdict::Verified => ("success", json!({"subject": subject})),
        Verdict::Refused { code, .. } => ("denied", json!({"subject": subject, "code": code})),
        Verdict::Unavailable(e) => (
            "unavailable",
            json!({"subject": subject, "reason": e.chars().take(200).collect::<String>()}),
        ),
    };
    let at = app.now_ts();
    let mut tx = app.begin().await?;
    audit(
        &mut tx,
        &at,
        &Origin::of(p, client_addr),
        "identity_check",
        &format!("case:{case_no}"),
        result,
        detail,
    )
    .await?;
    tx.commit().await?;
    match verdict {
        Verdict::Refused { code, message } => {
            Err(AppError::new(ErrorKind::Unprocessable, code, message))
        }
        Verdict::Unavailable(e) => {
            tracing::warn!(case_no, error = %e, "applicant verification skipped: the register is unavailable");
            Ok(())
        }
        Verdict::Verified => Ok(()),
    }
}
