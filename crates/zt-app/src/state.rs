//! The application: its database, files, clock, calendar and settings.

use std::sync::{Arc, RwLock};

use chrono::Duration;
use zt_domain::calendar::HolidayCalendar;
use zt_domain::time::Clock;
use zt_store::audit::{self, NewAudit};
use zt_store::files::FileStore;
use zt_store::{Conn, Db};

use crate::error::{AppError, Result};
use crate::notify::{LogSms, SmsSender};

#[derive(Debug, Clone)]
pub struct Settings {
    /// Cases with this many working days or fewer left are yellow.
    pub yellow_within_days: u32,
    pub session_idle: Duration,
    pub session_absolute: Duration,
    /// Upload limit when an item's material names none.
    pub max_upload_bytes: u64,
    /// Demo mode: the login page lists the demo accounts, and their shared
    /// password need not be changed (nor expires).
    pub demo: bool,
    /// Cookies only over TLS (false on plain-HTTP loopback).
    pub secure_cookies: bool,
    /// Send `Strict-Transport-Security` with every response: set when the
    /// server speaks TLS itself or sits behind a declared TLS-terminating
    /// proxy, never on plain-HTTP loopback (a browser would then insist on
    /// https for `localhost` for a year).
    pub hsts: bool,
    /// Consecutive login failures that lock an account.
    pub lockout_threshold: u32,
    /// How long a locked account stays locked.
    pub lockout: Duration,
    /// Login attempts allowed per client address per minute.
    pub login_rate_per_minute: u32,
    /// Self-registrations allowed per client address per minute.
    pub registration_rate_per_minute: u32,
    /// How long the personal information of an account its owner closed is
    /// kept before `privacy::retention` anonymises it (once its cases are
    /// finished).
    pub pi_retention: Duration,
    /// A file outside the database where anchors of the audit chain are
    /// appended (none: anchors only in the database).
    pub audit_anchor_file: Option<std::path::PathBuf>,
    /// Staff and administrator passwords older than this must be changed.
    pub password_max_age: Option<Duration>,
    /// Client networks from which the administration surfaces (pages under
    /// `/admin`, `/api/v1/admin/…`, `/api/v1/audit…`) may be used; empty: any.
    pub admin_allow_networks: crate::network::NetworkList,
    /// Case staff must enrol a second factor too (administrators always must).
    pub second_factor_for_staff: bool,
    /// The redirect URI given to the identity platform (this server's
    /// `/auth/oidc/callback`).
    pub oidc_redirect_uri: String,
    /// The service URL given to the CAS server (this server's
    /// `/auth/cas/callback`), exactly as registered there.
    pub cas_service_url: String,
    /// Where citizens reach the platform (no trailing slash): the licences'
    /// QR codes point at `<public_base_url>/verify/<licence_no>`.
    pub public_base_url: String,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            yellow_within_days: 1,
            session_idle: Duration::minutes(30),
            session_absolute: Duration::hours(12),
            max_upload_bytes: 10 * 1024 * 1024,
            demo: false,
            secure_cookies: false,
            hsts: false,
            lockout_threshold: 5,
            lockout: Duration::minutes(15),
            login_rate_per_minute: 30,
            registration_rate_per_minute: 10,
            pi_retention: Duration::days(1095),
            audit_anchor_file: None,
            password_max_age: Some(Duration::days(90)),
            admin_allow_networks: crate::network::NetworkList::default(),
            second_factor_for_staff: false,
            oidc_redirect_uri: "http://127.0.0.1:8080/auth/oidc/callback".into(),
            cas_service_url: "http://127.0.0.1:8080/auth/cas/callback".into(),
            public_base_url: "http://127.0.0.1:8080".into(),
        }
    }
}

#[derive(Clone)]
pub struct App {
    pub db: Db,
    pub files: FileStore,
    pub clock: Arc<dyn Clock>,
    pub settings: Arc<Settings>,
    pub sms: Arc<dyn SmsSender>,
    /// Keys for personal information at rest.
    pub pii: Arc<crate::pii::Pii>,
    /// Malicious-code checks of uploads (built-in, and clamd when configured).
    pub scanner: Arc<zt_scanner::Scanner>,
    /// The platform's SM2 key that signs decisions.
    pub signer: Arc<crate::signing::Signer>,
    pub metrics: Arc<crate::metrics::Metrics>,
    /// How each counterpart is connected and how it answers (circuit
    /// breakers, last success and failure): `/readyz`, `/metrics`,
    /// `/admin/integrations`.
    pub integrations: Arc<crate::integrations::Integrations>,
    /// Verification of applicants against the registers (none: not done).
    pub verifier: Option<Arc<dyn crate::verification::ApplicantVerifier>>,
    /// Login through the unified identity platform (none: not configured).
    pub oidc: Option<Arc<zt_identity::oidc::OidcClient>>,
    /// Login through the identity platform's CAS 3.0 server instead
    /// (`identity_protocol = "cas"`; none: not configured).
    pub cas: Option<Arc<zt_identity::cas::CasClient>>,
    /// The e-seal service licences are sealed by (none: not connected, and
    /// licences wait "pending seal").
    pub sealer: Option<Arc<dyn crate::licence::Sealer>>,
    calendar: Arc<RwLock<Arc<HolidayCalendar>>>,
    pub(crate) login_limiter: Arc<crate::limiter::RateLimiter>,
}

impl App {
    /// Builds the application and loads the holiday calendar from the database.
    pub async fn new(
        db: Db,
        files: FileStore,
        clock: Arc<dyn Clock>,
        settings: Settings,
        pii: Arc<crate::pii::Pii>,
        signer: Arc<crate::signing::Signer>,
    ) -> Result<Self> {
        let metrics = Arc::new(crate::metrics::Metrics::default());
        let integrations = Arc::new(crate::integrations::Integrations::new(
            clock.clone(),
            metrics.clone(),
        ));
        let app = Self {
            db,
            files,
            clock,
            settings: Arc::new(settings),
            sms: Arc::new(LogSms),
            pii,
            scanner: Arc::new(zt_scanner::Scanner::builtin_only()),
            signer,
            metrics,
            integrations,
            verifier: None,
            oidc: None,
            cas: None,
            sealer: None,
            calendar: Arc::new(RwLock::new(Arc::new(HolidayCalendar::new()))),
            login_limiter: Arc::new(crate::limiter::RateLimiter::default()),
        };
        app.reload_calendar().await?;
        Ok(app)
    }

    /// The same application seen through another clock (the demo seeder and
    /// tests replay history on a manual clock).
    pub fn with_clock(&self, clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            ..self.clone()
        }
    }

    pub fn with_scanner(mut self, scanner: zt_scanner::Scanner) -> Self {
        self.scanner = Arc::new(scanner);
        self
    }

    pub fn with_verifier(mut self, v: Arc<dyn crate::verification::ApplicantVerifier>) -> Self {
        self.verifier = Some(v);
        self
    }

    pub fn with_oidc(mut self, client: Arc<zt_identity::oidc::OidcClient>) -> Self {
        self.oidc = Some(client);
        self
    }

    pub fn with_sealer(mut self, sealer: Arc<dyn crate::licence::Sealer>) -> Self {
        self.sealer = Some(sealer);
        self
    }

    pub fn with_cas(mut self, client: Arc<zt_identity::cas::CasClient>) -> Self {
        self.cas = Some(client);
        self
    }

    pub fn with_pii(mut self, pii: Arc<crate::pii::Pii>) -> Self {
        self.pii = pii;
        self
    }

    pub fn with_sms(mut self, sms: Arc<dyn SmsSender>) -> Self {
        self.sms = sms;
        self
    }

    pub fn calendar(&self) -> Arc<HolidayCalendar> {
        self.calendar.read().map(|c| c.clone()).unwrap_or_default()
    }

    pub async fn reload_calendar(&self) -> Result<()> {
        let mut conn = self.db.reader().acquire().await?;
        let cal = zt_store::calendar::load(&mut conn).await?;
        let mut g = self
            .calendar
            .write()
            .map_err(|_| AppError::Internal("calendar lock poisoned".into()))?;
        *g = Arc::new(cal);
        Ok(())
    }

    pub fn now_ts(&self) -> String {
        zt_store::time::ts(self.clock.now())
    }

    pub async fn read(&self) -> Result<sqlx::pool::PoolConnection<sqlx::Any>> {
        Ok(self.db.reader().acquire().await?)
    }

    pub async fn begin(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
        Ok(self.db.writer().begin().await?)
    }
}

/// Who did something, from where: the context of an audit record.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    pub actor_id: Option<i64>,
    pub actor_name: String,
    pub client_addr: String,
}

impl Origin {
    /// A signed-in user acting from a client address.
    pub fn of(p: &crate::Principal, client_addr: &str) -> Self {
        Self {
            actor_id: Some(p.user_id),
            actor_name: p.username.clone(),
            client_addr: client_addr.into(),
        }
    }

    pub fn anonymous(client_addr: &str) -> Self {
        Self {
            actor_id: None,
            actor_name: "-".into(),
            client_addr: client_addr.into(),
        }
    }
}

/// Writes an audit record in the caller's transaction.
///
/// Call it after the transaction's other writes: it locks the head of the
/// audit chain until commit, and taking that lock last keeps one lock order
/// across all transactions (no deadlock) and the serialised part short.
pub async fn audit(
    conn: &mut Conn,
    at: &str,
    origin: &Origin,
    action: &str,
    object: &str,
    result: &str,
    detail: serde_json::Value,
) -> Result<()> {
    audit::insert(
        conn,
        &NewAudit {
            at,
            actor_id: origin.actor_id,
            actor_name: &origin.actor_name,
            client_addr: &origin.client_addr,
            action,
            object,
            result,
            detail: &detail.to_string(),
        },
    )
    .await?;
    Ok(())
}
