//! Configuration: built-in defaults, then an optional TOML file (`--config` or
//! `ZT_CONFIG`), then `ZT_*` environment variables. Unknown keys are errors so
//! that a typo in production is not silently ignored.

use std::path::PathBuf;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `sqlite://<path>` or `postgres://user@host:port/db`.
    pub database_url: String,
    /// host:port to listen on.
    pub listen: String,
    /// Stored files (materials) and the demo database.
    pub data_dir: PathBuf,
    /// Where materials are stored: empty for `<data_dir>/files`, or an
    /// S3-compatible bucket `s3://bucket/prefix` (credentials and endpoint
    /// from the standard `AWS_*` variables).
    pub file_store: String,
    /// Read connections (SQLite) or all connections (PostgreSQL).
    pub db_max_connections: u32,
    /// tracing filter, e.g. `info` or `zt_web=debug,info`.
    pub log: String,
    /// `text` or `json`.
    pub log_format: String,
    /// Working days left at which a case turns yellow.
    pub yellow_within_days: u32,
    pub session_idle_minutes: i64,
    pub session_absolute_hours: i64,
    pub max_upload_mb: u64,
    /// Mark cookies Secure. Implied by `tls_cert`/`tls_key` and by
    /// `behind_proxy`; set it by hand only for an unusual front end.
    pub secure_cookies: bool,
    /// The TLS certificate chain, PEM: the server certificate first, then
    /// its intermediates. With `tls_key` the server speaks HTTPS itself
    /// (TLS 1.2 and 1.3 only, HTTP/1.1 and HTTP/2). Unset (the default):
    /// plain HTTP, allowed only on a loopback `listen` address or with
    /// `behind_proxy`. Read at start; a new certificate takes a restart.
    pub tls_cert: Option<PathBuf>,
    /// The certificate's private key, PEM: PKCS#8 (`BEGIN PRIVATE KEY`),
    /// RSA (`BEGIN RSA PRIVATE KEY`) or EC (`BEGIN EC PRIVATE KEY`). Keep it
    /// readable by the service account only.
    pub tls_key: Option<PathBuf>,
    /// A TLS-terminating reverse proxy is in front of this server and is the
    /// only way clients reach it: plain HTTP is then allowed on any address,
    /// and cookies are Secure and responses carry HSTS as if on TLS.
    pub behind_proxy: bool,
    /// `split` (one WAL writer + read pool; the default) or `shared` (one
    /// pool, rollback journal: only for benchmarking what the split buys).
    pub sqlite_layout: String,
    /// Consecutive login failures that lock an account.
    pub lockout_threshold: u32,
    /// Minutes a locked account stays locked.
    pub lockout_minutes: i64,
    /// Login attempts allowed per client address per minute.
    pub login_rate_per_minute: u32,
    /// Self-registrations (`/register`, `POST /api/v1/registrations`)
    /// allowed per client address per minute.
    pub registration_rate_per_minute: u32,
    /// Days the personal information of an account closed by its owner is
    /// kept before `zhengtong privacy retention` anonymises it (name,
    /// identity number, mobile, login; the personal fields of its case
    /// forms are masked). Accounts with a case still being handled wait
    /// until it is finished. The case records themselves stay, as the
    /// archives rules require. Default 1095 (three years).
    pub pi_retention_days: i64,
    /// Client networks from which the administration surfaces may be used
    /// (等保 访问控制: 限制管理终端的接入地址), in CIDR notation, IPv4 and
    /// IPv6, a bare address meaning that one host, e.g.
    /// `["127.0.0.1/32", "10.20.0.0/16", "fd00:20::/48"]`. Empty (the
    /// default): no restriction. An invalid entry stops the start, naming it.
    ///
    /// Guarded: the pages under `/admin` and the API under `/api/v1/admin/`
    /// and `/api/v1/audit`; a request from any other address is refused with
    /// 403 `ADMIN_NETWORK_DENIED` and audited (`permission_denied`). Only
    /// those surfaces: an administrator signed in from elsewhere still uses
    /// the rest of the platform (their account, the portal) as anyone would.
    ///
    /// In the environment, as a list or a comma-separated string:
    /// `ZT_ADMIN_ALLOW_NETWORKS='[127.0.0.1/32, 10.20.0.0/16]'` or
    /// `ZT_ADMIN_ALLOW_NETWORKS=127.0.0.1/32,10.20.0.0/16`; an empty value
    /// (or `[]`) removes the restriction.
    ///
    /// The address checked is the TCP peer's; `X-Forwarded-For` is never
    /// trusted. Behind a reverse proxy (`behind_proxy`) every request comes
    /// from the proxy, so the proxy must enforce this restriction itself.
    #[serde(deserialize_with = "string_list")]
    pub admin_allow_networks: Vec<String>,
    /// Anchors of the audit chain are also appended here (empty for
    /// `<data_dir>/audit-anchors.jsonl`). Keep it on storage the database
    /// administrator cannot write, or ship it off the host.
    pub audit_anchor_file: String,
    /// Minutes between anchors written by the server.
    pub audit_anchor_minutes: u64,
    /// Days audit records stay in the database before `audit archive` may
    /// move them out (never below 183: 网络安全法 art. 21).
    pub audit_retention_days: i64,
    /// Days after which staff and administrator passwords must be changed
    /// (0: never).
    pub password_max_age_days: i64,
    /// The personal-information key file (empty: `<data_dir>/pii.keys`,
    /// created on first start; move it off the data disk and back it up
    /// apart from the database).
    pub pii_key_file: String,
    /// The key file's text itself (e.g. from a secrets manager through
    /// `ZT_PII_KEYS`); takes precedence over the file.
    pub pii_keys: Secret,
    /// Case staff must also use a second factor (administrators always do).
    pub second_factor_for_staff: bool,
    /// The data-sharing platform (gxpt): empty (not connected: case events
    /// wait in the outbox), `builtin` (an in-process platform for the demo),
    /// or its URL, e.g. `http://gxpt.example.gov.cn` (ZT_GXPT_URL; with the
    /// sandbox: ZT_GXPT_URL=$GXPT_URL).
    pub gxpt_url: String,
    /// Verify applicants against gxpt's registers before submission (only
    /// with a real gxpt; off where the interface is not granted).
    pub gxpt_identity_check: bool,
    /// The platform's application key at gxpt (ZT_GX_APP_KEY=$GX_APP_KEY).
    pub gx_app_key: String,
    /// Its secret (ZT_GX_APP_SECRET=$GX_APP_SECRET); never logged.
    pub gx_app_secret: Secret,
    /// The SM4 data key, 32 hex (ZT_GX_DATA_KEY=$GX_DATA_KEY); never logged.
    pub gx_data_key: Secret,
    /// The platform's SM2 signing key (PKCS#8 PEM; empty:
    /// `<data_dir>/platform-sm2.pem`, created on first start).
    pub signing_key_file: String,
    /// ClamAV daemon for uploads, e.g. `tcp://127.0.0.1:3310` or
    /// `unix:///run/clamav/clamd.ctl` (empty: the built-in checks only).
    /// When set, an upload is refused while clamd does not answer.
    pub clamd: String,
    /// Issuer of the unified identity platform (统一身份认证平台) for OpenID
    /// Connect login, e.g. `https://idp.example.gov.cn` (empty: off, only
    /// local passwords).
    pub oidc_issuer: String,
    /// The platform's client id at the identity platform.
    pub oidc_client_id: String,
    /// Its client secret (ZT_OIDC_CLIENT_SECRET); never logged.
    pub oidc_client_secret: Secret,
    /// The redirect URI registered at the identity platform: this server's
    /// `/auth/oidc/callback`.
    pub oidc_redirect_uri: String,
    /// Which protocol "统一身份认证登录" speaks: `oidc` (the default) or
    /// `cas`, for cities whose platform only offers CAS 3.0.
    pub identity_protocol: String,
    /// The CAS server's base URL, the part before `/login`, e.g.
    /// `https://idp.example.gov.cn/cas` (ZT_CAS_URL=$IDP_ISSUER/cas with the
    /// sandbox).
    pub cas_url: String,
    /// The service URL registered at the CAS server: this server's
    /// `/auth/cas/callback`.
    pub cas_service_url: String,
    /// The address citizens reach this platform at, e.g.
    /// `https://zwfw.example.gov.cn`: printed in licences' QR codes and
    /// links. Empty: `http://<listen>`.
    pub public_base_url: String,
    /// The e-seal service (电子签章): empty (not connected: completed
    /// cases' licences wait "pending seal"), `builtin` (an in-process
    /// sealer with its own CA under `data_dir`, for the demo), or its URL
    /// (ZT_ESEAL_URL=$ESEAL_URL with the sandbox).
    pub eseal_url: String,
    /// The trust anchor sealed licences are verified against before they
    /// are stored: the e-seal service's CA certificate, PEM. Required with
    /// a URL (the sandbox's is `state/eseal/ca.pem`, or GET /seal/v1/ca.pem).
    pub eseal_ca_file: String,
    /// The platform's application key at the e-seal service (empty: the
    /// same as `gx_app_key`).
    pub eseal_app_key: String,
    /// Its secret (empty: `gx_app_secret`); never logged.
    pub eseal_app_secret: Secret,
    /// Its SM4 data key, 32 hex (empty: `gx_data_key`); never logged.
    pub eseal_data_key: Secret,
}

/// The PEM files the server's TLS is loaded from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// An optional path, when given and not empty (`ZT_TLS_CERT=` unsets).
fn given(p: &Option<PathBuf>) -> Option<&PathBuf> {
    p.as_ref().filter(|p| !p.as_os_str().is_empty())
}

/// Whether `listen` is on a loopback address: 127.0.0.0/8, ::1 (also as
/// ::ffff:127.x) or the name `localhost`. Any other name counts as
/// not loopback: give the address.
pub fn is_loopback(listen: &str) -> bool {
    if let Ok(a) = listen.parse::<std::net::SocketAddr>() {
        return a.ip().to_canonical().is_loopback();
    }
    listen
        .rsplit_once(':')
        .is_some_and(|(host, _)| host.eq_ignore_ascii_case("localhost"))
}

/// A list of strings that the environment may also give as one string of
/// comma-separated values (figment reads `[a, b]` as a list, `a,b` as text).
fn string_list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    struct List;
    impl<'de> serde::de::Visitor<'de> for List {
        type Value = Vec<String>;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a list of strings, or one string of comma-separated values")
        }

        fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Vec<String>, E> {
            Ok(s.split(',')
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_string)
                .collect())
        }

        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> Result<Vec<String>, A::Error> {
            let mut v = Vec::new();
            while let Some(s) = seq.next_element::<String>()? {
                v.push(s);
            }
            Ok(v)
        }
    }
    d.deserialize_any(List)
}

/// A configuration value that never appears in logs or debug output.
#[derive(Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_empty() { "\"\"" } else { "\"***\"" })
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            database_url: "sqlite://var/zhengtong.db".into(),
            listen: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("var"),
            file_store: String::new(),
            db_max_connections: 16,
            log: "info".into(),
            log_format: "text".into(),
            yellow_within_days: 1,
            session_idle_minutes: 30,
            session_absolute_hours: 12,
            max_upload_mb: 10,
            secure_cookies: false,
            tls_cert: None,
            tls_key: None,
            behind_proxy: false,
            sqlite_layout: "split".into(),
            lockout_threshold: 5,
            lockout_minutes: 15,
            login_rate_per_minute: 30,
            registration_rate_per_minute: 10,
            pi_retention_days: 1095,
            admin_allow_networks: Vec::new(),
            audit_anchor_file: String::new(),
            audit_anchor_minutes: 60,
            audit_retention_days: 183,
            password_max_age_days: 90,
            pii_key_file: String::new(),
            pii_keys: Secret::default(),
            second_factor_for_staff: false,
            clamd: String::new(),
            oidc_issuer: String::new(),
            oidc_client_id: String::new(),
            oidc_client_secret: Secret::default(),
            oidc_redirect_uri: "http://127.0.0.1:8080/auth/oidc/callback".into(),
            identity_protocol: "oidc".into(),
            cas_url: String::new(),
            cas_service_url: "http://127.0.0.1:8080/auth/cas/callback".into(),
            public_base_url: String::new(),
            eseal_url: String::new(),
            eseal_ca_file: String::new(),
            eseal_app_key: String::new(),
            eseal_app_secret: Secret::default(),
            eseal_data_key: Secret::default(),
            signing_key_file: String::new(),
            gxpt_url: String::new(),
            gxpt_identity_check: true,
            gx_app_key: String::new(),
            gx_app_secret: Secret::default(),
            gx_data_key: Secret::default(),
        }
    }
}

impl Config {
    pub fn load(file: Option<&std::path::Path>) -> Result<Self, Box<figment::Error>> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        let file = file
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("ZT_CONFIG").map(PathBuf::from));
        if let Some(f) = file {
            fig = fig.merge(Toml::file_exact(f));
        }
        // ZT_* variables that are not configuration (the config file's path, a
        // password handed to `admin`, the pg_dump/pg_restore programs of
        // `backup`/`restore`, `migrate-v1`'s source and its test-only fault
        // hook, the test and benchmark scripts' own) are
        // skipped; any other unknown ZT_* name is an error, as in the file.
        let env = Env::prefixed("ZT_").filter(|k| {
            let k = k.as_str().to_ascii_uppercase();
            !(k == "CONFIG"
                || k == "NEW_PASSWORD"
                || k == "BLESS"
                || k == "MATRIX_TRACE"
                || k == "PG_DUMP"
                || k == "PG_RESTORE"
                || k == "V1_SOURCE_URL"
                || k == "MIGRATE_V1_FAULT"
                || k.starts_with("TEST_")
                || k.starts_with("BENCH_"))
        });
        fig.merge(env).extract().map_err(Box::new)
    }

    /// Whether `database_url` was given explicitly (file or environment).
    pub fn database_explicit(file: Option<&std::path::Path>) -> bool {
        std::env::var_os("ZT_DATABASE_URL").is_some()
            || file
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("ZT_CONFIG").map(PathBuf::from))
                .and_then(|f| std::fs::read_to_string(f).ok())
                .is_some_and(|t| {
                    t.lines()
                        .any(|l| l.trim_start().starts_with("database_url"))
                })
    }

    /// The application's settings; fails on a value that cannot be used
    /// (naming the setting and the value).
    pub fn settings(&self, demo: bool) -> anyhow::Result<zt_app::Settings> {
        let admin_allow_networks = zt_app::network::NetworkList::parse(&self.admin_allow_networks)
            .map_err(|e| anyhow::anyhow!("admin_allow_networks (ZT_ADMIN_ALLOW_NETWORKS): {e}"))?;
        Ok(zt_app::Settings {
            yellow_within_days: self.yellow_within_days,
            session_idle: chrono::Duration::minutes(self.session_idle_minutes.max(1)),
            session_absolute: chrono::Duration::hours(self.session_absolute_hours.max(1)),
            max_upload_bytes: self.max_upload_mb.max(1) * 1024 * 1024,
            demo,
            secure_cookies: self.secure_cookies || self.https(),
            hsts: self.https(),
            lockout_threshold: self.lockout_threshold.max(1),
            lockout: chrono::Duration::minutes(self.lockout_minutes.max(1)),
            login_rate_per_minute: self.login_rate_per_minute.max(1),
            registration_rate_per_minute: self.registration_rate_per_minute.max(1),
            pi_retention: chrono::Duration::days(self.pi_retention_days.max(0)),
            audit_anchor_file: Some(self.audit_anchor_path()),
            password_max_age: (self.password_max_age_days > 0)
                .then(|| chrono::Duration::days(self.password_max_age_days)),
            second_factor_for_staff: self.second_factor_for_staff,
            oidc_redirect_uri: self.oidc_redirect_uri.clone(),
            cas_service_url: self.cas_service_url.clone(),
            public_base_url: self.public_base_url(),
            admin_allow_networks,
        })
    }

    /// `public_base_url`, or `http://<listen>`, without a trailing slash.
    pub fn public_base_url(&self) -> String {
        let u = if self.public_base_url.trim().is_empty() {
            format!("http://{}", self.listen)
        } else {
            self.public_base_url.trim().to_string()
        };
        u.trim_end_matches('/').to_string()
    }

    pub fn signing_key_path(&self) -> PathBuf {
        if self.signing_key_file.is_empty() {
            self.data_dir.join("platform-sm2.pem")
        } else {
            PathBuf::from(&self.signing_key_file)
        }
    }

    pub fn pii_key_path(&self) -> PathBuf {
        if self.pii_key_file.is_empty() {
            self.data_dir.join("pii.keys")
        } else {
            PathBuf::from(&self.pii_key_file)
        }
    }

    /// Whether clients reach the platform over HTTPS: served here with a
    /// certificate, or through a declared TLS-terminating proxy.
    pub fn https(&self) -> bool {
        self.behind_proxy || (given(&self.tls_cert).is_some() && given(&self.tls_key).is_some())
    }

    /// The start-up rules for the transport on `listen` (the address about
    /// to be bound): the certificate and key to serve TLS with, or `None`
    /// for plain HTTP where that is allowed. Errors name the setting to add.
    pub fn tls_files(&self, listen: &str) -> anyhow::Result<Option<TlsFiles>> {
        match (given(&self.tls_cert), given(&self.tls_key)) {
            (Some(cert), Some(key)) => {
                return Ok(Some(TlsFiles {
                    cert: cert.clone(),
                    key: key.clone(),
                }))
            }
            (Some(cert), None) => anyhow::bail!(
                "tls_cert is set ({}) but tls_key is not: add tls_key (ZT_TLS_KEY), the path of its PEM private key, or remove tls_cert",
                cert.display()
            ),
            (None, Some(key)) => anyhow::bail!(
                "tls_key is set ({}) but tls_cert is not: add tls_cert (ZT_TLS_CERT), the path of the PEM certificate chain, or remove tls_key",
                key.display()
            ),
            (None, None) => {}
        }
        if self.behind_proxy || is_loopback(listen) {
            return Ok(None);
        }
        anyhow::bail!(
            "refusing to serve plain HTTP on {listen}, which is not a loopback address: \
             add tls_cert and tls_key (ZT_TLS_CERT, ZT_TLS_KEY) to serve HTTPS, \
             or, if a TLS-terminating reverse proxy is the only way in, add behind_proxy = true (ZT_BEHIND_PROXY=true)"
        )
    }

    pub fn audit_anchor_path(&self) -> PathBuf {
        if self.audit_anchor_file.is_empty() {
            self.data_dir.join("audit-anchors.jsonl")
        } else {
            PathBuf::from(&self.audit_anchor_file)
        }
    }
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail's closures return figment::Error
mod tests {
    use super::*;

    #[test]
    fn environment_overrides_and_strictness() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("ZT_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/zt");
            jail.set_env("ZT_LISTEN", "0.0.0.0:9000");
            jail.set_env("ZT_NEW_PASSWORD", "not config");
            jail.set_env("ZT_BENCH_RAMP", "60");
            let c = Config::load(None).expect("loads");
            assert_eq!(c.database_url, "postgres://postgres@127.0.0.1:5432/zt");
            assert_eq!(c.listen, "0.0.0.0:9000");
            jail.set_env("ZT_LISTN", "typo");
            assert!(
                Config::load(None).is_err(),
                "a misspelt ZT_ variable is an error"
            );
            Ok(())
        });
    }

    #[test]
    fn file_then_environment() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "zt.toml",
                "listen = \"127.0.0.1:7000\"\nyellow_within_days = 2\n",
            )?;
            jail.set_env("ZT_YELLOW_WITHIN_DAYS", "3");
            let c = Config::load(Some(std::path::Path::new("zt.toml"))).expect("loads");
            assert_eq!(
                (c.listen.as_str(), c.yellow_within_days),
                ("127.0.0.1:7000", 3)
            );
            jail.create_file("bad.toml", "lisen = \"x\"\n")?;
            assert!(Config::load(Some(std::path::Path::new("bad.toml"))).is_err());
            Ok(())
        });
    }

    #[test]
    fn admin_networks_from_the_file_and_the_environment() {
        figment::Jail::expect_with(|jail| {
            let nets = |c: &Config| c.admin_allow_networks.clone();
            assert!(nets(&Config::load(None).expect("loads")).is_empty());
            jail.create_file(
                "zt.toml",
                "admin_allow_networks = [\"127.0.0.1/32\", \"10.20.0.0/16\"]\n",
            )?;
            let c = Config::load(Some(std::path::Path::new("zt.toml"))).expect("loads");
            assert_eq!(nets(&c), ["127.0.0.1/32", "10.20.0.0/16"]);
            // figment's list syntax, quoted or not, IPv6 included.
            jail.set_env(
                "ZT_ADMIN_ALLOW_NETWORKS",
                "[127.0.0.1/32, \"10.20.0.0/16\", fd00::/8]",
            );
            let c = Config::load(None).expect("loads");
            assert_eq!(nets(&c), ["127.0.0.1/32", "10.20.0.0/16", "fd00::/8"]);
            let s = c.settings(false).expect("valid");
            assert_eq!(s.admin_allow_networks.networks().len(), 3);
            // One network, or several separated by commas, without brackets.
            jail.set_env("ZT_ADMIN_ALLOW_NETWORKS", "10.0.0.0/8");
            assert_eq!(nets(&Config::load(None).expect("loads")), ["10.0.0.0/8"]);
            jail.set_env("ZT_ADMIN_ALLOW_NETWORKS", "10.0.0.0/8, ::1");
            assert_eq!(
                nets(&Config::load(None).expect("loads")),
                ["10.0.0.0/8", "::1"]
            );
            // Empty: no restriction (the file's list is overridden too).
            for empty in ["", "[]"] {
                jail.set_env("ZT_ADMIN_ALLOW_NETWORKS", empty);
                let c = Config::load(Some(std::path::Path::new("zt.toml"))).expect("loads");
                assert!(nets(&c).is_empty(), "{empty:?}");
            }
            // A value that is no network stops the start, naming it.
            jail.set_env("ZT_ADMIN_ALLOW_NETWORKS", "[10.0.0.0/8, 10.0.0.300/8]");
            let e = Config::load(None)
                .expect("loads")
                .settings(false)
                .expect_err("invalid network");
            let msg = e.to_string();
            assert!(
                msg.contains("admin_allow_networks") && msg.contains("\"10.0.0.300/8\""),
                "{msg}"
            );
            Ok(())
        });
    }

    #[test]
    fn tls_settings_from_file_and_environment() {
        figment::Jail::expect_with(|jail| {
            let c = Config::load(None).expect("loads");
            assert_eq!(
                (&c.tls_cert, &c.tls_key, c.behind_proxy),
                (&None, &None, false)
            );
            jail.create_file(
                "zt.toml",
                "listen = \"0.0.0.0:8443\"\ntls_cert = \"/etc/zt/tls/fullchain.pem\"\n",
            )?;
            jail.set_env("ZT_TLS_KEY", "/etc/zt/tls/key.pem");
            let c = Config::load(Some(std::path::Path::new("zt.toml"))).expect("loads");
            assert_eq!(
                c.tls_files(&c.listen).expect("both files"),
                Some(TlsFiles {
                    cert: "/etc/zt/tls/fullchain.pem".into(),
                    key: "/etc/zt/tls/key.pem".into(),
                })
            );
            assert!(c.https());
            // An empty variable unsets: half a configuration is refused.
            jail.set_env("ZT_TLS_KEY", "");
            let c = Config::load(Some(std::path::Path::new("zt.toml"))).expect("loads");
            let e = c.tls_files(&c.listen).expect_err("half");
            assert!(e.to_string().contains("ZT_TLS_KEY"), "{e}");
            jail.set_env("ZT_TLS_CERT", "");
            jail.set_env("ZT_BEHIND_PROXY", "true");
            let c = Config::load(Some(std::path::Path::new("zt.toml"))).expect("loads");
            assert!(c.behind_proxy && c.https());
            assert_eq!(c.tls_files(&c.listen).expect("behind a proxy"), None);
            Ok(())
        });
    }
}
