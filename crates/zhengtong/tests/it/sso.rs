//! Login through the unified identity platform (OpenID Connect) against the
//! in-process fake provider: provisioning, links, staff matching, state and
//! back-channel logout.

use std::sync::{Arc, Mutex};

use reqwest::header::{LOCATION, SET_COOKIE};
use reqwest::StatusCode;
use serde_json::Value;
use zt_app::clock::ManualClock;
use zt_identity::double::{FakeConfig, FakeProvider, LogoutTokenSpec, TestUser};
use zt_store::Backend;

use crate::harness::{beijing_10, TestApp};

macro_rules! sso_both {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let (t, f) = super::setup(zt_store::Backend::Sqlite)
                    .await
                    .expect("sqlite");
                super::$name(t, f).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some((t, f)) = super::setup(zt_store::Backend::Postgres).await {
                    super::$name(t, f).await
                }
            }
        }
    };
}

type ClockCell = Arc<Mutex<Option<Arc<ManualClock>>>>;

/// The application configured against a fresh fake provider that shares its
/// clock. The redirect URI is the fake's registered one (the platform's
/// default); the test plays the browser and delivers the callback query to
/// this server's `/auth/oidc/callback`.
async fn setup(backend: Backend) -> Option<(TestApp, FakeProvider)> {
    let cell: ClockCell = Arc::default();
    let c2 = cell.clone();
    let clock = Arc::new(move || match c2.lock().unwrap().as_ref() {
        Some(c) => zt_app::clock::Clock::now(&**c).timestamp(),
        None => beijing_10("2025-09-30").timestamp(),
    });
    let fake = FakeProvider::start(FakeConfig::new(clock)).await;
    let issuer = fake.issuer().to_string();
    let oc = fake.oidc_config();
    let redirect = fake.redirect_uri().to_string();
    let t = TestApp::spawn_with(backend, move |c| {
        c.oidc_issuer = issuer;
        c.oidc_client_id = oc.client_id.clone();
        c.oidc_client_secret =
            zhengtong::config::Secret(oc.client_secret.unwrap().expose().to_string());
        c.oidc_redirect_uri = redirect;
    })
    .await?;
    *cell.lock().unwrap() = Some(t.clock.clone());
    Some((t, fake))
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The authorization URL the login button leads to.
async fn begin(t: &TestApp) -> String {
    let resp = browser()
        .get(format!("{}/auth/oidc/login", t.base))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_redirection(), "{}", resp.status());
    resp.headers()[LOCATION].to_str().unwrap().to_string()
}

/// Logs in as the fake's current user: Ok(session cookie) or Err((status,
/// page)).
async fn sso_login(t: &TestApp, fake: &FakeProvider) -> Result<String, (StatusCode, String)> {
    let url = begin(t).await;
    let query = fake.authorize(&url).await;
    callback(t, &query).await
}

async fn callback(t: &TestApp, query: &str) -> Result<String, (StatusCode, String)> {
    let resp = browser()
        .get(format!("{}/auth/oidc/callback?{query}", t.base))
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let cookie = resp
        .headers()
        .get(SET_COOKIE)
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string());
    match (status.is_redirection(), cookie) {
        (true, Some(c)) => Ok(c),
        _ => Err((status, resp.text().await.unwrap_or_default())),
    }
}

async fn me(t: &TestApp, cookie: &str) -> (StatusCode, Value) {
    let resp = browser()
        .get(format!("{}/api/v1/session", t.base))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    let s = resp.status();
    (s, resp.json().await.unwrap_or(Value::Null))
}

async fn user_row(t: &TestApp, username: &str) -> (i64, String, Option<String>, Option<String>) {
    sqlx::query_as("SELECT id, real_name_level, id_number, mobile FROM users WHERE username = $1")
        .bind(username)
        .fetch_one(t.app.db.reader())
        .await
        .unwrap()
}

sso_both!(a_citizen_is_provisioned_once_and_linked);
async fn a_citizen_is_provisioned_once_and_linked(t: TestApp, fake: FakeProvider) {
    let before = t.count("SELECT COUNT(*) FROM users").await;
    let cookie = sso_login(&t, &fake).await.expect("first login");
    let (s, b) = me(&t, &cookie).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["user"]["username"], "sso-U10000001");
    assert_eq!(b["user"]["display_name"], "张伟");
    assert_eq!(b["user"]["user_type"], "person");
    assert_eq!(b["user"]["real_name_level"], "L3");
    assert_eq!(b["roles"], serde_json::json!(["applicant"]));
    let (id, level, id_number, mobile) = user_row(&t, "sso-U10000001").await;
    assert_eq!(level, "L3");
    // Personal data is sealed, and opens to the claims.
    let id_number = id_number.unwrap();
    assert!(!id_number.contains("110105198506150110"));
    assert_eq!(
        t.app
            .pii
            .open(
                &zt_app::pii::ctx_user_id_number("sso-U10000001"),
                &id_number
            )
            .unwrap(),
        "110105198506150110"
    );
    assert!(!mobile.unwrap().contains("13800000001"));
    assert_eq!(t.count("SELECT COUNT(*) FROM identity_links").await, 1);
    assert_eq!(
        t.count(&format!(
            "SELECT COUNT(*) FROM audit_records WHERE action = 'login' AND object = 'user:{id}' AND detail LIKE '%oidc%'"
        ))
        .await,
        1
    );
    // The second login reuses the link; the level follows the platform.
    let mut u = TestUser::citizen();
    u.real_name_level = Some("L2".into());
    fake.set_user(u);
    let again = sso_login(&t, &fake).await.expect("second login");
    assert_ne!(again, cookie);
    let (s, b) = me(&t, &again).await;
    assert_eq!(
        (s, b["user"]["user_id"].as_i64()),
        (StatusCode::OK, Some(id))
    );
    assert_eq!(b["user"]["real_name_level"], "L2");
    assert_eq!(t.count("SELECT COUNT(*) FROM users").await, before + 1);
    assert_eq!(t.count("SELECT COUNT(*) FROM identity_links").await, 1);
    assert_eq!(t.count("SELECT COUNT(*) FROM oidc_pending").await, 0);
}

sso_both!(an_enterprise_agent_gets_the_org_fields);
async fn an_enterprise_agent_gets_the_org_fields(t: TestApp, fake: FakeProvider) {
    fake.set_user(TestUser::enterprise_agent());
    let cookie = sso_login(&t, &fake).await.expect("login");
    let (s, b) = me(&t, &cookie).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["user"]["user_type"], "agent");
    assert_eq!(b["user"]["org_uscc"], "91330106MA2H0K3BXT");
    assert_eq!(b["user"]["org_name"], "杭州西湖数字科技股份有限公司");
    assert_eq!(b["user"]["real_name_level"], "L2");
    assert_eq!(b["roles"], serde_json::json!(["applicant"]));
}

sso_both!(staff_without_an_account_are_refused);
async fn staff_without_an_account_are_refused(t: TestApp, fake: FakeProvider) {
    fake.set_user(TestUser::staff());
    let before = t.count("SELECT COUNT(*) FROM users").await;
    let (status, page) = sso_login(&t, &fake).await.expect_err("refused");
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        page.contains("统一身份认证账号尚未关联本平台工作人员账号，请联系系统管理员。"),
        "{page}"
    );
    assert_eq!(t.count("SELECT COUNT(*) FROM users").await, before);
    assert_eq!(t.count("SELECT COUNT(*) FROM identity_links").await, 0);
}

async fn create_staff(t: &TestApp, dept_code: &str) {
    let at = t.app.now_ts();
    let mut tx = t.app.begin().await.unwrap();
    if zt_store::departments::by_code(&mut tx, dept_code)
        .await
        .unwrap()
        .is_none()
    {
        zt_store::departments::insert(&mut tx, dept_code, "综合受理科", "330100", None, &at)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    let req: zt_app::admin::NewUserRequest = serde_json::from_value(serde_json::json!({
        "username": "sunli",
        "password": "Qinglan#Rain7",
        "display_name": "孙丽",
        "user_type": "staff",
        "roles": ["clerk"],
        "dept_code": dept_code,
    }))
    .unwrap();
    zt_app::admin::create_user(&t.app, None, &zhengtong::bootstrap::cli_origin(), &req)
        .await
        .unwrap();
}

sso_both!(staff_in_another_department_are_refused);
async fn staff_in_another_department_are_refused(t: TestApp, fake: FakeProvider) {
    create_staff(&t, "OTHER-DEPT").await;
    fake.set_user(TestUser::staff());
    let (status, _) = sso_login(&t, &fake).await.expect_err("refused");
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(t.count("SELECT COUNT(*) FROM identity_links").await, 0);
}

sso_both!(staff_with_an_account_get_only_its_roles);
async fn staff_with_an_account_get_only_its_roles(t: TestApp, fake: FakeProvider) {
    create_staff(&t, "SPJ-ZHSL").await;
    fake.set_user(TestUser::staff());
    let cookie = sso_login(&t, &fake).await.expect("login");
    let (s, b) = me(&t, &cookie).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["user"]["username"], "sunli");
    assert_eq!(b["roles"], serde_json::json!(["clerk"]));
    assert_eq!(t.count("SELECT COUNT(*) FROM identity_links").await, 1);
}

sso_both!(a_callback_with_a_wrong_state_is_refused);
async fn a_callback_with_a_wrong_state_is_refused(t: TestApp, fake: FakeProvider) {
    let url = begin(&t).await;
    let query = fake.authorize(&url).await;
    let forged: String = query
        .split('&')
        .map(|kv| {
            if kv.starts_with("state=") {
                "state=forged-state".to_string()
            } else {
                kv.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("&");
    let (status, page) = callback(&t, &forged).await.expect_err("refused");
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(page.contains("重新发起统一身份认证登录"), "{page}");
    // The genuine answer still works once, and only once.
    callback(&t, &query).await.expect("genuine");
    assert!(callback(&t, &query).await.is_err());
}

async fn backchannel(t: &TestApp, token: &str) -> StatusCode {
    browser()
        .post(format!("{}/auth/oidc/backchannel-logout", t.base))
        .form(&[("logout_token", token)])
        .send()
        .await
        .unwrap()
        .status()
}

sso_both!(backchannel_logout_ends_exactly_that_session);
async fn backchannel_logout_ends_exactly_that_session(t: TestApp, fake: FakeProvider) {
    let first = sso_login(&t, &fake).await.expect("first");
    let sid_first = fake.last_sid().expect("sid");
    let second = sso_login(&t, &fake).await.expect("second");
    let local = t.login("citizen").await;
    let token = fake.mint_logout_token(&LogoutTokenSpec::session("U10000001", &sid_first));
    assert_eq!(backchannel(&t, &token).await, StatusCode::OK);
    assert_eq!(me(&t, &first).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(me(&t, &second).await.0, StatusCode::OK);
    assert_eq!(local.get("/api/v1/session").await.0, StatusCode::OK);
    assert_eq!(
        t.count("SELECT COUNT(*) FROM audit_records WHERE action = 'logout' AND detail LIKE '%backchannel%'")
            .await,
        1
    );
    // Replayed: refused, nothing more happens.
    assert_eq!(backchannel(&t, &token).await, StatusCode::BAD_REQUEST);
    assert_eq!(me(&t, &second).await.0, StatusCode::OK);
    // Garbage: 400.
    assert_eq!(backchannel(&t, "not-a-jwt").await, StatusCode::BAD_REQUEST);
}
