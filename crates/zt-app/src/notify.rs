//! Messages to applicants: the in-app inbox (站内信), written in the same
//! transaction as the change, and SMS behind a trait. No SMS gateway exists
//! here; the logging provider records what would be sent.

use async_trait::async_trait;
use zt_store::{notifications, Conn};

use crate::error::Result;

#[async_trait]
pub trait SmsSender: Send + Sync + 'static {
    async fn send(&self, mobile: &str, text: &str) -> std::result::Result<(), String>;
}

/// Logs the message instead of sending it (masked number).
#[derive(Debug, Default)]
pub struct LogSms;

#[async_trait]
impl SmsSender for LogSms {
    async fn send(&self, mobile: &str, text: &str) -> std::result::Result<(), String> {
        let masked = zt_domain::ids::Mobile::parse(mobile)
            .map(|m| m.masked())
            .unwrap_or_else(|_| "***".into());
        tracing::info!(target: "sms", mobile = %masked, text, "sms (logging provider)");
        Ok(())
    }
}

pub async fn inbox(
    conn: &mut Conn,
    user_id: i64,
    case_id: Option<i64>,
    title: &str,
    body: &str,
    now: &str,
) -> Result<()> {
    notifications::insert(conn, user_id, case_id, title, body, now).await?;
    Ok(())
}

/// Sends an SMS after the transaction committed. A failure is logged with the
/// case and never undoes the change the applicant already sees in the inbox.
pub async fn sms_after_commit(sms: &dyn SmsSender, mobile: Option<&str>, text: &str) {
    if let Some(m) = mobile {
        if let Err(e) = sms.send(m, text).await {
            tracing::warn!(target: "sms", error = %e, "sms delivery failed");
        }
    }
}
