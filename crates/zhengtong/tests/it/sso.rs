//! Login through the unified identity platform (OpenID Connect) against the
//! in-process fake provider: provisioning, links, staff matching, state,
//! back-channel logout and RP-initiated logout. CAS is in `cas.rs`.

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

pub(crate) type ClockCell = Arc<Mutex<Option<Arc<ManualClock>>>>;

/// The application configured against a fresh fake provider that shares its
/// clock. The redirect URI is the fake's registered one (the platform's
/// default); the test plays the browser and delivers the callback query to
/// this server's `/auth/oidc/callback`.
pub(crate) async fn setup(backend: Backend) -> Option<(TestApp, FakeProvider)> {
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

/// A client without cookies (the session cookie is passed by hand).
pub(crate) fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A browser that keeps cookies: the login's binding cookie from
/// `/auth/*/login` goes back with its callback.
pub(crate) fn jar() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The `name=value` of the cookie `name` an answer sets, with its
/// attributes.
pub(crate) fn set_cookie(resp: &reqwest::Response, name: &str) -> Option<String> {
    resp.headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|v| v.starts_with(&format!("{name}=")))
}

/// The authorization URL the login button leads to (the browser `b` gets
/// the binding cookie).
async fn begin(t: &TestApp, b: &reqwest::Client) -> String {
    let resp = b
        .get(format!("{}/auth/oidc/login", t.base))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_redirection(), "{}", resp.status());
    resp.headers()[LOCATION].to_str().unwrap().to_string()
}

/// Logs in as the fake's current user in a new browser: Ok(session cookie)
/// or Err((status, page)).
pub(crate) async fn sso_login(
    t: &TestApp,
    fake: &FakeProvider,
) -> Result<String, (StatusCode, String)> {
    let b = jar();
    let url = begin(t, &b).await;
    let query = fake.authorize(&url).await;
    callback(t, &b, &query).await
}

/// Brings a callback query to `path` in browser `b`: Ok(session cookie) or
/// Err((status, page)).
pub(crate) async fn deliver(
    t: &TestApp,
    b: &reqwest::Client,
    path: &str,
    query: &str,
) -> Result<String, (StatusCode, String)> {
    let resp = b
        .get(format!("{}{path}?{query}", t.base))
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let cookie = set_cookie(&resp, "zt_session").map(|v| v.split(';').next().unwrap().to_string());
    match (status.is_redirection(), cookie) {
        (true, Some(c)) => Ok(c),
        _ => Err((status, resp.text().await.unwrap_or_default())),
    }
}

async fn callback(
    t: &TestApp,
    b: &reqwest::Client,
    query: &str,
) -> Result<String, (StatusCode, String)> {
    deliver(t, b, "/auth/oidc/callback", query).await
}

pub(crate) async fn me(t: &TestApp, cookie: &str) -> (StatusCode, Value) {
    let resp = browser()
        .get(format!("{}/api/v1/session", t.base))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    let s = resp.status();
    (s, resp.json().await.unwrap_or(Value::Null))
}

pub(crate) async fn user_row(
    t: &TestApp,
    username: &str,
) -> (i64, String, Option<String>, Option<String>) {
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

pub(crate) async fn create_staff(t: &TestApp, dept_code: &str) {
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
    let b = jar();
    let url = begin(&t, &b).await;
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
    let (status, page) = callback(&t, &b, &forged).await.expect_err("refused");
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(page.contains("重新发起统一身份认证登录"), "{page}");
    assert!(page.contains("data-code=\"SSO_STATE_INVALID\""), "{page}");
    // The genuine answer still works once (the forged one left the
    // browser's login alone), and only once.
    callback(&t, &b, &query).await.expect("genuine");
    assert!(callback(&t, &b, &query).await.is_err());
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

/// `POST /logout` as the page's form sends it: the status and `Location`.
pub(crate) async fn page_logout(t: &TestApp, cookie: &str) -> (StatusCode, String) {
    let (_, b) = me(t, cookie).await;
    let csrf = b["csrf_token"].as_str().expect("csrf").to_string();
    let resp = browser()
        .post(format!("{}/logout", t.base))
        .header("cookie", cookie)
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .unwrap();
    let location = resp
        .headers()
        .get(LOCATION)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (resp.status(), location)
}

/// The query parameters of a URL.
pub(crate) fn params(url: &str) -> std::collections::HashMap<String, String> {
    reqwest::Url::parse(url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

sso_both!(logout_ends_the_session_and_then_at_the_provider);
async fn logout_ends_the_session_and_then_at_the_provider(t: TestApp, fake: FakeProvider) {
    let cookie = sso_login(&t, &fake).await.expect("login");
    let other = sso_login(&t, &fake).await.expect("another browser");
    let id_token = fake.last_id_token().expect("id token");
    // The first session's ID token is kept sealed with the session.
    let stored: Vec<(Option<String>,)> =
        sqlx::query_as("SELECT idp_id_token FROM sessions WHERE idp_sub = 'U10000001'")
            .fetch_all(t.app.db.reader())
            .await
            .unwrap();
    assert_eq!(stored.len(), 2);
    for (v,) in &stored {
        let v = v.as_deref().expect("kept");
        assert!(!v.contains("eyJ"), "sealed, not the JWT");
    }
    // The pages allow the provider's logout as a form's redirect target.
    let page = browser()
        .get(format!("{}/", t.base))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    let csp = page.headers()["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains(&format!("form-action 'self' {}", fake.issuer())),
        "{csp}"
    );

    let (status, location) = page_logout(&t, &other).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(
        location.starts_with(&format!("{}/session/end?", fake.issuer())),
        "{location}"
    );
    let p = params(&location);
    assert_eq!(p["id_token_hint"], id_token, "the session's own ID token");
    assert_eq!(p["client_id"], "zhengtong-web");
    assert_eq!(p["post_logout_redirect_uri"], "http://127.0.0.1:8080/");
    // The local session ended first; the other one is untouched.
    assert_eq!(me(&t, &other).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(me(&t, &cookie).await.0, StatusCode::OK);
    assert_eq!(
        t.count("SELECT COUNT(*) FROM audit_records WHERE action = 'logout' AND detail LIKE '%\"oidc\"%' AND detail LIKE '%at_provider%'")
            .await,
        1
    );
    // The browser goes on to the provider, which sends it home.
    let back = browser().get(&location).send().await.unwrap();
    assert!(back.status().is_redirection());
    assert_eq!(back.headers()[LOCATION], "http://127.0.0.1:8080/");
    assert_eq!(fake.end_session_requests().len(), 1);

    // A local (password) session just goes home.
    let local = t.login("citizen").await;
    let resp = local
        .client
        .post(format!("{}/logout", t.base))
        .form(&[("csrf_token", local.csrf.as_str())])
        .send()
        .await
        .unwrap();
    // The local client follows redirects: it lands on our home page.
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.url().as_str(), format!("{}/", t.base));
    assert_eq!(fake.end_session_requests().len(), 1);
}

/// Refused logins through the platform with this code, as audited.
pub(crate) fn refused_with(code: &str) -> String {
    format!(
        "SELECT COUNT(*) FROM audit_records WHERE action = 'login' AND result = 'failure' AND detail LIKE '%{code}%'"
    )
}

pub(crate) const MISMATCH: &str =
    "登录请求已过期或不是从本浏览器发起，请重新点击“统一身份认证登录”。";
pub(crate) const UNAVAILABLE: &str =
    "统一身份认证平台暂时无法访问，请稍后再试；管理员可使用本地账号登录。";

sso_both!(the_login_is_tied_to_the_browser_that_began_it);
async fn the_login_is_tied_to_the_browser_that_began_it(t: TestApp, fake: FakeProvider) {
    // The login route sets a short-lived, HttpOnly, SameSite=Lax cookie;
    // only its SM3 is kept, sealed with the login state.
    let a = jar();
    let resp = a
        .get(format!("{}/auth/oidc/login", t.base))
        .send()
        .await
        .unwrap();
    let cookie = set_cookie(&resp, "zt_sso_browser").expect("binding cookie");
    for attr in ["HttpOnly", "SameSite=Lax", "Max-Age=600", "Path=/"] {
        assert!(cookie.contains(attr), "{attr}: {cookie}");
    }
    assert!(!cookie.contains("Secure"), "not configured: {cookie}");
    let value = cookie
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("zt_sso_browser=")
        .to_string();
    assert_eq!(value.len(), 64, "{value}");
    let rows: Vec<(String, String)> = sqlx::query_as("SELECT state, data FROM oidc_pending")
        .fetch_all(t.app.db.reader())
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    let digest = zt_store::files::sm3_hex(value.as_bytes());
    for v in [&rows[0].0, &rows[0].1] {
        assert!(!v.contains(&value) && !v.contains(&digest), "sealed: {v}");
    }
    let query_a = fake
        .authorize(resp.headers()[LOCATION].to_str().unwrap())
        .await;

    // Another browser, which began a login of its own, brings A's callback:
    // refused before the platform is asked, and audited.
    let b = jar();
    let query_b = fake.authorize(&begin(&t, &b).await).await;
    let tokens = fake.token_requests();
    let (status, page) = callback(&t, &b, &query_a)
        .await
        .expect_err("another browser's callback");
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(page.contains(MISMATCH), "{page}");
    assert!(
        page.contains("data-code=\"SSO_BROWSER_MISMATCH\""),
        "{page}"
    );
    assert_eq!(fake.token_requests(), tokens, "the code was not redeemed");
    assert_eq!(t.count(&refused_with("SSO_BROWSER_MISMATCH")).await, 1);
    // B's own login is untouched: it keeps its cookie and finishes.
    let cookie_b = callback(&t, &b, &query_b).await.expect("B's own login");
    assert_eq!(me(&t, &cookie_b).await.0, StatusCode::OK);
    // A's login was spent by the attempt.
    let (status, _) = callback(&t, &a, &query_a).await.expect_err("spent");
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(t.count(&refused_with("SSO_STATE_INVALID")).await, 1);

    // A client without the cookie at all (a link planted somewhere).
    let query = fake.authorize(&begin(&t, &jar()).await).await;
    let (status, page) = callback(&t, &jar(), &query).await.expect_err("no cookie");
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(page.contains(MISMATCH), "{page}");
    assert_eq!(t.count(&refused_with("SSO_BROWSER_MISMATCH")).await, 2);
    assert_eq!(fake.token_requests(), tokens + 1, "only B's login");
    // Audited once each, as refused logins (not again as denials).
    assert_eq!(
        t.count("SELECT COUNT(*) FROM audit_records WHERE action = 'permission_denied'")
            .await,
        0
    );
}

sso_both!(a_replayed_callback_is_refused);
async fn a_replayed_callback_is_refused(t: TestApp, fake: FakeProvider) {
    let a = jar();
    let query = fake.authorize(&begin(&t, &a).await).await;
    let resp = a
        .get(format!("{}/auth/oidc/callback?{query}", t.base))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_redirection(), "{}", resp.status());
    assert!(set_cookie(&resp, "zt_session").is_some());
    let cleared = set_cookie(&resp, "zt_sso_browser").expect("cleared");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    // The same callback again, from the same browser or another, or after
    // the browser began a new login: refused, the platform not asked again.
    let tokens = fake.token_requests();
    for b in [&a, &jar()] {
        let (status, page) = callback(&t, b, &query).await.expect_err("replayed");
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(page.contains("重新发起统一身份认证登录"), "{page}");
    }
    begin(&t, &a).await;
    assert!(callback(&t, &a, &query).await.is_err());
    assert_eq!(fake.token_requests(), tokens);
    assert_eq!(t.count(&refused_with("SSO_STATE_INVALID")).await, 3);
    assert_eq!(
        t.count("SELECT COUNT(*) FROM sessions WHERE idp_sub = 'U10000001'")
            .await,
        1
    );
}

/// The administration page's card of a counterpart.
pub(crate) async fn integration_card(t: &TestApp, name: &str) -> String {
    let sys = t.login("sysadmin").await;
    let resp = sys
        .client
        .get(format!("{}/admin/integrations", t.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let html = resp.text().await.unwrap();
    html.split(&format!("id=\"integration-{name}\""))
        .nth(1)
        .expect("card")
        .split("</section>")
        .next()
        .unwrap()
        .to_string()
}

sso_both!(identity_down_opens_the_breaker_and_logins_work_again_after_recovery);
async fn identity_down_opens_the_breaker_and_logins_work_again_after_recovery(
    t: TestApp,
    fake: FakeProvider,
) {
    use zt_app::integrations::{State, IDENTITY};
    let breaker = t.app.integrations.breaker(IDENTITY);
    let policy = t.app.integrations.policy();
    let before = sso_login(&t, &fake).await.expect("login while up");
    let sid = fake.last_sid().expect("sid");
    assert_eq!(breaker.state(), State::Closed);
    // A login begun now, finished only once the breaker is open.
    let late = jar();
    let late_query = fake.authorize(&begin(&t, &late).await).await;

    // The platform's back end answers 503: each login fails with the
    // reason, and after the threshold the breaker opens.
    fake.set_unavailable(true);
    for _ in 0..policy.failure_threshold {
        let (status, page) = sso_login(&t, &fake).await.expect_err("down");
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(page.contains(UNAVAILABLE), "{page}");
        assert!(
            page.contains("data-code=\"IDENTITY_UNAVAILABLE\""),
            "{page}"
        );
    }
    assert_eq!(breaker.state(), State::Open);
    let tokens = fake.token_requests();

    // Open: the login button answers at once, without sending the browser
    // to the platform; a callback is refused without a request.
    let resp = jar()
        .get(format!("{}/auth/oidc/login", t.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(set_cookie(&resp, "zt_sso_browser").is_none());
    let page = resp.text().await.unwrap();
    assert!(page.contains(UNAVAILABLE), "{page}");
    assert!(page.contains("action=\"/login\""), "the local form: {page}");
    let (status, page) = callback(&t, &late, &late_query).await.expect_err("open");
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(page.contains(UNAVAILABLE), "{page}");
    assert_eq!(fake.token_requests(), tokens, "nothing sent while open");
    assert_eq!(
        t.count(&refused_with("IDENTITY_UNAVAILABLE")).await,
        i64::from(policy.failure_threshold) + 1
    );

    // Still ready; the identity platform's state shown, without its URL.
    let (s, ready) = t.anon().get("/readyz").await;
    assert_eq!(s, StatusCode::OK, "{ready}");
    let idp = &ready["integrations"]["identity"];
    assert_eq!(idp["mode"], "remote", "{ready}");
    assert_eq!(idp["state"], "open", "{ready}");
    assert!(
        idp["consecutive_failures"].as_u64().unwrap() >= u64::from(policy.failure_threshold),
        "{ready}"
    );
    assert!(idp["retry_at"].is_string() && idp["last_failure_at"].is_string());
    assert!(idp["warning"]
        .as_str()
        .unwrap()
        .contains("统一身份认证平台"));
    assert!(!ready.to_string().contains(fake.issuer()), "{ready}");
    // The administration page says so, with the URL and the reason; local
    // accounts log in all the while.
    let card = integration_card(&t, "identity").await;
    assert!(
        card.contains("熔断中") && card.contains("data-state=\"bad\""),
        "{card}"
    );
    assert!(card.contains(fake.issuer()), "{card}");
    assert!(card.contains("unavailable"), "{card}");

    // Back-channel logout while open: a token under the cached key still
    // ends its session; one whose key would have to be fetched is 503
    // (the platform may send it again), and nothing is sent.
    let token = fake.mint_logout_token(&LogoutTokenSpec::session("U10000001", &sid));
    assert_eq!(backchannel(&t, &token).await, StatusCode::OK);
    assert_eq!(me(&t, &before).await.0, StatusCode::UNAUTHORIZED);
    fake.rotate_key();
    let rotated = fake.mint_logout_token(&LogoutTokenSpec::session("U10000001", "sid-x"));
    let jwks = fake.jwks_requests();
    assert_eq!(
        backchannel(&t, &rotated).await,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(fake.jwks_requests(), jwks);

    // Recovery: after the cool-down the next login is the probe; it
    // succeeds (fetching the new key too) and closes the breaker.
    fake.set_unavailable(false);
    t.clock
        .advance(policy.cool_down + chrono::Duration::seconds(1));
    let cookie = sso_login(&t, &fake).await.expect("after recovery");
    assert_eq!(me(&t, &cookie).await.0, StatusCode::OK);
    assert_eq!(breaker.state(), State::Closed);
    let (_, ready) = t.anon().get("/readyz").await;
    assert_eq!(ready["integrations"]["identity"]["state"], "closed");
    assert_eq!(ready["integrations"]["identity"]["consecutive_failures"], 0);
    assert!(ready["integrations"]["identity"]["last_success_at"].is_string());
    assert!(ready["integrations"]["identity"].get("warning").is_none());
    assert!(integration_card(&t, "identity").await.contains("正常"));
    // The rotated logout token is accepted now.
    assert_eq!(backchannel(&t, &rotated).await, StatusCode::OK);
}
