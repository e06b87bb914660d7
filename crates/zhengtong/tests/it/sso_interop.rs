//! The platform against the real identity sandbox (`sandboxes/identity`,
//! specs/identity.md): a browser with a cookie jar goes from our
//! `/auth/oidc/login` through the sandbox's HTML login form to our
//! `/auth/oidc/callback` (bringing back the cookie that ties the login to
//! it) and has a working session, logs out there through
//! `POST /logout` (RP-initiated logout, confirmed on the sandbox's page);
//! then the same through CAS (`/auth/cas/login`, the sandbox's
//! `/cas/login` form, `/auth/cas/callback`, `/cas/logout`).
//!
//! Runs when the variables `identity/start.sh` exports are set
//! (`IDP_ISSUER`, `IDP_CLIENT_ID`, `IDP_CLIENT_SECRET`). The platform listens
//! on the host and port of the first `IDP_REDIRECT_URIS` entry (default
//! `http://127.0.0.1:8080/auth/oidc/callback`, the sandbox's own default);
//! scripts/test.sh starts the sandbox with that URI, the matching
//! `IDP_POST_LOGOUT_REDIRECT_URIS` and `IDP_CAS_SERVICES`, and exports them.
//! Otherwise one loud SKIPPED line, and under `CI=true` a failure.

use std::io::Write;
use std::time::Duration;

use reqwest::header::LOCATION;
use reqwest::StatusCode;

use crate::harness::TestApp;

const PASSWORD: &str = "Test@123456";

struct Env {
    issuer: String,
    client_id: String,
    client_secret: String,
    /// `host:port` the platform listens on.
    listen: String,
}

fn first_of(var: &str) -> Option<String> {
    std::env::var(var)
        .ok()?
        .split(',')
        .map(str::trim)
        .find(|s| !s.is_empty())
        .map(str::to_owned)
}

fn env() -> Option<Env> {
    let get = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let (Some(issuer), Some(client_id), Some(client_secret)) = (
        get("IDP_ISSUER"),
        get("IDP_CLIENT_ID"),
        get("IDP_CLIENT_SECRET"),
    ) else {
        let why = "IDP_ISSUER, IDP_CLIENT_ID, IDP_CLIENT_SECRET are not set \
                   (scripts/test.sh starts the identity sandbox; by hand: eval \"$(identity/start.sh)\" in sandboxes/)";
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI must run the identity interop test of the platform: {why}"
        );
        // Straight to the stderr handle: libtest captures eprintln! of
        // passing tests, and this line must be seen.
        let _ = writeln!(
            std::io::stderr(),
            "!!!!! SKIPPED identity interop (zhengtong, OIDC and CAS through the platform): {why} !!!!!"
        );
        return None;
    };
    let redirect = first_of("IDP_REDIRECT_URIS")
        .unwrap_or_else(|| "http://127.0.0.1:8080/auth/oidc/callback".into());
    let url = reqwest::Url::parse(&redirect).expect("IDP_REDIRECT_URIS");
    assert_eq!(
        url.path(),
        "/auth/oidc/callback",
        "the first IDP_REDIRECT_URIS entry must be the platform's callback"
    );
    let listen = format!(
        "{}:{}",
        url.host_str().expect("host"),
        url.port_or_known_default().expect("port")
    );
    Some(Env {
        issuer,
        client_id,
        client_secret,
        listen,
    })
}

/// A browser: one cookie jar for the sandbox and the platform (both on
/// 127.0.0.1), redirects followed except into our callbacks, which the test
/// opens itself to see the code or ticket.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::custom(|attempt| {
            if attempt.url().path().starts_with("/auth/")
                && attempt.url().path().ends_with("/callback")
            {
                attempt.stop()
            } else if attempt.previous().len() > 10 {
                attempt.error("too many redirects")
            } else {
                attempt.follow()
            }
        }))
        .timeout(Duration::from_secs(15))
        .build()
        .expect("browser")
}

/// `attr="…"` of the first tag of `html` that contains `marker`.
fn attr_after(html: &str, marker: &str, attr: &str) -> Option<String> {
    let at = html.find(marker)?;
    let tag_start = html[..at].rfind('<')?;
    let tag_end = at + html[at..].find('>')?;
    let tag = &html[tag_start..tag_end];
    let needle = format!("{attr}=\"");
    let v = &tag[tag.find(&needle)? + needle.len()..];
    Some(v[..v.find('"')?].replace("&amp;", "&"))
}

fn location(resp: &reqwest::Response) -> String {
    resp.headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("{} {} without Location", resp.status(), resp.url()))
        .to_owned()
}

/// From our login route through the sandbox's login form: the URL of the
/// redirect into our callback (with `code` or `ticket`).
async fn through_the_login_form(jar: &reqwest::Client, start: &str, username: &str) -> String {
    let page = jar.get(start).send().await.expect("login route");
    assert_eq!(page.status(), StatusCode::OK, "the sandbox's login page");
    let page_url = page.url().clone();
    let html = page.text().await.expect("page");
    let action = attr_after(&html, "id=\"login-form\"", "action").expect("login form action");
    let done = jar
        .post(page_url.join(&action).expect("action URL"))
        .form(&[("username", username), ("password", PASSWORD)])
        .send()
        .await
        .expect("POST login");
    assert!(
        done.status().is_redirection(),
        "{} {}",
        done.status(),
        done.url()
    );
    location(&done)
}

/// Opens our callback with the jar; the session cookie lands in the jar.
/// Returns the status of the answer the browser ends on (200 on the
/// signed-in home page; the refusal page's status otherwise).
async fn open_callback(jar: &reqwest::Client, url: &str) -> StatusCode {
    jar.get(url).send().await.expect("callback").status()
}

async fn session(jar: &reqwest::Client, base: &str) -> (StatusCode, serde_json::Value) {
    let r = jar
        .get(format!("{base}/api/v1/session"))
        .send()
        .await
        .expect("session");
    let s = r.status();
    (s, r.json().await.unwrap_or_default())
}

/// `POST /logout` as the page's form does; the browser follows the
/// redirects. Returns where it ended up, and that answer.
async fn logout(jar: &reqwest::Client, base: &str, csrf: &str) -> (String, reqwest::Response) {
    let resp = jar
        .post(format!("{base}/logout"))
        .form(&[("csrf_token", csrf)])
        .send()
        .await
        .expect("POST /logout");
    let first = resp.url().to_string();
    (first, resp)
}

/// The sandbox stamps its tokens with the wall clock: the platform's clock
/// stands there too for this test.
#[allow(clippy::disallowed_methods)]
fn wall_clock() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_platform_against_the_identity_sandbox() {
    let Some(e) = env() else { return };
    oidc(&e).await;
    cas(&e).await;
    let _ = writeln!(
        std::io::stderr(),
        "identity interop (zhengtong): OIDC and CAS logins and logouts passed against {}",
        e.issuer
    );
}

async fn oidc(e: &Env) {
    let (issuer, id, secret) = (
        e.issuer.clone(),
        e.client_id.clone(),
        e.client_secret.clone(),
    );
    let listen = e.listen.clone();
    let t = TestApp::spawn_at(zt_store::Backend::Sqlite, &e.listen, move |c| {
        c.oidc_issuer = issuer;
        c.oidc_client_id = id;
        c.oidc_client_secret = zhengtong::config::Secret(secret);
        c.oidc_redirect_uri = format!("http://{listen}/auth/oidc/callback");
    })
    .await
    .expect("sqlite");
    t.clock.set(wall_clock());
    let base = t.base.clone();

    // The login page leads to OIDC.
    let jar = browser();
    let html = jar
        .get(format!("{base}/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("href=\"/auth/oidc/login\""), "{html}");

    // A citizen: provisioned at the first login.
    let callback =
        through_the_login_form(&jar, &format!("{base}/auth/oidc/login"), "zhangwei").await;
    assert!(
        callback.starts_with(&format!("{base}/auth/oidc/callback?")),
        "{callback}"
    );
    assert_eq!(open_callback(&jar, &callback).await, StatusCode::OK);
    let (s, b) = session(&jar, &base).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["user"]["username"], "sso-U10000001");
    assert_eq!(b["user"]["display_name"], "张伟");
    assert_eq!(b["user"]["real_name_level"], "L3");
    assert_eq!(b["roles"], serde_json::json!(["applicant"]));
    // The same callback again: the code is spent (and the state too).
    assert_eq!(
        open_callback(&browser(), &callback).await,
        StatusCode::UNAUTHORIZED
    );

    // RP-initiated logout: our session ends, the sandbox asks to confirm,
    // then sends the browser back to our home page.
    let csrf = b["csrf_token"].as_str().expect("csrf").to_string();
    let (at, page) = logout(&jar, &base, &csrf).await;
    assert!(
        at.starts_with(&format!("{}/session/end", e.issuer)),
        "the browser is at the provider: {at}"
    );
    assert_eq!(page.status(), StatusCode::OK, "confirmation page");
    let html = page.text().await.expect("page");
    assert_eq!(session(&jar, &base).await.0, StatusCode::UNAUTHORIZED);
    let action = attr_after(&html, "id=\"op.logoutForm\"", "action").expect("logout form");
    let xsrf = attr_after(&html, "name=\"xsrf\"", "value").expect("xsrf");
    let home = jar
        .post(&action)
        .form(&[("xsrf", xsrf.as_str()), ("logout", "yes")])
        .send()
        .await
        .expect("confirm");
    assert_eq!(home.status(), StatusCode::OK);
    assert_eq!(home.url().as_str(), format!("{base}/"), "back home");
    // The IdP session ended too: the login form again.
    let again = jar
        .get(format!("{base}/auth/oidc/login"))
        .send()
        .await
        .unwrap();
    assert!(
        again.url().path().starts_with("/interaction/"),
        "{}",
        again.url()
    );

    // Staff without an account of ours are refused, with the reason.
    let jar = browser();
    let callback = through_the_login_form(&jar, &format!("{base}/auth/oidc/login"), "sunli").await;
    let refused = jar.get(&callback).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(refused
        .text()
        .await
        .unwrap()
        .contains("统一身份认证账号尚未关联本平台工作人员账号"));
    let _ = writeln!(
        std::io::stderr(),
        "identity interop (zhengtong): OIDC passed"
    );
}

async fn cas(e: &Env) {
    let cas_url = format!("{}/cas", e.issuer);
    let service = format!("http://{}/auth/cas/callback", e.listen);
    // The same port as the OIDC part's platform, which lets go of it when
    // its server task is cancelled: try again for a moment.
    let mut tries = 0;
    let t = loop {
        let (c_url, c_service, listen) = (cas_url.clone(), service.clone(), e.listen.clone());
        let spawned = tokio::spawn(async move {
            TestApp::spawn_at(zt_store::Backend::Sqlite, &listen, move |c| {
                c.identity_protocol = "cas".into();
                c.cas_url = c_url;
                c.cas_service_url = c_service;
            })
            .await
            .expect("sqlite")
        })
        .await;
        match spawned {
            Ok(t) => break t,
            Err(err) if tries < 50 => {
                tries += 1;
                let _ = err;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(err) => panic!("the platform with CAS did not start: {err}"),
        }
    };
    t.clock.set(wall_clock());
    let base = t.base.clone();

    let jar = browser();
    let html = jar
        .get(format!("{base}/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("href=\"/auth/cas/login\""), "{html}");

    let callback =
        through_the_login_form(&jar, &format!("{base}/auth/cas/login"), "wangfang").await;
    assert!(
        callback.starts_with(&format!("{service}?ticket=ST-")),
        "{callback}"
    );
    assert_eq!(open_callback(&jar, &callback).await, StatusCode::OK);
    let (s, b) = session(&jar, &base).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["user"]["username"], "sso-U10000002");
    assert_eq!(b["user"]["display_name"], "王芳");
    assert_eq!(b["user"]["real_name_level"], "L2");
    assert_eq!(b["roles"], serde_json::json!(["applicant"]));
    // The same callback again is refused: in another browser, which began
    // no login (the login is tied to the browser that began it) …
    let replay = browser().get(&callback).send().await.unwrap();
    assert_eq!(replay.status(), StatusCode::UNAUTHORIZED);
    assert!(replay
        .text()
        .await
        .unwrap()
        .contains("登录请求已过期或不是从本浏览器发起"));
    // … and in one that did: the ticket is single use at the sandbox.
    let other = browser();
    let to_cas = other
        .get(format!("{base}/auth/cas/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(to_cas.status(), StatusCode::OK, "the sandbox's login form");
    let replay = other.get(&callback).send().await.unwrap();
    assert_eq!(replay.status(), StatusCode::UNAUTHORIZED);
    assert!(replay
        .text()
        .await
        .unwrap()
        .contains("登录凭证无效、已过期或已使用过"));

    // Logout: our session ends, then the CAS session, and the sandbox sends
    // the browser back home.
    let csrf = b["csrf_token"].as_str().expect("csrf").to_string();
    let (at, home) = logout(&jar, &base, &csrf).await;
    assert_eq!(home.status(), StatusCode::OK);
    assert_eq!(at, format!("{base}/"), "back home through {cas_url}/logout");
    assert_eq!(session(&jar, &base).await.0, StatusCode::UNAUTHORIZED);
    // No CAS session any more: the login form again, not a ticket.
    let again = jar
        .get(format!("{base}/auth/cas/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::OK);
    assert!(
        again.url().path().starts_with("/cas/login"),
        "{}",
        again.url()
    );
    let _ = writeln!(
        std::io::stderr(),
        "identity interop (zhengtong): CAS passed"
    );
}
