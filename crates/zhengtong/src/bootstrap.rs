//! Wiring: connect the database, make sure the bundled calendar is present,
//! build the application.

use std::sync::Arc;

use anyhow::Context;
use zt_app::state::Origin;
use zt_app::App;
use zt_domain::calendar::HolidayCalendar;
use zt_domain::time::Clock;
use zt_store::files::FileStore;
use zt_store::{Db, DbOptions};

use crate::config::Config;

/// The official arrangement shipped with this release (2025–2026).
pub const BUNDLED_CALENDAR: &str = include_str!("../../../data/calendar/cn-2025-2026.toml");
pub const BUNDLED_CALENDAR_SOURCE: &str =
    "随版本发布：国办发明电〔2024〕12号（2025年）、国务院办公厅2025年11月4日通知（2026年）";

pub async fn connect(cfg: &Config) -> anyhow::Result<Db> {
    if cfg.database_url.starts_with("sqlite://") {
        // Create the parent directory of a relative or absolute SQLite path.
        let path = cfg
            .database_url
            .trim_start_matches("sqlite://")
            .split('?')
            .next()
            .unwrap_or("");
        if let Some(parent) = std::path::Path::new(path)
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
        {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
    }
    let mut opts = DbOptions::new(&cfg.database_url);
    opts.max_connections = cfg.db_max_connections;
    opts.sqlite_layout = match cfg.sqlite_layout.as_str() {
        "split" => zt_store::db::SqliteLayout::Split,
        "shared" => zt_store::db::SqliteLayout::Shared,
        other => anyhow::bail!("sqlite_layout must be \"split\" or \"shared\", not {other:?}"),
    };
    Db::connect(&opts)
        .await
        .with_context(|| format!("connecting to {}", zt_store::db::redact(&cfg.database_url)))
}

/// Applies pending migrations and imports bundled calendar years that the
/// database does not have yet (years an administrator imported are kept).
pub async fn migrate(db: &Db) -> anyhow::Result<()> {
    db.migrate().await.context("applying migrations")?;
    let bundled = HolidayCalendar::from_toml(BUNDLED_CALENDAR)
        .map_err(|e| anyhow::anyhow!("bundled calendar: {e}"))?;
    let mut tx = db.writer().begin().await?;
    let have: Vec<i64> = zt_store::calendar::years(&mut tx)
        .await?
        .iter()
        .map(|y| y.year)
        .collect();
    let now = zt_store::time::ts(zt_app::clock::SystemClock.now());
    for (year, arr) in bundled.years() {
        if !have.contains(&i64::from(year)) {
            zt_store::calendar::replace_year(&mut tx, year, arr, BUNDLED_CALENDAR_SOURCE, &now)
                .await?;
            tracing::info!(year, "imported bundled holiday arrangement");
        }
    }
    tx.commit().await?;
    Ok(())
}

pub async fn build_app(
    cfg: &Config,
    db: Db,
    clock: Arc<dyn Clock>,
    demo: bool,
) -> anyhow::Result<App> {
    let files = FileStore::open(&cfg.file_store, &cfg.data_dir.join("files"))
        .context("opening the file store")?;
    let pii = zt_app::pii::load_or_create(&cfg.pii_key_path(), Some(&cfg.pii_keys.0), true)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let scanner = if cfg.clamd.is_empty() {
        zt_scanner::Scanner::builtin_only()
    } else {
        let addr: zt_scanner::ClamdAddr = cfg
            .clamd
            .parse()
            .map_err(|e| anyhow::anyhow!("configuration clamd = {:?}: {e}", cfg.clamd))?;
        zt_scanner::Scanner::with_clamd(zt_scanner::ClamdConfig::new(addr))
    };
    let signer = zt_app::signing::Signer::load_or_create(&cfg.signing_key_path())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let app = App::new(
        db,
        files,
        clock,
        cfg.settings(demo)?,
        Arc::new(pii),
        Arc::new(signer),
    )
    .await
    .map(|app| app.with_scanner(scanner))
    .map_err(|e| anyhow::anyhow!("starting the application: {e}"))?;
    app.integrations.register(
        zt_app::integrations::GXPT,
        crate::integrations::gxpt_mode(cfg),
    );
    let app = match crate::integrations::gxpt_verifier(cfg, &app)? {
        Some(v) => app.with_verifier(Arc::new(v)),
        None => app,
    };
    let app = match crate::integrations::sealer(cfg, &app)? {
        Some(s) => app.with_sealer(s),
        None => app,
    };
    with_identity(cfg, app).await
}

/// The unified identity platform (统一身份认证平台) in the protocol
/// `identity_protocol` names: OpenID Connect when `oidc_issuer` is set, or
/// CAS 3.0 at `cas_url`. Exactly one is wired; a setting that cannot work
/// stops the start, naming it.
pub async fn with_identity(cfg: &Config, app: App) -> anyhow::Result<App> {
    match cfg.identity_protocol.trim() {
        "oidc" | "" => {
            if !cfg.cas_url.is_empty() {
                tracing::warn!(
                    cas_url = %cfg.cas_url,
                    "cas_url is set but identity_protocol is \"oidc\": CAS is not used"
                );
            }
            Ok(match oidc_client(cfg, &app).await? {
                Some(c) => app.with_oidc(Arc::new(c)),
                None => app,
            })
        }
        "cas" => {
            if !cfg.oidc_issuer.is_empty() {
                tracing::warn!(
                    oidc_issuer = %cfg.oidc_issuer,
                    "identity_protocol is \"cas\": oidc_issuer is not used"
                );
            }
            let cas = cas_client(cfg)?;
            app.integrations.register(
                zt_app::integrations::IDENTITY,
                zt_app::integrations::Mode::remote(cfg.cas_url.trim()),
            );
            Ok(app.with_cas(Arc::new(cas)))
        }
        other => anyhow::bail!(
            "identity_protocol (ZT_IDENTITY_PROTOCOL) must be \"oidc\" or \"cas\", not {other:?}"
        ),
    }
}

/// The CAS 3.0 client of the identity platform (`identity_protocol =
/// "cas"`): `cas_url` is required, and `cas_service_url` must be this
/// server's absolute `/auth/cas/callback` URL as registered there.
pub fn cas_client(cfg: &Config) -> anyhow::Result<zt_identity::cas::CasClient> {
    if cfg.cas_url.trim().is_empty() {
        anyhow::bail!(
            "identity_protocol = \"cas\" needs cas_url (ZT_CAS_URL): the CAS server's base URL, \
             the part before /login, e.g. https://idp.example.gov.cn/cas \
             (with the identity sandbox: $IDP_ISSUER/cas)"
        );
    }
    let service = cfg.cas_service_url.trim();
    let absolute = ["http://", "https://"]
        .iter()
        .any(|s| service.len() > s.len() && service.starts_with(s));
    if !absolute || service.contains(char::is_whitespace) || service.contains('#') {
        anyhow::bail!(
            "cas_service_url (ZT_CAS_SERVICE_URL) must be this server's absolute \
             /auth/cas/callback URL as registered at the CAS server, not {service:?}"
        );
    }
    zt_identity::cas::CasClient::new(cfg.cas_url.trim())
        .map_err(|e| anyhow::anyhow!("cas_url (ZT_CAS_URL) {:?}: {e}", cfg.cas_url))
}

/// The OpenID Connect client of the unified identity platform, when
/// `oidc_issuer` is set (discovery happens here, so a wrong issuer fails the
/// start rather than the first login).
pub async fn oidc_client(
    cfg: &Config,
    app: &App,
) -> anyhow::Result<Option<zt_identity::oidc::OidcClient>> {
    if cfg.oidc_issuer.is_empty() {
        return Ok(None);
    }
    if cfg.oidc_client_id.is_empty() {
        anyhow::bail!("oidc_client_id (ZT_OIDC_CLIENT_ID) is required with oidc_issuer");
    }
    let secret = Some(cfg.oidc_client_secret.0.as_str()).filter(|s| !s.is_empty());
    let oc = zt_identity::oidc::OidcConfig::new(&cfg.oidc_issuer, &cfg.oidc_client_id, secret);
    let clock = app.clock.clone();
    let idp_clock: Arc<dyn zt_identity::Clock> = Arc::new(move || clock.now().timestamp());
    use zt_app::integrations::{identity_call, Mode, IDENTITY};
    app.integrations
        .register(IDENTITY, Mode::remote(&cfg.oidc_issuer));
    let client = identity_call(
        &app.integrations,
        zt_identity::oidc::OidcClient::new(oc, idp_clock),
    )
    .await
    .map_err(|e| anyhow::anyhow!("identity platform {}: {e}", cfg.oidc_issuer))?;
    Ok(Some(client))
}

/// The origin of changes made from the command line on the host.
pub fn cli_origin() -> Origin {
    let user = std::env::var("USER").unwrap_or_else(|_| "operator".into());
    Origin {
        actor_id: None,
        actor_name: format!("cli:{user}"),
        client_addr: "localhost".into(),
    }
}
