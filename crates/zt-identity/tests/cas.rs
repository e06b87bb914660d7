//! CAS 3.0: the answers identity.md §10 shows, validation over HTTP against a
//! tiny fake CAS server, and single-logout requests.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::routing::get;
use zt_identity::cas::{self, CasClient, CasLogoutRequest};
use zt_identity::{CasErrorCode, IdentityError, RealNameLevel, UserType};

const ENTERPRISE_AGENT: &str = r#"<cas:serviceResponse xmlns:cas="http://www.yale.edu/tp/cas">
    <cas:authenticationSuccess>
        <cas:user>fengmin</cas:user>
        <cas:attributes>
            <cas:authenticationDate>2026-11-24T14:04:49Z</cas:authenticationDate>
            <cas:longTermAuthenticationRequestTokenUsed>false</cas:longTermAuthenticationRequestTokenUsed>
            <cas:isFromNewLogin>false</cas:isFromNewLogin>
            <cas:sub>U30000001</cas:sub>
            <cas:name>冯敏</cas:name>
            <cas:family_name>冯</cas:family_name>
            <cas:given_name>敏</cas:given_name>
            <cas:preferred_username>fengmin</cas:preferred_username>
            <cas:gender>female</cas:gender>
            <cas:birthdate>1984-03-30</cas:birthdate>
            <cas:phone_number>13700000001</cas:phone_number>
            <cas:phone_number_verified>true</cas:phone_number_verified>
            <cas:id_number>33010819840330026X</cas:id_number>
            <cas:real_name_level>L2</cas:real_name_level>
            <cas:user_type>enterprise_agent</cas:user_type>
            <cas:org_uscc>91330106MA2H0K3BXT</cas:org_uscc>
            <cas:org_name>杭州西湖数字科技股份有限公司</cas:org_name>
        </cas:attributes>
    </cas:authenticationSuccess>
</cas:serviceResponse>
"#;

fn failure(code: &str, text: &str) -> String {
    format!(
        "<cas:serviceResponse xmlns:cas=\"http://www.yale.edu/tp/cas\">\n    \
         <cas:authenticationFailure code=\"{code}\">{text}</cas:authenticationFailure>\n</cas:serviceResponse>\n"
    )
}

#[test]
fn success_of_an_enterprise_agent() {
    let u = cas::parse_service_response(ENTERPRISE_AGENT).unwrap();
    assert_eq!(u.user, "fengmin");
    assert_eq!(
        u.is_from_new_login(),
        Some(false),
        "a single sign-on ticket"
    );
    assert_eq!(
        u.attribute("longTermAuthenticationRequestTokenUsed"),
        Some("false")
    );
    let c = u.claims().unwrap();
    assert_eq!(c.sub, "U30000001");
    assert_eq!(c.name.as_deref(), Some("冯敏"));
    assert_eq!(c.user_type, Some(UserType::EnterpriseAgent));
    assert_eq!(c.real_name_level, Some(RealNameLevel::L2));
    assert_eq!(c.org_uscc.as_deref(), Some("91330106MA2H0K3BXT"));
    assert_eq!(c.org_name.as_deref(), Some("杭州西湖数字科技股份有限公司"));
    assert_eq!(c.phone_number_verified, Some(true));
    assert_eq!(c.dept_code, None);
}

#[test]
fn every_failure_code() {
    let cases = [
        ("INVALID_REQUEST", "'service' and 'ticket' parameters are both required", CasErrorCode::InvalidRequest),
        ("INVALID_TICKET", "Ticket 'ST-oE3UIJ00VRSgKOl2MOZBPuKRn8jtrhFS' not recognized", CasErrorCode::InvalidTicket),
        (
            "INVALID_SERVICE",
            "Ticket 'ST-Nx6dLcoVremIyhDJHuW0xfxM8iGPUlcO' does not match supplied service. The original service was \
             'http://127.0.0.1:8080/auth/cas/callback' and the supplied service was 'http://localhost:8080/auth/cas/callback'.",
            CasErrorCode::InvalidService,
        ),
        ("INVALID_TICKET_SPEC", "Ticket 'ST-x' was not issued from a new login", CasErrorCode::InvalidTicketSpec),
        ("SOMETHING_NEW", "?", CasErrorCode::Other("SOMETHING_NEW".into())),
    ];
    for (code, text, expected) in cases {
        match cas::parse_service_response(&failure(code, text)) {
            Err(IdentityError::CasFailure { code, description }) => {
                assert_eq!(code, expected);
                let d = description.unwrap();
                assert!(
                    !d.contains("oE3UIJ00") && !d.contains("Nx6dLc"),
                    "tickets blanked: {d}"
                );
            }
            other => panic!("{code}: {other:?}"),
        }
    }
    let e =
        cas::parse_service_response(&failure("INVALID_TICKET", "Ticket 'ST-abc' not recognized"))
            .unwrap_err();
    assert_eq!(
        e.to_string(),
        "CAS ticket validation failed: INVALID_TICKET (Ticket 'ST-…' not recognized)"
    );
    assert_eq!(e.code(), "cas_failure");
}

const SLO: &str = r#"<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="LR-1-3vE0MvKjqZuGhqXgY4UJi3Y4" Version="2.0" IssueInstant="2026-11-24T14:10:02Z">
    <saml:NameID>@NOT_USED@</saml:NameID>
    <samlp:SessionIndex>ST-IpYD6pxx70ykm7Sv9biuWaX0QDjuQW5F</samlp:SessionIndex>
</samlp:LogoutRequest>"#;

#[test]
fn single_logout_request() {
    let expected = CasLogoutRequest {
        session_index: "ST-IpYD6pxx70ykm7Sv9biuWaX0QDjuQW5F".into(),
        name_id: Some("@NOT_USED@".into()),
        id: Some("LR-1-3vE0MvKjqZuGhqXgY4UJi3Y4".into()),
        issue_instant: Some("2026-11-24T14:10:02Z".into()),
    };
    assert_eq!(cas::parse_logout_request(SLO).unwrap(), expected);
    // As the CAS server POSTs it: logoutRequest=<url-encoded XML>.
    let body: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("logoutRequest", SLO)
        .finish();
    assert_eq!(
        cas::logout_request_from_form(body.as_bytes()).unwrap(),
        expected
    );
}

#[test]
fn malformed_single_logout_requests() {
    let bad = [
        "",
        "not xml",
        "<LogoutRequest><SessionIndex>ST-1</SessionIndex></LogoutRequest>", // no SAML namespace
        r#"<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"><samlp:SessionIndex> </samlp:SessionIndex></samlp:LogoutRequest>"#,
        r#"<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"><samlp:SessionIndex>&e;</samlp:SessionIndex></samlp:LogoutRequest>"#,
    ];
    for xml in bad {
        assert!(
            matches!(
                cas::parse_logout_request(xml),
                Err(IdentityError::InvalidLogoutRequest { .. })
            ),
            "{xml}"
        );
    }
    assert!(matches!(
        cas::logout_request_from_form(b"other=1"),
        Err(IdentityError::InvalidLogoutRequest { .. })
    ));
}

/// A CAS server that knows one ticket for one service, single use.
#[derive(Clone, Default)]
struct FakeCas {
    tickets: Arc<Mutex<HashMap<String, String>>>,
    seen: Arc<Mutex<Vec<HashMap<String, String>>>>,
}

async fn service_validate(
    State(cas): State<FakeCas>,
    Query(q): Query<HashMap<String, String>>,
) -> String {
    cas.seen.lock().expect("lock").push(q.clone());
    let (Some(service), Some(ticket)) = (q.get("service"), q.get("ticket")) else {
        return failure(
            "INVALID_REQUEST",
            "'service' and 'ticket' parameters are both required",
        );
    };
    match cas.tickets.lock().expect("lock").remove(ticket) {
        None => failure(
            "INVALID_TICKET",
            &format!("Ticket '{ticket}' not recognized"),
        ),
        Some(s) if s != *service => failure(
            "INVALID_SERVICE",
            &format!("Ticket '{ticket}' does not match"),
        ),
        Some(_) => ENTERPRISE_AGENT.to_owned(),
    }
}

#[tokio::test]
async fn validate_over_http() {
    let fake = FakeCas::default();
    let service = "http://127.0.0.1:8080/auth/cas/callback?next=%2Fcases";
    fake.tickets
        .lock()
        .unwrap()
        .insert("ST-good".into(), service.into());
    fake.tickets
        .lock()
        .unwrap()
        .insert("ST-other".into(), service.into());
    let app = axum::Router::new()
        .route("/cas/p3/serviceValidate", get(service_validate))
        .route(
            "/cas/broken/p3/serviceValidate",
            get(|| async { (axum::http::StatusCode::BAD_GATEWAY, "down") }),
        )
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/cas", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let client = CasClient::new(&base).unwrap();
    assert_eq!(
        client.login_url(service),
        format!("{base}/login?service=http%3A%2F%2F127.0.0.1%3A8080%2Fauth%2Fcas%2Fcallback%3Fnext%3D%252Fcases")
    );
    let user = client.validate(service, "ST-good").await.unwrap();
    assert_eq!(user.user, "fengmin");
    assert_eq!(
        fake.seen.lock().unwrap()[0]["service"],
        service,
        "sent exactly, decoded by the server"
    );

    let again = client.validate(service, "ST-good").await.unwrap_err();
    assert!(matches!(
        again,
        IdentityError::CasFailure {
            code: CasErrorCode::InvalidTicket,
            ..
        }
    ));
    assert!(!format!("{again:?}").contains("ST-good"));

    let other = client
        .validate("http://localhost:8080/auth/cas/callback", "ST-other")
        .await
        .unwrap_err();
    assert!(matches!(
        other,
        IdentityError::CasFailure {
            code: CasErrorCode::InvalidService,
            ..
        }
    ));

    let renew = client
        .validate_with(service, "ST-x", true)
        .await
        .unwrap_err();
    assert!(matches!(renew, IdentityError::CasFailure { .. }));
    assert_eq!(fake.seen.lock().unwrap().last().unwrap()["renew"], "true");

    assert!(matches!(
        client.validate(service, "").await,
        Err(IdentityError::CasFailure {
            code: CasErrorCode::InvalidRequest,
            ..
        })
    ));

    let broken = CasClient::new(&format!("{base}/broken/")).unwrap();
    let e = broken.validate(service, "ST-good").await.unwrap_err();
    assert!(e.is_transient(), "{e:?}");
    assert!(!e.to_string().contains("ST-good"), "{e}");
}

#[tokio::test]
async fn unreachable_cas_server_does_not_leak_the_ticket() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let client = CasClient::new(&format!("http://127.0.0.1:{port}/cas")).unwrap();
    let e = client
        .validate("http://127.0.0.1:8080/", "ST-secret-ticket")
        .await
        .unwrap_err();
    assert!(
        matches!(e, IdentityError::ProviderUnavailable { .. }),
        "{e:?}"
    );
    assert!(!format!("{e} {e:?}").contains("ST-secret-ticket"), "{e}");
}
