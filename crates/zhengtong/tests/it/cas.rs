//! Login through the unified identity platform's CAS 3.0 server
//! (`identity_protocol = "cas"`) against the in-process fake: the same
//! provisioning and linking as OpenID Connect, refused tickets, single
//! logout, logout at the CAS server, and the start-up checks.

use std::sync::Arc;

use reqwest::header::LOCATION;
use reqwest::StatusCode;
use zt_identity::double::{FakeConfig, FakeProvider, TestUser};
use zt_store::Backend;

use crate::harness::{beijing_10, TestApp};
use crate::sso::{
    browser, create_staff, deliver, integration_card, jar, me, page_logout, params, refused_with,
    set_cookie, user_row, ClockCell, MISMATCH, UNAVAILABLE,
};

/// The service URL the platform sends to CAS (the default `cas_service_url`):
/// the test plays the browser and brings the ticket to this server.
const SERVICE: &str = "http://127.0.0.1:8080/auth/cas/callback";

macro_rules! cas_both {
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

/// The application with `identity_protocol = "cas"` against a fresh fake
/// that shares its clock (tickets live 60 s).
async fn setup(backend: Backend) -> Option<(TestApp, FakeProvider)> {
    let cell: ClockCell = Arc::default();
    let c2 = cell.clone();
    let clock = Arc::new(move || match c2.lock().unwrap().as_ref() {
        Some(c) => zt_app::clock::Clock::now(&**c).timestamp(),
        None => beijing_10("2025-09-30").timestamp(),
    });
    let fake = FakeProvider::start(FakeConfig::new(clock)).await;
    let cas_url = fake.cas_url();
    let t = TestApp::spawn_with(backend, move |c| {
        c.identity_protocol = "cas".into();
        c.cas_url = cas_url;
    })
    .await?;
    *cell.lock().unwrap() = Some(t.clock.clone());
    Some((t, fake))
}

/// Where the login button leads: the CAS login with our service URL (the
/// browser `b` gets the binding cookie).
async fn begin(t: &TestApp, b: &reqwest::Client) -> String {
    let resp = b
        .get(format!("{}/auth/cas/login", t.base))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_redirection(), "{}", resp.status());
    resp.headers()[LOCATION].to_str().unwrap().to_string()
}

async fn callback(
    t: &TestApp,
    b: &reqwest::Client,
    query: &str,
) -> Result<String, (StatusCode, String)> {
    deliver(t, b, "/auth/cas/callback", query).await
}

/// A browser that has begun a CAS login (and holds its binding cookie).
async fn begun(t: &TestApp) -> reqwest::Client {
    let b = jar();
    begin(t, &b).await;
    b
}

/// Logs in as the fake's current user in a new browser: the session cookie
/// and the ticket's query (`ticket=ST-…`), or the refusal.
async fn cas_login(
    t: &TestApp,
    fake: &FakeProvider,
) -> Result<(String, String), (StatusCode, String)> {
    let b = jar();
    let url = begin(t, &b).await;
    let query = fake.cas_login(&url).await;
    callback(t, &b, &query).await.map(|c| (c, query))
}

async fn single_logout(t: &TestApp, body: &[(&str, &str)]) -> StatusCode {
    browser()
        .post(format!("{}/auth/cas/callback", t.base))
        .form(body)
        .send()
        .await
        .unwrap()
        .status()
}

cas_both!(a_cas_login_provisions_once_and_links_by_sub);
async fn a_cas_login_provisions_once_and_links_by_sub(t: TestApp, fake: FakeProvider) {
    let url = begin(&t, &jar()).await;
    assert!(
        url.starts_with(&format!("{}/login?", fake.cas_url())),
        "{url}"
    );
    assert_eq!(params(&url)["service"], SERVICE);
    let before = t.count("SELECT COUNT(*) FROM users").await;
    let (cookie, _) = cas_login(&t, &fake).await.expect("first login");
    let (s, b) = me(&t, &cookie).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["user"]["username"], "sso-U10000001");
    assert_eq!(b["user"]["display_name"], "张伟");
    assert_eq!(b["user"]["user_type"], "person");
    assert_eq!(b["user"]["real_name_level"], "L3");
    assert_eq!(b["roles"], serde_json::json!(["applicant"]));
    let (id, level, id_number, _) = user_row(&t, "sso-U10000001").await;
    assert_eq!(level, "L3");
    assert!(!id_number.unwrap().contains("110105198506150110"), "sealed");
    let (provider,): (String,) =
        sqlx::query_as("SELECT provider FROM identity_links WHERE sub = 'U10000001'")
            .fetch_one(t.app.db.reader())
            .await
            .unwrap();
    assert_eq!(provider, fake.cas_url(), "linked under the CAS server");
    assert_eq!(
        t.count(&format!(
            "SELECT COUNT(*) FROM audit_records WHERE action = 'login' AND object = 'user:{id}' AND detail LIKE '%\"cas\"%'"
        ))
        .await,
        1
    );
    assert_eq!(
        t.count("SELECT COUNT(*) FROM audit_records WHERE action = 'identity_link' AND detail LIKE '%\"cas\"%'")
            .await,
        1
    );
    // Only the ticket's SM3 is kept with the session.
    let ticket = fake.last_cas_ticket().expect("ticket");
    let (kept,): (Option<String>,) =
        sqlx::query_as("SELECT cas_ticket_sm3 FROM sessions WHERE user_id = $1")
            .bind(id)
            .fetch_one(t.app.db.reader())
            .await
            .unwrap();
    assert_eq!(
        kept.as_deref(),
        Some(zt_store::files::sm3_hex(ticket.as_bytes()).as_str())
    );

    // The second login reuses the link; the level follows the platform.
    let mut u = TestUser::citizen();
    u.real_name_level = Some("L2".into());
    fake.set_user(u);
    let (again, _) = cas_login(&t, &fake).await.expect("second login");
    let (s, b) = me(&t, &again).await;
    assert_eq!(
        (s, b["user"]["user_id"].as_i64()),
        (StatusCode::OK, Some(id))
    );
    assert_eq!(b["user"]["real_name_level"], "L2");
    assert_eq!(t.count("SELECT COUNT(*) FROM users").await, before + 1);
    assert_eq!(t.count("SELECT COUNT(*) FROM identity_links").await, 1);

    // An enterprise agent gets the organisation's fields.
    fake.set_user(TestUser::enterprise_agent());
    let (agent, _) = cas_login(&t, &fake).await.expect("agent");
    let (_, b) = me(&t, &agent).await;
    assert_eq!(b["user"]["user_type"], "agent");
    assert_eq!(b["user"]["org_uscc"], "91330106MA2H0K3BXT");
    assert_eq!(b["user"]["real_name_level"], "L2");
}

cas_both!(staff_are_only_linked_to_their_existing_account);
async fn staff_are_only_linked_to_their_existing_account(t: TestApp, fake: FakeProvider) {
    fake.set_user(TestUser::staff());
    let before = t.count("SELECT COUNT(*) FROM users").await;
    let (status, page) = cas_login(&t, &fake).await.expect_err("refused");
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        page.contains("统一身份认证账号尚未关联本平台工作人员账号，请联系系统管理员。"),
        "{page}"
    );
    assert_eq!(t.count("SELECT COUNT(*) FROM users").await, before);
    // Audited once, as a refused login (not a second time as a denial).
    assert_eq!(
        t.count("SELECT COUNT(*) FROM audit_records WHERE action = 'login' AND result = 'failure' AND object = 'sub:U20000001' AND detail LIKE '%SSO_STAFF_NOT_PROVISIONED%' AND detail LIKE '%\"cas\"%'")
            .await,
        1
    );
    assert_eq!(
        t.count("SELECT COUNT(*) FROM audit_records WHERE action = 'permission_denied'")
            .await,
        0
    );

    create_staff(&t, "SPJ-ZHSL").await;
    let (cookie, _) = cas_login(&t, &fake).await.expect("linked");
    let (s, b) = me(&t, &cookie).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["user"]["username"], "sunli");
    assert_eq!(b["roles"], serde_json::json!(["clerk"]));
    assert_eq!(t.count("SELECT COUNT(*) FROM identity_links").await, 1);
}

cas_both!(an_invalid_or_replayed_ticket_is_refused);
async fn an_invalid_or_replayed_ticket_is_refused(t: TestApp, fake: FakeProvider) {
    // A ticket the server never issued (brought by the browser that began
    // the login).
    let (status, page) = callback(
        &t,
        &begun(&t).await,
        "ticket=ST-forged0000000000000000000000000",
    )
    .await
    .expect_err("forged");
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(page.contains("登录凭证无效、已过期或已使用过"), "{page}");
    assert_eq!(t.count(&refused_with("SSO_TICKET_INVALID")).await, 1);

    // The genuine ticket works once; the same callback again, even from a
    // browser that has begun a login, is refused by the CAS server.
    let (_, query) = cas_login(&t, &fake).await.expect("genuine");
    let (status, _) = callback(&t, &begun(&t).await, &query)
        .await
        .expect_err("replayed");
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(t.count(&refused_with("SSO_TICKET_INVALID")).await, 2);

    // A ticket older than 60 s.
    let b = jar();
    let url = begin(&t, &b).await;
    let query = fake.cas_login(&url).await;
    t.clock.advance(chrono::Duration::seconds(61));
    assert_eq!(
        callback(&t, &b, &query).await.expect_err("expired").0,
        StatusCode::UNAUTHORIZED
    );

    // A ticket issued for another service.
    let other = fake.issue_cas_ticket("http://localhost:8080/auth/cas/callback");
    assert_eq!(
        callback(&t, &begun(&t).await, &format!("ticket={other}"))
            .await
            .expect_err("other service")
            .0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(t.count(&refused_with("SSO_TICKET_INVALID")).await, 4);

    // No ticket, or something that is no service ticket: the CAS server is
    // not even asked.
    let asked = fake.cas_validations();
    let (status, page) = callback(&t, &begun(&t).await, "")
        .await
        .expect_err("no ticket");
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(page.contains("没有返回登录凭证"), "{page}");
    assert_eq!(t.count(&refused_with("SSO_TICKET_MISSING")).await, 1);
    for q in ["ticket=PGT-123", "ticket=ST-a&ticket=ST-b"] {
        assert_eq!(
            callback(&t, &begun(&t).await, q).await.expect_err(q).0,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(fake.cas_validations(), asked);
    assert_eq!(
        t.count("SELECT COUNT(*) FROM sessions WHERE cas_ticket_sm3 IS NOT NULL")
            .await,
        1
    );
}

cas_both!(a_cas_callback_is_tied_to_the_browser_that_began_the_login);
async fn a_cas_callback_is_tied_to_the_browser_that_began_the_login(
    t: TestApp,
    fake: FakeProvider,
) {
    // The login route sets a short-lived, HttpOnly, SameSite=Lax cookie;
    // only its SM3 is kept.
    let a = jar();
    let resp = a
        .get(format!("{}/auth/cas/login", t.base))
        .send()
        .await
        .unwrap();
    let cookie = set_cookie(&resp, "zt_sso_browser").expect("binding cookie");
    for attr in ["HttpOnly", "SameSite=Lax", "Max-Age=600", "Path=/"] {
        assert!(cookie.contains(attr), "{attr}: {cookie}");
    }
    let value = cookie
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("zt_sso_browser=")
        .to_string();
    let kept: Vec<(String, String)> = sqlx::query_as("SELECT state, data FROM oidc_pending")
        .fetch_all(t.app.db.reader())
        .await
        .unwrap();
    assert_eq!(
        kept,
        vec![(
            format!("cas:{}", zt_store::files::sm3_hex(value.as_bytes())),
            "cas".to_string()
        )]
    );
    let query = fake
        .cas_login(resp.headers()[LOCATION].to_str().unwrap())
        .await;

    // Another browser brings A's ticket: refused before the CAS server is
    // asked, and audited.
    let asked = fake.cas_validations();
    let (status, page) = callback(&t, &jar(), &query)
        .await
        .expect_err("another browser");
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(page.contains(MISMATCH), "{page}");
    assert!(
        page.contains("data-code=\"SSO_BROWSER_MISMATCH\""),
        "{page}"
    );
    assert_eq!(fake.cas_validations(), asked);
    assert_eq!(t.count(&refused_with("SSO_BROWSER_MISMATCH")).await, 1);

    // A's own callback works, and clears the cookie.
    let resp = a
        .get(format!("{}/auth/cas/callback?{query}", t.base))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_redirection(), "{}", resp.status());
    assert!(set_cookie(&resp, "zt_session").is_some());
    let cleared = set_cookie(&resp, "zt_sso_browser").expect("cleared");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    // Replayed by the same browser: refused, the CAS server not asked again.
    let (status, page) = callback(&t, &a, &query).await.expect_err("replayed");
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(page.contains(MISMATCH), "{page}");
    assert_eq!(fake.cas_validations(), asked + 1);

    // A login begun more than ten minutes ago.
    let b = jar();
    let url = begin(&t, &b).await;
    t.clock.advance(chrono::Duration::minutes(11));
    let query = fake.cas_login(&url).await;
    let (status, _) = callback(&t, &b, &query).await.expect_err("expired");
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(fake.cas_validations(), asked + 1);
    assert_eq!(t.count(&refused_with("SSO_BROWSER_MISMATCH")).await, 3);
    assert_eq!(t.count("SELECT COUNT(*) FROM oidc_pending").await, 0);
}

cas_both!(cas_validation_down_opens_the_breaker_until_it_answers_again);
async fn cas_validation_down_opens_the_breaker_until_it_answers_again(
    t: TestApp,
    fake: FakeProvider,
) {
    use zt_app::integrations::{State, IDENTITY};
    let breaker = t.app.integrations.breaker(IDENTITY);
    let policy = t.app.integrations.policy();
    // A login begun now, finished only once the breaker is open.
    let late = jar();
    let late_query = fake.cas_login(&begin(&t, &late).await).await;

    fake.set_unavailable(true);
    for _ in 0..policy.failure_threshold {
        let (status, page) = cas_login(&t, &fake).await.expect_err("down");
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(page.contains(UNAVAILABLE), "{page}");
        assert!(
            page.contains("data-code=\"IDENTITY_UNAVAILABLE\""),
            "{page}"
        );
    }
    assert_eq!(breaker.state(), State::Open);
    let asked = fake.cas_validations();
    let resp = jar()
        .get(format!("{}/auth/cas/login", t.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(set_cookie(&resp, "zt_sso_browser").is_none());
    assert!(resp.text().await.unwrap().contains(UNAVAILABLE));
    let (status, _) = callback(&t, &late, &late_query).await.expect_err("open");
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(fake.cas_validations(), asked, "nothing sent while open");

    let (s, ready) = t.anon().get("/readyz").await;
    assert_eq!(s, StatusCode::OK, "{ready}");
    assert_eq!(
        ready["integrations"]["identity"]["state"], "open",
        "{ready}"
    );
    assert_eq!(ready["integrations"]["identity"]["mode"], "remote");
    let card = integration_card(&t, "identity").await;
    assert!(card.contains("熔断中"), "{card}");
    assert!(card.contains(&fake.cas_url()), "{card}");

    fake.set_unavailable(false);
    t.clock
        .advance(policy.cool_down + chrono::Duration::seconds(1));
    let (cookie, _) = cas_login(&t, &fake).await.expect("after recovery");
    assert_eq!(me(&t, &cookie).await.0, StatusCode::OK);
    assert_eq!(breaker.state(), State::Closed);
    let (_, ready) = t.anon().get("/readyz").await;
    assert_eq!(ready["integrations"]["identity"]["state"], "closed");
}

cas_both!(single_logout_ends_only_the_session_of_that_ticket);
async fn single_logout_ends_only_the_session_of_that_ticket(t: TestApp, fake: FakeProvider) {
    let (first, _) = cas_login(&t, &fake).await.expect("first");
    let first_ticket = fake.last_cas_ticket().expect("ticket");
    let (second, _) = cas_login(&t, &fake).await.expect("second");
    let local = t.login("citizen").await;

    let service = format!("{}/auth/cas/callback", t.base);
    assert_eq!(fake.send_cas_logout(&service, &first_ticket).await, 200);
    assert_eq!(me(&t, &first).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(me(&t, &second).await.0, StatusCode::OK);
    assert_eq!(local.get("/api/v1/session").await.0, StatusCode::OK);
    assert_eq!(
        t.count("SELECT COUNT(*) FROM audit_records WHERE action = 'logout' AND object LIKE 'user:%' AND detail LIKE '%cas_single_logout%'")
            .await,
        1
    );
    // Again: nothing left to end, still 200 (the server may repeat itself).
    assert_eq!(fake.send_cas_logout(&service, &first_ticket).await, 200);
    assert_eq!(me(&t, &second).await.0, StatusCode::OK);
    // Not a logout request: 400, nothing ends.
    assert_eq!(
        single_logout(&t, &[("logoutRequest", "<not-saml/>")]).await,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        single_logout(&t, &[("other", "1")]).await,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(me(&t, &second).await.0, StatusCode::OK);
}

cas_both!(logout_ends_the_session_and_then_at_the_cas_server);
async fn logout_ends_the_session_and_then_at_the_cas_server(t: TestApp, fake: FakeProvider) {
    let (cookie, _) = cas_login(&t, &fake).await.expect("login");
    let (other, _) = cas_login(&t, &fake).await.expect("another browser");
    let (status, location) = page_logout(&t, &cookie).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(
        location.starts_with(&format!("{}/logout?", fake.cas_url())),
        "{location}"
    );
    assert_eq!(params(&location)["service"], "http://127.0.0.1:8080/");
    assert_eq!(me(&t, &cookie).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(me(&t, &other).await.0, StatusCode::OK);
    let back = browser().get(&location).send().await.unwrap();
    assert_eq!(back.status(), StatusCode::FOUND);
    assert_eq!(back.headers()[LOCATION], "http://127.0.0.1:8080/");
    assert_eq!(fake.cas_logout_requests().len(), 1);
    assert_eq!(
        t.count("SELECT COUNT(*) FROM audit_records WHERE action = 'logout' AND detail LIKE '%\"cas\"%' AND detail LIKE '%at_provider%'")
            .await,
        1
    );
}

cas_both!(the_login_page_offers_cas_first_and_the_local_form_below);
async fn the_login_page_offers_cas_first_and_the_local_form_below(t: TestApp, _fake: FakeProvider) {
    let html = browser()
        .get(format!("{}/login", t.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let sso = html.find("href=\"/auth/cas/login\"").expect("CAS button");
    let local = html.find("action=\"/login\"").expect("local form");
    assert!(sso < local, "统一身份认证登录 comes first");
    assert!(html[..sso].contains("id=\"sso-login\""));
    assert!(html.contains("统一身份认证登录"));
    assert!(!html.contains("/auth/oidc/login"));
    // The OpenID Connect routes are not configured with CAS.
    let resp = browser()
        .get(format!("{}/auth/oidc/login", t.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

crate::both!(the_start_refuses_a_protocol_that_cannot_work);
async fn the_start_refuses_a_protocol_that_cannot_work(t: TestApp) {
    let base = t.config();
    let start = |change: &dyn Fn(&mut zhengtong::config::Config)| {
        let mut cfg = base.clone();
        change(&mut cfg);
        let app = t.app.clone();
        async move {
            zhengtong::bootstrap::with_identity(&cfg, app)
                .await
                .err()
                .map(|e| e.to_string())
        }
    };
    let e = start(&|c| c.identity_protocol = "saml".into())
        .await
        .expect("unknown");
    assert!(
        e.contains("identity_protocol") && e.contains("\"saml\""),
        "{e}"
    );
    let e = start(&|c| c.identity_protocol = "cas".into())
        .await
        .expect("no cas_url");
    assert!(e.contains("cas_url (ZT_CAS_URL)"), "{e}");
    let e = start(&|c| {
        c.identity_protocol = "cas".into();
        c.cas_url = "http://cas.example.gov.cn/cas".into();
    })
    .await
    .expect("plain HTTP off loopback");
    assert!(e.contains("cas_url"), "{e}");
    let e = start(&|c| {
        c.identity_protocol = "cas".into();
        c.cas_url = "http://127.0.0.1:18083/cas".into();
        c.cas_service_url = "/auth/cas/callback".into();
    })
    .await
    .expect("relative service URL");
    assert!(e.contains("cas_service_url"), "{e}");
    assert_eq!(
        start(&|c| {
            c.identity_protocol = "cas".into();
            c.cas_url = "https://cas.example.gov.cn/cas".into();
        })
        .await,
        None
    );
    assert_eq!(start(&|_| {}).await, None, "the default: OIDC, off");
}
