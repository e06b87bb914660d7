//! Interop with the real identity sandbox (`sandboxes/identity`, Node.js
//! `oidc-provider`), as identity.md §6–10 describe it: the HTML login page
//! filled in with a cookie jar, the code exchange, RP-initiated logout with
//! a back-channel logout token received on 127.0.0.1, and a CAS login.
//!
//! Runs only when the variables `identity/start.sh` exports are set:
//!
//! ```sh
//! cd sandboxes
//! export IDP_BACKCHANNEL_LOGOUT_URI=http://127.0.0.1:18095/auth/oidc/backchannel-logout
//! eval "$(identity/start.sh)"      # IDP_ISSUER, IDP_CLIENT_ID, IDP_CLIENT_SECRET
//! cargo test -p zt-identity --test interop -- --nocapture
//! identity/stop.sh
//! ```
//!
//! `IDP_BACKCHANNEL_LOGOUT_URI` (the sandbox's own setting, default
//! `http://127.0.0.1:8080/auth/oidc/backchannel-logout`) is where this test
//! listens for the logout token: start the sandbox with a free port there.
//! `IDP_CLIENT_AUTH_METHOD`, `IDP_REDIRECT_URIS` and
//! `IDP_POST_LOGOUT_REDIRECT_URIS` are honoured like the sandbox does.
//! Without `IDP_ISSUER` the test prints one `!!!!! … SKIPPED` line.

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::header::LOCATION;
use url::Url;
use zt_identity::cas::CasClient;
use zt_identity::oidc::{ClientAuth, Login, LoginOptions, OidcClient, OidcConfig};
use zt_identity::{CasErrorCode, Claims, IdentityError, RealNameLevel, UserType};

const PASSWORD: &str = "Test@123456";

struct Env {
    issuer: String,
    client_id: String,
    client_secret: String,
    auth: ClientAuth,
    redirect_uri: String,
    post_logout_uri: String,
    backchannel_uri: String,
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
    let issuer = std::env::var("IDP_ISSUER").ok().filter(|s| !s.is_empty())?;
    let client_id = std::env::var("IDP_CLIENT_ID").ok()?;
    let client_secret = std::env::var("IDP_CLIENT_SECRET").ok()?;
    let auth = match std::env::var("IDP_CLIENT_AUTH_METHOD").as_deref() {
        Ok("client_secret_post") => ClientAuth::ClientSecretPost,
        _ => ClientAuth::ClientSecretBasic,
    };
    Some(Env {
        issuer,
        client_id,
        client_secret,
        auth,
        redirect_uri: first_of("IDP_REDIRECT_URIS")
            .unwrap_or_else(|| "http://127.0.0.1:8080/auth/oidc/callback".into()),
        post_logout_uri: first_of("IDP_POST_LOGOUT_REDIRECT_URIS")
            .unwrap_or_else(|| "http://127.0.0.1:8080/".into()),
        backchannel_uri: std::env::var("IDP_BACKCHANNEL_LOGOUT_URI")
            .unwrap_or_else(|_| "http://127.0.0.1:8080/auth/oidc/backchannel-logout".into()),
    })
}

/// The sandbox stamps its tokens with the wall clock, so this test's clock
/// is the wall clock too (the crate itself never reads it).
#[allow(clippy::disallowed_methods)]
fn wall_clock() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A browser: its own cookie jar, redirects followed on the provider's
/// origin only (the RP at 127.0.0.1:8080 does not run; its URLs are read
/// from `Location`).
fn browser(issuer: &str) -> reqwest::Client {
    let origin = Url::parse(issuer).expect("issuer URL").origin();
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.url().origin() != origin {
                attempt.stop()
            } else if attempt.previous().len() > 10 {
                attempt.error("too many redirects")
            } else {
                attempt.follow()
            }
        }))
        .timeout(Duration::from_secs(10))
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

/// identity.md §7 steps 1–4: authorization request, login page, form,
/// resume; returns the query of the redirect to the RP's callback.
async fn log_in_at_the_provider(
    browser: &reqwest::Client,
    authorize_url: &str,
    username: &str,
) -> String {
    let page = browser.get(authorize_url).send().await.expect("GET /auth");
    assert_eq!(page.status(), 200, "login page");
    let page_url = page.url().clone();
    assert!(page_url.path().starts_with("/interaction/"), "{page_url}");
    let html = page.text().await.expect("login page");
    let action = attr_after(&html, "id=\"login-form\"", "action").expect("login form action");
    assert!(
        html.contains("<span id=\"client-name\">"),
        "names the application"
    );

    // A wrong password first: 200, the same form with the error, state kept.
    let wrong = browser
        .post(page_url.join(&action).expect("action URL"))
        .form(&[("username", username), ("password", "wrong")])
        .send()
        .await
        .expect("POST login (wrong)");
    assert_eq!(wrong.status(), 200);
    assert!(wrong
        .text()
        .await
        .expect("page")
        .contains("data-error-code=\"INVALID_CREDENTIALS\""));

    let done = browser
        .post(page_url.join(&action).expect("action URL"))
        .form(&[("username", username), ("password", PASSWORD)])
        .send()
        .await
        .expect("POST login");
    assert_eq!(done.status(), 303, "redirect to the RP's callback");
    let callback = location(&done);
    callback
        .split_once('?')
        .map(|(_, q)| q.to_owned())
        .expect("callback query")
}

async fn oidc_login(
    client: &OidcClient,
    e: &Env,
    browser: &reqwest::Client,
    username: &str,
) -> Login {
    let (url, state) = client.begin_login(&e.redirect_uri).expect("begin_login");
    let query = log_in_at_the_provider(browser, &url, username).await;
    let login = client
        .finish_login_from_callback(&query, &state)
        .await
        .unwrap_or_else(|err| panic!("login of {username}: {err}"));
    eprintln!(
        "interop: {username} logged in: {:?} sid={:?} scope={:?}",
        login.claims, login.claims.sid, login.tokens.scope
    );
    login
}

struct Expected {
    sub: &'static str,
    name: &'static str,
    user_type: UserType,
    level: RealNameLevel,
    id_number: &'static str,
    phone: &'static str,
    birthdate: &'static str,
    dept: Option<(&'static str, &'static str)>,
    org: Option<(&'static str, &'static str)>,
}

fn check(c: &Claims, username: &str, x: &Expected) {
    assert_eq!(c.sub, x.sub);
    assert_eq!(c.name.as_deref(), Some(x.name));
    assert_eq!(c.preferred_username.as_deref(), Some(username));
    assert_eq!(c.user_type, Some(x.user_type));
    assert_eq!(c.real_name_level, Some(x.level));
    assert_eq!(c.id_number.as_deref(), Some(x.id_number));
    assert_eq!(c.phone_number.as_deref(), Some(x.phone));
    assert_eq!(c.phone_number_verified, Some(true));
    assert_eq!(c.birthdate.as_deref(), Some(x.birthdate));
    assert_eq!(c.dept_code.as_deref(), x.dept.map(|d| d.0));
    assert_eq!(c.dept_name.as_deref(), x.dept.map(|d| d.1));
    assert_eq!(c.org_uscc.as_deref(), x.org.map(|o| o.0));
    assert_eq!(c.org_name.as_deref(), x.org.map(|o| o.1));
}

/// A one-route HTTP server on the back-channel logout URI that answers 200
/// and hands every request body to the test.
async fn backchannel_receiver(uri: &str) -> tokio::sync::mpsc::UnboundedReceiver<Vec<u8>> {
    let url = Url::parse(uri).expect("IDP_BACKCHANNEL_LOGOUT_URI");
    let host = url.host_str().expect("host").to_owned();
    let port = url.port_or_known_default().expect("port");
    let listener = tokio::net::TcpListener::bind((host.as_str(), port))
        .await
        .unwrap_or_else(|err| {
            panic!(
                "cannot listen on {host}:{port} for the back-channel logout ({err}); start the sandbox \
                 with IDP_BACKCHANNEL_LOGOUT_URI=http://127.0.0.1:<free port>/auth/oidc/backchannel-logout \
                 and export it for this test"
            )
        });
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let app = axum::Router::new().route(
        url.path(),
        axum::routing::post(move |body: axum::body::Bytes| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(body.to_vec());
                axum::http::StatusCode::OK
            }
        }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    rx
}

#[tokio::test]
async fn real_sandbox() {
    let Some(e) = env() else {
        // Straight to the stderr handle: libtest captures eprintln! of
        // passing tests, and this line must be seen.
        let _ = writeln!(
            std::io::stderr(),
            "!!!!! zt-identity interop SKIPPED: IDP_ISSUER/IDP_CLIENT_ID/IDP_CLIENT_SECRET not set; \
             run `eval \"$(identity/start.sh)\"` in sandboxes/ (with IDP_BACKCHANNEL_LOGOUT_URI set to a free \
             127.0.0.1 port) to test against the real identity sandbox !!!!!"
        );
        return;
    };
    let mut config = OidcConfig::new(&e.issuer, &e.client_id, Some(&e.client_secret));
    config.client_auth = e.auth;
    let clock = Arc::new(wall_clock);
    let client = OidcClient::new(config, clock)
        .await
        .expect("discovery and JWKS");
    let meta = client.metadata();
    assert!(meta.authorization_response_iss_parameter_supported);
    assert_eq!(meta.id_token_signing_alg_values_supported, ["RS256"]);
    assert!(meta.end_session_endpoint.is_some());

    // ---- logins of an enterprise agent, a staff member and a citizen -------
    let accounts = [
        (
            "fengmin",
            Expected {
                sub: "U30000001",
                name: "冯敏",
                user_type: UserType::EnterpriseAgent,
                level: RealNameLevel::L2,
                id_number: "33010819840330026X",
                phone: "13700000001",
                birthdate: "1984-03-30",
                dept: None,
                org: Some(("91330106MA2H0K3BXT", "杭州西湖数字科技股份有限公司")),
            },
        ),
        (
            "sunli",
            Expected {
                sub: "U20000001",
                name: "孙丽",
                user_type: UserType::Staff,
                level: RealNameLevel::L3,
                id_number: "330102198204170222",
                phone: "13900000001",
                birthdate: "1982-04-17",
                dept: Some(("SPJ-ZHSL", "市行政审批局综合受理科")),
                org: None,
            },
        ),
        (
            "zhangwei",
            Expected {
                sub: "U10000001",
                name: "张伟",
                user_type: UserType::Citizen,
                level: RealNameLevel::L3,
                id_number: "110105198506150110",
                phone: "13800000001",
                birthdate: "1985-06-15",
                dept: None,
                org: None,
            },
        ),
    ];
    let mut sessions = Vec::new();
    for (username, expected) in &accounts {
        let jar = browser(&e.issuer);
        let login = oidc_login(&client, &e, &jar, username).await;
        check(&login.claims, username, expected);
        assert!(
            login.claims.sid.is_some(),
            "zhengtong-web is registered for back-channel logout"
        );
        sessions.push((jar, login));
    }

    // Single sign-on: the same jar gets a code at once, for the same sid.
    let (jar, first) = &sessions[0];
    let (url, state) = client.begin_login(&e.redirect_uri).expect("begin_login");
    let sso = jar.get(&url).send().await.expect("GET /auth (SSO)");
    assert_eq!(sso.status(), 303);
    let query = location(&sso).split_once('?').expect("query").1.to_owned();
    let again = client
        .finish_login_from_callback(&query, &state)
        .await
        .expect("SSO login");
    assert_eq!(again.claims.sub, first.claims.sub);
    assert_eq!(again.claims.sid, first.claims.sid);

    // The same callback twice: the code is spent.
    let replay = client
        .finish_login_from_callback(&query, &state)
        .await
        .unwrap_err();
    assert!(
        matches!(&replay, IdentityError::Rejected { error, .. } if error == "invalid_grant"),
        "{replay:?}"
    );

    // A forged state never reaches the token endpoint.
    let (url, state) = client.begin_login(&e.redirect_uri).expect("begin_login");
    let resp = jar.get(&url).send().await.expect("GET /auth");
    let query = location(&resp).split_once('?').expect("query").1.to_owned();
    let cb = client.parse_callback(&query).expect("callback");
    assert_eq!(
        client
            .finish_login(cb.code.expose(), "forged", &state)
            .await
            .unwrap_err(),
        IdentityError::StateMismatch
    );

    // Cancelled login: access_denied comes back as Rejected.
    let fresh = browser(&e.issuer);
    let (url, _) = client
        .begin_login_with(&e.redirect_uri, &LoginOptions::default())
        .expect("begin_login");
    let page = fresh.get(&url).send().await.expect("login page");
    let page_url = page.url().clone();
    let html = page.text().await.expect("page");
    let abort = attr_after(&html, "id=\"login-abort\"", "href").expect("abort link");
    let cancelled = fresh
        .get(page_url.join(&abort).expect("abort URL"))
        .send()
        .await
        .expect("abort");
    let query = location(&cancelled)
        .split_once('?')
        .expect("query")
        .1
        .to_owned();
    assert!(matches!(
        client.parse_callback(&query),
        Err(IdentityError::Rejected { error, .. }) if error == "access_denied"
    ));

    // ---- RP-initiated logout and the back-channel logout token -------------
    let mut received = backchannel_receiver(&e.backchannel_uri).await;
    let (jar, login) = &sessions[2];
    let logout = client
        .logout_url(
            Some(login.tokens.id_token.expose()),
            Some(&e.post_logout_uri),
            Some("bye"),
        )
        .expect("logout URL");
    let page = jar.get(&logout).send().await.expect("GET /session/end");
    assert_eq!(page.status(), 200, "confirmation page");
    let html = page.text().await.expect("page");
    let action = attr_after(&html, "id=\"op.logoutForm\"", "action").expect("logout form");
    let xsrf = attr_after(&html, "name=\"xsrf\"", "value").expect("xsrf");
    let confirmed = jar
        .post(&action)
        .form(&[("xsrf", xsrf.as_str()), ("logout", "yes")])
        .send()
        .await
        .expect("POST /session/end/confirm");
    assert_eq!(confirmed.status(), 303);
    assert_eq!(
        location(&confirmed),
        format!("{}?state=bye", e.post_logout_uri)
    );

    // The sandbox delivers the back-channel logout before it answers 303.
    let body = tokio::time::timeout(Duration::from_secs(5), received.recv())
        .await
        .expect("a back-channel logout request within 5 s")
        .expect("receiver open");
    let token = zt_identity::oidc::logout_token_from_form(&body).expect("logout_token in the form");
    let event = client
        .validate_logout_token(&token)
        .await
        .expect("valid logout token");
    eprintln!("interop: back-channel logout: {event:?}");
    assert_eq!(event.sub.as_deref(), Some(login.claims.sub.as_str()));
    assert_eq!(event.sid, login.claims.sid);
    assert!(!event.jti.is_empty());
    let exp = event.exp.expect("exp");
    assert_eq!(exp - event.iat, 120);
    // The platform's own ID token is not a logout token, and vice versa.
    assert!(client
        .validate_logout_token(login.tokens.id_token.expose())
        .await
        .is_err());
    assert!(client.validate_id_token(&token, None).await.is_err());

    // After logout the jar has no IdP session: the login form again.
    let (url, _) = client.begin_login(&e.redirect_uri).expect("begin_login");
    let page = jar.get(&url).send().await.expect("GET /auth");
    assert_eq!(page.status(), 200);
    assert!(page
        .text()
        .await
        .expect("page")
        .contains("id=\"login-form\""));

    // ---- CAS 3.0 -----------------------------------------------------------
    let cas = CasClient::new(&format!("{}/cas", e.issuer)).expect("CAS client");
    let service = "http://127.0.0.1:8080/auth/cas/callback";
    let jar = browser(&e.issuer);
    let page = jar
        .get(cas.login_url(service))
        .send()
        .await
        .expect("GET /cas/login");
    assert_eq!(page.status(), 200);
    let page_url = page.url().clone();
    let html = page.text().await.expect("page");
    let action = attr_after(&html, "id=\"login-form\"", "action").expect("CAS form");
    let resp = jar
        .post(page_url.join(&action).expect("action URL"))
        .form(&[("username", "zhouqiang"), ("password", PASSWORD)])
        .send()
        .await
        .expect("POST /cas/login");
    assert_eq!(resp.status(), 302);
    let to = Url::parse(&location(&resp)).expect("service URL");
    let ticket = to
        .query_pairs()
        .find(|(k, _)| k == "ticket")
        .map(|(_, v)| v.into_owned())
        .expect("ticket");
    assert!(ticket.starts_with("ST-"));
    let user = cas
        .validate(service, &ticket)
        .await
        .expect("serviceValidate");
    eprintln!("interop: CAS user {user:?}");
    assert_eq!(user.user, "zhouqiang");
    assert_eq!(user.is_from_new_login(), Some(true));
    assert!(user.authentication_date().is_some());
    let c = user.claims().expect("claims from CAS attributes");
    assert_eq!(c.sub, "U20000002");
    assert_eq!(c.name.as_deref(), Some("周强"));
    assert_eq!(c.user_type, Some(UserType::Staff));
    assert_eq!(c.id_number.as_deref(), Some("33010319760608015X"));
    assert_eq!(c.dept_code.as_deref(), Some("SPJ-SCZR"));
    assert_eq!(c.phone_number_verified, Some(true));

    // A ticket is good for one validation.
    let again = cas.validate(service, &ticket).await.unwrap_err();
    eprintln!("interop: CAS second validation: {again}");
    assert!(matches!(
        again,
        IdentityError::CasFailure {
            code: CasErrorCode::InvalidTicket,
            ..
        }
    ));
    assert!(
        !again.to_string().contains(&ticket[3..]),
        "ticket blanked out"
    );

    // Single sign-on ticket, validated for another service: INVALID_SERVICE.
    let sso = jar
        .get(cas.login_url(service))
        .send()
        .await
        .expect("GET /cas/login (SSO)");
    assert_eq!(sso.status(), 302);
    let to = Url::parse(&location(&sso)).expect("service URL");
    let ticket = to
        .query_pairs()
        .find(|(k, _)| k == "ticket")
        .map(|(_, v)| v.into_owned())
        .expect("ticket");
    let wrong = cas
        .validate("http://localhost:8080/auth/cas/callback", &ticket)
        .await
        .unwrap_err();
    eprintln!("interop: CAS wrong service: {wrong}");
    assert!(matches!(
        wrong,
        IdentityError::CasFailure {
            code: CasErrorCode::InvalidService,
            ..
        }
    ));
    // renew=true with an SSO ticket: INVALID_TICKET_SPEC.
    let sso = jar
        .get(cas.login_url(service))
        .send()
        .await
        .expect("GET /cas/login (SSO)");
    let to = Url::parse(&location(&sso)).expect("service URL");
    let ticket = to
        .query_pairs()
        .find(|(k, _)| k == "ticket")
        .map(|(_, v)| v.into_owned())
        .expect("ticket");
    let spec = cas.validate_with(service, &ticket, true).await.unwrap_err();
    assert!(matches!(
        spec,
        IdentityError::CasFailure {
            code: CasErrorCode::InvalidTicketSpec,
            ..
        }
    ));
    eprintln!("interop: all checks passed against {}", e.issuer);
}
