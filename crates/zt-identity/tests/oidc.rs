//! The OIDC relying party against the in-process fake provider: a full login
//! and every way a login or a logout token must fail.

use std::sync::Arc;

use zt_identity::double::{
    Defect, FakeConfig, FakeProvider, LogoutDefect, LogoutTokenSpec, TestUser,
};
use zt_identity::oidc::{ClientAuth, LoginOptions, OidcClient, OidcConfig, ProviderMetadata};
use zt_identity::{IdentityError, ManualClock, RealNameLevel, UserType};

const T0: i64 = 1_800_000_000;

struct Setup {
    clock: Arc<ManualClock>,
    idp: FakeProvider,
    client: OidcClient,
}

async fn setup() -> Setup {
    let clock = Arc::new(ManualClock::new(T0));
    let idp = FakeProvider::start(FakeConfig::new(clock.clone())).await;
    let client = OidcClient::new(idp.oidc_config(), clock.clone())
        .await
        .expect("client of the fake provider");
    Setup { clock, idp, client }
}

/// Begin, let the fake log the user in, finish.
async fn login(s: &Setup) -> Result<zt_identity::oidc::Login, IdentityError> {
    let (url, state) = s.client.begin_login(s.idp.redirect_uri())?;
    let callback = s.idp.authorize(&url).await;
    s.client.finish_login_from_callback(&callback, &state).await
}

#[tokio::test]
async fn full_login_of_a_citizen() {
    let s = setup().await;
    let (url, state) = s.client.begin_login(s.idp.redirect_uri()).unwrap();
    assert!(url.starts_with(&format!("{}/authorize?", s.idp.issuer())));
    for p in [
        "response_type=code",
        "client_id=zhengtong-web",
        "scope=openid+profile+phone+gov",
        "code_challenge_method=S256",
        "redirect_uri=http%3A%2F%2F127.0.0.1%3A8080%2Fauth%2Foidc%2Fcallback",
    ] {
        assert!(url.contains(p), "{p} in {url}");
    }
    assert!(url.contains(&format!("state={}", state.state)));
    assert_eq!(state.pkce_verifier.expose().len(), 43);
    assert!(!format!("{state:?}").contains(state.nonce.expose()));

    let callback = s.idp.authorize(&url).await;
    let cb = s.client.parse_callback(&callback).unwrap();
    let login = s
        .client
        .finish_login(cb.code.expose(), &cb.state, &state)
        .await
        .unwrap();
    let c = &login.claims;
    assert_eq!(c.sub, "U10000001");
    assert_eq!(c.name.as_deref(), Some("张伟"));
    assert_eq!(c.family_name.as_deref(), Some("张"));
    assert_eq!(c.preferred_username.as_deref(), Some("zhangwei"));
    assert_eq!(c.id_number.as_deref(), Some("110105198506150110"));
    assert_eq!(c.phone_number.as_deref(), Some("13800000001"));
    assert_eq!(c.phone_number_verified, Some(true));
    assert_eq!(c.user_type, Some(UserType::Citizen));
    assert_eq!(c.real_name_level, Some(RealNameLevel::L3));
    assert_eq!(c.birthdate.as_deref(), Some("1985-06-15"));
    assert_eq!(c.dept_code, None);
    assert_eq!(c.org_uscc, None);
    assert_eq!(c.sid, s.idp.last_sid());
    assert!(c.sid.is_some());
    assert_eq!(
        login.tokens.id_token.expose(),
        s.idp.last_id_token().unwrap()
    );
    assert_eq!(login.tokens.expires_at, Some(T0 + 3600));
    assert!(login.tokens.refresh_token.is_some());
    let dbg = format!("{login:?}");
    assert!(!dbg.contains(login.tokens.access_token.expose()), "{dbg}");
    assert!(!dbg.contains(login.tokens.id_token.expose()));
    assert!(
        !dbg.contains("110105198506150110"),
        "identity number masked: {dbg}"
    );

    // A code is single-use.
    let again = s
        .client
        .finish_login(cb.code.expose(), &cb.state, &state)
        .await;
    assert!(
        matches!(&again, Err(IdentityError::Rejected { error, .. }) if error == "invalid_grant"),
        "{again:?}"
    );
}

#[tokio::test]
async fn staff_and_enterprise_agents_carry_their_unit() {
    let s = setup().await;
    s.idp.set_user(TestUser::staff());
    let c = login(&s).await.unwrap().claims;
    assert_eq!(c.user_type, Some(UserType::Staff));
    assert_eq!(c.dept_code.as_deref(), Some("SPJ-ZHSL"));
    assert_eq!(c.dept_name.as_deref(), Some("市行政审批局综合受理科"));
    assert_eq!(c.org_uscc, None);

    s.idp.set_user(TestUser::enterprise_agent());
    let c = login(&s).await.unwrap().claims;
    assert_eq!(c.user_type, Some(UserType::EnterpriseAgent));
    assert_eq!(c.real_name_level, Some(RealNameLevel::L2));
    assert_eq!(c.org_uscc.as_deref(), Some("91330106MA2H0K3BXT"));
    assert_eq!(c.org_name.as_deref(), Some("杭州西湖数字科技股份有限公司"));
    assert_eq!(c.id_number.as_deref(), Some("33010819840330026X"));
    assert_eq!(c.dept_code, None);
}

#[tokio::test]
async fn each_id_token_defect_has_its_error() {
    let s = setup().await;
    let cases = [
        (Defect::Expired, IdentityError::TokenExpired),
        (Defect::IssuedInFuture, IdentityError::TokenNotYetValid),
        (Defect::WrongAudience, IdentityError::WrongAudience),
        (Defect::WrongIssuer, IdentityError::WrongIssuer),
        (Defect::BadSignature, IdentityError::BadSignature),
        (Defect::WrongNonce, IdentityError::NonceMismatch),
        (Defect::MissingNonce, IdentityError::NonceMismatch),
        (Defect::WrongAzp, IdentityError::WrongAuthorizedParty),
        (Defect::UserinfoOtherSubject, IdentityError::SubjectMismatch),
        (
            Defect::Unsigned,
            IdentityError::UnsupportedAlgorithm { alg: "none".into() },
        ),
    ];
    for (defect, expected) in cases {
        s.idp.set_defect(Some(defect));
        assert_eq!(login(&s).await.unwrap_err(), expected, "{defect:?}");
    }
    s.idp.set_defect(None);
    assert!(login(&s).await.is_ok());
}

#[tokio::test]
async fn state_mismatch_stops_before_the_code_exchange() {
    let s = setup().await;
    let (url, state) = s.client.begin_login(s.idp.redirect_uri()).unwrap();
    let callback = s.idp.authorize(&url).await;
    let cb = s.client.parse_callback(&callback).unwrap();
    let before = s.idp.token_requests();
    let r = s
        .client
        .finish_login(cb.code.expose(), "forged-state", &state)
        .await;
    assert_eq!(r.unwrap_err(), IdentityError::StateMismatch);
    // The state of another login (a second tab) is no better.
    let (_, other) = s.client.begin_login(s.idp.redirect_uri()).unwrap();
    let r = s
        .client
        .finish_login(cb.code.expose(), &cb.state, &other)
        .await;
    assert_eq!(r.unwrap_err(), IdentityError::StateMismatch);
    assert_eq!(
        s.idp.token_requests(),
        before,
        "no code exchange was attempted"
    );
    // The real one still works.
    assert!(s
        .client
        .finish_login(cb.code.expose(), &cb.state, &state)
        .await
        .is_ok());
}

#[tokio::test]
async fn unknown_kid_refreshes_the_jwks_once() {
    let s = setup().await;
    assert_eq!(s.idp.jwks_requests(), 1, "loaded at start");
    assert!(login(&s).await.is_ok());
    assert_eq!(s.idp.jwks_requests(), 1, "cached");

    // The provider rotates its key: the new kid is unknown, the JWKS is
    // fetched again and the login succeeds.
    s.idp.rotate_key();
    assert!(login(&s).await.is_ok());
    assert_eq!(s.idp.jwks_requests(), 2);
    assert!(login(&s).await.is_ok());
    assert_eq!(s.idp.jwks_requests(), 2, "the new key is cached");

    // A kid the provider never publishes: one more fetch (too soon after the
    // last forced one: none at all), then UnknownKey.
    s.clock.advance(31);
    s.idp.set_defect(Some(Defect::UnknownKid));
    assert_eq!(login(&s).await.unwrap_err(), IdentityError::UnknownKey);
    assert_eq!(s.idp.jwks_requests(), 3);
    assert_eq!(login(&s).await.unwrap_err(), IdentityError::UnknownKey);
    assert_eq!(
        s.idp.jwks_requests(),
        3,
        "refreshes for unknown kids are rate-limited"
    );
    s.clock.advance(31);
    assert_eq!(login(&s).await.unwrap_err(), IdentityError::UnknownKey);
    assert_eq!(s.idp.jwks_requests(), 4);
}

#[tokio::test]
async fn the_key_fetch_can_be_made_on_its_own_for_a_circuit_breaker() {
    let s = setup().await;
    let spec = LogoutTokenSpec::session("U10000001", "sid-1");
    let cached = s.idp.mint_logout_token(&spec);
    assert!(!s.client.needs_keys_for(&cached), "its key is cached");
    assert!(!s.client.needs_keys_for("not-a-jwt"));

    // A token under a new key while the provider's back end is down: the
    // fetch fails as unavailable, and is not tried again at once.
    s.idp.rotate_key();
    let rotated = s.idp.mint_logout_token(&spec);
    assert!(s.client.needs_keys_for(&rotated));
    s.idp.set_unavailable(true);
    let e = s.client.refresh_keys_for(&rotated).await.unwrap_err();
    assert!(e.is_transient(), "{e:?}");
    assert_eq!(s.idp.jwks_requests(), 2);
    assert!(!s.client.needs_keys_for(&rotated), "rate-limited");
    assert_eq!(
        s.client
            .validate_logout_token_with_cached_keys(&rotated)
            .unwrap_err(),
        IdentityError::UnknownKey
    );
    assert_eq!(
        s.client.validate_logout_token(&rotated).await.unwrap_err(),
        IdentityError::UnknownKey
    );
    assert_eq!(s.idp.jwks_requests(), 2, "validation made no request");
    // A token whose key is cached is validated all the same.
    assert!(s.client.validate_logout_token(&cached).await.is_ok());
    // Logins fail as unavailable too (the token endpoint answers 503).
    assert!(login(&s).await.unwrap_err().is_transient());

    // Back: one fetch, then validation without a request.
    s.idp.set_unavailable(false);
    s.clock.advance(31);
    assert!(s.client.needs_keys_for(&rotated));
    s.client.refresh_keys_for(&rotated).await.unwrap();
    assert_eq!(s.idp.jwks_requests(), 3);
    assert!(!s.client.needs_keys_for(&rotated));
    assert!(s
        .client
        .validate_logout_token_with_cached_keys(&rotated)
        .is_ok());
    assert!(s.client.validate_logout_token(&rotated).await.is_ok());
    assert_eq!(s.idp.jwks_requests(), 3);

    // An old set: its failed refresh is reported, and the old keys still
    // verify.
    s.clock.advance(24 * 3600 + 1);
    let old = s.idp.mint_logout_token(&spec);
    assert!(s.client.needs_keys_for(&old));
    s.idp.set_unavailable(true);
    assert!(s.client.refresh_keys_for(&old).await.is_err());
    assert!(!s.client.needs_keys_for(&old), "again after the interval");
    assert!(s
        .client
        .validate_logout_token_with_cached_keys(&old)
        .is_ok());
    assert!(s.client.validate_logout_token(&old).await.is_ok());
    assert_eq!(s.idp.jwks_requests(), 4);
}

#[tokio::test]
async fn leeway_and_jwks_age() {
    let s = setup().await;
    let t = s.idp.mint_id_token(Some("n1"), None);
    // exp = T0 + 3600; 60 s of leeway.
    s.clock.set(T0 + 3600 + 60);
    assert!(s.client.validate_id_token(&t, Some("n1")).await.is_ok());
    s.clock.set(T0 + 3600 + 61);
    assert_eq!(
        s.client
            .validate_id_token(&t, Some("n1"))
            .await
            .unwrap_err(),
        IdentityError::TokenExpired
    );
    // A day later the JWKS is fetched again on next use.
    s.clock.set(T0 + 24 * 3600 + 1);
    let t = s.idp.mint_id_token(Some("n2"), None);
    assert!(s.client.validate_id_token(&t, Some("n2")).await.is_ok());
    assert_eq!(s.idp.jwks_requests(), 2);
}

#[tokio::test]
async fn tokens_of_the_wrong_kind_are_refused() {
    let s = setup().await;
    let logout = s
        .idp
        .mint_logout_token(&LogoutTokenSpec::session("U10000001", "sid-1"));
    assert_eq!(
        s.client.validate_id_token(&logout, None).await.unwrap_err(),
        IdentityError::WrongTokenType { expected: "JWT" }
    );
    let id = s.idp.mint_id_token(None, None);
    assert_eq!(
        s.client.validate_logout_token(&id).await.unwrap_err(),
        IdentityError::WrongTokenType {
            expected: "logout+jwt"
        }
    );
    for junk in ["", "a.b", "a.b.c", "x.y.z.u.v"] {
        assert!(
            matches!(
                s.client.validate_id_token(junk, None).await,
                Err(IdentityError::MalformedToken { .. })
            ),
            "{junk:?}"
        );
    }
}

#[tokio::test]
async fn login_state_expires() {
    let s = setup().await;
    let (url, state) = s.client.begin_login(s.idp.redirect_uri()).unwrap();
    let callback = s.idp.authorize(&url).await;
    s.clock.advance(3601);
    assert_eq!(
        s.client
            .finish_login_from_callback(&callback, &state)
            .await
            .unwrap_err(),
        IdentityError::LoginExpired
    );
}

#[tokio::test]
async fn max_age_needs_auth_time() {
    let s = setup().await;
    let opts = LoginOptions {
        max_age: Some(300),
        prompt: Some("login".into()),
        login_hint: Some("zhangwei".into()),
        scopes: None,
    };
    let (url, state) = s
        .client
        .begin_login_with(s.idp.redirect_uri(), &opts)
        .unwrap();
    assert!(
        url.contains("max_age=300")
            && url.contains("prompt=login")
            && url.contains("login_hint=zhangwei")
    );
    let callback = s.idp.authorize(&url).await;
    // The fake sends no auth_time.
    assert_eq!(
        s.client
            .finish_login_from_callback(&callback, &state)
            .await
            .unwrap_err(),
        IdentityError::MissingClaim { claim: "auth_time" }
    );
}

#[tokio::test]
async fn callback_errors() {
    let s = setup().await;
    let iss = urlencode(s.idp.issuer());
    let cancelled = format!(
        "error=access_denied&error_description=End-User+cancelled+the+login&state=s1&iss={iss}"
    );
    assert_eq!(
        s.client.parse_callback(&cancelled).unwrap_err(),
        IdentityError::Rejected {
            error: "access_denied".into(),
            description: Some("End-User cancelled the login".into()),
        }
    );
    // RFC 9207: the provider announces iss, so it must be there and right.
    assert_eq!(
        s.client.parse_callback("code=c&state=s").unwrap_err(),
        IdentityError::WrongIssuer
    );
    assert_eq!(
        s.client
            .parse_callback("code=c&state=s&iss=http%3A%2F%2Fevil.example")
            .unwrap_err(),
        IdentityError::WrongIssuer
    );
    assert_eq!(
        s.client
            .parse_callback(&format!("code=c&iss={iss}"))
            .unwrap_err(),
        IdentityError::StateMismatch
    );
    let ok = s
        .client
        .parse_callback(&format!("?code=c1&state=s1&iss={iss}"))
        .unwrap();
    assert_eq!((ok.code.expose(), ok.state.as_str()), ("c1", "s1"));
}

#[tokio::test]
async fn rp_initiated_logout_url() {
    let s = setup().await;
    let login = login(&s).await.unwrap();
    let url = s
        .client
        .logout_url(
            Some(login.tokens.id_token.expose()),
            Some("http://127.0.0.1:8080/"),
            Some("bye"),
        )
        .unwrap();
    assert!(url.starts_with(&format!("{}/session/end?id_token_hint=", s.idp.issuer())));
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let resp = http.get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 303);
    assert_eq!(
        resp.headers()["location"],
        "http://127.0.0.1:8080/?state=bye"
    );
    let seen = &s.idp.end_session_requests()[0];
    assert_eq!(seen["id_token_hint"], login.tokens.id_token.expose());
    assert_eq!(seen["client_id"], "zhengtong-web");
    assert_eq!(seen["post_logout_redirect_uri"], "http://127.0.0.1:8080/");
}

#[tokio::test]
async fn logout_tokens() {
    let s = setup().await;
    let sid = "sid-EiKflKZ3rMrx";
    let good = LogoutTokenSpec::session("U10000001", sid);
    let event = s
        .client
        .validate_logout_token(&s.idp.mint_logout_token(&good))
        .await
        .unwrap();
    assert_eq!(event.sub.as_deref(), Some("U10000001"));
    assert_eq!(event.sid.as_deref(), Some(sid));
    assert!(!event.jti.is_empty());
    assert_eq!((event.iat, event.exp), (T0, Some(T0 + 120)));

    // Only a sid (or only a sub) is enough.
    let only_sid = LogoutTokenSpec {
        sid: Some(sid.into()),
        ..Default::default()
    };
    let e = s
        .client
        .validate_logout_token(&s.idp.mint_logout_token(&only_sid))
        .await
        .unwrap();
    assert_eq!((e.sub, e.sid.as_deref()), (None, Some(sid)));

    let cases = [
        (LogoutDefect::WithNonce, IdentityError::NonceInLogoutToken),
        (LogoutDefect::WrongEvents, IdentityError::NotALogoutToken),
        (LogoutDefect::MissingEvents, IdentityError::NotALogoutToken),
        (LogoutDefect::UnknownKey, IdentityError::UnknownKey),
        (LogoutDefect::BadSignature, IdentityError::BadSignature),
        (LogoutDefect::Expired, IdentityError::TokenExpired),
        (
            LogoutDefect::WrongTyp,
            IdentityError::WrongTokenType {
                expected: "logout+jwt",
            },
        ),
        (LogoutDefect::WrongAudience, IdentityError::WrongAudience),
        (LogoutDefect::WrongIssuer, IdentityError::WrongIssuer),
        (
            LogoutDefect::NoSubject,
            IdentityError::MissingClaim { claim: "sid" },
        ),
        (
            LogoutDefect::MissingJti,
            IdentityError::MissingClaim { claim: "jti" },
        ),
    ];
    for (defect, expected) in cases {
        let t = s.idp.mint_logout_token(&good.clone().with_defect(defect));
        assert_eq!(
            s.client.validate_logout_token(&t).await.unwrap_err(),
            expected,
            "{defect:?}"
        );
    }
    // An expired logout token is accepted within the leeway only.
    let t = s.idp.mint_logout_token(&good);
    s.clock.advance(120 + 60);
    assert!(s.client.validate_logout_token(&t).await.is_ok());
    s.clock.advance(1);
    assert_eq!(
        s.client.validate_logout_token(&t).await.unwrap_err(),
        IdentityError::TokenExpired
    );
}

#[tokio::test]
async fn backchannel_logout_over_http() {
    use axum::routing::post;
    let s = setup().await;
    let login = login(&s).await.unwrap();
    let client = s.client.clone();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let app = axum::Router::new().route(
        "/auth/oidc/backchannel-logout",
        post(move |body: axum::body::Bytes| {
            let client = client.clone();
            let tx = tx.clone();
            async move {
                let r = match zt_identity::oidc::logout_token_from_form(&body) {
                    Ok(t) => client.validate_logout_token(&t).await,
                    Err(e) => Err(e),
                };
                let status = if r.is_ok() { 200 } else { 400 };
                let _ = tx.send(r);
                axum::http::StatusCode::from_u16(status).unwrap()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let uri = format!(
        "http://{}/auth/oidc/backchannel-logout",
        listener.local_addr().unwrap()
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let sid = login.claims.sid.clone().unwrap();
    let token = s
        .idp
        .mint_logout_token(&LogoutTokenSpec::session(&login.claims.sub, &sid));
    assert_eq!(s.idp.send_backchannel_logout(&uri, &token).await, 200);
    let event = rx.recv().await.unwrap().unwrap();
    assert_eq!(event.sid, Some(sid));
    let bad = s.idp.mint_logout_token(
        &LogoutTokenSpec::session("U10000001", "x").with_defect(LogoutDefect::WithNonce),
    );
    assert_eq!(s.idp.send_backchannel_logout(&uri, &bad).await, 400);
}

#[tokio::test]
async fn client_authentication_variants() {
    let s = setup().await;
    let mut cfg = s.idp.oidc_config();
    cfg.client_auth = ClientAuth::ClientSecretPost;
    let post = OidcClient::new(cfg, s.clock.clone()).await.unwrap();
    let (url, state) = post.begin_login(s.idp.redirect_uri()).unwrap();
    let cb = s.idp.authorize(&url).await;
    assert!(post.finish_login_from_callback(&cb, &state).await.is_ok());

    let mut cfg = s.idp.oidc_config();
    cfg.client_secret = Some("wrong".into());
    let wrong = OidcClient::new(cfg, s.clock.clone()).await.unwrap();
    let (url, state) = wrong.begin_login(s.idp.redirect_uri()).unwrap();
    let cb = s.idp.authorize(&url).await;
    let err = wrong
        .finish_login_from_callback(&cb, &state)
        .await
        .unwrap_err();
    assert_eq!(
        err,
        IdentityError::Rejected {
            error: "invalid_client".into(),
            description: Some("client authentication failed".into()),
        }
    );
    assert!(!format!("{err:?}").contains("wrong"));
}

#[tokio::test]
async fn configured_endpoints_without_discovery() {
    let s = setup().await;
    let i = s.idp.issuer().to_owned();
    let mut cfg = s.idp.oidc_config();
    cfg.metadata = Some(ProviderMetadata {
        issuer: i.clone(),
        authorization_endpoint: format!("{i}/authorize"),
        token_endpoint: format!("{i}/token"),
        userinfo_endpoint: None,
        jwks_uri: format!("{i}/jwks"),
        end_session_endpoint: None,
        id_token_signing_alg_values_supported: vec!["RS256".into()],
        authorization_response_iss_parameter_supported: false,
    });
    let client = OidcClient::new(cfg, s.clock.clone()).await.unwrap();
    let (url, state) = client.begin_login(s.idp.redirect_uri()).unwrap();
    let cb = s.idp.authorize(&url).await;
    let login = client
        .finish_login_from_callback(&cb, &state)
        .await
        .unwrap();
    assert_eq!(
        login.claims.user_type,
        Some(UserType::Citizen),
        "from the ID token alone"
    );
    assert!(matches!(
        client.logout_url(None, None, None),
        Err(IdentityError::Config { .. })
    ));
}

#[tokio::test]
async fn discovery_problems() {
    let s = setup().await;
    // Same server, other spelling of the issuer: the discovery document names
    // 127.0.0.1, so it is not this issuer.
    let port = s.idp.addr().port();
    let cfg = OidcConfig::new(
        &format!("http://localhost:{port}"),
        "zhengtong-web",
        Some("x"),
    );
    assert_eq!(
        OidcClient::new(cfg, s.clock.clone()).await.unwrap_err(),
        IdentityError::WrongIssuer
    );
    // Nobody listens: unavailable (and transient).
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let cfg = OidcConfig::new(
        &format!("http://127.0.0.1:{closed}"),
        "zhengtong-web",
        Some("x"),
    );
    let err = OidcClient::new(cfg, s.clock.clone()).await.unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    assert!(matches!(err, IdentityError::ProviderUnavailable { .. }));
    // Plain HTTP off loopback is refused before any request.
    let cfg = OidcConfig::new("http://sso.example.gov.cn", "zhengtong-web", Some("x"));
    assert!(matches!(
        OidcClient::new(cfg, s.clock.clone()).await,
        Err(IdentityError::Config { .. })
    ));
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn client_and_futures_are_send() {
    fn send_sync<T: Send + Sync>(_: &T) {}
    fn send<T: Send>(_: &T) {}
    let s = setup().await;
    send_sync(&s.client);
    let (_, state) = s.client.begin_login(s.idp.redirect_uri()).unwrap();
    let f = s.client.finish_login("code", "state", &state);
    send(&f);
    let g = s.client.validate_logout_token("a.b.c");
    send(&g);
}
