//! An in-process fake of the unified identity platform's OpenID provider,
//! for the platform's fast tests (feature `double`).
//!
//! [`FakeProvider::start`] serves, on `127.0.0.1` and a free port:
//! discovery, `/jwks`, `/authorize` (logs the configured [`TestUser`] in at
//! once and redirects to the `redirect_uri` with a code), `/token` (client
//! authentication, PKCE S256, single-use codes), `/userinfo` and
//! `/session/end`. It signs with its own RSA keys (generated once per test
//! process), and can hand out tokens with chosen [`Defect`]s, mint logout
//! tokens ([`FakeProvider::mint_logout_token`]) and POST them to a
//! back-channel logout URI ([`FakeProvider::send_backchannel_logout`]).
//! [`FakeProvider::set_unavailable`] plays an outage of its back end (503).
//!
//! The same server is also a CAS 3.0 server under `/cas/` (identity.md §10)
//! with the same user: `/cas/login` issues a service ticket at once and
//! redirects to the service, `/cas/p3/serviceValidate` validates it (60 s,
//! single use, exact service), `/cas/logout` records the request, and
//! [`FakeProvider::send_cas_logout`] POSTs a single-logout request to a
//! service.
//!
//! ```no_run
//! # async fn demo() {
//! use std::sync::Arc;
//! use zt_identity::double::{FakeConfig, FakeProvider};
//! use zt_identity::{ManualClock, oidc::OidcClient};
//!
//! let clock = Arc::new(ManualClock::new(1_800_000_000));
//! let idp = FakeProvider::start(FakeConfig::new(clock.clone())).await;
//! let client = OidcClient::new(idp.oidc_config(), clock).await.unwrap();
//! let (url, state) = client.begin_login(idp.redirect_uri()).unwrap();
//! let callback = idp.authorize(&url).await; // what the browser would bring back
//! let login = client.finish_login_from_callback(&callback, &state).await.unwrap();
//! assert_eq!(login.claims.sub, "U10000001");
//! # }
//! ```

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use axum::extract::{Form, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Json, Router};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rand::RngCore;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::oidc::{OidcConfig, BACKCHANNEL_LOGOUT_EVENT};
use crate::Clock;

/// The redirect URI the fake accepts by default (the platform's, as the
/// sandbox registers it).
pub const DEFAULT_REDIRECT_URI: &str = "http://127.0.0.1:8080/auth/oidc/callback";

/// A user the fake logs in. Fields follow [`crate::Claims`]; `None` means
/// the account has no such claim.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct TestUser {
    pub sub: String,
    pub name: Option<String>,
    pub family_name: Option<String>,
    pub given_name: Option<String>,
    pub preferred_username: Option<String>,
    pub gender: Option<String>,
    pub birthdate: Option<String>,
    pub phone_number: Option<String>,
    pub id_number: Option<String>,
    pub real_name_level: Option<String>,
    pub user_type: Option<String>,
    pub dept_code: Option<String>,
    pub dept_name: Option<String>,
    pub org_uscc: Option<String>,
    pub org_name: Option<String>,
}

fn s(v: &str) -> Option<String> {
    Some(v.to_owned())
}

impl TestUser {
    /// 张伟 `zhangwei` (U10000001), citizen, L3 (the sandbox's account).
    pub fn citizen() -> Self {
        Self {
            sub: "U10000001".into(),
            name: s("张伟"),
            family_name: s("张"),
            given_name: s("伟"),
            preferred_username: s("zhangwei"),
            gender: s("male"),
            birthdate: s("1985-06-15"),
            phone_number: s("13800000001"),
            id_number: s("110105198506150110"),
            real_name_level: s("L3"),
            user_type: s("citizen"),
            dept_code: None,
            dept_name: None,
            org_uscc: None,
            org_name: None,
        }
    }

    /// 孙丽 `sunli` (U20000001), staff of SPJ-ZHSL, L3.
    pub fn staff() -> Self {
        Self {
            sub: "U20000001".into(),
            name: s("孙丽"),
            family_name: s("孙"),
            given_name: s("丽"),
            preferred_username: s("sunli"),
            gender: s("female"),
            birthdate: s("1982-04-17"),
            phone_number: s("13900000001"),
            id_number: s("330102198204170222"),
            real_name_level: s("L3"),
            user_type: s("staff"),
            dept_code: s("SPJ-ZHSL"),
            dept_name: s("市行政审批局综合受理科"),
            org_uscc: None,
            org_name: None,
        }
    }

    /// 冯敏 `fengmin` (U30000001), enterprise agent of 91330106MA2H0K3BXT, L2.
    pub fn enterprise_agent() -> Self {
        Self {
            sub: "U30000001".into(),
            name: s("冯敏"),
            family_name: s("冯"),
            given_name: s("敏"),
            preferred_username: s("fengmin"),
            gender: s("female"),
            birthdate: s("1984-03-30"),
            phone_number: s("13700000001"),
            id_number: s("33010819840330026X"),
            real_name_level: s("L2"),
            user_type: s("enterprise_agent"),
            dept_code: None,
            dept_name: None,
            org_uscc: s("91330106MA2H0K3BXT"),
            org_name: s("杭州西湖数字科技股份有限公司"),
        }
    }

    /// The claims released for `scopes`, as the platform releases them.
    fn claims(&self, scopes: &[&str]) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("sub".into(), Value::String(self.sub.clone()));
        let mut put = |k: &str, v: &Option<String>| {
            if let Some(v) = v {
                m.insert(k.into(), Value::String(v.clone()));
            }
        };
        if scopes.contains(&"profile") {
            put("name", &self.name);
            put("family_name", &self.family_name);
            put("given_name", &self.given_name);
            put("preferred_username", &self.preferred_username);
            put("gender", &self.gender);
            put("birthdate", &self.birthdate);
        }
        if scopes.contains(&"phone") {
            put("phone_number", &self.phone_number);
        }
        if scopes.contains(&"gov") {
            put("id_number", &self.id_number);
            put("real_name_level", &self.real_name_level);
            put("user_type", &self.user_type);
            put("dept_code", &self.dept_code);
            put("dept_name", &self.dept_name);
            put("org_uscc", &self.org_uscc);
            put("org_name", &self.org_name);
        }
        if scopes.contains(&"phone") && self.phone_number.is_some() {
            m.insert("phone_number_verified".into(), Value::Bool(true));
        }
        m
    }
}

/// A flaw the fake builds into the ID tokens (and userinfo) it issues from
/// now on, until [`FakeProvider::set_defect`]`(None)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Defect {
    /// `exp` an hour ago.
    Expired,
    /// `iat` an hour ahead.
    IssuedInFuture,
    /// `aud` another client.
    WrongAudience,
    /// `iss` another issuer.
    WrongIssuer,
    /// Signed with an unpublished key under the published `kid`.
    BadSignature,
    /// Signed with an unpublished key under an unpublished `kid`.
    UnknownKid,
    /// `nonce` not the one of the request.
    WrongNonce,
    /// No `nonce`.
    MissingNonce,
    /// `azp` another client.
    WrongAzp,
    /// `alg: none`, no signature.
    Unsigned,
    /// Userinfo about another subject than the ID token.
    UserinfoOtherSubject,
}

/// A flaw of a minted logout token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogoutDefect {
    /// Carries a `nonce`.
    WithNonce,
    /// `events` without the back-channel logout member.
    WrongEvents,
    /// No `events`.
    MissingEvents,
    /// Signed with an unpublished key under an unpublished `kid`.
    UnknownKey,
    /// Signed with an unpublished key under the published `kid`.
    BadSignature,
    /// `iat` 10 minutes ago, `exp` 8 minutes ago.
    Expired,
    /// `typ: JWT` instead of `logout+jwt`.
    WrongTyp,
    /// `aud` another client.
    WrongAudience,
    /// `iss` another issuer.
    WrongIssuer,
    /// Neither `sub` nor `sid`.
    NoSubject,
    /// No `jti`.
    MissingJti,
}

/// What a minted logout token says.
#[derive(Debug, Clone, Default)]
pub struct LogoutTokenSpec {
    /// `sub`.
    pub sub: Option<String>,
    /// `sid`.
    pub sid: Option<String>,
    /// `jti`; random when `None`.
    pub jti: Option<String>,
    /// A flaw, or none.
    pub defect: Option<LogoutDefect>,
}

impl LogoutTokenSpec {
    /// A correct logout token for a session.
    pub fn session(sub: &str, sid: &str) -> Self {
        Self {
            sub: Some(sub.to_owned()),
            sid: Some(sid.to_owned()),
            ..Self::default()
        }
    }

    /// The same with a flaw.
    pub fn with_defect(mut self, defect: LogoutDefect) -> Self {
        self.defect = Some(defect);
        self
    }
}

/// How to start the fake.
#[derive(Clone)]
pub struct FakeConfig {
    /// The one registered client.
    pub client_id: String,
    /// Its secret (`client_secret_basic` or `client_secret_post`).
    pub client_secret: String,
    /// Registered redirect URIs (compared exactly).
    pub redirect_uris: Vec<String>,
    /// Who `/authorize` logs in.
    pub user: TestUser,
    /// The fake's time (shared with the client under test).
    pub clock: Arc<dyn Clock>,
    /// ID token lifetime.
    pub id_token_ttl_secs: i64,
}

impl FakeConfig {
    /// `zhengtong-web` / `zhengtong-web-secret`, the platform's redirect
    /// URI, the citizen 张伟.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            client_id: "zhengtong-web".into(),
            client_secret: "zhengtong-web-secret".into(),
            redirect_uris: vec![DEFAULT_REDIRECT_URI.into()],
            user: TestUser::citizen(),
            clock,
            id_token_ttl_secs: 3600,
        }
    }
}

struct KeyMaterial {
    encoding: EncodingKey,
    n: String,
    e: String,
}

/// Three RSA-2048 keys per test process: current, next (rotation), rogue
/// (never published).
fn key_pool() -> &'static [KeyMaterial; 3] {
    static POOL: OnceLock<[KeyMaterial; 3]> = OnceLock::new();
    POOL.get_or_init(|| [generate(), generate(), generate()])
}

fn generate() -> KeyMaterial {
    use rsa::pkcs1::EncodeRsaPrivateKey;
    use rsa::traits::PublicKeyParts;
    let key = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).expect("RSA key generation");
    let der = key.to_pkcs1_der().expect("PKCS#1 encoding");
    KeyMaterial {
        encoding: EncodingKey::from_rsa_der(der.as_bytes()),
        n: URL_SAFE_NO_PAD.encode(key.n().to_bytes_be()),
        e: URL_SAFE_NO_PAD.encode(key.e().to_bytes_be()),
    }
}

const KIDS: [&str; 3] = ["fake-key-1", "fake-key-2", "fake-key-unpublished"];

struct Grant {
    redirect_uri: String,
    nonce: Option<String>,
    challenge: Option<String>,
    scopes: Vec<String>,
    issued_at: i64,
    sid: String,
}

struct FakeState {
    user: TestUser,
    /// Index into the key pool of the signing key; the JWKS publishes keys
    /// `0..=current`.
    current: usize,
    defect: Option<Defect>,
    /// Server-to-server endpoints answer 503 ([`FakeProvider::set_unavailable`]).
    unavailable: bool,
    codes: HashMap<String, Grant>,
    access: HashMap<String, (String, Vec<String>)>,
    jwks_requests: usize,
    token_requests: usize,
    last_sid: Option<String>,
    last_id_token: Option<String>,
    end_session_requests: Vec<HashMap<String, String>>,
    /// CAS service tickets not yet validated.
    cas_tickets: HashMap<String, CasTicket>,
    last_cas_ticket: Option<String>,
    cas_validations: usize,
    cas_logout_requests: Vec<HashMap<String, String>>,
}

struct CasTicket {
    service: String,
    issued_at: i64,
}

/// How long a CAS service ticket is valid (identity.md §12).
const CAS_TICKET_TTL_SECS: i64 = 60;

struct Shared {
    issuer: String,
    config: FakeConfig,
    state: Mutex<FakeState>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, FakeState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn now(&self) -> i64 {
        self.config.clock.unix_now()
    }
}

/// The running fake provider; stops when dropped.
pub struct FakeProvider {
    shared: Arc<Shared>,
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl std::fmt::Debug for FakeProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeProvider")
            .field("issuer", &self.shared.issuer)
            .finish()
    }
}

impl Drop for FakeProvider {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl FakeProvider {
    /// Starts the fake on `127.0.0.1` and a free port (needs a Tokio runtime).
    pub async fn start(config: FakeConfig) -> Self {
        let keys = tokio::task::spawn_blocking(key_pool);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        keys.await.expect("key generation");
        let issuer = format!("http://{addr}");
        let shared = Arc::new(Shared {
            issuer,
            state: Mutex::new(FakeState {
                user: config.user.clone(),
                current: 0,
                defect: None,
                unavailable: false,
                codes: HashMap::new(),
                access: HashMap::new(),
                jwks_requests: 0,
                token_requests: 0,
                last_sid: None,
                last_id_token: None,
                end_session_requests: Vec::new(),
                cas_tickets: HashMap::new(),
                last_cas_ticket: None,
                cas_validations: 0,
                cas_logout_requests: Vec::new(),
            }),
            config,
        });
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .route("/authorize", get(authorize))
            .route("/token", axum::routing::post(token))
            .route("/userinfo", get(userinfo))
            .route("/session/end", get(end_session))
            .route("/cas/login", get(cas_login))
            .route("/cas/p3/serviceValidate", get(cas_service_validate))
            .route("/cas/serviceValidate", get(cas_service_validate))
            .route("/cas/logout", get(cas_logout))
            .with_state(Arc::clone(&shared));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        Self {
            shared,
            addr,
            stop: Some(stop),
        }
    }

    /// `http://127.0.0.1:{port}`.
    pub fn issuer(&self) -> &str {
        &self.shared.issuer
    }

    /// The socket the fake listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The first registered redirect URI.
    pub fn redirect_uri(&self) -> &str {
        self.shared
            .config
            .redirect_uris
            .first()
            .map_or(DEFAULT_REDIRECT_URI, String::as_str)
    }

    /// A client configuration for this fake (discovery, basic auth).
    pub fn oidc_config(&self) -> OidcConfig {
        let c = &self.shared.config;
        OidcConfig::new(self.issuer(), &c.client_id, Some(&c.client_secret))
    }

    /// Who the next `/authorize` logs in.
    pub fn set_user(&self, user: TestUser) {
        self.shared.lock().user = user;
    }

    /// Flaw for the tokens issued from now on (`None`: correct tokens).
    pub fn set_defect(&self, defect: Option<Defect>) {
        self.shared.lock().defect = defect;
    }

    /// An outage of the platform's back end: from now on (until
    /// `set_unavailable(false)`) discovery, `/jwks`, `/token`, `/userinfo`
    /// and the CAS ticket validation answer **503** (the requests are still
    /// counted). The browser-facing `/authorize` and `/cas/login` keep
    /// working, so that a test can bring a callback to the platform.
    pub fn set_unavailable(&self, down: bool) {
        self.shared.lock().unavailable = down;
    }

    /// Signs with the next key of the pool from now on and publishes it next
    /// to the old one; returns the new `kid`. Only one rotation is possible.
    pub fn rotate_key(&self) -> &'static str {
        let mut st = self.shared.lock();
        st.current = 1;
        KIDS[1]
    }

    /// How often `/jwks` was fetched.
    pub fn jwks_requests(&self) -> usize {
        self.shared.lock().jwks_requests
    }

    /// How often `/token` was called.
    pub fn token_requests(&self) -> usize {
        self.shared.lock().token_requests
    }

    /// The `sid` of the last ID token issued.
    pub fn last_sid(&self) -> Option<String> {
        self.shared.lock().last_sid.clone()
    }

    /// The last ID token issued.
    pub fn last_id_token(&self) -> Option<String> {
        self.shared.lock().last_id_token.clone()
    }

    /// The query parameters of every `/session/end` request so far.
    pub fn end_session_requests(&self) -> Vec<HashMap<String, String>> {
        self.shared.lock().end_session_requests.clone()
    }

    /// Plays the browser: GETs the authorization URL and returns the query
    /// string of the redirect to the RP's callback (`code=…&state=…&iss=…`,
    /// or `error=…`). Panics if the fake does not redirect.
    pub async fn authorize(&self, authorize_url: &str) -> String {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("HTTP client");
        let resp = http
            .get(authorize_url)
            .send()
            .await
            .expect("GET /authorize");
        let location = resp
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("/authorize answered {} without a redirect", resp.status()))
            .to_owned();
        location
            .split_once('?')
            .map(|(_, q)| q.to_owned())
            .unwrap_or_default()
    }

    /// The CAS base URL of the fake (`{issuer}/cas`), what the platform's
    /// `cas_url` is set to.
    pub fn cas_url(&self) -> String {
        format!("{}/cas", self.shared.issuer)
    }

    /// Plays the browser at the CAS login: GETs the login URL
    /// (`…/cas/login?service=…`), which logs the current user in at once,
    /// and returns the query of the redirect to the service
    /// (`ticket=ST-…`). Panics if the fake does not redirect.
    pub async fn cas_login(&self, login_url: &str) -> String {
        self.authorize(login_url).await
    }

    /// Issues a service ticket for the current user and `service`, as a
    /// login at `/cas/login` would.
    pub fn issue_cas_ticket(&self, service: &str) -> String {
        let ticket = format!("ST-{}", random(24));
        let mut st = self.shared.lock();
        st.cas_tickets.insert(
            ticket.clone(),
            CasTicket {
                service: service.to_owned(),
                issued_at: self.shared.now(),
            },
        );
        st.last_cas_ticket = Some(ticket.clone());
        ticket
    }

    /// The last service ticket issued.
    pub fn last_cas_ticket(&self) -> Option<String> {
        self.shared.lock().last_cas_ticket.clone()
    }

    /// How often `/cas/p3/serviceValidate` (or `/cas/serviceValidate`) was
    /// called.
    pub fn cas_validations(&self) -> usize {
        self.shared.lock().cas_validations
    }

    /// The query parameters of every `/cas/logout` request so far.
    pub fn cas_logout_requests(&self) -> Vec<HashMap<String, String>> {
        self.shared.lock().cas_logout_requests.clone()
    }

    /// The SAML `LogoutRequest` a CAS server sends for the session created
    /// from `ticket` (CAS protocol 3.0 §2.3.3).
    pub fn cas_logout_request(&self, ticket: &str) -> String {
        format!(
            "<samlp:LogoutRequest xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" \
             xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" ID=\"LR-{}\" Version=\"2.0\" \
             IssueInstant=\"{}\"><saml:NameID>@NOT_USED@</saml:NameID>\
             <samlp:SessionIndex>{}</samlp:SessionIndex></samlp:LogoutRequest>",
            random(12),
            iso_utc(self.shared.now()),
            xml_escape(ticket)
        )
    }

    /// POSTs a CAS single-logout request for `ticket` to `service`
    /// (`logoutRequest=…`, form-encoded), as a CAS server does; returns the
    /// HTTP status (0 when the service could not be reached).
    pub async fn send_cas_logout(&self, service: &str, ticket: &str) -> u16 {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("HTTP client");
        http.post(service)
            .form(&[("logoutRequest", self.cas_logout_request(ticket))])
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0)
    }

    /// An ID token for the current user as `/token` would issue it (with
    /// the current defect if `defect` is `None`).
    pub fn mint_id_token(&self, nonce: Option<&str>, defect: Option<Defect>) -> String {
        let mut st = self.shared.lock();
        let defect = defect.or(st.defect);
        let sid = random(16);
        let scopes = ["openid", "profile", "phone", "gov"];
        let token = id_token(&self.shared, &st, &scopes, nonce, &sid, defect);
        st.last_sid = Some(sid);
        token
    }

    /// A logout token as the platform's back-channel logout sends it.
    pub fn mint_logout_token(&self, spec: &LogoutTokenSpec) -> String {
        let st = self.shared.lock();
        let now = self.shared.now();
        let d = spec.defect;
        let (iat, exp) = if d == Some(LogoutDefect::Expired) {
            (now - 600, now - 480)
        } else {
            (now, now + 120)
        };
        let mut c = Map::new();
        let iss = if d == Some(LogoutDefect::WrongIssuer) {
            "http://127.0.0.1:1".to_owned()
        } else {
            self.shared.issuer.clone()
        };
        c.insert("iss".into(), json!(iss));
        let aud = if d == Some(LogoutDefect::WrongAudience) {
            "another-client".to_owned()
        } else {
            self.shared.config.client_id.clone()
        };
        c.insert("aud".into(), json!(aud));
        c.insert("iat".into(), json!(iat));
        c.insert("exp".into(), json!(exp));
        if d != Some(LogoutDefect::MissingJti) {
            c.insert(
                "jti".into(),
                json!(spec.jti.clone().unwrap_or_else(|| random(24))),
            );
        }
        if d != Some(LogoutDefect::NoSubject) {
            if let Some(sub) = &spec.sub {
                c.insert("sub".into(), json!(sub));
            }
            if let Some(sid) = &spec.sid {
                c.insert("sid".into(), json!(sid));
            }
        }
        match d {
            Some(LogoutDefect::MissingEvents) => {}
            Some(LogoutDefect::WrongEvents) => {
                c.insert(
                    "events".into(),
                    json!({"http://schemas.openid.net/event/backchannel-logout-NOT": {}}),
                );
            }
            _ => {
                c.insert("events".into(), json!({ BACKCHANNEL_LOGOUT_EVENT: {} }));
            }
        }
        if d == Some(LogoutDefect::WithNonce) {
            c.insert("nonce".into(), json!("n-0S6_WzA2Mj"));
        }
        let typ = if d == Some(LogoutDefect::WrongTyp) {
            "JWT"
        } else {
            "logout+jwt"
        };
        let signer = match d {
            Some(LogoutDefect::UnknownKey) => Signer::Unpublished,
            Some(LogoutDefect::BadSignature) => Signer::Rogue,
            _ => Signer::Current,
        };
        sign(&st, signer, typ, &Value::Object(c))
    }

    /// POSTs `logout_token=…` to a back-channel logout URI, as the platform
    /// does; returns the HTTP status.
    pub async fn send_backchannel_logout(&self, uri: &str, logout_token: &str) -> u16 {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("HTTP client");
        http.post(uri)
            .form(&[("logout_token", logout_token)])
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0)
    }
}

#[derive(Clone, Copy)]
enum Signer {
    Current,
    /// The current `kid`, but not the current key.
    Rogue,
    /// A key and `kid` the JWKS does not have.
    Unpublished,
}

fn sign(st: &FakeState, signer: Signer, typ: &str, claims: &Value) -> String {
    let pool = key_pool();
    let (kid, key) = match signer {
        Signer::Current => (KIDS[st.current], &pool[st.current]),
        Signer::Rogue => (KIDS[st.current], &pool[2]),
        Signer::Unpublished => (KIDS[2], &pool[2]),
    };
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.to_owned());
    header.typ = Some(typ.to_owned());
    jsonwebtoken::encode(&header, claims, &key.encoding).expect("RS256 signing")
}

fn id_token(
    shared: &Shared,
    st: &FakeState,
    scopes: &[&str],
    nonce: Option<&str>,
    sid: &str,
    defect: Option<Defect>,
) -> String {
    let now = shared.now();
    let cfg = &shared.config;
    let mut c = st.user.claims(scopes);
    let (iat, exp) = match defect {
        Some(Defect::Expired) => (now - 2 * cfg.id_token_ttl_secs, now - cfg.id_token_ttl_secs),
        Some(Defect::IssuedInFuture) => (now + 3600, now + 3600 + cfg.id_token_ttl_secs),
        _ => (now, now + cfg.id_token_ttl_secs),
    };
    let iss = if defect == Some(Defect::WrongIssuer) {
        "http://127.0.0.1:1".to_owned()
    } else {
        shared.issuer.clone()
    };
    let aud = if defect == Some(Defect::WrongAudience) {
        "another-client".to_owned()
    } else {
        cfg.client_id.clone()
    };
    c.insert("iss".into(), json!(iss));
    c.insert("aud".into(), json!(aud));
    c.insert("iat".into(), json!(iat));
    c.insert("exp".into(), json!(exp));
    c.insert("sid".into(), json!(sid));
    match (defect, nonce) {
        (Some(Defect::MissingNonce), _) | (_, None) => {}
        (Some(Defect::WrongNonce), Some(_)) => {
            c.insert("nonce".into(), json!("not-the-nonce"));
        }
        (_, Some(n)) => {
            c.insert("nonce".into(), json!(n));
        }
    }
    if defect == Some(Defect::WrongAzp) {
        c.insert("azp".into(), json!("another-client"));
    }
    match defect {
        Some(Defect::Unsigned) => {
            let h = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
            let p = URL_SAFE_NO_PAD.encode(Value::Object(c).to_string());
            format!("{h}.{p}.")
        }
        Some(Defect::BadSignature) => sign(st, Signer::Rogue, "JWT", &Value::Object(c)),
        Some(Defect::UnknownKid) => sign(st, Signer::Unpublished, "JWT", &Value::Object(c)),
        _ => sign(st, Signer::Current, "JWT", &Value::Object(c)),
    }
}

fn random(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut b);
    URL_SAFE_NO_PAD.encode(b)
}

type Shr = State<Arc<Shared>>;

/// The 503 of an outage ([`FakeProvider::set_unavailable`]).
fn outage(st: &FakeState) -> Option<Response> {
    st.unavailable.then(|| {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "identity platform back end unavailable",
        )
            .into_response()
    })
}

async fn discovery(State(sh): Shr) -> Response {
    if let Some(down) = outage(&sh.lock()) {
        return down;
    }
    let i = &sh.issuer;
    Json(json!({
        "issuer": i,
        "authorization_endpoint": format!("{i}/authorize"),
        "token_endpoint": format!("{i}/token"),
        "userinfo_endpoint": format!("{i}/userinfo"),
        "jwks_uri": format!("{i}/jwks"),
        "end_session_endpoint": format!("{i}/session/end"),
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": ["openid", "offline_access", "profile", "phone", "gov"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "backchannel_logout_supported": true,
        "backchannel_logout_session_supported": true,
        "authorization_response_iss_parameter_supported": true,
    }))
    .into_response()
}

async fn jwks(State(sh): Shr) -> Response {
    let mut st = sh.lock();
    st.jwks_requests += 1;
    if let Some(down) = outage(&st) {
        return down;
    }
    let pool = key_pool();
    let keys: Vec<Value> = (0..=st.current)
        .map(|i| {
            json!({"kty": "RSA", "use": "sig", "alg": "RS256", "kid": KIDS[i], "n": pool[i].n, "e": pool[i].e})
        })
        .collect();
    Json(json!({ "keys": keys })).into_response()
}

fn bad_request(msg: &str) -> Response {
    (StatusCode::BAD_REQUEST, msg.to_owned()).into_response()
}

fn redirect_with(redirect_uri: &str, params: &[(&str, &str)]) -> Response {
    let mut url = redirect_uri.to_owned();
    url.push(if url.contains('?') { '&' } else { '?' });
    let q: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    url.push_str(&q);
    Redirect::to(&url).into_response()
}

async fn authorize(State(sh): Shr, Query(q): Query<HashMap<String, String>>) -> Response {
    let cfg = &sh.config;
    if q.get("client_id") != Some(&cfg.client_id) {
        return bad_request("unknown client_id");
    }
    let Some(redirect_uri) = q
        .get("redirect_uri")
        .filter(|r| cfg.redirect_uris.contains(r))
    else {
        return bad_request("redirect_uri is not registered");
    };
    let state = q.get("state").map_or("", String::as_str);
    let iss = sh.issuer.as_str();
    if q.get("response_type").map(String::as_str) != Some("code") {
        return redirect_with(
            redirect_uri,
            &[
                ("error", "unsupported_response_type"),
                ("state", state),
                ("iss", iss),
            ],
        );
    }
    let scopes: Vec<String> = q
        .get("scope")
        .map(|s| s.split(' ').map(str::to_owned).collect())
        .unwrap_or_default();
    if !scopes.iter().any(|s| s == "openid") {
        return redirect_with(
            redirect_uri,
            &[("error", "invalid_scope"), ("state", state), ("iss", iss)],
        );
    }
    let challenge = match (q.get("code_challenge"), q.get("code_challenge_method")) {
        (Some(c), Some(m)) if m == "S256" => Some(c.clone()),
        (None, None) => None,
        _ => {
            return redirect_with(
                redirect_uri,
                &[
                    ("error", "invalid_request"),
                    ("error_description", "only S256"),
                    ("state", state),
                    ("iss", iss),
                ],
            )
        }
    };
    let code = random(32);
    let grant = Grant {
        redirect_uri: redirect_uri.clone(),
        nonce: q.get("nonce").cloned(),
        challenge,
        scopes,
        issued_at: sh.now(),
        sid: random(16),
    };
    sh.lock().codes.insert(code.clone(), grant);
    redirect_with(
        redirect_uri,
        &[("code", &code), ("state", state), ("iss", iss)],
    )
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        Json(json!({"error": error, "error_description": description})),
    )
        .into_response()
}

fn client_authenticated(sh: &Shared, headers: &HeaderMap, form: &HashMap<String, String>) -> bool {
    let cfg = &sh.config;
    if let Some(h) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let Some(b64) = h.strip_prefix("Basic ") else {
            return false;
        };
        let Ok(raw) = STANDARD.decode(b64) else {
            return false;
        };
        let raw = String::from_utf8_lossy(&raw).into_owned();
        let Some((id, secret)) = raw.split_once(':') else {
            return false;
        };
        let dec = |s: &str| {
            url::form_urlencoded::parse(format!("x={s}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        };
        return dec(id) == cfg.client_id && dec(secret) == cfg.client_secret;
    }
    form.get("client_id") == Some(&cfg.client_id)
        && form.get("client_secret") == Some(&cfg.client_secret)
}

async fn token(
    State(sh): Shr,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    {
        let mut st = sh.lock();
        st.token_requests += 1;
        if let Some(down) = outage(&st) {
            return down;
        }
    }
    if !client_authenticated(&sh, &headers, &form) {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "client authentication failed",
        );
    }
    if form.get("grant_type").map(String::as_str) != Some("authorization_code") {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "only authorization_code",
        );
    }
    let invalid_grant = || {
        oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "grant request is invalid",
        )
    };
    let now = sh.now();
    let mut st = sh.lock();
    let Some(grant) = form.get("code").and_then(|c| st.codes.remove(c)) else {
        return invalid_grant();
    };
    if now - grant.issued_at > 60 || form.get("redirect_uri") != Some(&grant.redirect_uri) {
        return invalid_grant();
    }
    if let Some(challenge) = &grant.challenge {
        let Some(verifier) = form.get("code_verifier") else {
            return invalid_grant();
        };
        if URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) != *challenge {
            return invalid_grant();
        }
    }
    let scopes: Vec<&str> = grant.scopes.iter().map(String::as_str).collect();
    let defect = st.defect;
    let id = id_token(
        &sh,
        &st,
        &scopes,
        grant.nonce.as_deref(),
        &grant.sid,
        defect,
    );
    let access = random(32);
    let userinfo_sub = if defect == Some(Defect::UserinfoOtherSubject) {
        "U99999999".to_owned()
    } else {
        st.user.sub.clone()
    };
    st.access
        .insert(access.clone(), (userinfo_sub, grant.scopes.clone()));
    st.last_sid = Some(grant.sid.clone());
    st.last_id_token = Some(id.clone());
    Json(json!({
        "access_token": access,
        "expires_in": 3600,
        "id_token": id,
        "refresh_token": random(32),
        "scope": grant.scopes.join(" "),
        "token_type": "Bearer",
    }))
    .into_response()
}

async fn userinfo(State(sh): Shr, headers: HeaderMap) -> Response {
    let st = sh.lock();
    if let Some(down) = outage(&st) {
        return down;
    }
    let found = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .and_then(|t| st.access.get(t));
    let Some((sub, scopes)) = found else {
        return (
            StatusCode::UNAUTHORIZED,
            [(
                header::WWW_AUTHENTICATE,
                r#"Bearer error="invalid_token", error_description="invalid token provided""#,
            )],
            Json(json!({"error": "invalid_token", "error_description": "invalid token provided"})),
        )
            .into_response();
    };
    let scopes: Vec<&str> = scopes.iter().map(String::as_str).collect();
    let mut claims = st.user.claims(&scopes);
    claims.insert("sub".into(), json!(sub));
    Json(Value::Object(claims)).into_response()
}

async fn end_session(State(sh): Shr, Query(q): Query<HashMap<String, String>>) -> Response {
    sh.lock().end_session_requests.push(q.clone());
    match q.get("post_logout_redirect_uri") {
        Some(uri) => match q.get("state") {
            Some(state) => redirect_with(uri, &[("state", state)]),
            None => Redirect::to(uri).into_response(),
        },
        None => (StatusCode::OK, "logged out").into_response(),
    }
}

// ---- CAS 3.0 ----------------------------------------------------------------

fn xml_escape(v: &str) -> String {
    v.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `YYYY-MM-DDTHH:MM:SSZ` of a unix time (the civil calendar, UTC).
fn iso_utc(t: i64) -> String {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

fn cas_xml(body: String) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/xml; charset=utf-8")],
        body,
    )
        .into_response()
}

fn cas_failure(code: &str, text: &str) -> Response {
    cas_xml(format!(
        "<cas:serviceResponse xmlns:cas=\"http://www.yale.edu/tp/cas\">\n    \
         <cas:authenticationFailure code=\"{code}\">{}</cas:authenticationFailure>\n\
         </cas:serviceResponse>\n",
        xml_escape(text)
    ))
}

fn found(location: &str) -> Response {
    (StatusCode::FOUND, [(header::LOCATION, location.to_owned())]).into_response()
}

async fn cas_login(State(sh): Shr, Query(q): Query<HashMap<String, String>>) -> Response {
    let Some(service) = q.get("service").filter(|s| s.starts_with("http")) else {
        return bad_request("CAS login without a service");
    };
    let ticket = format!("ST-{}", random(24));
    {
        let mut st = sh.lock();
        st.cas_tickets.insert(
            ticket.clone(),
            CasTicket {
                service: service.clone(),
                issued_at: sh.now(),
            },
        );
        st.last_cas_ticket = Some(ticket.clone());
    }
    let sep = if service.contains('?') { '&' } else { '?' };
    found(&format!("{service}{sep}ticket={ticket}"))
}

async fn cas_service_validate(
    State(sh): Shr,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let now = sh.now();
    let mut st = sh.lock();
    st.cas_validations += 1;
    if let Some(down) = outage(&st) {
        return down;
    }
    let (Some(service), Some(ticket)) = (q.get("service"), q.get("ticket")) else {
        return cas_failure(
            "INVALID_REQUEST",
            "'service' and 'ticket' parameters are both required",
        );
    };
    // One attempt per ticket, successful or not.
    let Some(issued) = st.cas_tickets.remove(ticket) else {
        return cas_failure(
            "INVALID_TICKET",
            &format!("Ticket '{ticket}' not recognized"),
        );
    };
    if now - issued.issued_at > CAS_TICKET_TTL_SECS {
        return cas_failure(
            "INVALID_TICKET",
            &format!("Ticket '{ticket}' not recognized"),
        );
    }
    if issued.service != *service {
        return cas_failure(
            "INVALID_SERVICE",
            &format!(
                "Ticket '{ticket}' does not match supplied service. The original service was '{}' \
                 and the supplied service was '{service}'.",
                issued.service
            ),
        );
    }
    let claims = st.user.claims(&["openid", "profile", "phone", "gov"]);
    let mut attrs = format!(
        "            <cas:authenticationDate>{}</cas:authenticationDate>\n            \
         <cas:longTermAuthenticationRequestTokenUsed>false</cas:longTermAuthenticationRequestTokenUsed>\n            \
         <cas:isFromNewLogin>true</cas:isFromNewLogin>\n",
        iso_utc(issued.issued_at)
    );
    for (k, v) in &claims {
        let v = match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        attrs.push_str(&format!(
            "            <cas:{k}>{}</cas:{k}>\n",
            xml_escape(&v)
        ));
    }
    let user = st
        .user
        .preferred_username
        .clone()
        .unwrap_or_else(|| st.user.sub.clone());
    cas_xml(format!(
        "<cas:serviceResponse xmlns:cas=\"http://www.yale.edu/tp/cas\">\n    \
         <cas:authenticationSuccess>\n        <cas:user>{}</cas:user>\n        \
         <cas:attributes>\n{attrs}        </cas:attributes>\n    \
         </cas:authenticationSuccess>\n</cas:serviceResponse>\n",
        xml_escape(&user)
    ))
}

async fn cas_logout(State(sh): Shr, Query(q): Query<HashMap<String, String>>) -> Response {
    sh.lock().cas_logout_requests.push(q.clone());
    match q.get("service") {
        Some(service) => found(service),
        None => (StatusCode::OK, "logged out of CAS").into_response(),
    }
}

#[cfg(test)]
mod cas_tests {
    use super::*;

    #[test]
    fn iso_dates() {
        assert_eq!(iso_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso_utc(1_795_528_857), "2026-11-24T14:00:57Z");
        assert_eq!(iso_utc(951_782_400), "2000-02-29T00:00:00Z");
    }
}
