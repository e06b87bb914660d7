//! Boots the real application on loopback for each test: a fresh database
//! copied from a migrated, seeded template (a file copy on SQLite, `CREATE
//! DATABASE … TEMPLATE` on PostgreSQL), a manual clock, real HTTP.

#![allow(clippy::disallowed_methods)] // test database names carry the wall-clock time

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{NaiveDate, TimeZone, Utc};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::Executor;
use tokio::sync::OnceCell;
use zhengtong::config::Config;
use zt_app::clock::ManualClock;
use zt_app::App;
use zt_domain::time::beijing;
use zt_store::Backend;

pub const PASSWORD: &str = "Demo@2026";

fn pg_admin_url() -> String {
    std::env::var("ZT_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

pub fn scratch() -> PathBuf {
    let d = std::env::temp_dir().join(format!("zt-it-{}", std::process::id()));
    std::fs::create_dir_all(&d).expect("scratch dir");
    d
}

/// One key file for the templates and every test database copied from them.
pub fn pii_key_file() -> String {
    scratch().join("pii.keys").display().to_string()
}

/// 10:00 Beijing time on a date.
pub fn beijing_10(d: &str) -> chrono::DateTime<Utc> {
    let d = NaiveDate::parse_from_str(d, "%Y-%m-%d").expect("date");
    beijing()
        .from_local_datetime(&d.and_hms_opt(10, 0, 0).expect("time"))
        .single()
        .expect("instant")
        .with_timezone(&Utc)
}

/// Items the tests rely on, with known limits and steps.
pub fn test_items() -> Vec<(&'static str, Value)> {
    let base = |steps: Value, promised: u32| {
        json!({
            "name": "测试事项", "kind": "licensing", "applicant_kinds": ["person", "organisation"],
            "statutory_days": 5, "promised_days": promised,
            "guide": {"summary": "测试用事项", "conditions": ["测试"], "legal_basis": ["《测试条例》"]},
            "form_fields": [
                {"key": "applicant_name", "label": "申请人姓名", "type": "text", "required": true},
                {"key": "phone", "label": "联系电话", "type": "phone", "required": true},
                {"key": "id_number", "label": "身份证号", "type": "id_number"},
                {"key": "note", "label": "说明", "type": "textarea"},
                {"key": "scale", "label": "经营规模", "type": "select", "options": ["小型", "中型"]},
                {"key": "capital", "label": "资金数额", "type": "amount"}
            ],
            "materials": [
                {"code": "id_copy", "name": "身份证明", "required": true},
                {"code": "site_plan", "name": "场所平面图", "required": false}
            ],
            "steps": steps
        })
    };
    // TEST-TWO issues a licence when completed.
    let mut two = base(
        json!([{"key": "review", "name": "审查", "roles": ["reviewer"], "mode": "any"},
                          {"key": "decide", "name": "决定", "roles": ["approver"], "mode": "any"}]),
        3,
    );
    two["licence"] = json!({"name": "测试经营许可证", "validity_years": 5, "print_fields": ["applicant_name", "scale"]});
    vec![
        ("TEST-TWO", two),
        (
            "TEST-ALL",
            base(
                json!([{"key": "joint", "name": "联合审查", "roles": ["reviewer", "approver"], "mode": "all"}]),
                3,
            ),
        ),
        (
            "TEST-ANY",
            base(
                json!([{"key": "either", "name": "审查决定", "roles": ["reviewer", "approver"], "mode": "any"}]),
                3,
            ),
        ),
    ]
}

struct Template {
    backend: Backend,
    /// SQLite: the template file. PostgreSQL: the template database name.
    source: String,
}

static SQLITE_TEMPLATE: OnceCell<Template> = OnceCell::const_new();
static PG_TEMPLATE: OnceCell<Option<Template>> = OnceCell::const_new();

async fn seed(url: &str, data_dir: PathBuf) {
    let cfg = Config {
        database_url: url.into(),
        data_dir,
        pii_key_file: pii_key_file(),
        ..Config::default()
    };
    let db = zhengtong::bootstrap::connect(&cfg)
        .await
        .expect("connect template");
    zhengtong::bootstrap::migrate(&db)
        .await
        .expect("migrate template");
    let clock = Arc::new(ManualClock::new(beijing_10("2025-09-01")));
    let app = zhengtong::bootstrap::build_app(&cfg, db.clone(), clock, false)
        .await
        .expect("app");
    zhengtong::demo::seed_catalogue(&app)
        .await
        .expect("catalogue");
    zhengtong::demo::seed_accounts(&app)
        .await
        .expect("accounts");
    // Tests sign in as the demo accounts as if each owner had already chosen
    // a password (session tests set the flag again where they need it).
    sqlx::query("UPDATE users SET must_change_password = 0")
        .execute(db.writer())
        .await
        .expect("clear must-change");
    let origin = zhengtong::bootstrap::cli_origin();
    let mut tx = db.writer().begin().await.expect("tx");
    let dept = zt_store::departments::by_code(&mut tx, "ZWB")
        .await
        .expect("q")
        .expect("ZWB");
    let dept_scjg = zt_store::departments::by_code(&mut tx, "SCJG")
        .await
        .expect("q")
        .expect("SCJG");
    for (code, def) in test_items() {
        let def: zt_domain::item::ItemDefinition = serde_json::from_value(def).expect("test item");
        zt_store::items::insert(
            &mut tx,
            code,
            code,
            dept.id,
            &def,
            None,
            "2025-09-01T00:00:00.000Z",
        )
        .await
        .expect("item");
    }
    let mut def: zt_domain::item::ItemDefinition =
        serde_json::from_value(test_items()[0].1.clone()).expect("item");
    def.name = "市场监管测试事项".into();
    zt_store::items::insert(
        &mut tx,
        "TEST-SCJG",
        "TEST-SCJG",
        dept_scjg.id,
        &def,
        None,
        "2025-09-01T00:00:00.000Z",
    )
    .await
    .expect("item");
    tx.commit().await.expect("commit");
    let _ = origin;
    if db.backend() == Backend::Sqlite {
        // The template is copied as one file: fold the WAL into it first.
        let mut c = db.writer().acquire().await.expect("conn");
        c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            .await
            .expect("checkpoint");
    }
    db.close().await;
}

async fn sqlite_template() -> &'static Template {
    SQLITE_TEMPLATE
        .get_or_init(|| async {
            let path = scratch().join("template.db");
            let _ = std::fs::remove_file(&path);
            seed(
                &format!("sqlite://{}", path.display()),
                scratch().join("tpl-files"),
            )
            .await;
            Template {
                backend: Backend::Sqlite,
                source: path.display().to_string(),
            }
        })
        .await
}

async fn pg_template() -> Option<&'static Template> {
    PG_TEMPLATE
        .get_or_init(|| async {
            sqlx::any::install_default_drivers();
            use sqlx::Connection;
            let admin = match tokio::time::timeout(std::time::Duration::from_secs(5), sqlx::AnyConnection::connect(&pg_admin_url())).await {
                Ok(Ok(c)) => c,
                other => {
                    let why = match other {
                        Ok(Err(e)) => e.to_string(),
                        _ => "timed out".into(),
                    };
                    if in_ci() {
                        panic!("PostgreSQL at {} is required in CI but unavailable: {why}", pg_admin_url());
                    }
                    eprintln!("\n!!!!!!!! SKIPPING PostgreSQL tests: cannot reach {} ({why}). Set ZT_TEST_PG_URL or start PostgreSQL. !!!!!!!!\n", pg_admin_url());
                    return None;
                }
            };
            drop(admin);
            let now = Utc::now().timestamp();
            drop_stale(now).await;
            let name = format!("zt_tpl_{now}_{}", std::process::id());
            exec_admin(&format!("CREATE DATABASE {name}")).await;
            seed(&pg_url(&name), scratch().join("tpl-files")).await;
            Some(Template { backend: Backend::Postgres, source: name })
        })
        .await
        .as_ref()
}

pub fn pg_url(db: &str) -> String {
    let admin = pg_admin_url();
    match admin.rfind('/') {
        Some(i) => format!("{}/{db}", &admin[..i]),
        None => admin,
    }
}

pub async fn exec_admin(sql: &str) {
    use sqlx::Connection;
    let mut c = sqlx::AnyConnection::connect(&pg_admin_url())
        .await
        .expect("pg admin");
    c.execute(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// Drops test databases left behind by runs more than an hour old.
async fn drop_stale(now: i64) {
    use sqlx::Connection;
    let Ok(mut c) = sqlx::AnyConnection::connect(&pg_admin_url()).await else {
        return;
    };
    let rows: Vec<(String,)> =
        sqlx::query_as("SELECT datname::TEXT FROM pg_database WHERE datname LIKE 'zt_t%'")
            .fetch_all(&mut c)
            .await
            .unwrap_or_default();
    for (name,) in rows {
        let ts: i64 = name
            .split('_')
            .nth(2)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        if now - ts > 3600 {
            let _ = c
                .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
                .await;
        }
    }
}

pub struct TestApp {
    pub base: String,
    pub app: App,
    pub clock: Arc<ManualClock>,
    pub backend: Backend,
    pub data_dir: PathBuf,
    pub db_url: String,
    /// The authenticator each account enrolled in this database: its secret
    /// and the last time step a code was given for (codes are one-time).
    pub authenticators: std::sync::Mutex<std::collections::HashMap<String, (String, i64)>>,
    pg_db: Option<String>,
    server: tokio::task::JoinHandle<()>,
}

impl TestApp {
    /// A fresh application on `backend`, or `None` when PostgreSQL is not
    /// available outside CI (reported loudly).
    pub async fn spawn(backend: Backend) -> Option<TestApp> {
        Self::spawn_with(backend, |_| {}).await
    }

    /// [`TestApp::spawn`] with the configuration changed first (a setting
    /// under test), e.g. `spawn_with(b, |c| c.lockout_threshold = 3)`.
    pub async fn spawn_with(backend: Backend, change: impl FnOnce(&mut Config)) -> Option<TestApp> {
        Self::spawn_at(backend, "127.0.0.1:0", change).await
    }

    /// [`TestApp::spawn_with`], listening on `listen`: for a test whose
    /// address a third party must know beforehand (the identity sandbox's
    /// registered redirect URIs).
    pub async fn spawn_at(
        backend: Backend,
        listen: &str,
        change: impl FnOnce(&mut Config),
    ) -> Option<TestApp> {
        let id = unique_id();
        let data_dir = scratch().join(format!("t-{id}"));
        let (url, pg_db) = match backend {
            Backend::Sqlite => {
                let t = sqlite_template().await;
                let path = data_dir.join("zt.db");
                std::fs::create_dir_all(&data_dir).expect("dir");
                std::fs::copy(&t.source, &path).expect("copy template");
                (format!("sqlite://{}", path.display()), None)
            }
            Backend::Postgres => {
                let t = pg_template().await?;
                assert_eq!(t.backend, Backend::Postgres);
                let name = format!("zt_t_{id}");
                exec_admin(&format!("CREATE DATABASE {name} TEMPLATE {}", t.source)).await;
                (pg_url(&name), Some(name))
            }
        };
        Some(Self::boot_at(backend, url, data_dir, pg_db, listen, change).await)
    }

    /// The configuration the tests run the application with.
    pub fn config_for(url: &str, data_dir: &std::path::Path) -> Config {
        Config {
            database_url: url.into(),
            data_dir: data_dir.to_path_buf(),
            db_max_connections: 8,
            pii_key_file: pii_key_file(),
            ..Config::default()
        }
    }

    pub fn config(&self) -> Config {
        Self::config_for(&self.db_url, &self.data_dir)
    }

    /// Serves an existing database (dropped, with `data_dir`, on drop).
    pub async fn boot(
        backend: Backend,
        url: String,
        data_dir: PathBuf,
        pg_db: Option<String>,
    ) -> TestApp {
        Self::boot_with(backend, url, data_dir, pg_db, |_| {}).await
    }

    /// [`TestApp::boot`] with the configuration changed first.
    pub async fn boot_with(
        backend: Backend,
        url: String,
        data_dir: PathBuf,
        pg_db: Option<String>,
        change: impl FnOnce(&mut Config),
    ) -> TestApp {
        Self::boot_at(backend, url, data_dir, pg_db, "127.0.0.1:0", change).await
    }

    /// [`TestApp::boot_with`], listening on `listen`.
    pub async fn boot_at(
        backend: Backend,
        url: String,
        data_dir: PathBuf,
        pg_db: Option<String>,
        listen: &str,
        change: impl FnOnce(&mut Config),
    ) -> TestApp {
        let mut cfg = Self::config_for(&url, &data_dir);
        change(&mut cfg);
        let db = zhengtong::bootstrap::connect(&cfg).await.expect("connect");
        let clock = Arc::new(ManualClock::new(beijing_10("2025-09-30")));
        let app = zhengtong::bootstrap::build_app(&cfg, db, clock.clone(), false)
            .await
            .expect("app");
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .unwrap_or_else(|e| panic!("cannot listen on {listen}: {e}"));
        let addr = listener.local_addr().expect("addr");
        let router = zhengtong::server::router(app.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(
                listener,
                router.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await;
        });
        TestApp {
            base: format!("http://{addr}"),
            app,
            clock,
            backend,
            data_dir,
            db_url: url,
            authenticators: Default::default(),
            pg_db,
            server,
        }
    }

    pub fn set_today(&self, d: &str) {
        self.clock.set(beijing_10(d));
    }

    pub fn anon(&self) -> Session {
        Session {
            client: reqwest::Client::builder()
                .cookie_store(true)
                .build()
                .expect("client"),
            csrf: String::new(),
            base: self.base.clone(),
        }
    }

    pub async fn login(&self, username: &str) -> Session {
        let mut s = self.anon();
        let (status, body) = s
            .post(
                "/api/v1/session",
                &json!({"username": username, "password": PASSWORD}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "login {username}: {body}");
        s.csrf = body["csrf_token"].as_str().expect("csrf").to_string();
        // Administrators sign in with an authenticator, as a person would:
        // enrol at the first login, give a code at the next ones.
        match body["restriction"].as_str() {
            Some("second_factor_enrolment") => {
                let (st, e) = s
                    .post("/api/v1/me/second-factor/enrolment", &json!({}))
                    .await;
                assert_eq!(st, StatusCode::CREATED, "enrol {username}: {e}");
                let secret = e["secret"].as_str().expect("secret").to_string();
                self.authenticators
                    .lock()
                    .expect("lock")
                    .insert(username.to_string(), (secret, 0));
                let code = self.code_for(username);
                let (st, b) = s
                    .post(
                        "/api/v1/me/second-factor/enrolment/confirm",
                        &json!({"code": code}),
                    )
                    .await;
                assert_eq!(st, StatusCode::OK, "confirm {username}: {b}");
            }
            Some("second_factor") => {
                let code = self.code_for(username);
                let (st, b) = s
                    .post("/api/v1/session/second-factor", &json!({"code": code}))
                    .await;
                assert_eq!(st, StatusCode::NO_CONTENT, "second factor {username}: {b}");
            }
            _ => {}
        }
        s
    }

    /// The code `username`'s authenticator shows now. Codes are one-time per
    /// 30-second step, so the clock moves on to the next step when this one
    /// was used already.
    pub fn code_for(&self, username: &str) -> String {
        let mut g = self.authenticators.lock().expect("lock");
        let (secret, last) = g.get_mut(username).expect("enrolled");
        let now = zt_app::clock::Clock::now(&*self.clock).timestamp();
        if now / 30 <= *last {
            self.clock
                .advance(chrono::Duration::seconds((*last + 1) * 30 - now));
        }
        let now = zt_app::clock::Clock::now(&*self.clock).timestamp();
        *last = now / 30;
        let secret = zt_otp::TotpSecret::from_base32(secret).expect("secret");
        zt_otp::code_at(&secret, now, 6, 30)
    }

    /// Runs a SQL query directly (to check that nothing was half-written).
    pub async fn count(&self, sql: &str) -> i64 {
        let mut c = self.app.db.reader().acquire().await.expect("conn");
        let (n,): (i64,) = sqlx::query_as(sql).fetch_one(&mut *c).await.expect(sql);
        n
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
        let _ = std::fs::remove_dir_all(&self.data_dir);
        if let Some(name) = self.pg_db.take() {
            drop_pg_database(name);
        }
    }
}

/// A name part no other test uses; it starts with the time, which is how
/// `drop_stale` recognises old databases.
pub fn unique_id() -> String {
    format!(
        "{}_{}",
        Utc::now().timestamp(),
        uuid::Uuid::new_v4().simple()
    )
}

/// Drops a test database from synchronous code (a `Drop`). Best effort;
/// stale databases are also dropped by later runs.
pub fn drop_pg_database(name: String) {
    let _ = std::thread::spawn(move || {
        if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            rt.block_on(async {
                use sqlx::Connection;
                if let Ok(mut c) = sqlx::AnyConnection::connect(&pg_admin_url()).await {
                    let _ = c
                        .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
                        .await;
                }
            });
        }
    })
    .join();
}

pub struct Session {
    pub client: reqwest::Client,
    pub csrf: String,
    pub base: String,
}

async fn parts(resp: reqwest::Response) -> (StatusCode, Value) {
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    let v = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, v)
}

impl Session {
    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        parts(
            self.client
                .get(format!("{}{path}", self.base))
                .send()
                .await
                .expect("get"),
        )
        .await
    }

    pub async fn post(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        parts(
            self.client
                .post(format!("{}{path}", self.base))
                .header("x-csrf-token", &self.csrf)
                .json(body)
                .send()
                .await
                .expect("post"),
        )
        .await
    }

    pub async fn post_raw(
        &self,
        path: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> (StatusCode, Value) {
        parts(
            self.client
                .post(format!("{}{path}", self.base))
                .header("x-csrf-token", &self.csrf)
                .header("content-type", content_type)
                .body(body)
                .send()
                .await
                .expect("post"),
        )
        .await
    }

    pub async fn upload(
        &self,
        case_no: &str,
        material: &str,
        name: &str,
        data: Vec<u8>,
    ) -> (StatusCode, Value) {
        let form = reqwest::multipart::Form::new()
            .text("material_code", material.to_string())
            .part(
                "file",
                reqwest::multipart::Part::bytes(data).file_name(name.to_string()),
            );
        parts(
            self.client
                .post(format!("{}/api/v1/cases/{case_no}/materials", self.base))
                .header("x-csrf-token", &self.csrf)
                .multipart(form)
                .send()
                .await
                .expect("upload"),
        )
        .await
    }

    pub async fn act(&self, case_no: &str, body: Value) -> (StatusCode, Value) {
        self.post(&format!("/api/v1/cases/{case_no}/actions"), &body)
            .await
    }

    /// Files a draft of `item` with a valid form and its required material.
    pub async fn draft(&self, item: &str) -> String {
        let (s, b) = self
            .post("/api/v1/cases", &json!({"item_code": item, "form": {"applicant_name": "李明", "phone": "13800138000"}}))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        let no = b["case_no"].as_str().expect("case_no").to_string();
        let (s, b) = self
            .upload(
                &no,
                "id_copy",
                "身份证.pdf",
                zhengtong::demo::sample_pdf("id").to_vec(),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        no
    }

    /// A draft, submitted.
    pub async fn submitted(&self, item: &str) -> String {
        let no = self.draft(item).await;
        let (s, b) = self
            .post(&format!("/api/v1/cases/{no}/submit"), &json!({}))
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        no
    }
}

/// Runs a test on SQLite and on PostgreSQL.
#[macro_export]
macro_rules! both {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let t = $crate::harness::TestApp::spawn(zt_store::Backend::Sqlite)
                    .await
                    .expect("sqlite");
                super::$name(t).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(t) = $crate::harness::TestApp::spawn(zt_store::Backend::Postgres).await
                {
                    super::$name(t).await
                }
            }
        }
    };
}
